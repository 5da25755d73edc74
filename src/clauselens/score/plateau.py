"""Where quality stops improving with model size: paired tests between consecutive sizes.

The paper's third finding is that rule quality stops improving beyond 7B. For each strategy and
metric: sizes are ordered by parameter count; each step (size k -> size k+1) is a one-sided Wilcoxon
signed-rank test on the same clauses ("the larger model is better", i.e. higher for similarities,
lower for distances); the step p-values of one strategy/metric are Holm-corrected together; and the
plateau is the smallest size after which no step is significant. Several seeds of one size are
averaged per clause first, so the clause is the unit of replication.

Only consecutive sizes are compared: a gain spread thinly over several steps can be missed, which
the step rows make visible. Step rows: test "wilcoxon", groups "<smaller> vs <larger>", effect the
median per-clause gain. Summary row: test "plateau", groups "<all sizes in order>", effect and
statistic the plateau size in parameters, p / p_adj the smallest p-values among the steps after it
(or of the last step, when even that one is significant).
"""

from __future__ import annotations

import gc
import math

import numpy as np
import pandas as pd
from scipy.stats import wilcoxon
from statsmodels.stats.multitest import multipletests

from clauselens.config import ScoringConfig
from clauselens.records import TestResult
from clauselens.score.metrics import METRICS

STRATEGY_NAMES = {"base": "Base-model", "fft": "FFT", "lora": "LoRA", "qlora": "QLoRA"}


def plateau(scores: pd.DataFrame, cells: pd.DataFrame, cfg: ScoringConfig) -> list[TestResult]:
    """Step tests and one plateau summary per (strategy, metric) with at least two sizes."""
    if scores.empty:
        return []
    cell_columns = cells[["cell_id", "model", "params", "strategy"]]
    data = scores.dropna(subset=["value"]).merge(cell_columns, on="cell_id")
    results: list[TestResult] = []
    for (strategy, metric), group in data.groupby(["strategy", "metric"], sort=True):
        if metric not in METRICS:
            continue
        per_clause = group.groupby(["params", "model", "clause_id"])["value"].mean().unstack("clause_id")
        if len(per_clause) >= 2:
            results += _family(str(strategy), str(metric), per_clause, cfg.alpha)
    return results


def _family(strategy: str, metric: str, table: pd.DataFrame, alpha: float) -> list[TestResult]:
    """Tests for one strategy/metric; `table` rows are sizes (params, model) in order, columns clauses."""
    sign = 1.0 if METRICS[metric].higher_is_better else -1.0
    sizes = list(table.index)
    steps = []
    for (p_small, small), (p_large, large) in zip(sizes, sizes[1:], strict=False):
        both = table.loc[[(p_small, small), (p_large, large)]].dropna(axis=1)
        gains = sign * (both.iloc[1].to_numpy(float) - both.iloc[0].to_numpy(float))
        statistic, p = _one_sided_wilcoxon(gains)
        steps.append({"small": small, "large": large, "statistic": statistic, "p": p, "n": len(gains),
                      "median": float(np.median(gains)) if len(gains) else math.nan})
    reject, p_adj = _holm([s["p"] for s in steps], alpha)
    family = f"plateau:{strategy}:{metric}"
    what = f"{STRATEGY_NAMES.get(strategy, strategy)} {metric.replace('_', ' ')}"
    results = []
    for step, significant, q in zip(steps, reject, p_adj, strict=True):
        verdict = "is significantly better than" if significant else "is not significantly better than"
        results.append(TestResult(
            family=family, test="wilcoxon", metric=metric, groups=f"{step['small']} vs {step['large']}",
            statistic=step["statistic"], p=step["p"], p_adj=float(q), correction="holm",
            effect_name="median_gain", effect=step["median"], n=step["n"],
            sentence=f"{what}: {step['large']} {verdict} {step['small']} (median gain {step['median']:.3g}, "
                     f"one-sided Wilcoxon, Holm p = {q:.2g}, n = {step['n']})"))
    significant_steps = [k for k, r in enumerate(reject) if r]
    at = significant_steps[-1] + 1 if significant_steps else 0  # index of the plateau size
    params, model = sizes[at]
    if at == len(sizes) - 1:
        last = steps[-1]
        p, q, n = last["p"], float(p_adj[-1]), last["n"]
        sentence = (f"{what} does not plateau within the sizes studied: {last['large']} is still "
                    f"significantly better than {last['small']} (Wilcoxon, Holm, p = {q:.2g}, n = {n})")
    else:
        after = range(at, len(steps))
        p, q = min(steps[k]["p"] for k in after), float(min(p_adj[k] for k in after))
        n = min(steps[k]["n"] for k in after)
        sentence = (f"{what} plateaus at {human_params(int(params))} parameters ({model}): no larger model "
                    f"is significantly better (Wilcoxon, Holm, p ≥ {q:.2g}, n = {n})")
    results.append(TestResult(
        family=family, test="plateau", metric=metric, groups=" < ".join(str(m) for _, m in sizes),
        statistic=float(params), p=p, p_adj=q, correction="holm", effect_name="plateau_params",
        effect=float(params), n=n, sentence=sentence))
    return results


def _holm(p: list[float], alpha: float) -> tuple[np.ndarray, np.ndarray]:
    """statsmodels' Holm correction: (reject, adjusted p).

    Its "holm" branch calls `gc.collect()`, which takes about a second in a process that holds torch
    and transformers; `gc.freeze()` puts the existing objects out of the collector's reach meanwhile.
    """
    gc.freeze()
    try:
        reject, p_adj, _, _ = multipletests(p, alpha=alpha, method="holm")
    finally:
        gc.unfreeze()
    return reject, p_adj


def _one_sided_wilcoxon(gains: np.ndarray) -> tuple[float, float]:
    """(statistic, p) of Wilcoxon signed-rank for 'gains > 0'; no non-zero gain means no evidence (p = 1)."""
    if not np.any(gains != 0):
        return 0.0, 1.0
    result = wilcoxon(gains, alternative="greater")
    return float(result.statistic), float(result.pvalue)


def human_params(params: int) -> str:
    """1_600_000 -> '1.6M', 7_240_000_000 -> '7.2B'."""
    for size, suffix in ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "K")):
        if params >= size:
            return f"{params / size:.3g}{suffix}"
    return str(params)
