"""Probe one ladder cell end to end: fine-tune, generate on the test clauses, score what the issue bars.

    PYTHONPATH=src python benchmarks/ladder_probe.py --model ladder-m --strategy fft --epochs 3 \
        --set strategies.fft.learning_rate=3e-3

Uses examples/quickstart.toml (overridable with --set KEY=VALUE) and the ladder cache
(CLAUSELENS_CACHE; the rung is pretrained first if missing). Prints training, generation and scoring
wall times with the load average, then syntax_valid, verdict_accuracy, constraint_match
(quantitative), distinct_rules, clause_dependence and truncated. `--split val` scores the val clauses
instead (31 for the builtin corpus, 20 of them quantitative): choices of the recipe are made there, so
the test clauses stay a measurement. Used for docs/training.md.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import pandas as pd

from clauselens.config import load_config
from clauselens.corpus import load_pairs
from clauselens.generate.stage import generate_task
from clauselens.models import load_causal_lm, resolve_model
from clauselens.models.stage import pretraining_texts
from clauselens.records import Cell
from clauselens.score.constraint_match import numeric_constraints
from clauselens.score.diagnostics import diagnostic_rows
from clauselens.score.metrics import score_generations
from clauselens.train.stage import CellTask, train_task

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--config", default=str(ROOT / "examples" / "quickstart.toml"))
    ap.add_argument("--model", default="ladder-m")
    ap.add_argument("--strategy", default="fft")
    ap.add_argument("--epochs", type=int)
    ap.add_argument("--set", action="append", default=[], help="KEY=VALUE config override")
    ap.add_argument("--path", help="a pretrained model folder to fine-tune instead of the cached rung")
    ap.add_argument("--split", choices=["test", "val"], default="test",
                    help="clauses to score: the test clauses (max_test of them) or all val clauses")
    ap.add_argument("--mix-seed", type=int, default=0,
                    help="draw of the pretraining mix (another draw is pretrained under its own cache key)")
    ap.add_argument("--show", action="store_true", help="print every quantitative clause's limits and rule")
    args = ap.parse_args()
    overrides = dict(item.split("=", 1) for item in args.set)
    if args.epochs:
        overrides[f"strategies.{args.strategy}.epochs"] = str(args.epochs)
    cfg = load_config(args.config, overrides)
    pairs = load_pairs(cfg.data, ROOT, seed=cfg.seeds[0])
    mcfg = next(m for m in cfg.models if m.name == args.model)
    t0 = time.perf_counter()
    path = args.path or resolve_model(mcfg, texts=pretraining_texts(cfg, pairs, seed=args.mix_seed))
    t_pre = time.perf_counter() - t0
    model, _ = load_causal_lm(path)
    params = sum(p.numel() for p in model.parameters())
    cell = Cell(model=args.model, params=params, strategy=args.strategy, seed=cfg.seeds[0])
    train = [p for p in pairs if p.split == "train"]
    tests = [p for p in pairs if p.split == args.split]
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        t0 = time.perf_counter()
        row = train_task(CellTask(cfg, mcfg, path, cell, out, pairs, train))
        t_train = time.perf_counter() - t0
        t0 = time.perf_counter()
        gens = generate_task(CellTask(cfg, mcfg, path, cell, out, tests, train))
        t_gen = time.perf_counter() - t0
    t0 = time.perf_counter()
    scores = score_generations(tests, gens, cfg.scoring, progress=False)
    t_score = time.perf_counter() - t0
    diag = diagnostic_rows(pd.DataFrame([g.model_dump() for g in gens]))
    kinds = {p.clause.clause_id: p.kind for p in tests}
    allrows = pd.concat([scores, diag])
    allrows["kind"] = allrows["clause_id"].map(kinds)

    def mean(metric: str, kind: str | None = None) -> float:
        part = allrows[allrows["metric"] == metric]
        if kind:
            part = part[part["kind"] == kind]
        return round(float(part["value"].mean()), 3)

    print(json.dumps({
        "model": args.model, "params": params, "strategy": args.strategy, "overrides": overrides,
        "load": os.getloadavg()[0], "pretrain_s": round(t_pre, 1), "train_s": round(t_train, 1),
        "train_steps": row.get("steps"), "train_loss": row.get("train_loss"),
        "generate_s": round(t_gen, 1), "score_s": round(t_score, 1),
        "syntax_valid": mean("syntax_valid"), "verdict_accuracy": mean("verdict_accuracy"),
        "constraint_match_quant": mean("constraint_match", "quantitative"),
        "distinct_rules": mean("distinct_rules"), "clause_dependence": mean("clause_dependence"),
        "truncated": mean("truncated"), "n_test": len(tests),
    }))
    cm = allrows[allrows["metric"] == "constraint_match"].set_index("clause_id")["value"]
    for p, g in zip(tests, gens, strict=True):
        if args.show and p.kind == "quantitative":
            print(f"---- {g.clause_id} constraint_match {cm.get(g.clause_id, float('nan')):.2f}")
            print("clause:", p.clause.text, "\nwant:", dict(numeric_constraints(p.rule)), "\ngot: ", g.rule)


if __name__ == "__main__":
    main()
