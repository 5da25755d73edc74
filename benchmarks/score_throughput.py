"""Rules scored per second, per metric, on this machine.

References are the builtin corpus rules (src/clauselens/corpus/data/pairs.jsonl) when that file exists,
else synthetic rules in the corpus's shape (one loop per element kind, one `findings.append` per check)
with fixture buildings. Each "generated" rule is its reference with one seeded perturbation, the kinds of
mistakes small models make: a changed threshold, a flipped comparator, a renamed variable, a dropped
line, output cut short (a syntax error), or no change.

Each metric is timed alone through `score_generations` (batched, as the score stage runs it) with a cold
embedding cache, then all metrics together; the embedder is loaded before timing. Then the same generated
rules run on their fixtures through the hardened sandbox (`run_rule`: bubblewrap, seccomp launcher, audit
hook, as `clauselens doctor` lists) and through a bare `python -I` subprocess that only loads the rule
API and calls `check_rule` (no isolation at all); rounds alternate between the two, and the median rates
and their ratio are printed (the bar: hardened >= 0.5x bare). Run:

    .venv/bin/python benchmarks/score_throughput.py [--n 64] [--threads 1] [--sandbox-only]
"""

from __future__ import annotations

import argparse
import json
import random
import re
import statistics
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import torch

from clauselens.config import ScoringConfig
from clauselens.corpus import builtin_pairs
from clauselens.records import Clause, Generation, RulePair
from clauselens.rules import isolation, load_building, run_rule
from clauselens.rules.ifc import building_data
from clauselens.score import METRICS, score_generations
from clauselens.score.embedding import load_embedder

CORPUS = Path(__file__).resolve().parents[1] / "src/clauselens/corpus/data/pairs.jsonl"
CHECKS = [  # kind, property, comparator, limit, message
    ("door", "clear_width_mm", ">=", 800, "clear width at least 800 mm"),
    ("flight", "riser_height_mm", "<=", 220, "riser height at most 220 mm"),
    ("flight", "going_mm", ">=", 220, "going at least 220 mm"),
    ("space", "headroom_mm", ">=", 2000, "headroom at least 2000 mm"),
    ("handrail", "height_mm", ">=", 900, "handrail height at least 900 mm"),
    ("guarding", "height_mm", ">=", 1100, "guarding height at least 1100 mm"),
    ("ramp", "gradient_pct", "<=", 8, "gradient at most 8 %"),
    ("window", "sill_height_mm", ">=", 800, "sill height at least 800 mm"),
]


def load_pairs(n: int) -> tuple[list[RulePair], str]:
    """The first `n` builtin pairs with fixtures (test split first), else `n` synthetic pairs."""
    if CORPUS.is_file():
        pairs = sorted((p for p in builtin_pairs() if p.fixtures), key=lambda p: p.split != "test")[:n]
        return pairs, f"builtin corpus ({CORPUS.name}, first {len(pairs)} pairs with fixtures)"
    return [synthetic_pair(i) for i in range(n)], "synthetic rules (no builtin corpus file)"


def synthetic_pair(i: int) -> RulePair:
    rng = random.Random(i)
    checks = rng.sample(CHECKS, rng.choice([1, 1, 2, 3]))
    lines = ["def check_rule(model):", "    findings = []"]
    for kind in dict.fromkeys(c[0] for c in checks):
        lines.append(f'    for {kind} in model.elements("{kind}"):')
        for _, prop, op, limit, message in (c for c in checks if c[0] == kind):
            name = prop.rsplit("_", 1)[0]
            condition = f"{name} is not None and {name} {op} {limit}"
            lines += [f'        {name} = {kind}.get("{prop}")',
                      f'        findings.append(Finding({kind}.id, {condition}, "{message}"))']
    lines.append("    return findings")

    def building(name: str, values: dict[str, float]) -> dict:
        elements = {}
        for kind, prop, _, limit, _ in checks:
            elements.setdefault(kind, {"kind": kind, "id": f"{kind}-1", "props": {}})
            elements[kind]["props"][prop] = values.get(prop, limit)
        return {"name": name, "elements": list(elements.values())}

    fixtures = [{"name": "inside", "expect_compliant": True, "building": building("inside", {})}]
    for _, prop, op, limit, _ in checks:
        outside = limit - 1 if op == ">=" else limit + 1
        fixtures.append({"name": f"outside-{prop}", "expect_compliant": False,
                         "building": building(f"outside-{prop}", {prop: outside})})
    text = "; ".join(c[4] for c in checks)
    clause = Clause(clause_id=f"SYN:{i}", document="SYN", paragraph=str(i), text=f"Provide a {text}.")
    return RulePair(clause=clause, rule="\n".join(lines) + "\n", kind="quantitative", split="test",
                    fixtures=fixtures)


def perturb(rule: str, rng: random.Random) -> str:
    lines = rule.splitlines()
    kind = rng.choice(["threshold", "comparator", "rename", "drop_line", "truncate", "same"])
    if kind == "threshold":
        return re.sub(r"(?<=[<>]= )(\d+)", lambda m: str(round(int(m.group(1)) * rng.choice([0.9, 1.1]))),
                      rule, count=1)
    if kind == "comparator":
        return rule.replace(">=", ">", 1) if ">=" in rule else rule.replace("<=", "<", 1)
    if kind == "rename":
        return rule.replace("findings", "results")
    if kind == "drop_line":
        del lines[rng.randrange(1, len(lines))]
        return "\n".join(lines) + "\n"
    if kind == "truncate":
        return rule[: int(len(rule) * 0.7)]
    return rule


BARE = """
import json, os, sys, types, importlib
rules_dir = sys.argv[1]
for name, path in (("clauselens", os.path.dirname(rules_dir)), ("clauselens.rules", rules_dir)):
    package = types.ModuleType(name)
    package.__path__ = [path]
    sys.modules[name] = package
api = importlib.import_module("clauselens.rules.building")
request = json.loads(sys.stdin.buffer.read())
verdicts = []
for data in request["buildings"]:
    scope = {"Finding": api.Finding}
    try:
        exec(compile(request["code"], "<rule>", "exec"), scope)
        findings = scope["check_rule"](api.BuildingModel.from_dict(data))
        verdicts.append(all(f.compliant for f in findings))
    except Exception:
        verdicts.append(None)
print(json.dumps(verdicts))
"""


def run_bare(code: str, buildings: list[dict], flags: str = "-I", timeout_s: float = 5.0) -> list:
    """The same rule on the same buildings in a plain `python -I` subprocess: no isolation at all."""
    try:
        done = subprocess.run([isolation.interpreter(), flags, "-c", BARE, str(isolation.RULES_DIR)],
                              input=json.dumps({"code": code, "buildings": buildings}).encode(),
                              capture_output=True, timeout=timeout_s)
    except subprocess.TimeoutExpired:  # as run_rule's default 5 s limit
        return []
    return json.loads(done.stdout) if done.returncode == 0 else []


def sandbox_vs_bare(pairs: list[RulePair], gens: list[Generation], rounds: int, workers: int) -> None:
    """rules/s through the hardened sandbox and through bare `python -I`, alternating rounds."""
    models = {p.clause.clause_id: [load_building(f["building"]) for f in p.fixtures] for p in pairs}
    jobs = [(g.rule, models[g.clause_id], [building_data(m) for m in models[g.clause_id]]) for g in gens]
    runners = {"hardened sandbox": lambda job: run_rule(job[0], job[1]).verdicts,
               "bare python -I": lambda job: run_bare(job[0], job[2]),
               "bare python -I -S": lambda job: run_bare(job[0], job[2], "-IS")}
    rates: dict[str, list[float]] = {name: [] for name in runners}
    agree = 0
    for _ in range(rounds):
        verdicts = {}
        for name, runner in runners.items():
            start = time.perf_counter()
            with ThreadPoolExecutor(max_workers=workers) as pool:
                verdicts[name] = list(pool.map(runner, jobs))
            rates[name].append(len(jobs) / (time.perf_counter() - start))
        agree = sum(a == b for a, b, _ in zip(*verdicts.values(), strict=True))
    active = ", ".join(isolation.manifest_entry()["active"])
    missing = ", ".join(isolation.manifest_entry()["missing"]) or "none"
    print(f"\nsandbox: {len(jobs)} rules x {rounds} rounds, {workers} worker(s); layers active: {active}; "
          f"missing: {missing}")
    print(f"verdicts equal in both runners for {agree}/{len(jobs)} rules (rules that fail differ in status)")
    print(f"{'runner':<22}{'rules/s (median)':>18}{'per round':>40}")
    for name, values in rates.items():
        print(f"{name:<22}{statistics.median(values):>18.1f}{'  '.join(f'{v:.1f}' for v in values):>40}")
    hardened = statistics.median(rates["hardened sandbox"])
    for bare in ("bare python -I", "bare python -I -S"):
        print(f"hardened / {bare} = {hardened / statistics.median(rates[bare]):.2f} (bar: >= 0.5)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=64, help="generated rules to score per metric")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    parser.add_argument("--sandbox-only", action="store_true", help="only hardened sandbox vs bare python -I")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds of the sandbox comparison")
    parser.add_argument("--workers", type=int, default=2, help="rules run at once in the sandbox comparison")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    pairs, source = load_pairs(args.n)
    rng = random.Random(0)
    gens = [Generation(cell_id="bench/lora/s0", clause_id=p.clause.clause_id, raw="",
                       rule=perturb(p.rule, rng), n_new_tokens=0) for p in pairs]
    unique = {p.clause.clause_id: p for p in pairs}
    if args.sandbox_only:
        print(f"references: {source}; {len(gens)} generated rules")
        sandbox_vs_bare(list(unique.values()), gens, args.rounds, args.workers)
        return
    cfg = ScoringConfig()
    start = time.perf_counter()
    embedder = load_embedder(cfg.embedder)
    load_s = time.perf_counter() - start
    print(f"references: {source}; {len(gens)} generated rules; torch threads {torch.get_num_threads()}; "
          f"embedder load {load_s:.1f} s")
    print(f"{'metric':<22}{'rules/s':>10}{'seconds':>10}")
    for metric in [*METRICS, "all"]:
        embedder.clear()
        metric_cfg = cfg if metric == "all" else ScoringConfig(metrics=[metric])
        start = time.perf_counter()
        score_generations(list(unique.values()), gens, metric_cfg, progress=False)
        seconds = time.perf_counter() - start
        print(f"{metric:<22}{len(gens) / seconds:>10.1f}{seconds:>10.2f}")
    sandbox_vs_bare(list(unique.values()), gens, args.rounds, args.workers)


if __name__ == "__main__":
    main()
