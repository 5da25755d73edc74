"""Full fine-tuning beyond one device: PyTorch FSDP (`fully_shard`), one process per device, via torchrun.

The paper compares FFT above 7B, where weights, gradients and AdamW state no longer fit one GPU.
`[strategies.fft] devices = N` (N > 1) trains the cell with N processes launched by
`torch.distributed.run` (torchrun): each decoder layer and then the whole model are sharded with
FSDP2, so each device holds 1/N of the parameters, gradients and optimizer state. The backend is NCCL
on CUDA and gloo on CPU (the test suite checks two gloo processes against one).

The loop is plain rather than the Trainer's, so that the same global batches are seen whatever N is:
each optimizer step takes `batch_size * grad_accum * N` examples from one seeded permutation (rank r
gets its slice), and the loss is the sum of token losses over the whole global batch divided by its
target-token count, so N processes with `batch_size = b` follow the trajectory of one process with
`batch_size = N * b`, up to floating-point reduction order. Gradients are clipped at norm 1 (the
Trainer's default). The final full weights are gathered on rank 0 and saved in Hugging Face format
with the same marker as `train_cell`, so generation and attribution load them like any FFT cell.
A killed sharded cell restarts from step 0 (no mid-run checkpoints).
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from transformers import AutoModelForCausalLM, get_scheduler

import clauselens
from clauselens.config import ConfigError, ExperimentConfig, ModelConfig
from clauselens.layout import CellLayout
from clauselens.models import count_parameters
from clauselens.quiet import quiet_third_party
from clauselens.records import Cell, RulePair
from clauselens.store import atomic_write
from clauselens.train.examples import IGNORE_INDEX, encode_pairs
from clauselens.train.memory import MB, PeakMemory
from clauselens.train.strategies import prepare_model


def launch(cfg: ExperimentConfig, model_cfg: ModelConfig, model_path: str, seed: int,
           pairs: Sequence[RulePair], out_dir: Path, fingerprint: str,
           progress: bool = True) -> dict[str, Any]:
    """Train the FFT cell with `strategies.fft.devices` processes; returns its `training` row."""
    devices = cfg.strategies.fft.devices
    if torch.cuda.is_available() and torch.cuda.device_count() < devices:
        raise ConfigError(f"strategies.fft.devices = {devices} but only {torch.cuda.device_count()} "
                          "CUDA devices are visible")
    out_dir.mkdir(parents=True, exist_ok=True)
    files = CellLayout(out_dir)
    job = files.sharded_job
    _write_json(job, {"cfg": cfg.model_dump(mode="json"), "model": model_cfg.model_dump(mode="json"),
                      "model_path": model_path, "seed": seed, "out_dir": str(out_dir), "progress": progress,
                      "pairs": [p.model_dump(mode="json") for p in pairs], "fingerprint": fingerprint})
    _write_json(files.settings, {"fingerprint": fingerprint, "strategy": "fft", "seed": seed,
                                     "model_path": model_path, "devices": devices,
                                     "hyper": cfg.strategies.fft.model_dump(mode="json")})
    src = str(Path(clauselens.__file__).resolve().parents[1])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([src, os.environ.get("PYTHONPATH", "")])}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={devices}",
           "-m", "clauselens.train.sharded", str(job)]
    done = subprocess.run(cmd, env=env, stdout=None if progress else subprocess.DEVNULL,
                          stderr=subprocess.PIPE, text=True)
    if done.returncode != 0:
        lines = done.stderr.strip().splitlines()
        errors = [line for line in lines if re.match(r"\[rank\d+\]: \w*(Error|Exception)\b", line)]
        raise RuntimeError(f"sharded FFT ({devices} processes) failed with exit {done.returncode}: "
                           f"{(errors or lines or ['no output'])[-1]}")
    return json.loads(files.marker.read_text())["row"]


def global_batches(n_examples: int, per_step: int, steps: int, seed: int) -> list[list[int]]:
    """Example indices of each optimizer step: seeded permutations, one epoch after another."""
    generator = torch.Generator().manual_seed(seed)
    order: list[int] = []
    while len(order) < per_step * steps:
        order += torch.randperm(n_examples, generator=generator).tolist()
    return [order[i * per_step:(i + 1) * per_step] for i in range(steps)]


def _collate(examples: list[dict[str, list[int]]], pad_id: int,
             device: torch.device) -> dict[str, torch.Tensor]:
    width = max(len(e["input_ids"]) for e in examples)
    batch = {"input_ids": torch.full((len(examples), width), pad_id),
             "attention_mask": torch.zeros((len(examples), width), dtype=torch.long),
             "labels": torch.full((len(examples), width), IGNORE_INDEX)}
    for row, e in enumerate(examples):
        n = len(e["input_ids"])
        batch["input_ids"][row, :n] = torch.tensor(e["input_ids"])
        batch["attention_mask"][row, :n] = 1
        batch["labels"][row, :n] = torch.tensor(e["labels"])
    return {k: v.to(device) for k, v in batch.items()}


def _targets(examples: list[dict[str, list[int]]]) -> int:
    """Predicted tokens: labels after the shift that causal LM loss applies."""
    return sum(sum(1 for t in e["labels"][1:] if t != IGNORE_INDEX) for e in examples)


def _write_json(path: Path, obj: Any) -> None:
    with atomic_write(path) as fh:
        json.dump(obj, fh, indent=2, sort_keys=True, default=str)


def _shard(model: torch.nn.Module, bf16: bool) -> None:
    from torch.distributed.fsdp import MixedPrecisionPolicy, fully_shard

    policy = MixedPrecisionPolicy(param_dtype=torch.bfloat16, reduce_dtype=torch.float32) if bf16 \
        else MixedPrecisionPolicy()
    layers = getattr(getattr(model, "model", None), "layers", None)
    for layer in layers if layers is not None else []:
        fully_shard(layer, mp_policy=policy)
    fully_shard(model, mp_policy=policy)


def _save(model: torch.nn.Module, tokenizer: Any, final: Path) -> None:
    """Gather the full weights (every rank takes part) and save them on rank 0, renamed into place."""
    from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict

    state = get_model_state_dict(model, options=StateDictOptions(full_state_dict=True, cpu_offload=True))
    if dist.get_rank() != 0:
        return
    fresh = AutoModelForCausalLM.from_config(model.config, dtype=next(iter(state.values())).dtype)
    loaded = fresh.load_state_dict(state, strict=False)
    tied = {"lm_head.weight"} if getattr(fresh.config, "tie_word_embeddings", False) else set()
    missing = sorted(set(loaded.missing_keys) - tied)
    if missing or loaded.unexpected_keys:
        raise RuntimeError(f"sharded FFT: gathered weights do not match the model: missing {missing[:3]}, "
                           f"unexpected {loaded.unexpected_keys[:3]}")
    tmp = final.with_name(f".{final.name}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    fresh.save_pretrained(tmp)
    tokenizer.save_pretrained(tmp)
    shutil.rmtree(final, ignore_errors=True)
    os.replace(tmp, final)


def worker(job_path: Path) -> None:
    """One rank of the sharded run (started by torchrun)."""
    quiet_third_party()
    job = json.loads(job_path.read_text())
    cfg = ExperimentConfig.model_validate(job["cfg"])
    model_cfg = ModelConfig.model_validate(job["model"])
    scfg = cfg.strategies.fft
    out_dir = Path(job["out_dir"])
    files = CellLayout(out_dir)
    cuda = torch.cuda.is_available()
    dist.init_process_group("nccl" if cuda else "gloo")
    rank, world = dist.get_rank(), dist.get_world_size()
    device = f"cuda:{int(os.environ.get('LOCAL_RANK', 0))}" if cuda else "cpu"
    if cuda:
        torch.cuda.set_device(device)
    torch.manual_seed(job["seed"])
    train_pairs = [RulePair.model_validate(p) for p in job["pairs"] if p["split"] == "train"]
    with PeakMemory(device) as memory:
        prepared = prepare_model(job["model_path"], model_cfg, "fft", scfg, device)
        model, tokenizer = prepared.model, prepared.tokenizer
        trainable, total = count_parameters(model)
        if scfg.gradient_checkpointing:
            model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        model.train()
        encoded = encode_pairs(train_pairs, tokenizer, scfg.max_length)
        if not encoded.examples:
            raise ValueError(f"every training prompt is longer than strategies.fft.max_length = "
                             f"{scfg.max_length}")
        _shard(model, prepared.bf16)
        micro, accum = scfg.batch_size, scfg.grad_accum
        per_step = micro * accum * world
        steps = scfg.max_steps or max(1, math.ceil(scfg.epochs * math.ceil(len(encoded.examples) / per_step)))
        optimizer = torch.optim.AdamW(model.parameters(), lr=scfg.learning_rate,
                                      weight_decay=scfg.weight_decay)
        schedule = get_scheduler(scfg.scheduler, optimizer, math.ceil(scfg.warmup_ratio * steps), steps)
        losses: list[float] = []
        tokens = 0
        t0 = time.perf_counter()
        for step, batch_ids in enumerate(global_batches(len(encoded.examples), per_step, steps, job["seed"])):
            examples = [encoded.examples[i] for i in batch_ids]
            n_targets = _targets(examples)
            step_loss = torch.zeros((), dtype=torch.float64)
            for a in range(accum):
                start = a * world * micro + rank * micro
                mine = examples[start:start + micro]
                batch = _collate(mine, tokenizer.pad_token_id, torch.device(device))
                out = model(**batch, num_items_in_batch=n_targets)  # sum of my token losses / global count
                (out.loss * world).backward()  # FSDP averages gradients over ranks: undo it
                step_loss += out.loss.detach().double().cpu()
                tokens += int(batch["attention_mask"].sum())
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            schedule.step()
            optimizer.zero_grad(set_to_none=True)
            dist.all_reduce(step_loss)
            losses.append(float(step_loss))
            if job["progress"] and rank == 0:
                print(f"sharded fft step {step + 1}/{steps} loss {losses[-1]:.4f}", flush=True)
        wall_s = time.perf_counter() - t0
        _save(model, tokenizer, files.model)
    all_tokens = torch.tensor(tokens)
    dist.all_reduce(all_tokens)
    peak = torch.tensor(memory.peak_mb)
    dist.all_reduce(peak, op=dist.ReduceOp.MAX)
    if rank == 0:
        row = {
            "cell_id": Cell(model=model_cfg.name, params=model_cfg.params or prepared.base_params,
                            strategy="fft", seed=job["seed"]).cell_id,
            "trainable_params": trainable, "total_params": total,
            "peak_memory_mb": round(float(peak), 2), "base_weight_mb": round(prepared.base_bytes / MB, 3),
            "wall_s": round(wall_s, 2),
            "tokens_per_s": round(int(all_tokens) / wall_s, 1) if wall_s > 0 else None,
            "train_loss": losses[-1], "val_loss": None, "steps": steps, "quantized": False,
            "backend": f"{prepared.backend} fsdp={world}x{'nccl' if cuda else 'gloo'}",
            "notes": "; ".join([*prepared.notes, encoded.describe("train"), f"peak memory = {memory.kind} "
                                "(largest rank)", f"FSDP over {world} processes"]),
        }
        history = [{"step": i + 1, "loss": v} for i, v in enumerate(losses)]
        _write_json(files.log_history, history)
        _write_json(files.marker, {"row": row, "strategy": "fft", "model_path": job["model_path"],
                                             "load": prepared.load_settings})
    dist.barrier()
    dist.destroy_process_group()


if __name__ == "__main__":
    worker(Path(sys.argv[1]))
