"""Targets: what "the output moves" means, as a value function over perturbed clause texts.

A target maps clause texts to values, shape (n, width). Attribution scores are differences of values,
`v(unperturbed) - v(perturbed)`, so positive means "this unit supports the original output".

- `logprob`: teacher-forced log-probability of the original output, one column per output token
  (width = number of output tokens; the row sum is the sequence log-probability).
- `similarity`: regenerate under the perturbed prompt; the value is the similarity of the new output to
  the original one, so a unit's leave-one-out score is 1 - similarity when generation is deterministic.
- `verdict`: regenerate; the value is the fraction of the original rule's verdicts (one per fixture
  building) that the new rule reproduces.

Generation, similarity and verdicts are injected (`generate_fn`, `similarity_fn`, `verdict_fn`) so this
stage never imports the generate or score stages. Every model evaluation goes through `EvalCache`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypedDict, Unpack

import numpy as np
import torch

from clauselens.attribute.evalcache import DiskShelf, EvalCache, input_key
from clauselens.attribute.logprob import TeacherForcedScorer
from clauselens.prompt import PromptParts
from clauselens.registry import TARGETS

GenerateFn = Callable[[list[str]], list[str]]
SimilarityFn = Callable[[list[str], list[str]], list[float]]
VerdictFn = Callable[[list[str]], list[tuple]]


class TargetFns(TypedDict, total=False):
    """What the regenerating targets need, passed on as keywords from `attribute_clause` and
    `faithfulness_curves` down to `build_target`: `generate_fn` for both, and `similarity_fn` or
    `verdict_fn`."""

    similarity_fn: SimilarityFn | None
    generate_fn: GenerateFn | None
    verdict_fn: VerdictFn | None


class Target:
    """Value function with a cache in front of it; subclasses compute the missing values."""

    name = ""

    def __init__(self, parts: PromptParts, target_text: str, fingerprint: str, cache: EvalCache,
                 shelf: DiskShelf):
        self.parts = parts
        self.target_text = target_text
        self.fingerprint = fingerprint
        self.cache = cache
        self.shelf = shelf
        self.evaluations = 0  # inputs actually computed (cache misses)

    def _cached(
        self, kind: str, inputs: Sequence[str], compute: Callable[[list[str]], list[Any]]
    ) -> list[Any]:
        """Look up `inputs` under `kind`; compute the distinct missing ones in one call; store them."""
        keys = [input_key(self.fingerprint, kind, self.target_text, x) for x in inputs]
        found: dict[str, Any] = {}
        for key in set(keys):
            value = self.cache.get(key)
            if value is None:
                value = self.shelf.items.get(key)
                if value is not None:
                    self.cache.put(key, value)
            if value is not None:
                found[key] = value
        missing: dict[str, str] = {}
        for key, x in zip(keys, inputs, strict=True):
            if key not in found:
                missing.setdefault(key, x)
        if missing:
            values = compute(list(missing.values()))
            self.evaluations += len(missing)
            for key, value in zip(missing, values, strict=True):
                self.cache.put(key, value)
                self.shelf.put(key, value)
                found[key] = value
        return [found[k] for k in keys]

    def __call__(self, clause_texts: Sequence[str]) -> np.ndarray:
        raise NotImplementedError

    @property
    def width(self) -> int:
        return 1


class LogprobTarget(Target):
    name = "logprob"

    def __init__(self, scorer: TeacherForcedScorer, **kw: Any):
        super().__init__(**kw)
        self.scorer = scorer

    @property
    def width(self) -> int:
        return self.scorer.n_target

    def __call__(self, clause_texts: Sequence[str]) -> np.ndarray:
        prompts = [self.parts.with_clause(t).text for t in clause_texts]
        rows = self._cached("logprob", prompts, lambda xs: list(self.scorer.score(xs)))
        return np.asarray(rows, dtype=np.float64).reshape(len(clause_texts), self.width)


class GenerationTarget(Target):
    """Shared part of `similarity` and `verdict`: regenerate (cached) under each perturbed prompt."""

    def __init__(self, generate_fn: GenerateFn, batch_size: int, **kw: Any):
        super().__init__(**kw)
        self.generate_fn = generate_fn
        self.batch_size = batch_size

    def _generate(self, prompts: list[str]) -> list[str]:
        out: list[str] = []
        for i in range(0, len(prompts), self.batch_size):
            chunk = prompts[i:i + self.batch_size]
            generated = self.generate_fn(chunk)
            if len(generated) != len(chunk):
                raise ValueError(f"generate_fn returned {len(generated)} outputs for {len(chunk)} prompts")
            out += [str(g) for g in generated]
        return out

    def generations(self, clause_texts: Sequence[str]) -> list[str]:
        prompts = [self.parts.with_clause(t).text for t in clause_texts]
        return self._cached("generate", prompts, self._generate)


class SimilarityTarget(GenerationTarget):
    name = "similarity"

    def __init__(self, similarity_fn: SimilarityFn, **kw: Any):
        super().__init__(**kw)
        self.similarity_fn = similarity_fn

    def __call__(self, clause_texts: Sequence[str]) -> np.ndarray:
        outputs = self.generations(clause_texts)
        sims = self.similarity_fn([self.target_text] * len(outputs), outputs)
        return np.asarray(sims, dtype=np.float64).reshape(len(clause_texts), 1)


def verdict_agreement(reference: Sequence[Any], other: Sequence[Any]) -> float:
    """Share of the reference verdicts reproduced position by position (1.0 when both are empty)."""
    if len(reference) != len(other):
        return 0.0
    if not reference:
        return 1.0
    return float(np.mean([a == b for a, b in zip(reference, other, strict=True)]))


class VerdictTarget(GenerationTarget):
    name = "verdict"

    def __init__(self, verdict_fn: VerdictFn, **kw: Any):
        super().__init__(**kw)
        self.verdict_fn = verdict_fn
        self.reference = list(self._verdicts([self.target_text])[0])

    def _verdicts(self, rules: list[str]) -> list[list[Any]]:
        def compute(xs: list[str]) -> list[list[Any]]:
            return [list(v) for v in self.verdict_fn(xs)]

        return self._cached("verdict", rules, compute)

    def __call__(self, clause_texts: Sequence[str]) -> np.ndarray:
        verdicts = self._verdicts(self.generations(clause_texts))
        return np.asarray([verdict_agreement(self.reference, v) for v in verdicts]).reshape(-1, 1)


def _require(target: str, **fns: Callable[..., Any] | None) -> None:
    """A regenerating target cannot run without the functions it calls: say which one is missing."""
    for arg, fn in fns.items():
        if fn is None:
            raise ValueError(f"attribution.target = {target!r} regenerates outputs and needs {arg}")


@TARGETS.register("logprob")
def _logprob_target(*, model: torch.nn.Module, tokenizer: object, batch_size: int, common: dict[str, Any],
                    **_: Any) -> Target:
    scorer = TeacherForcedScorer(model, tokenizer, common["parts"], common["target_text"], batch_size)
    return LogprobTarget(scorer, **common)


@TARGETS.register("similarity")
def _similarity_target(*, batch_size: int, common: dict[str, Any], generate_fn: GenerateFn | None,
                       similarity_fn: SimilarityFn | None, **_: Any) -> Target:
    _require("similarity", generate_fn=generate_fn, similarity_fn=similarity_fn)
    return SimilarityTarget(similarity_fn, generate_fn=generate_fn, batch_size=batch_size, **common)


@TARGETS.register("verdict")
def _verdict_target(*, batch_size: int, common: dict[str, Any], generate_fn: GenerateFn | None,
                    verdict_fn: VerdictFn | None, **_: Any) -> Target:
    _require("verdict", generate_fn=generate_fn, verdict_fn=verdict_fn)
    return VerdictTarget(verdict_fn, generate_fn=generate_fn, batch_size=batch_size, **common)


def build_target(
    name: str,
    *,
    model: torch.nn.Module,
    tokenizer: object,
    parts: PromptParts,
    target_text: str,
    batch_size: int,
    fingerprint: str,
    cache: EvalCache,
    shelf: DiskShelf,
    **fns: Unpack[TargetFns],
) -> Target:
    """The target registered as `name` (`clauselens.registry.TARGETS`), with a clear error when a
    function it needs was not passed."""
    unknown = sorted(set(fns) - TargetFns.__optional_keys__)
    if unknown:
        raise TypeError(f"build_target: unexpected keyword argument(s) {unknown}")
    generate_fn = fns.get("generate_fn")
    similarity_fn, verdict_fn = fns.get("similarity_fn"), fns.get("verdict_fn")
    common = dict(parts=parts, target_text=target_text, fingerprint=fingerprint, cache=cache, shelf=shelf)
    return TARGETS[name](model=model, tokenizer=tokenizer, batch_size=batch_size, common=common,
                         similarity_fn=similarity_fn, generate_fn=generate_fn, verdict_fn=verdict_fn)
