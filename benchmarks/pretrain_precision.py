"""Seconds per pretraining step of each ladder rung, fp32 against bf16 autocast, in one process.

    OMP_NUM_THREADS=1 python benchmarks/pretrain_precision.py --steps 20

Runs `--steps` steps of `clauselens.models.pretrain.training_step` (the rung's batch x seq_len of random
tokens, forward, backward, clipped AdamW, schedule) per rung and precision, after one warm-up step, on
one thread, and prints s/step of the baseline (fp32) and of bf16 autocast with their ratio. The ladder
pretrains in bf16 only where `pretraining_precision` finds native bf16; elsewhere the bf16 line says
what emulation would cost.
"""

from __future__ import annotations

import argparse
import json
import os
import time

import torch
from transformers import LlamaForCausalLM, get_cosine_schedule_with_warmup

from clauselens.models.ladder import LADDER
from clauselens.models.pretrain import pretraining_precision, training_step


def seconds_per_step(rung: str, precision: str, steps: int) -> float:
    spec = LADDER[rung]
    torch.manual_seed(0)
    model = LlamaForCausalLM(spec.llama_config(spec.vocab_size, 0, 1)).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=spec.learning_rate, weight_decay=0.01)
    schedule = get_cosine_schedule_with_warmup(optimizer, 1, steps + 1)
    batch = torch.randint(3, spec.vocab_size, (spec.batch_size, spec.seq_len))
    training_step(model, optimizer, schedule, batch, batch, precision)  # warm-up
    t0 = time.perf_counter()
    for _ in range(steps):
        training_step(model, optimizer, schedule, batch, batch, precision)
    return (time.perf_counter() - t0) / steps


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--rungs", default="clauselens-xs,clauselens-s,clauselens-m")
    args = ap.parse_args()
    torch.set_num_threads(1)
    for rung in args.rungs.split(","):
        fp32 = seconds_per_step(rung, "fp32", args.steps)
        bf16 = seconds_per_step(rung, "bf16", args.steps)
        print(json.dumps({"rung": rung, "steps": args.steps, "fp32_s_per_step": round(fp32, 3),
                          "bf16_autocast_s_per_step": round(bf16, 3),
                          "speedup_vs_fp32": round(fp32 / bf16, 2),
                          "ladder_uses": pretraining_precision(LADDER[rung]),
                          "load": round(os.getloadavg()[0], 2)}), flush=True)


if __name__ == "__main__":
    main()
