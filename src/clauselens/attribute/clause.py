"""Attribute one clause: units x perturbation x target x method -> one `Attribution` record.

The pieces are independent (captum's lesson: the algorithm does not know what it perturbs): units
and their absent forms define an interpretable input (`PerturbedClause`), a target turns perturbed
clause texts into values, and a method asks for the coalitions it needs.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Unpack

import numpy as np
import torch

from clauselens.attribute.evalcache import DEFAULT_CACHE, DiskShelf, EvalCache, input_key, model_fingerprint
from clauselens.attribute.perturb import apply_perturbation, default_mask_string, replacement_strings
from clauselens.attribute.registry import Problem, run_method
from clauselens.attribute.targets import Target, TargetFns, build_target
from clauselens.attribute.units import check_offsets, make_units
from clauselens.config import AttributionConfig
from clauselens.prompt import render_prompt
from clauselens.records import Attribution, Clause, Unit


def clause_rngs(seed: int, clause_id: str) -> tuple[np.random.Generator, np.random.Generator]:
    """Independent seeded streams for (substitution, sampling), fixed per (seed, clause)."""
    clause_hash = int(hashlib.sha256(clause_id.encode()).hexdigest()[:8], 16)
    sub, sample = np.random.SeedSequence([seed, clause_hash]).spawn(2)
    return np.random.default_rng(sub), np.random.default_rng(sample)


@dataclass
class PerturbedClause:
    """A clause's units, each unit's absent form, and the target that values perturbed versions."""

    text: str
    units: list[Unit]
    replacements: list[str]
    perturbation: str
    target: Target
    mask: str  # the mask string (also the substitution fallback)
    fallbacks: int = 0  # substitutions that fell back to the mask string

    def texts(self, masks: np.ndarray) -> list[str]:
        """Clause text for each coalition (True = unit present)."""
        return [apply_perturbation(self.text, self.units, np.flatnonzero(~m), self.replacements,
                                   self.perturbation) for m in masks]

    def value(self, masks: np.ndarray) -> np.ndarray:
        return self.target(self.texts(np.asarray(masks, dtype=bool)))


def grouped_replacements(pc: PerturbedClause, units: list[Unit]) -> list[str]:
    """Absent forms of coarser `units` (e.g. a hierarchy's spans): each its leaves' absent forms in place."""
    out = []
    for unit in units:
        inside = [i for i, leaf in enumerate(pc.units) if unit.start <= leaf.start and leaf.end <= unit.end]
        shifted = [pc.units[i].model_copy(update={"start": pc.units[i].start - unit.start,
                                                   "end": pc.units[i].end - unit.start}) for i in inside]
        out.append(apply_perturbation(unit.text, shifted, range(len(inside)),
                                      [pc.replacements[i] for i in inside], pc.perturbation))
    return out


def prepare(
    model: torch.nn.Module,
    tokenizer: object,
    clause: Clause,
    target_text: str,
    *,
    target: str,
    perturbation: str,
    units: list[Unit] | None = None,
    unit_kind: str = "word",
    mask_string: str | None = None,
    replacements: list[str] | None = None,
    batch_size: int = 16,
    seed: int = 0,
    cache: EvalCache = DEFAULT_CACHE,
    cache_dir: Path | None = None,
    **target_fns: Unpack[TargetFns],
) -> PerturbedClause:
    """Everything needed to value perturbed versions of `clause` (shared by attribution and faithfulness)."""
    if not target_text.strip():
        raise ValueError(f"clause {clause.clause_id}: the target output is empty; nothing to attribute")
    parts = render_prompt(clause, tokenizer)
    units = units if units is not None else make_units(parts.clause, unit_kind, tokenizer)
    if not units:
        raise ValueError(f"clause {clause.clause_id}: no {unit_kind} units in its text {parts.clause!r}")
    check_offsets(parts.clause, units)
    mask = default_mask_string(tokenizer, mask_string)
    fallbacks = 0
    if replacements is None:
        sub_rng, _ = clause_rngs(seed, clause.clause_id)
        replacements, fallbacks = replacement_strings(parts.clause, units, perturbation, sub_rng, mask)
    elif len(replacements) != len(units):
        raise ValueError(f"clause {clause.clause_id}: {len(replacements)} replacements for "
                         f"{len(units)} units")
    fingerprint = model_fingerprint(model)
    shelf = DiskShelf(cache_dir, input_key(fingerprint, target, parts.text, target_text))
    value_target = build_target(
        target, model=model, tokenizer=tokenizer, parts=parts, target_text=target_text,
        batch_size=batch_size, fingerprint=fingerprint, cache=cache, shelf=shelf, **target_fns,
    )
    return PerturbedClause(parts.clause, units, replacements, perturbation, value_target, mask, fallbacks)


@contextlib.contextmanager
def eval_mode(model: torch.nn.Module) -> Iterator[None]:
    """Evaluate with dropout off and no autograd; restore the model's training flag afterwards."""
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode():
            yield
    finally:
        model.train(was_training)


def output_tokens(tokenizer: object, target_text: str) -> list[str]:
    ids = tokenizer(target_text, add_special_tokens=False)["input_ids"]  # type: ignore[operator]
    return [tokenizer.decode([i]) for i in ids]  # type: ignore[attr-defined]


def attribute_clause(
    model: torch.nn.Module,
    tokenizer: object,
    clause: Clause,
    target_text: str,
    cfg: AttributionConfig,
    cell_id: str,
    *,
    seed: int = 0,
    cache_dir: Path | None = None,
    cache: EvalCache = DEFAULT_CACHE,
    **target_fns: Unpack[TargetFns],
) -> Attribution:
    """Attribute the model's output `target_text` to the units of `clause` as `cfg` says.

    `seed` fixes substitutions and Shapley permutations (per clause); `cache_dir` (e.g. a folder in
    the run's output folder) keeps evaluations on disk so a resumed run recomputes nothing.
    """
    _, sample_rng = clause_rngs(seed, clause.clause_id)
    with eval_mode(model):
        pc = prepare(
            model, tokenizer, clause, target_text, target=cfg.target, perturbation=cfg.perturbation,
            unit_kind=cfg.unit, mask_string=cfg.mask_string, batch_size=cfg.batch_size, seed=seed,
            cache=cache, cache_dir=cache_dir, **target_fns,
        )
        result = run_method(cfg.method, Problem(pc.text, pc.units, pc.value, cfg, sample_rng, tokenizer))
    pc.target.shelf.flush()
    per_token = cfg.target == "logprob"
    options: dict[str, object] = {
        "unit": cfg.unit, "seed": seed, "batch_size": cfg.batch_size,
        "value_full": float(result.full.sum()), "evaluations": pc.target.evaluations,
        "model_fingerprint": pc.target.fingerprint,
    }
    if cfg.perturbation != "delete":
        options["mask_string"] = pc.mask
        options["replacements"] = grouped_replacements(pc, result.units) if result.units else pc.replacements
    if cfg.perturbation == "substitute":
        options["substitute_fallbacks"] = pc.fallbacks
    if cfg.method == "window":
        options["window"] = min(cfg.window, len(pc.units))
    if cfg.method == "shapley":
        options["shapley_samples"] = cfg.shapley_samples
    if cfg.method == "surrogate":
        options["surrogate_budget"] = cfg.surrogate_budget
        options["surrogate_interactions"] = cfg.surrogate_interactions
    options.update(result.options)
    if result.empty is not None:
        options["value_empty"] = float(result.empty.sum())
    return Attribution(
        cell_id=cell_id, clause_id=clause.clause_id, clause_text=pc.text, units=result.units or pc.units,
        scores=[float(s) for s in result.scores], method=cfg.method, target=cfg.target,
        perturbation=cfg.perturbation, options=options,
        output_tokens=output_tokens(tokenizer, target_text) if per_token else None,
        matrix=result.matrix.tolist() if per_token else None,
    )
