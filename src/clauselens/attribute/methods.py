"""Attribution methods over units, written against a value function of unit coalitions.

The methods here are the classic ones; `surrogate.py` and `hierarchy.py` add two more, and
`registry.METHODS` maps the names `attribution.method` accepts to all of them.

The value function takes boolean masks, shape (m, n_units) with True meaning "unit present", and
returns values of shape (m, width): one column per output token for the `logprob` target, one column
otherwise. Each method returns per-unit scores (the row sums) and the per-column matrix, so the
output-token x unit matrix comes for free. All coalitions a method needs are requested in one call,
which lets the engine batch them and share prefix caches.

- leave-one-out: `v(all) - v(all without i)`.
- sliding window: windows of `w` consecutive units are removed together; a unit's score is the mean
  of the scores of the windows that cover it (stride 1). Smoother than leave-one-out where units
  are redundant with their neighbours ("not less than").
- Shapley value sampling (Castro et al. 2009): random permutations, each walked from the empty to the
  full coalition, a unit credited with its marginal change; every second permutation is the reverse
  of the one before (antithetic sampling, lower variance for the same budget). Each permutation's
  marginals telescope to `v(all) - v(none)`, so the scores satisfy efficiency exactly.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from clauselens.records import Unit

ValueOfMasks = Callable[[np.ndarray], np.ndarray]


@dataclass
class MethodResult:
    scores: np.ndarray  # (n_units,)
    matrix: np.ndarray  # (width, n_units)
    full: np.ndarray  # v(all units present), (width,)
    empty: np.ndarray | None = None  # v(no unit present), when the method evaluated it
    options: dict[str, object] = field(default_factory=dict)  # method diagnostics for `Attribution.options`
    units: list[Unit] | None = None  # the units scored, when not the units the method was given


def leave_one_out(n: int, value: ValueOfMasks) -> MethodResult:
    masks = np.ones((n + 1, n), dtype=bool)
    masks[np.arange(1, n + 1), np.arange(n)] = False
    values = value(masks)
    matrix = (values[0] - values[1:]).T
    return MethodResult(matrix.sum(axis=0), matrix, values[0])


def sliding_window(n: int, window: int, value: ValueOfMasks) -> MethodResult:
    w = min(window, n)
    starts = np.arange(n - w + 1)
    masks = np.ones((len(starts) + 1, n), dtype=bool)
    for row, s in enumerate(starts, start=1):
        masks[row, s:s + w] = False
    values = value(masks)
    window_effect = values[0] - values[1:]  # (n_windows, width)
    cover = ~masks[1:]  # (n_windows, n): which units each window removes
    matrix = (cover.T.astype(float) @ window_effect / cover.sum(axis=0)[:, None]).T
    return MethodResult(matrix.sum(axis=0), matrix, values[0])


def shapley_sampling(
    n: int, permutations: int, rng: np.random.Generator, value: ValueOfMasks
) -> MethodResult:
    orders: list[np.ndarray] = []
    while len(orders) < permutations:
        order = rng.permutation(n)
        orders.append(order)
        if len(orders) < permutations:
            orders.append(order[::-1].copy())
    masks = np.zeros((len(orders), n + 1, n), dtype=bool)
    for p, order in enumerate(orders):
        for step in range(1, n + 1):
            masks[p, step] = masks[p, step - 1]
            masks[p, step, order[step - 1]] = True
    flat = masks.reshape(-1, n)
    unique, inverse = np.unique(flat, axis=0, return_inverse=True)
    values = value(unique)[inverse.reshape(-1)].reshape(len(orders), n + 1, -1)
    width = values.shape[-1]
    matrix = np.zeros((width, n))
    for p, order in enumerate(orders):
        matrix[:, order] += (values[p, 1:] - values[p, :-1]).T
    matrix /= len(orders)
    return MethodResult(matrix.sum(axis=0), matrix, values[0, -1], values[0, 0])
