"""clauselens.train: fine-tune one (model, strategy, seed) cell and load it back for inference.

`train_cell` runs FFT, LoRA or QLoRA with the transformers Trainer (prompt-masked loss, resumable,
skipped when finished) and returns the cell's `training` row; `load_cell` rebuilds the cell.
`train_run(study)` is the stage; `CellTask` / `cell_task` are what a cell's work travels to a worker as.
"""

from clauselens.train.cell import train_cell
from clauselens.train.load import load_cell
from clauselens.train.stage import CellTask, cell_task, train_run, train_task

__all__ = ["CellTask", "cell_task", "load_cell", "train_cell", "train_run", "train_task"]
