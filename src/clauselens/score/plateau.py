"""Where quality stops improving with model size: a gain test and an equivalence test per size step.

"No significant gain" is not "no gain": with few clauses nothing is significant, and a metric stuck at
zero never gains. So a plateau is claimed only when the gain of the next size is *shown* to be smaller
than a declared margin — the two one-sided tests (TOST, Schuirmann 1987) reject both |gain| ≥ margin
hypotheses — and the larger size scores above the metric's floor by more than the margin. A step is

- "improves" when the one-sided t-test of gain > 0 rejects,
- "equivalent" when TOST rejects and the level is above the floor,
- "at floor" when TOST rejects but the level is not above the floor (no plateau is claimed from zero),
- "inconclusive" otherwise.

Units. With one seed per size, the clause is the unit: paired differences of the same clause between
the two sizes (seeds averaged per clause). With two or more seeds at both sizes, clauses and runs are
both random samples: the run-level test alone (run means, pooled two-sample) treats the clauses as
fixed, and the clause-level test alone treats the runs as fixed, so either would overstate what the
gain generalises to (Clark 1973). The gain is then judged against both, through `crossed_moments`;
`seed_spread` reports the pooled SD of run means.

This module only computes; `clauselens.analyse.quality` turns steps into test rows, corrected with the
rest of the analysis (the declared quality metric in the confirmatory family, the others exploratory).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

MIN_N = 3


@dataclass(frozen=True)
class Step:
    """One size step's gain (larger minus smaller, signed so that positive is better)."""

    small: str
    large: str
    params_small: float
    params_large: float
    n: int  # clauses (paired; also with seeds, where the runs are in `unit` and `seed_spread`)
    gain: float
    ci: tuple[float, float]
    p_gain: float  # one-sided: gain > 0
    p_tost: float  # equivalence: |gain| < margin
    level: float  # mean quality at the larger size (in the metric's own direction)
    unit: str  # "clauses", or "clauses × runs" (two or more seeds at both sizes)
    seed_spread: float | None = None


@dataclass(frozen=True)
class Moments:
    """mean, standard error and degrees of freedom of a difference."""

    mean: float
    se: float
    df: float


def paired_moments(gains: np.ndarray) -> Moments:
    g = np.asarray(gains, float)
    return Moments(float(g.mean()), float(g.std(ddof=1) / math.sqrt(g.size)), g.size - 1.0)


def pooled_moments(small: np.ndarray, large: np.ndarray) -> Moments:
    """Student's two-sample moments of mean(large) − mean(small), pooled variance."""
    a, b = np.asarray(small, float), np.asarray(large, float)
    df = a.size + b.size - 2.0
    pooled = ((a.size - 1) * a.var(ddof=1) + (b.size - 1) * b.var(ddof=1)) / df
    return Moments(float(b.mean() - a.mean()), float(math.sqrt(pooled * (1 / a.size + 1 / b.size))), df)


def pooled_sd(groups: list[np.ndarray]) -> float:
    """Pooled SD of run means within groups (strategies or sizes): the `seed_spread` of a test."""
    dfs = sum(g.size - 1 for g in groups)
    return float(math.sqrt(sum((g.size - 1) * g.var(ddof=1) for g in groups) / dfs)) if dfs > 0 else math.nan


def crossed_moments(runs: Moments, clauses: Moments) -> Moments:
    """A difference measured over several runs and several clauses, both random samples. The run-level
    moments treat the clauses as fixed and the clause-level ones the runs, so each understates the
    error. Their variances add (Clark's min F′ for one contrast, 1/F′ = 1/F_runs + 1/F_clauses) with
    Satterthwaite's degrees of freedom; conservative, as each part also carries the residual. The
    estimate is the run-level mean."""
    a, b = runs.se**2, clauses.se**2
    if a + b == 0 or not math.isfinite(a + b):
        return Moments(runs.mean, math.sqrt(a + b), min(runs.df, clauses.df))
    df = (a + b) ** 2 / (a**2 / runs.df + b**2 / clauses.df)
    return Moments(runs.mean, math.sqrt(a + b), df)


def two_sided_p(m: Moments) -> float:
    """Two-sided t-test of mean = 0; with zero spread, 0 when the mean is not 0, else 1."""
    if m.se == 0 or not math.isfinite(m.se):
        return 0.0 if m.mean != 0 else 1.0
    return float(2 * stats.t.sf(abs(m.mean) / m.se, m.df))


def gain_p(m: Moments) -> float:
    """One-sided t-test of mean > 0; with zero spread, 0 when the mean is positive, else 1."""
    if m.se == 0 or not math.isfinite(m.se):
        return 0.0 if m.mean > 0 else 1.0
    return float(stats.t.sf(m.mean / m.se, m.df))


def tost_p(m: Moments, margin: float) -> float:
    """TOST of −margin < mean < margin: the larger of the two one-sided p-values. With zero spread, 0
    when the mean lies inside the margin, else 1."""
    if m.se == 0 or not math.isfinite(m.se):
        return 0.0 if abs(m.mean) < margin else 1.0
    lower = stats.t.sf((m.mean + margin) / m.se, m.df)  # H0: mean <= -margin
    upper = stats.t.cdf((m.mean - margin) / m.se, m.df)  # H0: mean >= +margin
    return float(max(lower, upper))


def t_interval(m: Moments, level: float = 0.95) -> tuple[float, float]:
    if m.se == 0 or not math.isfinite(m.se):
        return m.mean, m.mean
    half = stats.t.ppf((1 + level) / 2, m.df) * m.se
    return m.mean - half, m.mean + half


def size_steps(values: pd.DataFrame, higher_is_better: bool, margin: float) -> list[Step]:
    """Steps between consecutive sizes of one strategy and metric.

    `values` has columns params, size (label), seed, clause_id, value. Steps with fewer than 3 clauses
    are left out; a NaN metric value is ignored.
    """
    sign = 1.0 if higher_is_better else -1.0
    data = values.dropna(subset=["value"])
    order = data.drop_duplicates("params").sort_values("params")
    steps = []
    for (p_a, a), (p_b, b) in zip(order[["params", "size"]].itertuples(index=False),
                                  order[["params", "size"]].iloc[1:].itertuples(index=False), strict=False):
        at_a, at_b = data[data["params"] == p_a], data[data["params"] == p_b]
        runs_a = sign * at_a.groupby("seed")["value"].mean().to_numpy()
        runs_b = sign * at_b.groupby("seed")["value"].mean().to_numpy()
        both = pd.concat([at_a.groupby("clause_id")["value"].mean().rename("a"),
                          at_b.groupby("clause_id")["value"].mean().rename("b")], axis=1).dropna()
        if len(both) < MIN_N:
            continue
        m, unit, spread = paired_moments(sign * (both["b"] - both["a"]).to_numpy()), "clauses", None
        if min(runs_a.size, runs_b.size) >= 2:
            m, unit = crossed_moments(pooled_moments(runs_a, runs_b), m), "clauses × runs"
            spread = pooled_sd([runs_a, runs_b])
        steps.append(Step(str(a), str(b), float(p_a), float(p_b), len(both), m.mean, t_interval(m), gain_p(m),
                          tost_p(m, margin), float(runs_b.mean()), unit, spread))
    return steps


def above_floor(level: float, floor: float | None, margin: float, higher_is_better: bool) -> bool:
    """Whether quality (signed: `level` is already in the better-is-higher direction) is above the
    floor by more than the margin; no floor means no check."""
    if floor is None:
        return True
    signed_floor = floor if higher_is_better else -floor
    return level - signed_floor > margin
