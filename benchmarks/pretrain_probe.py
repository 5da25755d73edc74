"""Pretraining probe for the builtin ladder (issue 14): does a rung learn to copy a clause's limit?

Pretrains one rung from scratch on the shipped mix (`clauselens.models.synthetic.pretraining_mix`,
through `clauselens.models.stage.pretraining_texts`) and, at checkpoints, measures on 20 held-out
synthetic clauses and on the quick start's 16 test clauses:

- `cm`: constraint_match of the greedy generation (quantitative clauses);
- `dep`: clause dependence of the reference rule (nats per token, own clause against the next one);
- `digits_first` / `digits_repeat`: teacher-forced top-1 accuracy on the digit tokens of the reference
  rule, split into a number's first appearance in the rule (must come from the clause) and its repeat
  in the finding's message (can be copied from the rule just written). Copying shows here before it
  shows in greedy generations.

Options vary what the issue's note calls the levers: steps, learning rate, bf16 autocast (speed),
and `--rule-loss-only` (synthetic pairs contribute loss on their rule tokens only).

    OMP_NUM_THREADS=1 python benchmarks/pretrain_probe.py --rung clauselens-m --steps 1200 \
        --evals 400,800,1200 --bf16 > probe.jsonl
"""

from __future__ import annotations

import argparse
import json
import random
import time
from dataclasses import replace
from pathlib import Path

import torch
from transformers import LlamaForCausalLM, get_cosine_schedule_with_warmup

from clauselens.config import load_config
from clauselens.corpus import load_pairs
from clauselens.models.ladder import LADDER
from clauselens.models.pretrain import split_rows, train_tokenizer, training_step
from clauselens.models.stage import pretraining_texts
from clauselens.models.synthetic import synthetic_pair
from clauselens.prompt import prompt_token_ids, render_prompt
from clauselens.score.constraint_match import constraint_match

ROOT = Path(__file__).resolve().parents[1]
RULE_MARK = "### Rule\n"


def token_stream(texts: list[str], tok, rule_loss_only: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """Ids of all texts (eos after each) and a mask of the positions that carry loss."""
    ids, keep = [], []
    enc = tok(texts, add_special_tokens=False, return_offsets_mapping=True)
    for text, row, offsets in zip(texts, enc["input_ids"], enc["offset_mapping"], strict=True):
        start = text.find(RULE_MARK)
        cut = start + len(RULE_MARK) if (rule_loss_only and start >= 0) else 0
        ids.extend(row)
        keep.extend(o[0] >= cut for o in offsets)
        ids.append(tok.eos_token_id)
        keep.append(True)
    return torch.tensor(ids), torch.tensor(keep)


def eval_sets(n: int) -> dict[str, list]:
    rng = random.Random(12345)
    cfg = load_config(ROOT / "examples/quickstart.toml", {})
    return {"syn": [synthetic_pair(rng, i, prose=()) for i in range(n)],
            "test": [(p.clause, p.rule) for p in load_pairs(cfg.data, ROOT, seed=0) if p.split == "test"]}


@torch.no_grad()
def evaluate(model, tok, pairs: list) -> dict[str, float]:
    model.eval()
    eos = tok.eos_token_id
    digits = {t for t in range(len(tok)) if tok.decode([t]).strip().isdigit()}
    cms, deps, first, repeat = [], [], [], []
    for i, (clause, ref) in enumerate(pairs):
        p = prompt_token_ids(tok, render_prompt(clause, tok).text)
        out = model.generate(torch.tensor([p]), max_new_tokens=220, do_sample=False, eos_token_id=eos,
                             pad_token_id=tok.pad_token_id)
        value = constraint_match(ref, tok.decode(out[0, len(p):], skip_special_tokens=True)).value
        if value == value and value is not None:  # NaN: not quantitative
            cms.append(value)
        r = tok(ref, add_special_tokens=False)["input_ids"] + [eos]
        logits = model(input_ids=torch.tensor([p + r])).logits[0, len(p) - 1:-1]
        other = prompt_token_ids(tok, render_prompt(pairs[(i + 1) % len(pairs)][0], tok).text)
        logits_other = model(input_ids=torch.tensor([other + r])).logits[0, len(other) - 1:-1]
        target = torch.tensor(r)
        ce = torch.nn.functional.cross_entropy
        deps.append(ce(logits_other, target).item() - ce(logits, target).item())
        hit = (logits.argmax(-1) == target).tolist()
        seen: set[str] = set()
        j = 0
        while j < len(r):  # walk whole numbers (runs of digit tokens)
            if r[j] not in digits:
                j += 1
                continue
            k = j
            while k < len(r) and r[k] in digits:
                k += 1
            number = tok.decode(r[j:k])
            (repeat if number in seen else first).extend(hit[j:k])
            seen.add(number)
            j = k
    model.train()
    mean = lambda xs: round(sum(xs) / len(xs), 3) if xs else None  # noqa: E731
    return {"cm": mean(cms), "dep": mean(deps), "digits_first": mean(first), "digits_repeat": mean(repeat)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rung", default="clauselens-m")
    ap.add_argument("--steps", type=int, default=600)
    ap.add_argument("--lr", type=float)
    ap.add_argument("--bf16", action="store_true", help="bf16 autocast for the forward pass")
    ap.add_argument("--rule-loss-only", action="store_true")
    ap.add_argument("--evals", default="600")
    ap.add_argument("--neval", type=int, default=20)
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    torch.set_num_threads(1)
    base = LADDER[args.rung]
    spec = replace(base, steps=args.steps, learning_rate=args.lr or base.learning_rate)
    cfg = load_config(ROOT / "examples/quickstart.toml", {})
    texts = pretraining_texts(cfg, load_pairs(cfg.data, ROOT, seed=0))
    t0 = time.perf_counter()
    torch.manual_seed(spec.seed)
    tok = train_tokenizer(texts, spec.vocab_size)
    ids, keep = token_stream(texts, tok, args.rule_loss_only)
    # pretrain's own split of the stream into train and held-out rows
    (rows, _), (keep_rows, _) = split_rows(ids, spec.seq_len), split_rows(keep, spec.seq_len)
    sets = eval_sets(args.neval)
    model = LlamaForCausalLM(spec.llama_config(len(tok), tok.eos_token_id, tok.pad_token_id))
    opt = torch.optim.AdamW(model.parameters(), lr=spec.learning_rate, weight_decay=0.01)
    sched = get_cosine_schedule_with_warmup(opt, max(1, spec.steps // 20), spec.steps)
    gen = torch.Generator().manual_seed(spec.seed)
    print(json.dumps({"args": {k: str(v) for k, v in vars(args).items()}, "tokens": len(ids),
                      "loss_tokens": int(keep.sum()), "prep_s": round(time.perf_counter() - t0, 1)}),
          flush=True)
    evals = {int(x) for x in args.evals.split(",")}
    losses, train_s = [], 0.0
    for step in range(1, spec.steps + 1):
        ts = time.perf_counter()
        pick = torch.randint(0, len(rows), (spec.batch_size,), generator=gen)
        batch = rows[pick]
        labels = batch.masked_fill(~keep_rows[pick], -100)
        losses.append(training_step(model, opt, sched, batch, labels, "bf16" if args.bf16 else "fp32"))
        train_s += time.perf_counter() - ts
        if step in evals:
            te = time.perf_counter()
            line = {"step": step, "train_s": round(train_s, 1), "loss50": round(sum(losses[-50:]) / 50, 3)}
            for name, pairs in sets.items():
                line.update({f"{name}_{k}": v for k, v in evaluate(model, tok, pairs).items()})
            line["eval_s"] = round(time.perf_counter() - te, 1)
            print(json.dumps(line), flush=True)
    if args.out:
        model.save_pretrained(args.out)
        tok.save_pretrained(args.out)


if __name__ == "__main__":
    main()
