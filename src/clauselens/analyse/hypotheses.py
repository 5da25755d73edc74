"""The study's three declared (confirmatory) questions, fixed by the config before any data is read.

RQ1  Does the fine-tuning strategy change how focused attribution is?  The declared focus metric
     (`analysis.focus_metric`), FFT against each other strategy, at each model size.
RQ2  Do larger models lean on numbers and rule identifiers?  The summed share of the declared
     categories (`analysis.size_categories`) against model size, for each strategy.
RQ3  Where does quality stop improving with size?  The declared quality metric
     (`analysis.quality_metric`): a gain test and an equivalence test (margin `analysis.plateau_margin`)
     per size step, for each strategy (`clauselens.analyse.quality`).

Every test of the three questions forms one family, Holm-corrected together (`control`); everything
else the stage computes is exploratory. The questions are written to the store (`hypotheses` table,
`hypotheses.json`) before the analysis runs, from the config alone.

Seeds. With one seed the clause is the unit (paired clause values, seeds averaged). With two or more
seeds in both groups, clauses and runs are both random samples, and a finding must hold beyond the
clauses and beyond the runs that were drawn: a test on run means alone treats the clauses as fixed (the
language-as-fixed-effect fallacy, Clark 1973) and calls differences significant that the clauses do
not support. The test then adds the run-level and the clause-level variance of the estimate
(`crossed_moments`, Clark's min F′): Student's t on run means plus the paired clause means for RQ1, the
regression slope on run means plus the clauses' own slopes for RQ2. The pooled SD of run means is
stored as `seed_spread`.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pandas as pd
from scipy import stats

from clauselens.analyse.comparisons import MIN_N, ordered_strategies, stable_seed
from clauselens.analyse.nonparametric import (
    mean_ci_bootstrap,
    page_trend_two_sided,
    spearman_cluster_bootstrap,
)
from clauselens.analyse.power import page_min_p, signed_rank_min_p
from clauselens.analyse.results import Draft, note
from clauselens.analyse.wording import metric_label, strategy_label
from clauselens.config import AnalysisConfig
from clauselens.labels import format_params
from clauselens.score.plateau import (
    Moments,
    crossed_moments,
    paired_moments,
    pooled_moments,
    pooled_sd,
    t_interval,
    two_sided_p,
)

QUESTIONS = {
    "RQ1": "Does the fine-tuning strategy change how focused attribution is?",
    "RQ2": "Do larger models lean more on numerical constraints and rule identifiers?",
    "RQ3": "Where does output quality stop improving with model size?",
}


def size_metric(acfg: AnalysisConfig) -> str:
    """The RQ2 metric name: the summed share of the declared categories."""
    return "share:" + "+".join(acfg.size_categories)


def declared(acfg: AnalysisConfig, config_hash: str) -> list[dict[str, object]]:
    """The three hypotheses as rows, from the config only (written before any data is analysed)."""
    common = {"alpha": acfg.alpha, "correction": "holm over every RQ test", "config_hash": config_hash}
    return [
        {"id": "RQ1", "question": QUESTIONS["RQ1"], "metric": acfg.focus_metric, "families": "rq1@<size>",
         "test": "Wilcoxon signed-rank on clause values (with >= 2 seeds: t-test with clauses and runs "
                 "both random), FFT vs each other strategy", "margin": None, **common},
        {"id": "RQ2", "question": QUESTIONS["RQ2"], "metric": size_metric(acfg), "families": "rq2:<strategy>",
         "test": "Page's L over sizes, clauses as blocks (with >= 2 seeds: slope t-test with clauses and "
                 "runs both random)",
         "margin": None, **common},
        {"id": "RQ3", "question": QUESTIONS["RQ3"], "metric": acfg.quality_metric,
         "families": "rq3:<strategy>",
         "test": "per size step: one-sided t-test of the gain and TOST within ±margin",
         "margin": acfg.margin(acfg.quality_metric), **common},
    ]


def _runs(frame: pd.DataFrame) -> pd.Series:
    """Run (seed) means over clauses."""
    return frame.groupby("seed")["value"].mean()


def _t(m: Moments) -> float:
    """The t statistic; infinite (with the mean's sign) when there is no spread at all."""
    return m.mean / m.se if m.se > 0 else math.copysign(math.inf, m.mean) if m.mean else 0.0


def _run_slope(runs: dict[float, np.ndarray]) -> Moments:
    """Least-squares slope of run means on log10 size, with its standard error (n - 2 df)."""
    x = np.concatenate([np.full(r.size, math.log10(s)) for s, r in runs.items()])
    fit = stats.linregress(x, np.concatenate(list(runs.values())))
    return Moments(float(fit.slope), float(fit.stderr), x.size - 2.0)


def _clause_slopes(table: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Each clause's least-squares slope on `x` (a row of `table` per clause, seeds averaged)."""
    xc = x - x.mean()
    return (table - table.mean(axis=1, keepdims=True)) @ xc / (xc @ xc)


def rq1_drafts(per_seed: pd.DataFrame, label: str, metric: str) -> list[Draft]:
    """FFT against each other strategy (every pair when FFT is absent) on `metric`, at one size.

    `per_seed` has columns strategy, seed, clause_id, metric, value for one model size."""
    family, where = f"rq1@{label}", f" at {label}"
    data = per_seed[(per_seed["metric"] == metric)].dropna(subset=["value"])
    names = ordered_strategies(data["strategy"].unique().tolist())
    if len(names) < 2:
        return [note(family, "wilcoxon", metric, names, int(data["clause_id"].nunique()),
                     f"compare strategies on {metric}{where}", f"{len(names)} strategy with values")]
    pairs = ([("fft", s) for s in names if s != "fft"] if "fft" in names
             else list(itertools.combinations(names, 2)))
    drafts = []
    for a, b in pairs:
        da, db = data[data["strategy"] == a], data[data["strategy"] == b]
        runs_a, runs_b = _runs(da).to_numpy(), _runs(db).to_numpy()
        wide = pd.concat([da.groupby("clause_id")["value"].mean().rename("a"),
                          db.groupby("clause_id")["value"].mean().rename("b")], axis=1).dropna()
        if len(wide) < MIN_N:
            drafts.append(note(family, "wilcoxon", metric, [a, b], len(wide),
                               f"test {metric}{where} for {strategy_label(a)} vs {strategy_label(b)}",
                               f"{len(wide)} clause(s) with both values, fewer than {MIN_N}"))
            continue
        x, y = wide["a"].to_numpy(), wide["b"].to_numpy()
        diff = x - y
        if min(runs_a.size, runs_b.size) >= 2:
            m = crossed_moments(pooled_moments(runs_b, runs_a), paired_moments(diff))  # mean(a) - mean(b)
            drafts.append(Draft("pair", family, "t_crossed", metric, [a, b], _t(m), two_sided_p(m), len(wide),
                                (), where, "mean_difference", m.mean, t_interval(m),
                                detail=f"clauses × {runs_a.size + runs_b.size} runs", min_p=0.0,
                                seed_spread=pooled_sd([runs_a, runs_b])))
            continue
        w, p = (0.0, 1.0) if np.all(diff == 0) else (float(v) for v in stats.wilcoxon(x, y))
        drafts.append(Draft("pair", family, "wilcoxon", metric, [a, b], w, p, len(wide), (), where,
                            "mean_difference", float(diff.mean()),
                            mean_ci_bootstrap(diff, 1000, stable_seed(family, a, b)),
                            medians=(float(np.median(x)), float(np.median(y))), detail="clauses",
                            min_p=signed_rank_min_p(int(np.sum(diff != 0)))))
    return drafts


def rq2_drafts(per_seed: pd.DataFrame, strategy: str, metric: str, n_boot: int) -> list[Draft]:
    """`metric` against model size for one strategy. `per_seed` has columns params, seed, clause_id,
    metric, value for that strategy."""
    family, where = f"rq2:{strategy}", f" for {strategy_label(strategy)}"
    data = per_seed[per_seed["metric"] == metric].dropna(subset=["value", "params"])
    sizes = sorted(data["params"].unique().tolist())
    groups = [format_params(s) for s in sizes]
    if len(sizes) < 2:
        return [note(family, "page", metric, groups, int(data["clause_id"].nunique()),
                     f"test {metric_label(metric)} against model size{where}",
                     f"{len(sizes)} model size(s); a trend needs at least 2")]
    runs = {s: _runs(data[data["params"] == s]).to_numpy() for s in sizes}
    wide = data.pivot_table(index="clause_id", columns="params", values="value", aggfunc="mean")
    wide = wide.reindex(columns=sizes).dropna()
    if len(wide) < MIN_N:
        return [note(family, "page", metric, groups, len(wide),
                     f"test {metric_label(metric)} against model size{where}",
                     f"{len(wide)} clause(s) have a value at every size, fewer than {MIN_N}")]
    table = wide.to_numpy()
    n, k = table.shape
    if min(r.size for r in runs.values()) >= 2:
        m = crossed_moments(_run_slope(runs), paired_moments(_clause_slopes(table, np.log10(sizes))))
        return [Draft("trend", family, "slope_crossed", metric, groups, _t(m), two_sided_p(m), n, (), where,
                      "slope_per_decade", m.mean, t_interval(m),
                      detail=f"clauses × {sum(r.size for r in runs.values())} runs, {k} sizes", min_p=0.0,
                      seed_spread=pooled_sd(list(runs.values())))]
    rho, lo, hi = spearman_cluster_bootstrap(table, np.log10(sizes), n_boot, stable_seed(family, metric))
    ci = None if math.isnan(lo) else (lo, hi)
    if k == 2:
        diff = table[:, 1] - table[:, 0]
        stat, p = (0.0, 1.0) if np.all(diff == 0) else (float(v) for v in stats.wilcoxon(diff))
        return [Draft("trend", family, "wilcoxon", metric, groups, stat, p, n, (), where, "spearman_rho", rho,
                      ci, detail="clauses, 2 sizes", min_p=signed_rank_min_p(int(np.sum(diff != 0))))]
    if np.all(table == table[:, :1]):
        stat, p = math.nan, 1.0
    else:
        page = page_trend_two_sided(table)
        stat, p = page.statistic, page.pvalue
    return [Draft("trend", family, "page", metric, groups, stat, p, n, (), where, "spearman_rho", rho, ci,
                  detail=f"clauses, {k} sizes", min_p=page_min_p(n, k))]
