"""Load any Hugging Face causal LM (ladder model, local folder or hub id), optionally 4-bit.

One loader serves training, generation and attribution so every stage sees the same weights, dtype and
pad token. `dtype="auto"` means bfloat16 on a CUDA GPU that supports it and float32 on CPU (bf16
arithmetic on CPU is slow and loses precision in optimizer updates). 4-bit loading goes through
bitsandbytes' `BitsAndBytesConfig`, whose CPU backend also quantizes and trains (see docs/training.md).
"""

from __future__ import annotations

from itertools import chain
from pathlib import Path
from typing import Literal

import torch
from transformers import (
    AutoModelForCausalLM,
    AutoTokenizer,
    BitsAndBytesConfig,
    PreTrainedModel,
    PreTrainedTokenizerBase,
)

from clauselens.config import ConfigError

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
Quantization = Literal["nf4", "fp4"]


def default_device() -> str:
    return "cuda" if torch.cuda.is_available() else "cpu"


def resolve_dtype(dtype: str, device: str) -> torch.dtype:
    """`auto` -> bfloat16 on a bf16-capable GPU, float32 otherwise."""
    if dtype == "auto":
        on_gpu = device.startswith("cuda") and torch.cuda.is_available()
        return torch.bfloat16 if on_gpu and torch.cuda.is_bf16_supported() else torch.float32
    if dtype not in DTYPES:
        raise ValueError(f"dtype must be 'auto' or one of {sorted(DTYPES)}; got {dtype!r}")
    return DTYPES[dtype]


def load_causal_lm(
    path_or_id: str | Path,
    dtype: str = "auto",
    quantization: Quantization | None = None,
    double_quant: bool = True,
    compute_dtype: str | None = None,
    device: str | None = None,
    trust_remote_code: bool = False,
) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """(model in eval mode, tokenizer with a pad token); `quantization` stores linear weights in 4 bits."""
    device = device or default_device()
    weight_dtype = resolve_dtype(dtype, device)
    kwargs: dict = {"dtype": weight_dtype, "device_map": {"": device}, "trust_remote_code": trust_remote_code}
    if quantization is not None:
        if quantization not in ("nf4", "fp4"):
            raise ValueError(f"quantization must be None, 'nf4' or 'fp4'; got {quantization!r}")
        kwargs["quantization_config"] = BitsAndBytesConfig(
            load_in_4bit=True,
            bnb_4bit_quant_type=quantization,
            bnb_4bit_use_double_quant=double_quant,
            bnb_4bit_compute_dtype=resolve_dtype(compute_dtype, device) if compute_dtype else weight_dtype,
        )
    try:
        model = AutoModelForCausalLM.from_pretrained(str(path_or_id), **kwargs)
        tokenizer = AutoTokenizer.from_pretrained(str(path_or_id), trust_remote_code=trust_remote_code)
    except OSError as exc:
        raise ConfigError(f"cannot load causal LM from {path_or_id!s}: {exc}") from exc
    if tokenizer.pad_token is None:
        if tokenizer.eos_token is None:
            raise ConfigError(f"{path_or_id!s}: tokenizer has neither a pad nor an eos token")
        tokenizer.pad_token = tokenizer.eos_token
    if model.config.pad_token_id is None:
        model.config.pad_token_id = tokenizer.pad_token_id
    if model.generation_config is not None and model.generation_config.pad_token_id is None:
        model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.eval()
    return model, tokenizer


def _numel(param: torch.Tensor) -> int:
    """Logical element count; bitsandbytes' Params4bit packs two 4-bit values per stored byte."""
    quant_state = getattr(param, "quant_state", None)
    return quant_state.shape.numel() if quant_state is not None else param.numel()


def count_parameters(model: torch.nn.Module) -> tuple[int, int]:
    """(trainable, total) parameters, 4-bit weights counted at their logical size."""
    params = list(model.parameters())
    return sum(_numel(p) for p in params if p.requires_grad), sum(_numel(p) for p in params)


def _quant_state_tensors(quant_state: object) -> list[torch.Tensor]:
    tensors = [getattr(quant_state, a, None) for a in ("absmax", "code", "offset")]
    found = [t for t in tensors if isinstance(t, torch.Tensor)]
    nested = getattr(quant_state, "state2", None)
    return found + (_quant_state_tensors(nested) if nested is not None else [])


def base_weight_bytes(model: torch.nn.Module) -> int:
    """Bytes held by the base model's parameters and buffers, LoRA adapters excluded.

    4-bit weights count their packed storage plus their quantization constants (absmax, code, and the
    nested constants of double quantization), so the number is what the weights really occupy.
    """
    seen: set[int] = set()
    total = 0
    for name, tensor in chain(model.named_parameters(), model.named_buffers()):
        if "lora_" in name:
            continue
        extra = _quant_state_tensors(tensor.quant_state) if getattr(tensor, "quant_state", None) else []
        for t in [tensor, *extra]:
            if t.data_ptr() not in seen:
                seen.add(t.data_ptr())
                total += t.numel() * t.element_size()
    return total
