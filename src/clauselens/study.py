"""What the stages of one study run share: config, store, run layout, executor, pairs, models and grid.

`Study` is handed to the stages that work cell by cell (`train_run`, `generate_run`, `attribute_run`);
it plans the (model, strategy, seed) grid and answers which cells are done. The models table is
resolved lazily, on the first stage that needs it, so `clauselens score` never resolves a model.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from clauselens.config import ExperimentConfig, ModelConfig
from clauselens.layout import RunLayout
from clauselens.records import Cell, RulePair
from clauselens.store import Store
from clauselens.tables import CELLS


def plan_cells(cfg: ExperimentConfig, models: pd.DataFrame) -> list[Cell]:
    """Every (model, strategy, seed) cell of the study, in config order."""
    params = dict(zip(models["name"], models["params"], strict=True))
    return [
        Cell(model=m.name, params=int(params[m.name]), strategy=s, seed=seed)
        for m in cfg.models
        for s in cfg.strategies.enabled()
        for seed in cfg.seeds
    ]


class Study:
    """One study run over one store."""

    def __init__(self, cfg: ExperimentConfig, store: Store, executor: Any | None = None):
        from clauselens.executor import make_executor

        self.cfg, self.store = cfg, store
        self.layout = RunLayout(store.root)
        self.executor = executor or make_executor(cfg.executor)
        self._models: pd.DataFrame | None = None

    def pairs(self) -> list[RulePair]:
        from clauselens.corpus import read_pairs

        return read_pairs(self.store)

    def train_pairs(self) -> list[RulePair]:
        return [p for p in self.pairs() if p.split == "train"]

    def test_pairs(self) -> list[RulePair]:
        return [p for p in self.pairs() if p.split == "test"]

    def models(self) -> pd.DataFrame:
        """Table `models`, resolved (the models stage) on first use."""
        if self._models is None:
            from clauselens.models import models_run

            self._models = models_run(self.store, self.cfg, self.pairs())
        return self._models

    def model_config(self, name: str) -> ModelConfig:
        return next(m for m in self.cfg.models if m.name == name)

    def model_path(self, name: str) -> str:
        return self.models().set_index("name").loc[name, "path"]

    def cells(self) -> list[Cell]:
        return plan_cells(self.cfg, self.models())

    def done_cells(self) -> list[Cell]:
        ok = self.store.keys(CELLS, ["cell_id", "status"])
        return [c for c in self.cells() if (c.cell_id, "done") in ok]

    def failed_cells(self) -> dict[str, str]:
        """cell_id -> error of every cell the store records as failed."""
        failed = self.store.read(CELLS, "status = 'failed'")
        return {} if failed.empty else dict(zip(failed["cell_id"], failed["error"].fillna(""), strict=True))
