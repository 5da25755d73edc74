"""Train one (model, strategy, seed) cell with the transformers Trainer and report a `training` row.

Layout of `out_dir` (paths from `clauselens.layout.CellLayout`):
- `settings.json`: the cell's fingerprint, written before training, so a resumed or finished cell
  trained with other settings is refused instead of silently mixed;
- `checkpoints/checkpoint-<step>/`: Trainer checkpoints; a killed run resumes from the last one and
  they are deleted once the cell is finished;
- `model/` (fft) or `adapter/` (lora, qlora): the final weights, renamed into place when complete;
- `log_history.json`: the Trainer's loss / eval log;
- `training.json`: the final marker (row + what `load_cell` needs); a cell that has it is not retrained.
"""

from __future__ import annotations

import contextlib
import gc
import hashlib
import json
import logging
import math
import os
import shutil
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import torch
from transformers import (
    DataCollatorForSeq2Seq,
    EarlyStoppingCallback,
    PrinterCallback,
    Trainer,
    TrainerCallback,
    TrainingArguments,
    set_seed,
)
from transformers.trainer_utils import get_last_checkpoint

from clauselens.config import ExperimentConfig, ModelConfig, StrategyConfig
from clauselens.executor.progress import step_progress
from clauselens.layout import CellLayout
from clauselens.models import count_parameters, default_device
from clauselens.records import Cell, RulePair
from clauselens.store import atomic_write
from clauselens.train.examples import IGNORE_INDEX, encode_pairs
from clauselens.train.memory import MB, PeakMemory
from clauselens.train.strategies import prepare_model, strategy_config

log = logging.getLogger(__name__)


class _RunStats(TrainerCallback):
    """Step and token counters at the start and end of this process's part of the run."""

    def on_train_begin(self, args, state, control, **kwargs):  # noqa: ANN001
        self.start_step, self.start_tokens = state.global_step, state.num_input_tokens_seen

    def on_train_end(self, args, state, control, **kwargs):  # noqa: ANN001
        self.end_step, self.end_tokens = state.global_step, state.num_input_tokens_seen


class _CellProgress(TrainerCallback):
    """The cell's steps, last logged loss and time left on a progress line of its own.

    Replaces the Trainer's console output (its tqdm bars and the `PrinterCallback` that prints every log
    dict); the log history itself is unchanged and still saved to `log_history.json`.
    """

    def __init__(self, label: str):
        self.label = label
        self._stack = contextlib.ExitStack()
        self._update = None

    def on_train_begin(self, args, state, control, **kwargs):  # noqa: ANN001
        self._update = self._stack.enter_context(
            step_progress(self.label, total=state.max_steps, completed=state.global_step))

    def on_step_end(self, args, state, control, **kwargs):  # noqa: ANN001
        if self._update is not None:
            self._update(completed=state.global_step)

    def on_log(self, args, state, control, logs=None, **kwargs):  # noqa: ANN001
        if self._update is not None and logs and "loss" in logs:
            self._update(detail=f"loss {float(logs['loss']):.3f}")

    def on_train_end(self, args, state, control, **kwargs):  # noqa: ANN001
        self.close()

    def close(self) -> None:
        self._update = None
        self._stack.close()


def _fingerprint(model_path: str, model_cfg: ModelConfig, strategy: str, scfg: StrategyConfig, seed: int,
                 pairs: Sequence[RulePair]) -> str:
    blob = json.dumps({
        "model_path": model_path, "dtype": model_cfg.dtype, "strategy": strategy, "seed": seed,
        "hyper": scfg.model_dump(mode="json", exclude={"enabled"}),
        "pairs": [p.row() for p in pairs],
    }, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def _write_json(path: Path, obj: Any) -> None:
    with atomic_write(path) as fh:
        json.dump(obj, fh, indent=2, sort_keys=True, default=str)


def _check_settings(out_dir: Path, fingerprint: str, what: str) -> None:
    path = CellLayout(out_dir).settings
    if path.is_file() and json.loads(path.read_text())["fingerprint"] != fingerprint:
        raise ValueError(f"{out_dir}: holds a {what} trained with other settings (model, hyperparameters, "
                         f"seed or pairs changed); delete that folder or use another output_dir")


def _total_steps(n_train: int, scfg: StrategyConfig) -> int:
    per_epoch = max(1, math.ceil(math.ceil(n_train / scfg.batch_size) / scfg.grad_accum))
    return scfg.max_steps or max(1, math.ceil(scfg.epochs * per_epoch))


def _training_args(scfg: StrategyConfig, strategy: str, seed: int, total_steps: int, has_val: bool,
                   optim: str, bf16: bool, device: str, ckpt_dir: Path) -> TrainingArguments:
    early = scfg.early_stopping_patience is not None
    if early and not has_val:
        raise ValueError(f"strategies.{strategy}.early_stopping_patience needs pairs with split 'val'")
    eval_strategy = "steps" if (scfg.eval_steps and has_val) else ("epoch" if early else "no")
    save_strategy = eval_strategy if early else ("steps" if scfg.save_steps else "epoch")
    save_steps = scfg.eval_steps if early else scfg.save_steps
    # qlora: prepare_model_for_kbit_training enables checkpointing; pass the flag only when wanted
    # (transformers 5.2x renamed it and warns about the old name, older 5.x lack the new one)
    checkpointing = scfg.gradient_checkpointing and strategy != "qlora"
    extra = {"gradient_checkpointing": True,
             "gradient_checkpointing_kwargs": {"use_reentrant": False}} if checkpointing else {}
    return TrainingArguments(
        output_dir=str(ckpt_dir),
        per_device_train_batch_size=scfg.batch_size,
        per_device_eval_batch_size=scfg.batch_size,
        gradient_accumulation_steps=scfg.grad_accum,
        learning_rate=scfg.learning_rate,
        num_train_epochs=scfg.epochs,
        max_steps=scfg.max_steps or -1,
        lr_scheduler_type=scfg.scheduler,
        warmup_steps=math.ceil(scfg.warmup_ratio * total_steps),
        weight_decay=scfg.weight_decay,
        optim=optim,
        bf16=bf16,
        logging_steps=max(1, total_steps // 20),
        logging_first_step=True,
        eval_strategy=eval_strategy,
        eval_steps=scfg.eval_steps,
        save_strategy=save_strategy,
        save_steps=save_steps,
        save_total_limit=2,
        load_best_model_at_end=early,
        metric_for_best_model="eval_loss" if early else None,
        greater_is_better=False if early else None,
        seed=seed,
        data_seed=seed,
        report_to="none",
        disable_tqdm=True,  # the console shows `_CellProgress` instead
        use_cpu=not device.startswith("cuda"),
        include_num_input_tokens_seen="non_padding",
        remove_unused_columns=False,
        dataloader_num_workers=0,
        **extra,
    )


def _adapters_moved(model: torch.nn.Module) -> bool:
    """LoRA's B matrices start at zero; any non-zero one proves the adapters were updated."""
    return any(p.abs().max().item() > 0 for n, p in model.named_parameters() if "lora_B" in n)


def _last_logged(history: list[dict[str, Any]], key: str) -> float | None:
    values = [h[key] for h in history if key in h]
    return float(values[-1]) if values else None


def train_cell(
    cfg: ExperimentConfig,
    model_cfg: ModelConfig,
    model_path: str,
    strategy: Literal["fft", "lora", "qlora"],
    seed: int,
    pairs: list[RulePair],
    out_dir: Path,
    progress: bool = True,
    callbacks: Sequence[TrainerCallback] = (),
) -> dict[str, Any]:
    """Fine-tune `model_path` with `strategy` on the train split; resume if killed; skip if finished."""
    out_dir = Path(out_dir)
    scfg = strategy_config(cfg, strategy)
    train_pairs = [p for p in pairs if p.split == "train"]
    val_pairs = [p for p in pairs if p.split == "val"]
    if not train_pairs:
        raise ValueError("train_cell: no pairs with split == 'train'")
    fingerprint = _fingerprint(model_path, model_cfg, strategy, scfg, seed, train_pairs + val_pairs)
    files = CellLayout(out_dir)
    marker = files.marker
    if marker.is_file():
        _check_settings(out_dir, fingerprint, f"finished {strategy} cell")
        return json.loads(marker.read_text())["row"]

    if strategy == "fft" and cfg.strategies.fft.devices > 1:
        from clauselens.train.sharded import launch

        return launch(cfg, model_cfg, model_path, seed, pairs, out_dir, fingerprint, progress)
    ckpt_dir = files.checkpoints
    last = get_last_checkpoint(str(ckpt_dir)) if ckpt_dir.is_dir() else None
    if last:
        _check_settings(out_dir, fingerprint, f"partly trained {strategy} cell")
    _write_json(files.settings, {"fingerprint": fingerprint, "strategy": strategy, "seed": seed,
                                     "model_path": model_path, "hyper": scfg.model_dump(mode="json")})
    set_seed(seed)
    device = default_device()
    stats = _RunStats()
    with PeakMemory(device) as memory:
        prepared = prepare_model(model_path, model_cfg, strategy, scfg, device)
        tokenizer = prepared.tokenizer
        train_enc = encode_pairs(train_pairs, tokenizer, scfg.max_length)
        val_enc = encode_pairs(val_pairs, tokenizer, scfg.max_length)
        if not train_enc.examples:
            raise ValueError(f"train_cell: every training prompt is longer than "
                             f"strategies.{strategy}.max_length = {scfg.max_length}")
        total_steps = _total_steps(len(train_enc.examples), scfg)
        args = _training_args(scfg, strategy, seed, total_steps, bool(val_enc.examples), prepared.optim,
                              prepared.bf16, device, ckpt_dir)
        shown = _CellProgress(f"{model_cfg.name}/{strategy}/s{seed}") if progress else None
        extra = [EarlyStoppingCallback(scfg.early_stopping_patience)] if scfg.early_stopping_patience else []
        extra += [shown] if shown else []
        trainer = Trainer(
            model=prepared.model,
            args=args,
            train_dataset=train_enc.examples,
            eval_dataset=val_enc.examples or None,
            processing_class=tokenizer,
            data_collator=DataCollatorForSeq2Seq(tokenizer, padding=True, label_pad_token_id=IGNORE_INDEX,
                                                 pad_to_multiple_of=8 if device.startswith("cuda") else None),
            callbacks=[stats, *extra, *callbacks],
        )
        trainer.remove_callback(PrinterCallback)  # it prints every log dict to the console
        t0 = time.perf_counter()
        try:
            trainer.train(resume_from_checkpoint=last)
        finally:
            if shown is not None:
                shown.close()
        wall_s = time.perf_counter() - t0
        val_loss = trainer.evaluate()["eval_loss"] if val_enc.examples else None

    history = trainer.state.log_history
    notes = [*prepared.notes, train_enc.describe("train"), val_enc.describe("val"),
             f"peak memory = {memory.kind}", f"{stats.end_step - stats.start_step} steps in this run"]
    if last:
        notes.append(f"resumed from {Path(last).name}; wall/tokens cover the resumed part only")
    if strategy != "fft" and not _adapters_moved(trainer.model):
        notes.append("WARNING: LoRA B matrices are still zero: the adapters did not train")
        log.warning("%s: adapters did not change during training", out_dir)
    if train_enc.truncated or train_enc.dropped:
        log.warning("%s: %s", out_dir, train_enc.describe("train"))
    trainable, total = count_parameters(trainer.model)
    row = {
        "cell_id": Cell(model=model_cfg.name, params=model_cfg.params or prepared.base_params,
                        strategy=strategy, seed=seed).cell_id,
        "trainable_params": trainable,
        "total_params": total,
        "peak_memory_mb": round(memory.peak_mb, 2),
        "base_weight_mb": round(prepared.base_bytes / MB, 3),
        "wall_s": round(wall_s, 2),
        "tokens_per_s": round((stats.end_tokens - stats.start_tokens) / wall_s, 1) if wall_s > 0 else None,
        "train_loss": _last_logged(history, "loss"),
        "val_loss": val_loss,
        "steps": int(trainer.state.global_step),
        "quantized": prepared.quantized,
        "backend": prepared.backend,
        "notes": "; ".join(notes),
    }
    _save_weights(trainer, files.weights(strategy))
    _write_json(files.log_history, history)
    _write_json(marker, {"row": row, "strategy": strategy, "model_path": model_path,
                         "load": prepared.load_settings})
    shutil.rmtree(ckpt_dir, ignore_errors=True)
    del trainer, prepared  # the next cell of a sequential run should not share the GPU with this one
    gc.collect()
    if device.startswith("cuda"):
        torch.cuda.empty_cache()
    return row


def _save_weights(trainer: Trainer, final: Path) -> None:
    """Full weights (fft) or the adapter only (peft models) plus the tokenizer, renamed into place."""
    tmp = final.with_name(f".{final.name}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    trainer.save_model(str(tmp))
    shutil.rmtree(final, ignore_errors=True)
    os.replace(tmp, final)
