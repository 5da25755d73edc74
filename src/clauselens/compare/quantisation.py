"""Quantisation separated from fine-tuning: is a QLoRA-vs-LoRA difference training or 4-bit noise?

QLoRA differs from LoRA in two ways at once: its adapter was trained on a 4-bit base (*trained
differently*) and it runs on a 4-bit base (*quantisation*). Scoring each adapter on both base
precisions separates them. For one clause, with L = the LoRA adapter, Q = the QLoRA adapter, and
d a distance between two word attributions (each adapter explains its own cell's output):

- observed            = d(Q on 4-bit, L on full)       what the study compares
- trained_differently = mean of d(Q, L) on the full base and d(Q, L) on the 4-bit base
- quantisation_noise  = mean of d(L full, L 4-bit) and d(Q full, Q 4-bit)

Distances: `js_distance` (Jensen–Shannon distance, base 2, of the |score| distributions; in [0, 1])
and `one_minus_tau` (1 - Kendall tau-b of |scores|; in [0, 2]). Both are NaN for a clause whose map is
all zero (JS) or constant (tau). `difference` = trained_differently - quantisation_noise per clause:
its interval above 0 says the adapters differ by more than quantisation moves either of them.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy.spatial.distance import jensenshannon

from clauselens.compare.alignment import abs_rank_correlation, aligned_scores
from clauselens.compare.intervals import format_ci, mean_with_ci
from clauselens.records import Attribution

PARTS = ("observed", "trained_differently", "quantisation_noise", "difference")


def js_distance(a: np.ndarray, b: np.ndarray) -> float:
    pa, pb = np.abs(a), np.abs(b)
    if pa.sum() == 0 or pb.sum() == 0:
        return math.nan
    return float(jensenshannon(pa / pa.sum(), pb / pb.sum(), base=2))


def one_minus_tau(a: np.ndarray, b: np.ndarray) -> float:
    return 1.0 - abs_rank_correlation(a, b, "kendall_tau")


DISTANCES: dict[str, Callable[[np.ndarray, np.ndarray], float]] = {
    "js_distance": js_distance, "one_minus_tau": one_minus_tau}


@dataclass
class PrecisionPair:
    """One clause's four word attributions: each adapter on each base precision."""

    lora_full: Attribution
    lora_4bit: Attribution
    qlora_full: Attribution
    qlora_4bit: Attribution


def split_clause(p: PrecisionPair) -> list[dict[str, Any]]:
    """Per distance: observed, trained_differently, quantisation_noise and difference for one clause."""
    def d(name: str, a: Attribution, b: Attribution) -> float:
        return DISTANCES[name](*aligned_scores(a, b, "word"))

    rows = []
    for name in DISTANCES:
        trained = float(np.mean([d(name, p.qlora_full, p.lora_full), d(name, p.qlora_4bit, p.lora_4bit)]))
        noise = float(np.mean([d(name, p.lora_full, p.lora_4bit), d(name, p.qlora_full, p.qlora_4bit)]))
        rows.append({"clause_id": p.lora_full.clause_id, "distance": name,
                     "observed": d(name, p.qlora_4bit, p.lora_full), "trained_differently": trained,
                     "quantisation_noise": noise, "difference": trained - noise})
    return rows


def summarise_split(per_clause: pd.DataFrame, params: dict[str, float], *, n_boot: int,
                    seed: int = 0) -> list[dict[str, Any]]:
    """Table `quantisation_split`: per (model, distance), each part's mean over clauses with a CI.

    `per_clause` has columns model, seed, clause_id, distance and the `PARTS`; seeds are averaged
    per clause first (the clause is the unit of replication).
    """
    rows = []
    for (model, distance), frame in per_clause.groupby(["model", "distance"], sort=True):
        by_clause = frame.groupby("clause_id")[list(PARTS)].mean()
        row: dict[str, Any] = {"model": model, "params": params.get(model, math.nan), "distance": distance}
        for part in PARTS:
            values = by_clause[part].dropna().tolist()
            row[part], row[f"{part}_ci_low"], row[f"{part}_ci_high"] = mean_with_ci(values, n_boot=n_boot,
                                                                                   seed=seed)
        row["n_clauses"] = int(by_clause["difference"].notna().sum())
        part = {p: format_ci(row[p], row[f"{p}_ci_low"], row[f"{p}_ci_high"]) for p in PARTS}
        row["sentence"] = (
            f"{model}, {distance}: QLoRA and LoRA attributions differ by {part['observed']}; different "
            f"training alone gives {part['trained_differently']}, 4-bit quantisation of the same adapter "
            f"{part['quantisation_noise']} ({row['n_clauses']} clauses)")
        rows.append(row)
    return rows
