"""The attribution methods by name: `attribution.method` in the config picks one of `METHODS`
(`clauselens.registry.METHODS`; the names are declared there, the implementations registered here).

Every method sees the same `Problem` (the units, a value function of unit coalitions, the config and a
seeded generator) and returns a `MethodResult`, so adding a method is registering one function.
"""

from __future__ import annotations

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
from clauselens.registry import METHODS


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


@METHODS.register("loo")
def _loo(p: Problem) -> MethodResult:
    return leave_one_out(p.n, p.value)


@METHODS.register("window")
def _window(p: Problem) -> MethodResult:
    return sliding_window(p.n, p.cfg.window, p.value)


@METHODS.register("shapley")
def _shapley(p: Problem) -> MethodResult:
    return shapley_sampling(p.n, p.cfg.shapley_samples, p.rng, p.value)


@METHODS.register("surrogate")
def _surrogate(p: Problem) -> MethodResult:
    return surrogate(p.n, p.value, budget=surrogate_evaluations(p.n, p.cfg.surrogate_budget),
                     fit=p.cfg.surrogate_fit, interactions=p.cfg.surrogate_interactions, rng=p.rng)


@METHODS.register("hierarchy")
def _hierarchy(p: Problem) -> MethodResult:
    return hierarchical(p.text, p.units, p.value, mass=p.cfg.hierarchical_mass, tokenizer=p.tokenizer)


def run_method(name: str, problem: Problem) -> MethodResult:
    """Run the method registered as `name` (`clauselens.registry.METHODS`); unknown names are refused."""
    return METHODS[name](problem)
