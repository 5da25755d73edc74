"""clauselens.train: fine-tune one (model, strategy, seed) cell and load it back for inference.

`train_cell` runs FFT, LoRA or QLoRA with the transformers Trainer (prompt-masked loss, resumable,
skipped when finished) and returns the cell's `training` row; `load_cell` rebuilds the cell.
"""

from clauselens.train.cell import train_cell
from clauselens.train.load import load_cell

__all__ = ["load_cell", "train_cell"]
