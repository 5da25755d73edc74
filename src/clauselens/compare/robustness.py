"""Robustness of the explanations themselves: would another reasonable choice tell the same story?

Three checks, each a rank agreement between two word attributions of the same clause and output
(Kendall tau-b and Spearman rho of |scores|; 1 = the same ranking):

- `perturbation_baseline`: leave-one-out with `delete` vs `mask` vs `substitute` (the three pairs,
  and their mean per clause). Low agreement means the map depends on what "absent" means.
- `shapley_seed`: Shapley value sampling run twice with different seeds (test-retest). Low agreement
  means the sampling budget is too small for the map to be read unit by unit.
- `loo_vs_shapley`: leave-one-out vs Shapley sampling (same perturbation). Low agreement means units
  interact (redundant or conditional words), which leave-one-out cannot see.

Table `robustness` summarises per cell and over all cells ("all": clauses averaged over cells first,
so the interval resamples clauses, the unit of replication).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from clauselens.compare.alignment import RANK_STATISTICS, abs_rank_correlation, aligned_scores
from clauselens.compare.intervals import format_ci, mean_with_ci
from clauselens.records import Attribution

BASELINES = ("delete", "mask", "substitute")
MEASURE_LABELS = {
    "perturbation_baseline": "perturbation baselines (delete / mask / substitute) agree",
    "shapley_seed": "Shapley sampling agrees with itself across two seeds",
    "loo_vs_shapley": "leave-one-out and Shapley sampling agree",
}


def runs_needed(perturbation: str) -> list[tuple[str, str, int]]:
    """(method, perturbation, seed) of every attribution one clause's checks need."""
    return [("loo", p, 0) for p in BASELINES] + [("shapley", perturbation, 0), ("shapley", perturbation, 1)]


def robustness_clause(runs: Mapping[tuple[str, str, int], Attribution],
                      perturbation: str) -> list[dict[str, Any]]:
    """Per-clause rows (measure, statistic, value) from the attributions `runs_needed` lists."""
    missing = [k for k in runs_needed(perturbation) if k not in runs]
    if missing:
        raise ValueError(f"robustness checks need attributions {missing}")
    clause_id = runs[("loo", "delete", 0)].clause_id
    rows = []
    for statistic in RANK_STATISTICS:
        pairs = {f"perturbation_baseline:{a}-{b}": (runs[("loo", a, 0)], runs[("loo", b, 0)])
                 for a, b in itertools.combinations(BASELINES, 2)}
        pairs["shapley_seed"] = (runs[("shapley", perturbation, 0)], runs[("shapley", perturbation, 1)])
        pairs["loo_vs_shapley"] = (runs[("loo", perturbation, 0)], runs[("shapley", perturbation, 0)])
        values = {measure: abs_rank_correlation(*aligned_scores(a, b, "word"), statistic)
                  for measure, (a, b) in pairs.items()}
        baseline = [v for m, v in values.items()
                    if m.startswith("perturbation_baseline:") and math.isfinite(v)]
        values["perturbation_baseline"] = float(np.mean(baseline)) if baseline else math.nan
        rows += [{"clause_id": clause_id, "measure": m, "statistic": statistic, "value": v}
                 for m, v in values.items()]
    return rows


def _summary_row(cell_id: str, measure: str, statistic: str, by_clause: pd.Series, n: int, *, n_boot: int,
                 seed: int) -> dict[str, Any]:
    value, low, high = mean_with_ci(by_clause.dropna().tolist(), n_boot=n_boot, seed=seed)
    if measure.startswith("perturbation_baseline:"):
        first, second = measure.split(":")[1].split("-")
        label = f"leave-one-out with {first} and with {second} agree"
    else:
        label = MEASURE_LABELS.get(measure, measure)
    who = "over all cells" if cell_id == "all" else f"for {cell_id}"
    return {"cell_id": cell_id, "measure": measure, "statistic": statistic, "value": value, "ci_low": low,
            "ci_high": high, "n": n, "n_clauses": int(by_clause.notna().sum()),
            "sentence": f"{label} {who}: mean {statistic.replace('_', ' ')} {format_ci(value, low, high)}"}


def summarise_robustness(per_clause: pd.DataFrame, *, n_boot: int, seed: int = 0) -> list[dict[str, Any]]:
    """Table `robustness`: per (cell or "all", measure, statistic), mean agreement with a clause CI."""
    rows = []
    finite = per_clause.dropna(subset=["value"])
    for (cell_id, measure, statistic), frame in per_clause.groupby(["cell_id", "measure", "statistic"]):
        rows.append(_summary_row(cell_id, measure, statistic, frame.set_index("clause_id")["value"],
                                 int(frame["value"].notna().sum()), n_boot=n_boot, seed=seed))
    for (measure, statistic), frame in per_clause.groupby(["measure", "statistic"]):
        n = int(finite[(finite["measure"] == measure) & (finite["statistic"] == statistic)].shape[0])
        rows.append(_summary_row("all", measure, statistic, frame.groupby("clause_id")["value"].mean(), n,
                                 n_boot=n_boot, seed=seed))
    return rows
