"""The on-disk layout of a run: the one place that knows where a cell's files live.

```
<output_dir>/
  store.duckdb                  the experiment store (`clauselens.store`)
  cells/<model>__<strategy>__s<seed>/
    settings.json               the cell's fingerprint, written before training
    checkpoints/checkpoint-*/   Trainer checkpoints (deleted once the cell is finished)
    model/ | adapter/           final weights: FFT model, or the LoRA / QLoRA adapter
    log_history.json            the Trainer's loss / eval log
    training.json               the final marker: a cell with it is finished
    sharded_job.json            the job of a sharded (multi-device) FFT cell
    attribution-cache/          evaluated perturbations, reused by resumed attribution shards
  report/                       the HTML report, figures and tables
```

`RunLayout(root)` gives the folders of a run, `CellLayout(folder)` the files inside one cell folder.
Paths are absolute, so Ray workers with another working directory find them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from clauselens.store import DB_NAME

CELLS = "cells"
REPORT = "report"
WEIGHTS_DIR = {"fft": "model", "lora": "adapter", "qlora": "adapter"}


def cache_root() -> Path:
    """The clauselens cache shared by runs (ladder, families, IFC fixtures): $CLAUSELENS_CACHE, else
    `clauselens/` in $XDG_CACHE_HOME (default ~/.cache)."""
    if os.environ.get("CLAUSELENS_CACHE"):
        return Path(os.environ["CLAUSELENS_CACHE"])
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "clauselens"


def cell_folder_name(cell_id: str) -> str:
    """`tiny/lora/s0` -> `tiny__lora__s0`: a cell id as one folder name."""
    return cell_id.replace("/", "__")


@dataclass(frozen=True)
class CellLayout:
    """The files of one cell folder (written by `clauselens.train`, read by generate, attribute, compare)."""

    dir: Path

    def __post_init__(self) -> None:
        object.__setattr__(self, "dir", Path(self.dir))

    @property
    def settings(self) -> Path:
        return self.dir / "settings.json"

    @property
    def marker(self) -> Path:
        return self.dir / "training.json"

    @property
    def checkpoints(self) -> Path:
        return self.dir / "checkpoints"

    @property
    def model(self) -> Path:
        return self.dir / WEIGHTS_DIR["fft"]

    @property
    def adapter(self) -> Path:
        return self.dir / WEIGHTS_DIR["lora"]

    def weights(self, strategy: str) -> Path:
        """The final weights of a `strategy` cell: `model/` (fft) or `adapter/` (lora, qlora)."""
        return self.dir / WEIGHTS_DIR[strategy]

    @property
    def log_history(self) -> Path:
        return self.dir / "log_history.json"

    @property
    def sharded_job(self) -> Path:
        return self.dir / "sharded_job.json"

    @property
    def attribution_cache(self) -> Path:
        return self.dir / "attribution-cache"


class RunLayout:
    """The folders of one run under its output folder `root`."""

    def __init__(self, root: str | Path):
        self.root = Path(root).resolve()

    @property
    def store_file(self) -> Path:
        return self.root / DB_NAME

    @property
    def cells(self) -> Path:
        return self.root / CELLS

    def cell_dir(self, cell_id: str) -> Path:
        return self.cells / cell_folder_name(cell_id)

    def cell(self, cell_id: str) -> CellLayout:
        return CellLayout(self.cell_dir(cell_id))

    @property
    def report_dir(self) -> Path:
        return self.root / REPORT
