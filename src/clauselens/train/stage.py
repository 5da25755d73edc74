"""The train stage: plan the cells not yet done, train them through the executor, record `cells`/`training`.

`CellTask` is what travels to a worker for one cell (module level and picklable, for Ray); generation
and attribution shards reuse it, and `CellTask.load()` gives them the trained cell back. The `base`
strategy is the untouched base model: nothing is trained, its row only counts the parameters.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from clauselens.config import ExperimentConfig, ModelConfig
from clauselens.records import Cell, RulePair
from clauselens.tables import CELLS, TRAINING

if TYPE_CHECKING:
    from clauselens.study import Study


@dataclass
class CellTask:
    cfg: ExperimentConfig
    model_cfg: ModelConfig
    model_path: str
    cell: Cell
    out_dir: Path
    pairs: list[RulePair]
    train_pairs: list[RulePair]  # what the cell is fine-tuned on; bounds generation length

    @property
    def progress(self) -> bool:
        """Progress bars only in-process; in worker processes they would interleave as streams of lines."""
        return self.cfg.executor.kind == "local" and self.cfg.executor.workers == 1

    def load(self) -> tuple[Any, Any]:
        """(model, tokenizer) of the trained cell, ready for inference."""
        from clauselens.train.load import load_cell

        qlora = self.cfg.strategies.qlora
        return load_cell(self.model_path, self.cell.strategy, self.out_dir, qlora_cfg=qlora)


def cell_task(study: Study, cell: Cell, pairs: list[RulePair]) -> CellTask:
    """The task of `cell` on `pairs` (all pairs to train, the test clauses of a shard to infer)."""
    return CellTask(study.cfg, study.model_config(cell.model), study.model_path(cell.model), cell,
                    study.layout.cell_dir(cell.cell_id), pairs, study.train_pairs())


def train_task(t: CellTask) -> dict[str, Any]:
    """Train one cell (in a worker); its `training` row without the cell id."""
    if t.cell.strategy == "base":
        from clauselens.models import count_parameters, load_causal_lm

        model, _ = load_causal_lm(t.model_path)
        trainable, total = count_parameters(model)
        return {
            "trainable_params": 0,
            "total_params": total,
            "steps": 0,
            "quantized": False,
            "backend": "none",
            "notes": "base model, not fine-tuned",
        }
    from clauselens.train.cell import train_cell

    pairs = t.pairs
    if t.cfg.data.synthetic_pairs:
        from clauselens.models import synthetic_rule_pairs

        pairs = pairs + synthetic_rule_pairs(t.cfg.data.synthetic_pairs, seed=1000 + t.cell.seed)
    return train_cell(
        t.cfg,
        t.model_cfg,
        t.model_path,
        t.cell.strategy,
        t.cell.seed,
        pairs,
        t.out_dir,
        progress=t.progress,
    )


def train_run(study: Study) -> None:
    """Train every cell not yet done; each outcome is written to `cells` (and `training`) as it arrives."""
    store = study.store
    pairs = study.pairs()
    done = study.done_cells()
    todo = [c for c in study.cells() if c not in done]
    store.upsert(
        CELLS,
        [
            {**c.model_dump(), "cell_id": c.cell_id, "status": "pending", "error": None}
            for c in todo
            if not store.done(CELLS, cell_id=c.cell_id)
        ],
    )

    def record(outcome: Any) -> None:
        cell = next(c for c in todo if c.cell_id == outcome.key)
        row = {
            **cell.model_dump(),
            "cell_id": cell.cell_id,
            "status": "done" if outcome.ok else "failed",
            "error": outcome.error,
        }
        if outcome.ok:
            store.upsert(TRAINING, [{"cell_id": cell.cell_id, **outcome.value}])
        store.upsert(CELLS, [row])

    study.executor.map(
        train_task,
        [cell_task(study, c, pairs) for c in todo],
        [c.cell_id for c in todo],
        on_result=record,
        progress="train cells",
    )
