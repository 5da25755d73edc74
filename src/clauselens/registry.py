"""Registries: one per kind of pluggable piece (attribution methods, targets, units, perturbations,
score metrics), each a read-only mapping name -> implementation.

The config validates a name against its registry's keys (`Registry.check`), and the stage that runs
it looks the implementation up in the same registry (`registry[name]`), so a name is accepted exactly
where it can be run, and an unknown name is refused with the list of registered ones.

The names are declared here, without importing anything heavy, so validating a config never loads
torch or scikit-learn; each implementation module registers its implementations when imported
(`@METHODS.register("loo")`), and a lookup imports that module (`loader`) on first use. `register` with
a new name adds it (a plugin), and the config accepts it from then on.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, Generic, TypeVar

T = TypeVar("T")


class Registry(Mapping[str, T], Generic[T]):
    """Names of one kind (`kind` is the config key that picks them) -> implementations."""

    def __init__(self, kind: str, noun: str, names: Iterable[str], loader: str):
        self.kind, self.noun, self.loader = kind, noun, loader
        self._names: list[str] = list(dict.fromkeys(names))
        self._impl: dict[str, T] = {}

    def names(self) -> tuple[str, ...]:
        return tuple(self._names)

    def check(self, name: str) -> str:
        """`name` if it is registered, else a ValueError that lists the registered names."""
        if name not in self._names:
            known = ", ".join(self._names)
            raise ValueError(f"{self.kind}: unknown {self.noun} {name!r}; expected one of {known}")
        return name

    def register(self, name: str, impl: T | None = None) -> Any:
        """Register `impl` under `name` (adding the name if it is new); without `impl`, a decorator."""
        if impl is None:
            def decorate(fn: T) -> T:
                self.register(name, fn)
                return fn
            return decorate
        if name not in self._names:
            self._names.append(name)
        self._impl[name] = impl
        return impl

    def load(self) -> Registry[T]:
        """Import the implementation module (registration happens on import)."""
        importlib.import_module(self.loader)
        return self

    def __getitem__(self, name: str) -> T:
        self.check(name)
        if name not in self._impl:
            self.load()
        if name not in self._impl:
            raise LookupError(f"{self.kind}: {self.noun} {name!r} is registered but {self.loader} does not "
                              "implement it")
        return self._impl[name]

    def __contains__(self, name: object) -> bool:
        return name in self._names

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._names))

    def __len__(self) -> int:
        return len(self._names)

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}: {', '.join(self._names)})"


METHODS: Registry[Any] = Registry(
    "attribution.method", "method", ("loo", "window", "shapley", "surrogate", "hierarchy"),
    "clauselens.attribute.registry")
TARGETS: Registry[Any] = Registry(
    "attribution.target", "target", ("logprob", "similarity", "verdict"), "clauselens.attribute.targets")
UNITS: Registry[Any] = Registry(
    "attribution.unit", "unit", ("token", "word", "span"), "clauselens.attribute.units")
PERTURBATIONS: Registry[Any] = Registry(
    "attribution.perturbation", "perturbation", ("delete", "mask", "substitute"),
    "clauselens.attribute.perturb")
METRICS: Registry[Any] = Registry(
    "scoring.metrics", "metric",
    ("semantic_similarity", "token_f1", "token_f3", "levenshtein", "bleu", "syntax_valid",
     "tree_edit_distance", "verdict_accuracy", "constraint_match"),
    "clauselens.score.metrics")

REGISTRIES: dict[str, Registry[Any]] = {r.kind: r for r in (METHODS, TARGETS, UNITS, PERTURBATIONS, METRICS)}
