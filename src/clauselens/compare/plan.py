"""What the compare stage must do: its inputs from the store, and per model size the missing work.

Every comparison is broken into `Request`s (one attribution each: which variant explains which cell's
output on which clause, how). A cell's own map is taken from the attribute stage where that stage
stored exactly what would be computed here (`ModelWork.need`); everything else is queued by phase,
so each kind of weights is loaded once per model size.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from pydantic import ValidationError

from clauselens.attribute import word_units
from clauselens.compare.alignment import aligned
from clauselens.compare.robustness import runs_needed
from clauselens.config import AttributionConfig, ExperimentConfig
from clauselens.records import Attribution, Cell, Clause, RulePair
from clauselens.store import Store
from clauselens.tables import (
    ABLATION_PER_CLAUSE,
    ADAPTER_DELTA,
    ATTRIBUTIONS,
    CELLS,
    GENERATIONS,
    MODELS,
    PAIRS,
    QUANTISATION_PER_CLAUSE,
    ROBUSTNESS_PER_CLAUSE,
)

FULL, FOUR_BIT = "full", "4bit"


@dataclass(frozen=True)
class Request:
    """One attribution: which variant explains which cell's output on which clause, and how."""

    phase: str  # FULL, FOUR_BIT or "fft:<cell_id>"
    adapter: str | None  # adapter name in the phase's bank; None: the base (or the FFT model)
    output_cell: str  # the cell whose generated output is explained
    clause_id: str
    method: str
    perturbation: str
    seed: int = 0


def adapter_name(cell: Cell) -> str:
    return f"{cell.strategy}_s{cell.seed}"


def native(cell: Cell) -> tuple[str, str | None]:
    """Where a cell's own weights run: its phase and adapter."""
    if cell.strategy == "fft":
        return f"fft:{cell.cell_id}", None
    if cell.strategy == "base":
        return FULL, None
    return (FOUR_BIT if cell.strategy == "qlora" else FULL), adapter_name(cell)


def base_of(cell: Cell) -> tuple[str, None]:
    """The base a fine-tuned cell started from: the 4-bit base for QLoRA, the full one otherwise."""
    return (FOUR_BIT if cell.strategy == "qlora" else FULL), None


@dataclass
class StageInputs:
    clauses: list[Clause]  # the compared test clauses, in `compare.clause_order`
    cells: list[Cell]  # done cells
    outputs: dict[str, dict[str, str]]  # cell_id -> clause_id -> generated output
    paths: dict[str, str]  # model name -> loadable path
    params: dict[str, float]
    stored: dict[tuple[str, str], Attribution]  # the attribute stage's maps that can be reused (`reusable`)


def read_inputs(store: Store, cfg: ExperimentConfig) -> StageInputs | None:
    """What the stage needs from the store; None when there is nothing to compare yet."""
    pairs, cells, models, gens = (store.read(t) for t in (PAIRS, CELLS, MODELS, GENERATIONS))
    if pairs.empty or cells.empty or models.empty or gens.empty:
        return None
    for table, frame, need in ((CELLS, cells, {"cell_id", "model", "params", "strategy", "seed", "status"}),
                               (MODELS, models, {"name", "path", "params"}),
                               (GENERATIONS, gens, {"cell_id", "clause_id", "raw"})):
        lacking = sorted(need - set(frame.columns))
        if lacking:
            raise ValueError(f"{store.root}: table {table} lacks column(s) {lacking}")
    done = []
    for r in cells[cells["status"] == "done"].itertuples():
        try:
            done.append(Cell(model=r.model, params=int(r.params), strategy=r.strategy, seed=int(r.seed)))
        except (ValidationError, TypeError, ValueError) as exc:
            raise ValueError(f"{store.root}: table cells, cell_id={r.cell_id!r}: expected model, params "
                             f"(an integer), strategy (base/fft/lora/qlora) and seed; {exc}") from None
    outputs: dict[str, dict[str, str]] = {}
    for r in gens.itertuples():
        if isinstance(r.raw, str) and r.raw.strip():
            outputs.setdefault(r.cell_id, {})[r.clause_id] = r.raw
    done = [c for c in done if c.cell_id in outputs and c.model in set(models["name"])]
    stored = reusable(store, cfg)
    tests = [RulePair.from_row(r).clause for r in pairs.to_dict("records") if r.get("split") == "test"]
    answered = {cid for per_cell in outputs.values() for cid in per_cell}
    attributed = {cid for _, cid in stored}
    # clauses the attribute stage explained come first (their maps are reused), then the rest
    order = {"shortest": lambda c: (c.clause_id not in attributed, len(word_units(c.text)), c.clause_id),
             "id": lambda c: (c.clause_id not in attributed, c.clause_id)}[cfg.compare.clause_order]
    clauses = sorted((c for c in tests if c.clause_id in answered), key=order)[:cfg.compare.max_clauses]
    if not done or not clauses:
        return None
    return StageInputs(clauses, done, outputs, dict(zip(models["name"], models["path"], strict=True)),
                       dict(zip(models["name"], models["params"].astype(float), strict=True)), stored)


def reusable(store: Store, cfg: ExperimentConfig) -> dict[tuple[str, str], Attribution]:
    """The attribute stage's maps, on words, where they are what this stage would compute itself.

    That is: the configured method, perturbation and unit, with the logprob target (this stage's only
    target). Each explains the cell's own output on its own weights, as `native` does here.
    """
    if cfg.attribution.target != "logprob":
        return {}
    return {(a.cell_id, a.clause_id): aligned(a, "word") for a in study_attributions(store, cfg)}


@dataclass
class ModelWork:
    """What is missing for one model size, and the attributions that need computing for it."""

    model: str
    cells: dict[str, Cell]  # adapter name / cell id -> cell
    deltas: list[tuple[Cell, str]] = field(default_factory=list)
    robustness: list[tuple[Cell, str]] = field(default_factory=list)
    ablations: list[tuple[Cell, str]] = field(default_factory=list)
    quantisation: list[tuple[Cell, Cell, str]] = field(default_factory=list)  # (lora, qlora, clause)
    requests: set[Request] = field(default_factory=set)  # attributions to compute
    results: dict[Request, Attribution] = field(default_factory=dict)  # computed or reused

    def need(self, requests: Iterable[Request], stored: dict[tuple[str, str], Attribution],
             attribution: AttributionConfig) -> None:
        """Queue attributions, taking a cell's own map from the attribute stage where it has one."""
        for r in requests:
            reuse = stored.get((r.output_cell, r.clause_id))
            own = (r.phase, r.adapter) == native(self.cells[r.output_cell])
            if own and reuse is not None and (r.method, r.perturbation, r.seed) == (
                    attribution.method, attribution.perturbation, 0):
                self.results[r] = reuse
            elif r not in self.results:
                self.requests.add(r)

    def empty(self) -> bool:
        return not (self.deltas or self.robustness or self.ablations or self.quantisation)

    def phases(self) -> list[str]:
        found = {r.phase for r in self.requests} | {native(c)[0] for c, _ in self.ablations}
        return sorted(found, key=lambda p: (p != FULL, p != FOUR_BIT, p))


def plan_model(store: Store, cfg: ExperimentConfig, inputs: StageInputs, model: str,
               robustness: bool) -> ModelWork:
    """Every missing per-clause result of `model`'s cells, and the attributions they need."""
    a = cfg.attribution
    cells = [c for c in inputs.cells if c.model == model]
    work = ModelWork(model, {adapter_name(c): c for c in cells} | {c.cell_id: c for c in cells})
    have_delta = store.keys(ADAPTER_DELTA, ["cell_id", "clause_id"])
    have_robust = store.keys(ROBUSTNESS_PER_CLAUSE, ["cell_id", "clause_id"])
    have_ablation = store.keys(ABLATION_PER_CLAUSE, ["cell_id", "clause_id"])
    have_split = store.keys(QUANTISATION_PER_CLAUSE, ["model", "seed", "clause_id"])
    robust_ids = ({c.clause_id for c in inputs.clauses[:cfg.compare.robustness_clauses]}
                  if robustness else set())
    for cell in cells:
        answered = inputs.outputs[cell.cell_id]
        for clause in inputs.clauses:
            cid = clause.clause_id
            if cid not in answered:
                continue
            phase, adapter = native(cell)
            if cell.strategy != "base" and (cell.cell_id, cid) not in have_delta:
                work.deltas.append((cell, cid))
                pair = [Request(phase, adapter, cell.cell_id, cid, a.method, a.perturbation),
                        Request(*base_of(cell), cell.cell_id, cid, a.method, a.perturbation)]
                work.need(pair, inputs.stored, a)
            if cid in robust_ids and (cell.cell_id, cid) not in have_robust:
                work.robustness.append((cell, cid))
                work.need([Request(phase, adapter, cell.cell_id, cid, m, p, s)
                           for m, p, s in runs_needed(a.perturbation)], inputs.stored, a)
            if (cell.cell_id, cid) not in have_ablation:
                work.ablations.append((cell, cid))
    if cfg.compare.quantisation:
        by_seed = {(c.strategy, c.seed): c for c in cells}
        for seed in sorted({c.seed for c in cells}):
            lora, qlora = by_seed.get(("lora", seed)), by_seed.get(("qlora", seed))
            if lora is None or qlora is None:
                continue
            for clause in inputs.clauses:
                cid = clause.clause_id
                answered = cid in inputs.outputs[lora.cell_id] and cid in inputs.outputs[qlora.cell_id]
                if (model, seed, cid) in have_split or not answered:
                    continue
                work.quantisation.append((lora, qlora, cid))
                work.need([Request(phase, adapter_name(c), c.cell_id, cid, a.method, a.perturbation)
                           for phase in (FULL, FOUR_BIT) for c in (lora, qlora)], inputs.stored, a)
    return work


def study_attributions(store: Store, cfg: ExperimentConfig) -> list[Attribution]:
    table = store.read(ATTRIBUTIONS)
    if table.empty:
        return []
    for column in ("method", "target", "perturbation", "unit"):
        if column in table.columns:
            table = table[table[column] == getattr(cfg.attribution, column)]
    out = []
    for row in table.itertuples():
        try:
            out.append(Attribution.from_json(row.payload))
        except ValidationError as exc:
            raise ValueError(f"{store.root}: attributions row cell_id={row.cell_id!r}, clause_id="
                             f"{row.clause_id!r}: payload is not an Attribution: "
                             f"{exc.errors()[0]['msg']}") from None
    return out
