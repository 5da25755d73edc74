"""Faithfulness: does removing what an attribution ranks highest change the output most?

For one attribution, units are ordered by score (highest first) and the same value function that
produced the attribution (same target, same perturbation, same absent forms) is evaluated on:

- the deletion curve: the top-k units perturbed, k = 0..n; AOPC = mean_k [v(all) - v(top-k removed)]
  (Samek et al. 2017). Higher is more faithful.
- the insertion curve: only the top-k units present; AOPC = mean_k [v(top-k only) - v(none)]. Higher is
  more faithful.
- comprehensiveness and sufficiency (DeYoung et al. 2020, ERASER) over the top 1/5/10/20/50 % of units
  (at least one unit): mean v(all) - v(top removed) (higher is better) and mean v(all) - v(only top
  kept) (lower is better).

Each is also computed for `N_RANDOM` random orders (seeded by clause) and averaged: an attribution is
only informative where it beats that baseline. When a clause has more than `MAX_STEPS` units the
curves are evaluated at `MAX_STEPS + 1` evenly spaced k (always including 0 and n).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Unpack

import numpy as np
import torch

from clauselens.attribute.clause import PerturbedClause, clause_rngs, eval_mode, prepare
from clauselens.attribute.evalcache import DEFAULT_CACHE, EvalCache
from clauselens.attribute.targets import TargetFns
from clauselens.config import AttributionConfig
from clauselens.records import Attribution, Clause

TOP_FRACTIONS = (0.01, 0.05, 0.10, 0.20, 0.50)
N_RANDOM = 5
MAX_STEPS = 20


def curve_steps(n: int) -> list[int]:
    return sorted({int(round(x)) for x in np.linspace(0, n, min(n, MAX_STEPS) + 1)})


def top_counts(n: int) -> list[int]:
    return [max(1, math.ceil(f * n)) for f in TOP_FRACTIONS]


def _order_masks(order: np.ndarray, n: int, ks: list[int], keep_top: bool) -> np.ndarray:
    """Masks for each k: only the top-k present (keep_top) or the top-k removed."""
    masks = np.full((len(ks), n), not keep_top)
    for row, k in enumerate(ks):
        masks[row, order[:k]] = keep_top
    return masks


def order_masks(order: np.ndarray, n: int) -> np.ndarray:
    """Every coalition the metrics of one ordering need, in the order `order_metrics` reads them."""
    ks, tops = curve_steps(n), top_counts(n)
    return np.concatenate([
        _order_masks(order, n, ks, keep_top=False),  # deletion curve
        _order_masks(order, n, ks, keep_top=True),  # insertion curve
        _order_masks(order, n, tops, keep_top=False),  # comprehensiveness
        _order_masks(order, n, tops, keep_top=True),  # sufficiency
    ])


def order_metrics(values: np.ndarray, n: int) -> dict[str, Any]:
    """Curves, AOPCs, comprehensiveness and sufficiency from the values of `order_masks`."""
    ks, tops = curve_steps(n), top_counts(n)
    deletion, insertion, without_top, only_top = np.split(
        values, np.cumsum([len(ks), len(ks), len(tops)]))
    full, empty = deletion[0], insertion[0]
    return {
        "k": ks,
        "deletion": deletion.tolist(),
        "insertion": insertion.tolist(),
        "deletion_aopc": float(np.mean(full - deletion)),
        "insertion_aopc": float(np.mean(insertion - empty)),
        "comprehensiveness": float(np.mean(full - without_top)),
        "sufficiency": float(np.mean(full - only_top)),
    }


def faithfulness_rows(attr: Attribution, pc: PerturbedClause, rng: np.random.Generator,
                      n_random: int = N_RANDOM) -> list[dict[str, Any]]:
    n = len(attr.units)
    scores = np.asarray(attr.scores)
    orders = [np.lexsort((np.arange(n), -scores))]  # highest score first, ties by position
    orders += [rng.permutation(n) for _ in range(n_random)]
    per_order = [order_masks(order, n) for order in orders]
    values = pc.value(np.concatenate(per_order)).sum(axis=1)
    ranked, *randoms = [order_metrics(v, n) for v in np.split(values, len(orders))]

    def mean(key: str) -> Any:
        return np.mean([r[key] for r in randoms], axis=0)

    rows = []
    for curve in ("deletion", "insertion"):
        points = {"k": ranked["k"], "fraction": [k / n for k in ranked["k"]], "value": ranked[curve],
                  "random_value": mean(curve).tolist()}
        rows.append({
            "cell_id": attr.cell_id, "clause_id": attr.clause_id, "curve": curve,
            "aopc": ranked[f"{curve}_aopc"], "random_aopc": float(mean(f"{curve}_aopc")),
            "comprehensiveness": ranked["comprehensiveness"], "sufficiency": ranked["sufficiency"],
            "random_comprehensiveness": float(mean("comprehensiveness")),
            "random_sufficiency": float(mean("sufficiency")),
            "n_units": n, "points": json.dumps(points),
        })
    return rows


def faithfulness_curves(
    model: torch.nn.Module,
    tokenizer: object,
    clause: Clause,
    target_text: str,
    attribution: Attribution,
    cfg: AttributionConfig,
    *,
    seed: int = 0,
    cache_dir: Path | None = None,
    cache: EvalCache = DEFAULT_CACHE,
    **target_fns: Unpack[TargetFns],
) -> list[dict[str, Any]]:
    """Rows of table `faithfulness` (deletion and insertion) for one attribution.

    The attribution's own units, target, perturbation and absent forms are used (not `cfg`'s), so the
    curves test exactly what the attribution claims; `cfg` supplies the batch size.
    """
    if attribution.clause_text != clause.text:
        raise ValueError(f"clause {clause.clause_id}: attribution was made on a different clause text")
    _, rng = clause_rngs(seed + 1, clause.clause_id)
    with eval_mode(model):
        pc = prepare(
            model, tokenizer, clause, target_text, target=attribution.target,
            perturbation=attribution.perturbation, units=list(attribution.units),
            mask_string=attribution.options.get("mask_string"),
            replacements=attribution.options.get("replacements"), batch_size=cfg.batch_size, seed=seed,
            cache=cache, cache_dir=cache_dir, **target_fns,
        )
        rows = faithfulness_rows(attribution, pc, rng)
    pc.target.shelf.flush()
    return rows
