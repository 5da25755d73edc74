"""Peak memory, speed and base-weight size of FFT, LoRA and QLoRA on one model, in one run.

Each strategy trains in its own fresh process (so CPU RSS peaks are not hidden by memory an earlier
cell freed) through `clauselens.train.train_cell`, exactly as the study does. Prints one row per
strategy and QLoRA's base-weight memory as a fraction of FFT's.

    python benchmarks/train_memory.py                              # builtin:clauselens-m on CPU
    python benchmarks/train_memory.py --model shape:qwen2.5-0.5b   # Qwen2.5-0.5B-shaped, random init (GPU)

Pairs: the shipped open corpus (`clauselens.corpus.builtin_pairs`) or `--pairs FILE` (CSV / JSONL /
Parquet, read by `clauselens.corpus.read_pairs_file`); the ladder / tokenizer texts are the extracted
clause texts plus the train-split rules, as in a study run.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import sys
import tempfile
import time
from pathlib import Path

import torch

from clauselens.config import ExperimentConfig, ModelConfig
from clauselens.corpus import builtin_clause_texts, builtin_pairs, read_pairs_file
from clauselens.records import RulePair

SHAPES = {  # published Qwen2.5 configs (hub config.json), used with random weights when offline
    "qwen2.5-0.5b": dict(hidden_size=896, intermediate_size=4864, num_hidden_layers=24,
                         num_attention_heads=14, num_key_value_heads=2, tie_word_embeddings=True),
    "qwen2.5-1.5b": dict(hidden_size=1536, intermediate_size=8960, num_hidden_layers=28,
                         num_attention_heads=12, num_key_value_heads=2, tie_word_embeddings=True),
}


def build_model(spec: str, texts: list[str], work: Path) -> str:
    """A model path: `builtin:*` (pretrained, cached), `shape:<name>` (random init) or a path / hub id."""
    if spec.startswith("shape:"):
        from transformers import Qwen2Config, Qwen2ForCausalLM

        from clauselens.models.pretrain import train_tokenizer

        out = work / spec.replace(":", "-")
        tokenizer = train_tokenizer(texts, vocab_size=8192)
        config = Qwen2Config(vocab_size=151936, max_position_embeddings=32768, rope_theta=1e6,
                             rms_norm_eps=1e-6, eos_token_id=tokenizer.eos_token_id,
                             pad_token_id=tokenizer.pad_token_id,
                             **SHAPES[spec.removeprefix("shape:")])
        torch.manual_seed(0)
        with torch.device("cuda" if torch.cuda.is_available() else "cpu"):
            model = Qwen2ForCausalLM(config).to(torch.bfloat16)
        model.save_pretrained(out)
        tokenizer.save_pretrained(out)
        return str(out)
    from clauselens.models import resolve_model

    return resolve_model(ModelConfig(name="bench", id=spec), texts, progress=False)


def run_cell(payload: dict) -> dict:
    """Child process: train one cell and return its row."""
    from clauselens.train import train_cell

    cfg = ExperimentConfig.model_validate_json(payload["cfg"])
    pairs = [RulePair.model_validate_json(p) for p in payload["pairs"]]
    return train_cell(cfg, cfg.models[0], payload["model_path"], payload["strategy"], 0, pairs,
                      Path(payload["out_dir"]), progress=False)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="builtin:clauselens-m")
    ap.add_argument("--strategies", default="fft,lora,qlora")
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--batch-size", type=int, default=4)
    ap.add_argument("--max-length", type=int, default=512)
    ap.add_argument("--pairs", type=Path, help="pairs file; default: the shipped open corpus")
    ap.add_argument("--work", type=Path, help="folder for models and cells (default: a temp folder)")
    ap.add_argument("--json", type=Path, help="also write the rows here")
    args = ap.parse_args()

    work = args.work or Path(tempfile.mkdtemp(prefix="clauselens-bench-"))
    pairs = read_pairs_file(args.pairs)[0] if args.pairs else builtin_pairs()
    texts = builtin_clause_texts() + [p.rule for p in pairs if p.split == "train"]
    t0 = time.perf_counter()
    model_path = build_model(args.model, texts, work)
    print(f"model {args.model} ready in {time.perf_counter() - t0:.1f}s: {model_path}", flush=True)
    # save_steps beyond max_steps: no mid-run checkpoint, so wall time is training alone
    hyper = {"max_steps": args.steps, "batch_size": args.batch_size, "max_length": args.max_length,
             "save_steps": 10**6}
    cfg = ExperimentConfig.model_validate({
        "models": [{"name": args.model.replace(":", "-").replace("/", "-"), "id": model_path}],
        "strategies": {s: dict(hyper) for s in ("fft", "lora", "qlora")},
    })
    rows = {}
    ctx = mp.get_context("spawn")
    for strategy in args.strategies.split(","):
        payload = {"cfg": cfg.model_dump_json(), "pairs": [p.model_dump_json() for p in pairs],
                   "model_path": model_path, "strategy": strategy, "out_dir": str(work / "cells" / strategy)}
        with ctx.Pool(1) as pool:
            rows[strategy] = pool.apply(run_cell, (payload,))
        r = rows[strategy]
        print(f"{strategy:6s} trainable={r['trainable_params']:>12,d} total={r['total_params']:>12,d} "
              f"peak={r['peak_memory_mb']:9.1f} MB base={r['base_weight_mb']:9.2f} MB "
              f"wall={r['wall_s']:7.2f}s "
              f"tok/s={r['tokens_per_s']:9.1f} loss={r['train_loss']:.3f} val={r['val_loss']} "
              f"steps={r['steps']}", flush=True)
        print(f"       backend: {r['backend']}\n       notes: {r['notes']}", flush=True)
    if "fft" in rows and "qlora" in rows:
        ratio = rows["qlora"]["base_weight_mb"] / rows["fft"]["base_weight_mb"]
        peak = rows["qlora"]["peak_memory_mb"] / rows["fft"]["peak_memory_mb"]
        print(f"QLoRA / FFT base-weight memory: {ratio:.3f}   peak memory: {peak:.3f}")
    if args.json:
        settings = {k: str(v) for k, v in vars(args).items()}
        args.json.write_text(json.dumps({"model": args.model, "args": settings, "rows": rows}, indent=2))


if __name__ == "__main__":
    sys.exit(main())
