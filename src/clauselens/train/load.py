"""Rebuild a trained cell for inference: the same base, dtype and 4-bit settings it was trained with.

Those settings come from the cell's final marker, so inference always sees the quantization (and
compute dtype) the adapters were trained against; a config that now asks for other 4-bit settings is
an error rather than a silent mismatch.

Adapters are kept separate (not merged) so the LoRA and QLoRA cells are exactly the functions that
were trained; merging into a 4-bit base would re-quantize and change them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from peft import PeftModel
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from clauselens.config import QLoRAConfig
from clauselens.layout import WEIGHTS_DIR, CellLayout
from clauselens.models import load_causal_lm


def _finished(out_dir: Path, strategy: str) -> dict[str, Any]:
    marker = CellLayout(out_dir).marker
    if not marker.is_file():
        raise FileNotFoundError(f"{out_dir}: no finished {strategy} cell ({marker.name} missing)")
    done = json.loads(marker.read_text())
    if done["strategy"] != strategy:
        raise ValueError(f"{out_dir}: holds a {done['strategy']} cell, not {strategy}")
    return done


def load_cell(
    model_path: str,
    strategy: str,
    out_dir: Path,
    qlora_cfg: QLoRAConfig | None = None,
    dtype: str = "auto",
    device: str | None = None,
) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """(model in eval mode, tokenizer): the base for "base", else the trained cell in `out_dir`.

    `dtype` applies to "base" only; trained cells load with the settings stored when they finished.
    """
    if strategy == "base":
        return load_causal_lm(model_path, dtype=dtype, device=device)
    if strategy not in WEIGHTS_DIR:
        raise ValueError(f"strategy must be base, fft, lora or qlora; got {strategy!r}")
    out_dir = Path(out_dir)
    load = dict(_finished(out_dir, strategy)["load"])
    if strategy == "fft":
        return load_causal_lm(CellLayout(out_dir).model, dtype=load["dtype"], device=device,
                              trust_remote_code=load.get("trust_remote_code", False))
    if strategy == "qlora" and qlora_cfg is not None:
        wanted = {"quantization": qlora_cfg.quant_type, "double_quant": qlora_cfg.double_quant}
        trained = {k: load[k] for k in wanted}
        if wanted != trained:
            raise ValueError(f"{out_dir}: the qlora cell was trained with {trained}, the config now asks for "
                             f"{wanted}; retrain it (delete the folder) or restore the config")
    base, tokenizer = load_causal_lm(model_path, device=device, **load)
    model = PeftModel.from_pretrained(base, str(CellLayout(out_dir).weights(strategy)))
    model.eval()
    return model, tokenizer
