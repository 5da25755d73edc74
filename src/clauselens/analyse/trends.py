"""Trends with model size for one strategy: does a category share or a focus metric rise or fall as the
models grow?

Scale is log10(parameter count); only its order matters to the rank tests. Only clauses that have a
value at every size are used (the same test clauses for every cell), so that a trend is not made by
clauses dropping out. For each metric:
- Jonckheere–Terpstra (sizes as ordered groups; two-sided), with Spearman's rho between log size and
  value as the effect size and a 95% CI from resampling whole clauses;
- Page's L (clauses as blocks, sizes as ordered treatments; two-sided; needs >= 3 sizes), the paired
  counterpart, with the mean within-clause Spearman rho it implies as the effect size.
Holm's correction runs over the metrics of the family, separately for each test.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from clauselens.analyse.comparisons import MIN_N, stable_seed
from clauselens.analyse.nonparametric import (
    jonckheere_terpstra,
    page_mean_rho,
    page_trend_two_sided,
    spearman_cluster_bootstrap,
)
from clauselens.analyse.power import jonckheere_min_p, page_min_p
from clauselens.analyse.results import Draft, correct, finish, note
from clauselens.labels import format_params
from clauselens.records import TestResult


def scale_trends(values: pd.DataFrame, *, family: str, where: str = "", alpha: float = 0.05,
                 n_boot: int = 1000, top_k: int = 3) -> list[TestResult]:
    """Trend tests across model sizes for every metric in `values`.

    `values` has columns clause_id, params, metric, value (one value per clause, size and metric: average
    seeds first). `where` is worded into the sentences (" for FFT").
    """
    return finish(correct(trend_drafts(values, family=family, where=where, n_boot=n_boot)), alpha, top_k)


def trend_drafts(values: pd.DataFrame, *, family: str, where: str = "", n_boot: int = 1000) -> list[Draft]:
    """The uncorrected tests of `scale_trends`."""
    missing = {"clause_id", "params", "metric", "value"} - set(values.columns)
    if missing:
        raise ValueError(f"scale_trends: input lacks column(s) {sorted(missing)}")
    data = values.dropna(subset=["value", "params"])
    sizes = sorted(data["params"].unique().tolist())
    if len(sizes) < 2:
        return [note(family, "jonckheere", "*", [format_params(s) for s in sizes],
                     int(data["clause_id"].nunique()), f"test trends with model size{where}",
                     f"{len(sizes)} model size(s) with values; a trend needs at least 2")]
    x = np.log10(np.asarray(sizes, float))
    drafts: list[Draft] = []
    by_metric = data.groupby(["metric", "clause_id", "params"], sort=True)["value"].mean().unstack("params")
    for metric, wide in by_metric.groupby(level="metric", sort=True):
        metric = str(metric)
        values_seen = wide.to_numpy()
        if len(np.unique(values_seen[~np.isnan(values_seen)])) < 2:
            continue
        wide = wide.droplevel("metric").reindex(columns=sizes).dropna()
        groups = [format_params(s) for s in sizes]
        if len(wide) < MIN_N:
            drafts.append(note(family, "jonckheere", metric, groups, len(wide),
                               f"test a trend in {metric} with model size{where}",
                               f"{len(wide)} clause(s) have a value at every size, fewer than {MIN_N}"))
            continue
        table = wide.to_numpy()
        n, k = table.shape
        rho, lo, hi = spearman_cluster_bootstrap(table, x, n_boot, stable_seed(family, metric))
        jt = jonckheere_terpstra(list(table.T), "two-sided", seed=stable_seed(family, metric, "jt"))
        drafts.append(Draft("trend", family, "jonckheere", metric, groups, jt.statistic, jt.pvalue, n * k,
                            (family, "jonckheere"), where, "spearman_rho", rho,
                            None if math.isnan(lo) else (lo, hi), detail=f"{n} clauses × {k} sizes",
                            min_p=jonckheere_min_p([n] * k, jt.method)))
        if k >= 3:
            if np.all(table == table[:, :1]):
                continue  # every clause flat across sizes: no ranking information for Page's L
            page = page_trend_two_sided(table)
            drafts.append(Draft("trend", family, "page", metric, groups, page.statistic, page.pvalue, n,
                                (family, "page"), where, "mean_within_clause_rho",
                                page_mean_rho(page.statistic, n, k), detail=f"clauses, {k} sizes",
                                min_p=page_min_p(n, k)))
    return drafts
