"""Is one ladder model per core faster than one model on both cores? Steps per second, both ways.

    PYTHONPATH=src python benchmarks/ladder_parallel.py --rung clauselens-m --steps 20

Times `--steps` pretraining-shaped steps (batch 8 x 512 tokens, forward + backward + AdamW) of a
randomly initialised rung (a) in one process with 2 torch threads and (b) in two processes with one
thread each, at the same time; prints steps/s of each and their total, with the load average. The
ladder's models are small, so (b) wins: this is why the rungs pretrain side by side and the quick
start runs `[executor] workers = 2`.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import time

import torch
from transformers import LlamaForCausalLM

from clauselens.models.ladder import LADDER


def steps_per_s(rung: str, steps: int, threads: int) -> float:
    torch.set_num_threads(threads)
    spec = LADDER[rung]
    torch.manual_seed(0)
    model = LlamaForCausalLM(spec.llama_config(spec.vocab_size, 0, 1)).train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    batch = torch.randint(3, spec.vocab_size, (spec.batch_size, spec.seq_len))
    model(input_ids=batch, labels=batch).loss.backward()  # warm-up step
    t0 = time.perf_counter()
    for _ in range(steps):
        model(input_ids=batch, labels=batch).loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
    return steps / (time.perf_counter() - t0)


def _one_thread(args: tuple[str, int]) -> float:
    return steps_per_s(*args, threads=1)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rung", default="clauselens-m")
    ap.add_argument("--steps", type=int, default=20)
    args = ap.parse_args()
    load = os.getloadavg()[0]
    single = steps_per_s(args.rung, args.steps, threads=2)
    with multiprocessing.get_context("spawn").Pool(2) as pool:
        pair = pool.map(_one_thread, [(args.rung, args.steps)] * 2)
    print(json.dumps({"rung": args.rung, "load_before": load,
                      "one_process_2_threads_steps_s": round(single, 3),
                      "two_processes_1_thread_steps_s": [round(x, 3) for x in pair],
                      "two_processes_total_steps_s": round(sum(pair), 3), "load_after": os.getloadavg()[0]}))


if __name__ == "__main__":
    main()
