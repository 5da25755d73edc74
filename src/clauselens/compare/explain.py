"""Attributions for the compare stage: any model variant, any method / perturbation, on words.

A *variant* is something that runs: a bank with one adapter active, a bank's bare base, or a standalone
model (an FFT cell). Everything here explains the teacher-forced log-probability of a fixed output
(`logprob` target, whatever the study's attribution target is): a comparison must hold the output
fixed, and this target needs no regeneration, which keeps the stage cheap.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, field

import torch

from clauselens.attribute import EvalCache, attribute_clause
from clauselens.compare.alignment import aligned
from clauselens.config import AttributionConfig
from clauselens.records import Attribution, Clause


@dataclass
class Variant:
    """A runnable model: `enter()` yields it ready for inference (adapter switched in, or disabled).

    Each variant has its own evaluation cache: the engine's cache key (a weight fingerprint) cannot
    tell a bank's base from its last active adapter (see `bank`).
    """

    label: str  # e.g. "ladder-s|4bit-nf4|lora_s0"
    enter: Callable[[], AbstractContextManager[torch.nn.Module]]
    tokenizer: object
    cache: EvalCache = field(default_factory=EvalCache)


def standalone(label: str, model: torch.nn.Module, tokenizer: object) -> Variant:
    """A variant for a model that is not in a bank (an FFT cell)."""

    @contextlib.contextmanager
    def enter() -> Iterator[torch.nn.Module]:
        yield model

    return Variant(label, enter, tokenizer)


def compare_attribution_config(attribution: AttributionConfig, shapley_samples: int) -> AttributionConfig:
    """The study's attribution options with the logprob target and the compare stage's Shapley budget."""
    return attribution.model_copy(update={"target": "logprob", "faithfulness": False,
                                          "shapley_samples": shapley_samples})


def explain(variant: Variant, clause: Clause, output: str, cell_id: str, cfg: AttributionConfig, *,
            method: str | None = None, perturbation: str | None = None, seed: int = 0) -> Attribution:
    """`variant`'s attribution of `output` on `clause`, moved onto the clause's words."""
    run_cfg = cfg.model_copy(update={"method": method or cfg.method,
                                     "perturbation": perturbation or cfg.perturbation})
    with variant.enter() as model:
        attr = attribute_clause(model, variant.tokenizer, clause, output, run_cfg, cell_id, seed=seed,
                                cache=variant.cache)
    return aligned(attr, "word")
