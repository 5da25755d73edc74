"""Coalitions of units to evaluate, and the Kernel SHAP weight of each (Lundberg & Lee 2017).

A surrogate attribution is only as good as the coalitions it is fitted on. The design follows the
`shap` library's KernelExplainer, the reference implementation of Kernel SHAP:

- the empty and the full coalition are always evaluated (they pin the surrogate's two ends, so the
  Shapley values it implies sum to `v(all) - v(none)`);
- coalition sizes are taken in pairs `(s, n - s)`, most kernel weight first (sizes 1 and n - 1: the
  single units and the leave-one-out coalitions); a size pair whose subsets all fit in the remaining
  budget is enumerated completely, each subset weighted by its exact Shapley kernel weight;
- the rest of the budget is drawn at random from the sizes left, each size with probability
  proportional to its remaining kernel mass, every draw followed by its complement (paired, or
  antithetic, sampling: errors of a coalition and its complement cancel in the linear fit); the drawn
  coalitions share the remaining kernel mass equally, and a repeated draw adds to its weight.

With a budget of `2**n` every coalition is enumerated and the weighted least-squares fit is exact
Kernel SHAP, i.e. the exact Shapley values (tested against enumeration).
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations
from math import comb

import numpy as np


@dataclass
class Coalitions:
    masks: np.ndarray  # (m, n) bool, True = unit present; row 0 the empty, row 1 the full coalition
    weights: np.ndarray  # (m,) kernel weights; inf for the empty and the full coalition


def size_kernel(n: int) -> np.ndarray:
    """Total Shapley kernel mass of each coalition size s = 1..n-1: (n - 1) / (s (n - s))."""
    s = np.arange(1, n)
    return (n - 1) / (s * (n - s))


def sample_coalitions(n: int, budget: int, rng: np.random.Generator) -> Coalitions:
    """At most `budget` distinct coalitions of `n` units (at least the empty and the full one)."""
    if n < 1:
        raise ValueError("sample_coalitions: need at least one unit")
    empty, full = np.zeros(n, dtype=bool), np.ones(n, dtype=bool)
    rows: dict[bytes, int] = {empty.tobytes(): 0, full.tobytes(): 1}
    masks, weights = [empty, full], [np.inf, np.inf]

    def add(mask: np.ndarray, weight: float) -> None:
        key = mask.tobytes()
        if key in rows:
            weights[rows[key]] += weight
        else:
            rows[key] = len(masks)
            masks.append(mask)
            weights.append(weight)

    mass = size_kernel(n) if n > 1 else np.zeros(0)
    left = budget - 2
    pending = list(range(1, n // 2 + 1))  # s pairs with n - s; s = n - s only when n is even
    enumerated: set[int] = set()
    for s in pending:
        sizes = {s, n - s}
        count = sum(comb(n, k) for k in sizes)
        if count > left:
            break
        for k in sizes:
            for members in combinations(range(n), k):
                mask = empty.copy()
                mask[list(members)] = True
                add(mask, mass[k - 1] / comb(n, k))
        enumerated |= sizes
        left -= count
    rest = [k for k in range(1, n) if k not in enumerated]
    first_drawn = len(masks)
    if rest and left >= 2:
        p = mass[np.array(rest) - 1]
        share = p.sum() / (2 * (left // 2))  # each of the draws that follow gets an equal share
        drawn = 0
        attempts = 0
        while drawn + 2 <= left and attempts < 50 * budget:
            attempts += 1
            k = int(rng.choice(rest, p=p / p.sum()))
            mask = empty.copy()
            mask[rng.choice(n, size=k, replace=False)] = True
            before = len(masks)
            add(mask, share)
            add(~mask, share)
            drawn += len(masks) - before
        total = sum(weights[first_drawn:])  # repeated draws added weight: rescale to the mass left
        weights[first_drawn:] = [w * p.sum() / total for w in weights[first_drawn:]]
    return Coalitions(np.array(masks), np.array(weights))


def uniform_coalitions(n: int, budget: int, rng: np.random.Generator) -> Coalitions:
    """The empty and full coalition, then random coalitions (each unit present with probability 1/2)
    with their complements, equally weighted: ContextCite's ablation design for a sparse linear fit."""
    empty = np.zeros(n, dtype=bool)
    seen = {empty.tobytes(), (~empty).tobytes()}
    masks = [empty, ~empty]
    attempts = 0
    while len(masks) + 2 <= budget and attempts < 50 * budget and n > 1:
        attempts += 1
        mask = rng.random(n) < 0.5
        for m in (mask, ~mask):
            if m.tobytes() not in seen:
                seen.add(m.tobytes())
                masks.append(m)
    return Coalitions(np.array(masks), np.ones(len(masks)))
