"""The GPU proof: FFT (bf16), LoRA, NF4 QLoRA and sharded FFT on CUDA at Qwen2.5-0.5B shape, plus exactness.

Run by `benchmarks/gpu_proof.sh` on a machine with a CUDA GPU and no network. The model is the
Qwen2.5-0.5B architecture (published config: 24 layers, hidden 896, 14 heads, 2 KV heads) with random
weights and the real Qwen tokenizer (`family:qwen3`'s npm tokenizer files, carried in
`$CLAUSELENS_CACHE/tokenizers`; the byte-level corpus tokenizer when they are absent). Each strategy
trains through `train_cell` in a fresh process (peak memory is per process); sharded FFT runs through
`clauselens.train.sharded.launch` on every visible GPU (FSDP, NCCL). Attribution exactness compares the
KV-prefix leave-one-out with plain full forward passes in fp32 on CUDA. Writes `gpu_proof.json`.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import sys
import time
from pathlib import Path

import numpy as np
import torch

from clauselens.config import ExperimentConfig
from clauselens.corpus import builtin_clause_texts, builtin_pairs

sys.path.insert(0, str(Path(__file__).resolve().parent))
from train_memory import SHAPES, run_cell  # noqa: E402


def build(work: Path) -> str:
    """Qwen2.5-0.5B-shaped random model with the real Qwen tokenizer where it is cached."""
    from transformers import AutoTokenizer, Qwen2Config, Qwen2ForCausalLM

    from clauselens.models.families import tokenizer_dir
    from clauselens.models.pretrain import train_tokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(str(tokenizer_dir("qwen3")))
    except Exception as exc:  # no npm and no cached copy: still a real architecture, own tokenizer
        print(f"real Qwen tokenizer unavailable ({exc}); using the corpus byte-level BPE", flush=True)
        texts = builtin_clause_texts() + [p.rule for p in builtin_pairs() if p.split == "train"]
        tokenizer = train_tokenizer(texts, vocab_size=8192)
    config = Qwen2Config(vocab_size=max(151936, len(tokenizer)), max_position_embeddings=32768,
                         rope_theta=1e6, rms_norm_eps=1e-6, eos_token_id=tokenizer.eos_token_id,
                         pad_token_id=tokenizer.pad_token_id, **SHAPES["qwen2.5-0.5b"])
    torch.manual_seed(0)
    model = Qwen2ForCausalLM(config).to(torch.bfloat16)
    out = work / "qwen2.5-0.5b-shape"
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return str(out)


def exactness(model_path: str) -> dict[str, float]:
    """Max |KV-prefix LOO - naive full forward| in fp32 on CUDA, on one test clause."""
    from clauselens.attribute import perturb, word_units
    from clauselens.attribute.logprob import TeacherForcedScorer
    from clauselens.models import load_causal_lm
    from clauselens.prompt import prompt_token_ids, render_prompt

    model, tok = load_causal_lm(model_path, dtype="float32", device="cuda")
    pair = next(p for p in builtin_pairs() if p.split == "test")
    parts, target = render_prompt(pair.clause, tok), pair.rule[:300]
    units = word_units(pair.clause.text)
    texts = [parts.with_clause(perturb(pair.clause.text, units, [i], "delete")).text
             for i in range(len(units))]
    t0 = time.perf_counter()
    fast = TeacherForcedScorer(model, tok, parts, target, batch_size=16).score(texts)
    fast_s = time.perf_counter() - t0
    ids_t = tok(target, add_special_tokens=False)["input_ids"]
    naive = []
    t0 = time.perf_counter()
    with torch.no_grad():
        for text in texts:
            ids = prompt_token_ids(tok, text) + ids_t
            logits = model(input_ids=torch.tensor([ids], device="cuda")).logits[0].double()
            logp = torch.log_softmax(logits, -1)
            start = len(ids) - len(ids_t) - 1
            naive.append([logp[start + k, ids_t[k]].item() for k in range(len(ids_t))])
    naive_s = time.perf_counter() - t0
    return {"units": len(units), "max_abs_err": float(np.abs(fast - np.array(naive)).max()),
            "kv_prefix_s": round(fast_s, 3), "naive_s": round(naive_s, 3)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--work", type=Path, default=Path("/tmp/gpu_proof"))
    ap.add_argument("--out", type=Path, default=Path("."))
    ap.add_argument("--steps", type=int, default=30)
    args = ap.parse_args()
    if not torch.cuda.is_available():
        sys.exit("gpu_proof: no CUDA device visible")
    args.work.mkdir(parents=True, exist_ok=True)
    result: dict = {"gpu": torch.cuda.get_device_name(0), "devices": torch.cuda.device_count(),
                    "torch": torch.__version__, "steps": args.steps}
    model_path = build(args.work)
    pairs = builtin_pairs()
    hyper = {"max_steps": args.steps, "batch_size": 8, "max_length": 512, "save_steps": 10**6}
    cfg = ExperimentConfig.model_validate({
        "models": [{"name": "qwen2.5-0.5b-shape", "id": model_path}],
        "strategies": {"fft": {**hyper, "devices": torch.cuda.device_count()},
                       "lora": hyper, "qlora": {**hyper, "compute_dtype": "bfloat16"}},
    })
    ctx = mp.get_context("spawn")
    result["cells"] = {}
    for strategy in ("fft", "lora", "qlora"):
        one = cfg.model_copy(deep=True)
        one.strategies.fft.devices = 1  # the single-GPU cells
        payload = {"cfg": one.model_dump_json(), "pairs": [p.model_dump_json() for p in pairs],
                   "model_path": model_path, "strategy": strategy, "out_dir": str(args.work / strategy)}
        with ctx.Pool(1) as pool:
            row = pool.apply(run_cell, (payload,))
        result["cells"][strategy] = row
        print(f"{strategy}: peak {row['peak_memory_mb']:.0f} MB, {row['tokens_per_s']} tok/s, "
              f"loss {row['train_loss']}, backend {row['backend']}", flush=True)
    from clauselens.train.sharded import launch

    row = launch(cfg, cfg.models[0], model_path, 0, pairs, args.work / "fft-fsdp", "gpu-proof",
                 progress=False)
    result["cells"]["fft_fsdp"] = row
    print(f"fft fsdp x{cfg.strategies.fft.devices}: peak {row['peak_memory_mb']:.0f} MB, "
          f"{row['tokens_per_s']} tok/s, loss {row['train_loss']}", flush=True)
    result["exactness"] = exactness(model_path)
    print(f"exactness on CUDA: {result['exactness']}", flush=True)
    (args.out / "gpu_proof.json").write_text(json.dumps(result, indent=2, default=str))


if __name__ == "__main__":
    main()
