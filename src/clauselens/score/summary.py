"""Per-cell metric means with bootstrap confidence intervals, over all clauses and over subsets.

Subsets: `all`, the clause kinds (`quantitative`, `qualitative`) and `doc:<document>`. The interval
is scipy's percentile bootstrap of the mean (`ScoringConfig.bootstrap` resamples, level
1 - `ScoringConfig.alpha`), seeded per (cell, metric, subset) so a summary is the same on every run
and does not depend on which other cells are in the table. Percentile rather than BCa because BCa is
undefined for the all-equal samples that 0/1 metrics (syntax_valid) often give per subset.
"""

from __future__ import annotations

import zlib

import numpy as np
import pandas as pd
from scipy.stats import bootstrap

from clauselens.config import ScoringConfig

SUMMARY_COLUMNS = ["cell_id", "metric", "subset", "mean", "ci_low", "ci_high", "n"]


def summarise(scores: pd.DataFrame, pairs: pd.DataFrame, cells: pd.DataFrame,
              cfg: ScoringConfig) -> pd.DataFrame:
    """One row per (cell_id, metric, subset): mean, ci_low, ci_high, n.

    `scores` is the `scores` table, `pairs` the `pairs` table (for kind and document), `cells` the
    `cells` table: cells whose status is `failed` are left out (their partial output is no result).
    NaN values (a metric that does not apply to a clause) are not counted; a subset with one value
    has NaN interval bounds.
    """
    if scores.empty:
        return pd.DataFrame(columns=SUMMARY_COLUMNS)
    missing = set(scores["clause_id"]) - set(pairs["clause_id"])
    if missing:
        raise ValueError(f"scores name clause_id(s) absent from the pairs table: {sorted(missing)[:5]}")
    if "status" in cells.columns:
        failed = set(cells.loc[cells["status"] == "failed", "cell_id"])
        scores = scores[~scores["cell_id"].isin(failed)]
    data = scores.dropna(subset=["value"]).merge(pairs[["clause_id", "kind", "document"]], on="clause_id")
    rows = []
    for (cell_id, metric), group in data.groupby(["cell_id", "metric"], sort=True):
        subsets = [("all", group)]
        subsets += [(kind, part) for kind, part in group.groupby("kind", sort=True)]
        subsets += [(f"doc:{doc}", part) for doc, part in group.groupby("document", sort=True)]
        for subset, part in subsets:
            low, high = bootstrap_ci(part["value"].to_numpy(float), cfg, key=f"{cell_id}|{metric}|{subset}")
            rows.append({"cell_id": cell_id, "metric": metric, "subset": subset,
                         "mean": float(part["value"].mean()), "ci_low": low, "ci_high": high, "n": len(part)})
    return pd.DataFrame(rows, columns=SUMMARY_COLUMNS)


def bootstrap_ci(values: np.ndarray, cfg: ScoringConfig, key: str = "") -> tuple[float, float]:
    """Percentile-bootstrap interval of the mean of `values`, seeded by `key`."""
    if len(values) < 2:
        return float("nan"), float("nan")
    if np.all(values == values[0]):
        return float(values[0]), float(values[0])  # every resample has this mean
    result = bootstrap((values,), np.mean, n_resamples=cfg.bootstrap, confidence_level=1 - cfg.alpha,
                       method="percentile", rng=np.random.default_rng(zlib.crc32(key.encode())))
    return float(result.confidence_interval.low), float(result.confidence_interval.high)
