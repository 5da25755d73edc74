"""Make a loaded base model trainable the way one fine-tuning strategy prescribes.

- fft: every weight trainable; on CUDA weights and optimizer state in bf16 (the usual large-model FFT
  recipe), fp32 on CPU.
- lora: frozen base, peft LoRA adapters on `target_modules` (default: every attention and MLP
  projection); adapters kept in fp32 (peft's default), computed in bf16 autocast on CUDA.
- qlora: the same adapters on a base whose linear weights are stored 4-bit by bitsandbytes
  (`Linear4bit`), prepared with `prepare_model_for_kbit_training`; paged 8-bit AdamW on CUDA,
  `adamw_torch` on CPU where paged optimizers do not exist. If no layer ends up 4-bit the cell fails:
  it never silently trains in full precision.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import bitsandbytes as bnb
import torch
from peft import LoraConfig, get_peft_model, prepare_model_for_kbit_training
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from clauselens.config import ExperimentConfig, LoRAConfig, ModelConfig, QLoRAConfig, StrategyConfig
from clauselens.models import base_weight_bytes, count_parameters, load_causal_lm, resolve_dtype

log = logging.getLogger(__name__)
STRATEGIES = ("fft", "lora", "qlora")


@dataclass
class PreparedModel:
    model: PreTrainedModel
    tokenizer: PreTrainedTokenizerBase
    base_bytes: int
    base_params: int
    quantized: bool
    optim: str
    bf16: bool
    backend: str
    load_settings: dict[str, Any]  # what load_cell needs to rebuild the base
    notes: list[str] = field(default_factory=list)


def strategy_config(cfg: ExperimentConfig, strategy: str) -> StrategyConfig:
    if strategy not in STRATEGIES:
        raise ValueError(f"strategy must be one of {STRATEGIES}; got {strategy!r}")
    return getattr(cfg.strategies, strategy)


def _device_name(device: str) -> str:
    return f"cuda:{torch.cuda.get_device_name()}" if device.startswith("cuda") else "cpu"


def _weight_dtype(model_cfg: ModelConfig, strategy: str, scfg: StrategyConfig) -> str:
    """FFT on CUDA honours `strategies.fft.bf16 = false` by loading fp32 unless the model says otherwise."""
    if strategy == "fft" and model_cfg.dtype == "auto" and not getattr(scfg, "bf16", True):
        return "float32"
    return model_cfg.dtype


def _compute_dtype(qcfg: QLoRAConfig, device: str) -> str:
    """bf16 compute on CUDA unless the config sets compute_dtype explicitly; otherwise the config's."""
    if device.startswith("cuda") and "compute_dtype" not in qcfg.model_fields_set:
        return "bfloat16" if torch.cuda.is_bf16_supported() else "float16"
    return qcfg.compute_dtype


def _optimizer(scfg: StrategyConfig, device: str) -> str:
    if not isinstance(scfg, QLoRAConfig):
        return "adamw_torch"
    if scfg.optimizer == "auto":
        return "paged_adamw_8bit" if device.startswith("cuda") else "adamw_torch"
    if scfg.optimizer == "paged_adamw_8bit" and not device.startswith("cuda"):
        raise ValueError("strategies.qlora.optimizer = 'paged_adamw_8bit' needs a CUDA GPU; use 'auto'")
    return scfg.optimizer


def _add_lora(model: PreTrainedModel, lcfg: LoRAConfig) -> PreTrainedModel:
    lora = LoraConfig(r=lcfg.r, lora_alpha=lcfg.alpha, lora_dropout=lcfg.dropout,
                      target_modules=lcfg.target_modules, task_type="CAUSAL_LM")
    return get_peft_model(model, lora)


def count_4bit_layers(model: torch.nn.Module) -> int:
    return sum(isinstance(m, bnb.nn.Linear4bit) for m in model.modules())


def prepare_model(
    model_path: str, model_cfg: ModelConfig, strategy: str, scfg: StrategyConfig, device: str
) -> PreparedModel:
    """Load the base for `strategy` and make exactly the parameters it trains trainable."""
    dtype = _weight_dtype(model_cfg, strategy, scfg)
    settings: dict[str, Any] = {"dtype": dtype, "quantization": None,
                                "trust_remote_code": model_cfg.trust_remote_code}
    if isinstance(scfg, QLoRAConfig):
        settings.update(quantization=scfg.quant_type, double_quant=scfg.double_quant,
                        compute_dtype=_compute_dtype(scfg, device))
    model, tokenizer = load_causal_lm(model_path, device=device, **settings)
    base_params = count_parameters(model)[1]
    weights = resolve_dtype(dtype, device)
    bf16 = device.startswith("cuda") and weights == torch.bfloat16
    optim = _optimizer(scfg, device)
    weights_name = str(weights).removeprefix("torch.")
    backend = f"{_device_name(device)} torch-{torch.__version__} weights={weights_name}"
    notes: list[str] = []

    if strategy == "fft":
        model.requires_grad_(True)
    elif strategy == "lora":
        model.requires_grad_(False)
        model = _add_lora(model, scfg)
    else:
        n4 = count_4bit_layers(model)
        if n4 == 0:
            raise RuntimeError(f"QLoRA: bitsandbytes quantized no layer of {model_path}; refusing to train "
                               "a full-precision base under the name QLoRA")
        model = prepare_model_for_kbit_training(
            model, use_gradient_checkpointing=scfg.gradient_checkpointing,
            gradient_checkpointing_kwargs={"use_reentrant": False},
        )
        if weights != torch.float32:
            # prepare_model_for_kbit_training upcasts every non-4-bit weight to fp32; like the reference
            # QLoRA code (artidoro/qlora) keep only the norms there and the frozen embeddings in bf16,
            # which for large-vocabulary models is most of what the 4-bit base still holds
            for module in {model.get_input_embeddings(), model.get_output_embeddings()} - {None}:
                module.to(weights)
        model = _add_lora(model, scfg)
        dq = "+double-quant" if scfg.double_quant else ""
        backend += (f" bitsandbytes-{bnb.__version__} {scfg.quant_type}{dq} "
                    f"compute={settings['compute_dtype']}")
        notes.append(f"{n4} Linear4bit layers ({scfg.quant_type})")
    if strategy != "fft":
        adapter_dtypes = {str(p.dtype).removeprefix("torch.") for p in model.parameters() if p.requires_grad}
        backend += f" adapters={'/'.join(sorted(adapter_dtypes))}"
    backend += f" optim={optim}" + (" amp=bf16" if bf16 else "")
    log.info("%s backend: %s", strategy, backend)
    model.train()
    # after preparation: prepare_model_for_kbit_training upcasts the non-4-bit weights to fp32
    return PreparedModel(model, tokenizer, base_weight_bytes(model), base_params, strategy == "qlora", optim,
                         bf16, backend, settings, notes)
