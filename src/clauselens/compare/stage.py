"""The compare stage: cross-model comparisons the single-model attribution stage cannot make.

Runs after `analyse`. Per model size it loads each kind of weights once and does all its work while
they are in memory:

- phase `full`: the full-precision base with every LoRA (and, for the quantisation split, QLoRA)
  adapter of that size attached (`AdapterBank`); the base itself with adapters disabled;
- phase `4bit`: the same on the 4-bit base (QLoRA's own base; LoRA adapters for the split);
- phase `fft:<cell>`: each FFT cell's weights (`clauselens.train.load_cell`).

Work (on `compare.max_clauses` test clauses chosen by `plan.read_inputs`, robustness on the first
`compare.robustness_clauses` of them for the cells of `compare.robustness_models`; every attribution
explains the cell's own generated output):
adapter deltas (`adapter_delta`), the quantisation split (`quantisation_per_clause` ->
`quantisation_split`), category ablation (`ablation_per_clause` -> `ablation`), robustness
(`robustness_per_clause` -> `robustness`). Without models: the correctness model
(`correctness_model`) and tokenizer-invariant agreement across sizes (`cross_model_agreement`).

Resumable: per-clause rows already in the store are skipped (a model's weights are not even loaded
when nothing of it is missing); summary tables are recomputed whole from the per-clause tables with
fixed seeds, so a rerun gives identical tables. A phase that fails (an adapter folder missing, a base
that cannot be quantised) is logged and skipped; the rest of the stage goes on.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from rich.progress import track

from clauselens.compare.ablation import ablate_clause, sequence_logprobs, summarise_ablation
from clauselens.compare.alignment import cross_model_agreement
from clauselens.compare.bank import AdapterBank, find_adapter_dir
from clauselens.compare.correctness import correctness_data, correctness_model
from clauselens.compare.delta import adapter_delta
from clauselens.compare.explain import Variant, compare_attribution_config, explain, standalone
from clauselens.compare.plan import (
    FOUR_BIT,
    FULL,
    ModelWork,
    Request,
    StageInputs,
    adapter_name,
    base_of,
    native,
    plan_model,
    read_inputs,
    study_attributions,
)
from clauselens.compare.quantisation import PrecisionPair, split_clause, summarise_split
from clauselens.compare.robustness import robustness_clause, runs_needed, summarise_robustness
from clauselens.config import ConfigError, ExperimentConfig
from clauselens.layout import RunLayout
from clauselens.records import Attribution, Cell, Clause
from clauselens.store import Store
from clauselens.tables import (
    ABLATION,
    ABLATION_PER_CLAUSE,
    ADAPTER_DELTA,
    CATEGORY_SHARES,
    CELLS,
    CORRECTNESS_MODEL,
    CROSS_MODEL_AGREEMENT,
    FOCUS,
    MODELS,
    QUANTISATION_PER_CLAUSE,
    QUANTISATION_SPLIT,
    ROBUSTNESS,
    ROBUSTNESS_PER_CLAUSE,
    SCORES,
    Table,
)

log = logging.getLogger("clauselens")

PHASE_ERRORS = (OSError, RuntimeError, ValueError, KeyError, ImportError)
CONTROL_SEED = 0  # random ablation draws: the same per clause for every cell and every study seed

class Phase:
    """The weights of one phase, loaded once; a `Variant` per adapter (None: base / FFT model)."""

    def __init__(self, cfg: ExperimentConfig, store: Store, inputs: StageInputs, work: ModelWork, name: str,
                 adapters: Iterable[str]):
        path = inputs.paths[work.model]
        model_cfg = next((m for m in cfg.models if m.name == work.model), None)
        dtype = model_cfg.dtype if model_cfg else "auto"
        self.bank: AdapterBank | None = None
        if name.startswith("fft:"):
            from clauselens.train import load_cell

            cell = work.cells[name.removeprefix("fft:")]
            model, tokenizer = load_cell(path, "fft", RunLayout(store.root).cell_dir(cell.cell_id),
                                         qlora_cfg=cfg.strategies.qlora)
            self.variants = {None: standalone(f"{work.model}|{name}", model.eval(), tokenizer)}
            return
        layout = RunLayout(store.root)
        folders = {a: find_adapter_dir(layout.cell_dir(work.cells[a].cell_id)) for a in sorted(adapters)}
        q = cfg.strategies.qlora
        self.bank = AdapterBank(path, folders, quantized=name == FOUR_BIT, quant_type=q.quant_type,
                                double_quant=q.double_quant, compute_dtype=q.compute_dtype, dtype=dtype)
        label = f"{work.model}|{self.bank.precision}"
        self.variants = {a: self.bank.variant(a, f"{label}|{a or 'base'}") for a in [None, *folders]}

    def close(self) -> None:
        if self.bank is not None:
            self.bank.close()
        self.variants.clear()


def run_model(store: Store, cfg: ExperimentConfig, inputs: StageInputs, work: ModelWork,
              progress: bool) -> list[dict[str, Any]]:
    """Every phase of one model: the requested attributions (into `work.results`), the ablation rows."""
    acfg = compare_attribution_config(cfg.attribution, cfg.compare.shapley_samples)
    clauses = {c.clause_id: c for c in inputs.clauses}
    ablation_rows: list[dict[str, Any]] = []
    for name in work.phases():
        requests = sorted((r for r in work.requests if r.phase == name), key=repr)
        ablations = [(c, cid) for c, cid in work.ablations if native(c)[0] == name]
        try:
            phase = Phase(cfg, store, inputs, work, name, {r.adapter for r in requests if r.adapter} |
                          {native(c)[1] for c, _ in ablations if native(c)[1]})
        except PHASE_ERRORS as exc:
            log.error("compare: cannot load %s (%s): %s; its comparisons are skipped", work.model, name, exc)
            continue
        try:
            where = f"{work.model} {name}"
            for r in track(requests, description=f"compare {where}", disable=not progress):
                variant, output = phase.variants[r.adapter], inputs.outputs[r.output_cell][r.clause_id]
                work.results[r] = explain(variant, clauses[r.clause_id], output, r.output_cell, acfg,
                                          method=r.method, perturbation=r.perturbation, seed=r.seed)
            for cell, cid in track(ablations, description=f"ablate {where}", disable=not progress):
                found = _ablate(phase.variants[native(cell)[1]], cfg, acfg.batch_size, clauses[cid],
                                inputs.outputs[cell.cell_id][cid])
                ablation_rows += [{"cell_id": cell.cell_id, **row} for row in found]
        finally:
            phase.close()
    return ablation_rows


def _ablate(variant: Variant, cfg: ExperimentConfig, batch_size: int, clause: Clause,
            output: str) -> list[dict[str, Any]]:
    tokenizer = variant.tokenizer
    with variant.enter() as model:
        return ablate_clause(
            clause, lambda texts: sequence_logprobs(model, tokenizer, clause, texts, output, batch_size),
            perturbation=cfg.attribution.perturbation, draws=cfg.compare.ablation_draws, seed=CONTROL_SEED,
            mask_string=cfg.attribution.mask_string, tokenizer=tokenizer, lexicons=cfg.analysis.lexicons)


def assemble(cfg: ExperimentConfig, work: ModelWork) -> dict[Table, list]:
    """Per-clause rows of every table from the computed attributions (missing inputs: row skipped)."""
    a = cfg.attribution
    rows: dict[Table, list[dict[str, Any]]] = {ADAPTER_DELTA: [], ROBUSTNESS_PER_CLAUSE: [],
                                               QUANTISATION_PER_CLAUSE: []}

    def got(cell: Cell, cid: str, where: tuple[str, str | None], method: str = a.method,
            perturbation: str = a.perturbation, seed: int = 0) -> Attribution | None:
        return work.results.get(Request(*where, cell.cell_id, cid, method, perturbation, seed))

    for cell, cid in work.deltas:
        ft, base = got(cell, cid, native(cell)), got(cell, cid, base_of(cell))
        if ft is not None and base is not None:
            precision = "4bit-" + cfg.strategies.qlora.quant_type if cell.strategy == "qlora" else "full"
            rows[ADAPTER_DELTA].append(adapter_delta(
                ft.model_copy(update={"cell_id": cell.cell_id}), base,
                base_cell_id=f"{cell.model}/base/s{cell.seed}", base_precision=precision))
    for cell, cid in work.robustness:
        needed = runs_needed(a.perturbation)
        runs = {k: x for k in needed if (x := got(cell, cid, native(cell), *k)) is not None}
        if len(runs) == len(needed):
            rows[ROBUSTNESS_PER_CLAUSE] += [{"cell_id": cell.cell_id, **r}
                                              for r in robustness_clause(runs, a.perturbation)]
    for lora, qlora, cid in work.quantisation:
        four = [x for c in (lora, qlora) for phase in (FULL, FOUR_BIT)
                if (x := got(c, cid, (phase, adapter_name(c)))) is not None]
        if len(four) == 4:  # lora full, lora 4-bit, qlora full, qlora 4-bit
            rows[QUANTISATION_PER_CLAUSE] += [{"model": work.model, "seed": lora.seed, **r}
                                                for r in split_clause(PrecisionPair(*four))]
    return rows


def write_summaries(store: Store, cfg: ExperimentConfig) -> None:
    """Recompute every summary table from the per-clause tables and the analysis tables."""
    n_boot = cfg.scoring.bootstrap
    # summary tables are derived: each is replaced whole, so stale rows of cells that are gone do not linger
    ablation = store.read(ABLATION_PER_CLAUSE)
    if not ablation.empty:
        store.replace(ABLATION, summarise_ablation(ablation, n_boot=n_boot))
    robustness = store.read(ROBUSTNESS_PER_CLAUSE)
    if not robustness.empty:
        store.replace(ROBUSTNESS, summarise_robustness(robustness, n_boot=n_boot))
    split = store.read(QUANTISATION_PER_CLAUSE)
    if not split.empty:
        models = store.read(MODELS)
        params = dict(zip(models["name"], models["params"].astype(float), strict=True))
        store.replace(QUANTISATION_SPLIT, summarise_split(split, params, n_boot=n_boot))
    cells = store.read(CELLS)
    if cells.empty:
        return
    scores, focus, shares = store.read(SCORES), store.read(FOCUS), store.read(CATEGORY_SHARES)
    if not scores.empty:
        data = correctness_data(scores, focus, shares, cells)
        store.replace(CORRECTNESS_MODEL, correctness_model(data))
    attributions = study_attributions(store, cfg)
    if attributions:
        indexed = cells.drop_duplicates("cell_id").set_index("cell_id")
        store.replace(CROSS_MODEL_AGREEMENT, cross_model_agreement(attributions, indexed, n_boot=n_boot))


def compare_run(store: Store, cfg: ExperimentConfig, progress: bool = True) -> None:
    """Fill the compare tables (module docstring) for everything the store holds and they lack."""
    if not cfg.compare.enabled:
        return
    inputs = read_inputs(store, cfg)
    if inputs is not None:
        sizes = sorted({c.model for c in inputs.cells}, key=lambda m: (inputs.params.get(m, 0), m))
        robust = cfg.compare.robustness_models
        unknown = sorted(set(robust or []) - {m.name for m in cfg.models})
        if unknown:
            raise ConfigError(f"{cfg.source_path}: compare.robustness_models: no model named {unknown}; "
                              f"models are {[m.name for m in cfg.models]}")
        robust_models = set(robust) if robust is not None else set(sizes[:1])
        for model in sizes:
            work = plan_model(store, cfg, inputs, model, model in robust_models)
            if work.empty():
                continue
            ablation_rows = run_model(store, cfg, inputs, work, progress)  # fills work.results
            rows = {ABLATION_PER_CLAUSE: ablation_rows, **assemble(cfg, work)}
            for table, table_rows in rows.items():
                store.upsert(table, table_rows)
    write_summaries(store, cfg)
