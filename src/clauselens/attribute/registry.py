"""The attribution methods by name: `attribution.method` in the config picks one of `METHODS`.

Every method sees the same `Problem` (the units, a value function of unit coalitions, the config and a
seeded generator) and returns a `MethodResult`, so adding a method is adding one entry here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from clauselens.attribute.hierarchy import hierarchical
from clauselens.attribute.methods import (
    MethodResult,
    ValueOfMasks,
    leave_one_out,
    shapley_sampling,
    sliding_window,
)
from clauselens.attribute.surrogate import surrogate
from clauselens.config import AttributionConfig
from clauselens.records import Unit


@dataclass
class Problem:
    text: str  # the clause text the units point into
    units: list[Unit]
    value: ValueOfMasks
    cfg: AttributionConfig
    rng: np.random.Generator
    tokenizer: object | None = None

    @property
    def n(self) -> int:
        return len(self.units)


def surrogate_evaluations(n: int, multiple: float) -> int:
    """The surrogate's budget: `multiple` times leave-one-out's n + 1 evaluations."""
    return max(2, round(multiple * (n + 1)))


METHODS: dict[str, Callable[[Problem], MethodResult]] = {
    "loo": lambda p: leave_one_out(p.n, p.value),
    "window": lambda p: sliding_window(p.n, p.cfg.window, p.value),
    "shapley": lambda p: shapley_sampling(p.n, p.cfg.shapley_samples, p.rng, p.value),
    "surrogate": lambda p: surrogate(p.n, p.value, budget=surrogate_evaluations(p.n, p.cfg.surrogate_budget),
                                     fit=p.cfg.surrogate_fit, interactions=p.cfg.surrogate_interactions,
                                     rng=p.rng),
    "hierarchy": lambda p: hierarchical(p.text, p.units, p.value, mass=p.cfg.hierarchical_mass,
                                        tokenizer=p.tokenizer),
}


def run_method(name: str, problem: Problem) -> MethodResult:
    if name not in METHODS:
        raise ValueError(f"attribution.method: expected one of {', '.join(METHODS)}; got {name!r}")
    return METHODS[name](problem)
