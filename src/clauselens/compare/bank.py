"""Adapter-native comparison: one base model in memory, several LoRA adapters switched on and off.

LoRA and QLoRA cells of one model size share their base weights; loading the base once and attaching
every adapter (peft `load_adapter` with an adapter name) makes switching a flag flip, not a reload,
and gives the base model itself for free (`disable_adapter()`), so each fine-tuned cell is compared
with exactly the weights it started from.

Caveat handled here: the attribution engine caches evaluations by a fingerprint of the model's
weights and *active* adapter. Inside `disable_adapter()` peft still reports the last active adapter,
so the base and that adapter would share a fingerprint and the base would be served the adapter's
cached values. Each variant of a bank therefore gets its own evaluation cache (`variant`).
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator, Mapping
from pathlib import Path

import torch
from peft import PeftModel

from clauselens.compare.explain import Variant
from clauselens.layout import CellLayout
from clauselens.models import load_causal_lm

ADAPTER_CONFIG = "adapter_config.json"


def find_adapter_dir(cell_dir: str | Path) -> Path:
    """The folder holding a cell's final LoRA adapter (`adapter_config.json`).

    The cell folder itself (an adapter saved on its own), else the cell's `adapter/` folder
    (`clauselens.layout.CellLayout`). Training checkpoints are never used: an unfinished adapter is not
    the cell.
    """
    root = Path(cell_dir)
    for folder in (root, CellLayout(root).adapter):
        if (folder / ADAPTER_CONFIG).is_file():
            return folder
    found = sorted(CellLayout(root).checkpoints.glob(f"*/{ADAPTER_CONFIG}"))
    hint = f" (only training checkpoints: {found[0].parent.name} ...)" if found else ""
    raise FileNotFoundError(f"{root}: no final LoRA adapter ({ADAPTER_CONFIG}) in the cell folder or a "
                            f"sub-folder{hint}; was the cell trained to the end?")


class AdapterBank:
    """A base model loaded once with named LoRA adapters attached; `use(name)` activates one.

    `use(None)` runs the base model (adapters disabled). `base_loads` counts how often this bank
    loaded base weights (always 1); `AdapterBank.total_base_loads` counts across banks.
    """

    total_base_loads = 0

    def __init__(self, base_model_path: str | Path, adapters: Mapping[str, str | Path],
                 quantized: bool = False, *, quant_type: str = "nf4", double_quant: bool = True,
                 compute_dtype: str = "float32", dtype: str = "auto"):
        self.quantized = quantized
        self.base_loads = 0
        base, self.tokenizer = load_causal_lm(
            base_model_path, dtype=dtype, quantization=quant_type if quantized else None,  # type: ignore[arg-type]
            double_quant=double_quant, compute_dtype=compute_dtype if quantized else None)
        self.base_loads += 1
        AdapterBank.total_base_loads += 1
        self.names: list[str] = list(adapters)
        model: torch.nn.Module = base
        for i, (name, folder) in enumerate(adapters.items()):
            folder = Path(folder)
            if not (folder / ADAPTER_CONFIG).is_file():
                raise FileNotFoundError(f"adapter {name!r}: {folder} holds no {ADAPTER_CONFIG}")
            if i == 0:
                model = PeftModel.from_pretrained(base, str(folder), adapter_name=name)
            else:
                model.load_adapter(str(folder), adapter_name=name)  # type: ignore[operator]
        self.model = model.eval()
        self.precision = f"4bit-{quant_type}" if quantized else "full"

    @contextlib.contextmanager
    def use(self, name: str | None) -> Iterator[torch.nn.Module]:
        """The model with adapter `name` active, or the bare base model for None."""
        if name is None:
            if isinstance(self.model, PeftModel):
                with self.model.disable_adapter():
                    yield self.model
            else:
                yield self.model
            return
        if name not in self.names:
            raise KeyError(f"no adapter {name!r} in this bank; it holds {self.names}")
        self.model.set_adapter(name)  # type: ignore[operator]
        yield self.model

    def variant(self, name: str | None, label: str) -> Variant:
        """Adapter `name` (None: the base) as a `Variant` with its own evaluation cache (module docstring)."""
        if name is not None and name not in self.names:
            raise KeyError(f"no adapter {name!r} in this bank; it holds {self.names}")
        return Variant(label, lambda: self.use(name), self.tokenizer)

    def close(self) -> None:
        """Drop the weights now (a stage walks several banks one after another)."""
        del self.model
        gc.collect()
