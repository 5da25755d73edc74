"""Tokenizer-invariant comparison: two attributions of the same clause, unit by unit, on words or spans.

Two models with different tokenizers cut a clause into different tokens, so their token scores cannot
be paired. Both are moved onto the clause's words (or semantic spans) by character offsets
(`clauselens.attribute.to_words` / `to_spans`); words are defined by the clause text alone, so both
attributions then have exactly the same units and compare position by position.

Agreement is Kendall's tau-b between the *absolute* scores (how much a unit matters, whichever way it
pushes the output), the reading the analysis stage uses for focus and category shares.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from typing import Literal

import numpy as np
import pandas as pd
from scipy import stats

from clauselens.attribute import to_spans, to_words
from clauselens.compare.intervals import format_ci, mean_with_ci
from clauselens.records import Attribution

AlignUnit = Literal["word", "span"]
MIN_UNITS = 3  # fewer shared units and a rank correlation says nothing
RANK_STATISTICS = {"kendall_tau": stats.kendalltau, "spearman_rho": stats.spearmanr}


def abs_rank_correlation(a: np.ndarray, b: np.ndarray, statistic: str = "kendall_tau") -> float:
    """Kendall tau-b or Spearman rho of |a| and |b|; NaN with fewer than 3 units or a constant map."""
    x, y = np.abs(np.asarray(a, float)), np.abs(np.asarray(b, float))
    if x.size < MIN_UNITS or np.ptp(x) == 0 or np.ptp(y) == 0:
        return math.nan
    return float(RANK_STATISTICS[statistic](x, y).statistic)


def aligned(attr: Attribution, unit: AlignUnit = "word") -> Attribution:
    """`attr` on the clause's words or spans (unchanged when it already is)."""
    if unit not in ("word", "span"):
        raise ValueError(f"unit must be 'word' or 'span'; got {unit!r}")
    if attr.units and all(u.kind == unit for u in attr.units):
        return attr
    return to_words(attr) if unit == "word" else to_spans(attr)


def aligned_scores(a: Attribution, b: Attribution, unit: AlignUnit = "word") -> tuple[np.ndarray, np.ndarray]:
    """Scores of `a` and `b` on the same units of the same clause, in clause order."""
    if a.clause_text != b.clause_text:
        raise ValueError(f"cannot align attributions of different clause texts ({a.cell_id} / {a.clause_id} "
                         f"vs {b.cell_id} / {b.clause_id})")
    wa, wb = aligned(a, unit), aligned(b, unit)
    keys_a = [(u.start, u.end) for u in wa.units]
    if keys_a != [(u.start, u.end) for u in wb.units]:
        raise ValueError(f"{a.clause_id}: {unit} units differ between the two attributions")
    return np.asarray(wa.scores, float), np.asarray(wb.scores, float)


def rank_agreement(a: Attribution, b: Attribution, unit: AlignUnit = "word") -> float:
    """Kendall's tau-b of |scores| on the shared words/spans; NaN with fewer than 3 units or no variation."""
    return abs_rank_correlation(*aligned_scores(a, b, unit))


def cross_model_agreement(attributions: Sequence[Attribution], cells: pd.DataFrame, *, n_boot: int,
                          seed: int = 0) -> list[dict[str, object]]:
    """For each strategy and seed, every pair of model sizes: mean tau over shared clauses, with a CI.

    `cells` is indexed by cell_id with columns model, params, strategy, seed. This is the comparison a
    token-level toolkit cannot make once the sizes use different tokenizers.
    """
    by_cell: dict[str, dict[str, Attribution]] = {}
    for attr in attributions:
        by_cell.setdefault(attr.cell_id, {})[attr.clause_id] = attr
    rows: list[dict[str, object]] = []
    known = cells.loc[[c for c in by_cell if c in cells.index]]
    for (strategy, cell_seed), group in known.groupby(["strategy", "seed"]):
        ordered = group.sort_values(["params", "model"])
        for (cell_a, row_a), (cell_b, row_b) in itertools.combinations(ordered.iterrows(), 2):
            shared = sorted(by_cell[cell_a].keys() & by_cell[cell_b].keys())
            for unit in ("word", "span"):
                taus = [rank_agreement(by_cell[cell_a][c], by_cell[cell_b][c], unit) for c in shared]
                taus = [t for t in taus if math.isfinite(t)]
                mean, low, high = mean_with_ci(taus, n_boot=n_boot, seed=seed)
                pair = f"{row_a['model']} and {row_b['model']} ({strategy})"
                rows.append({
                    "cell_a": cell_a, "cell_b": cell_b, "strategy": strategy, "seed": int(cell_seed),
                    "model_a": row_a["model"], "model_b": row_b["model"], "unit": unit,
                    "statistic": "kendall_tau", "value": mean, "ci_low": low, "ci_high": high, "n": len(taus),
                    "sentence": (f"{pair} rank clause {unit}s alike with mean Kendall tau "
                                 f"{format_ci(mean, low, high)} over {len(taus)} clauses" if taus else
                                 f"{pair}: no clause with at least {MIN_UNITS} {unit}s and varying scores"),
                })
    return rows
