"""Calibration of the analysis stage: false findings on null studies, power on planted effects.

Each simulated study is a store with 3 model sizes x FFT/LoRA/QLoRA x `--seeds` seeds, `--clauses` test
clauses with synthetic word attributions (lognormal |scores|, sigma 0.8) and synthetic quality scores
(a clause effect plus noise, the same at every size). The whole analysis stage (`analyse_run`, every
metric, every family) runs on it, as in a real study.

- Null studies: every cell is drawn from the same distribution. A confirmatory finding the report would
  print is any row of the declared family with verdict "significant" (RQ1, RQ2) or "improves" (RQ3 gain).
  Equivalence ("plateau") is true under this null and is not a false finding.
- Planted studies: FFT's attribution is more focused (lognormal sigma raised by `--effect`) at every
  size; power is the share of studies whose RQ1 answer finds FFT more focused (a significant RQ1 row
  with FFT more focused).

The last two lines are `family-wise false positive rate: X over N null studies` and
`power: Y at <effect> over M studies`. Run with `nice`; about 1.5 s per study on one core.
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd

from clauselens.analyse import analyse_run
from clauselens.config import AnalysisConfig, ExperimentConfig, ModelConfig, ScoringConfig
from clauselens.records import Attribution, Unit
from clauselens.store import Store

CLAUSES_FILE = Path(__file__).resolve().parents[1] / "tests" / "data" / "analysis_clauses.txt"
CLAUSES = CLAUSES_FILE.read_text().splitlines()  # the clause texts of tests/test_analyse.py
SIZES = (("m-small", 1_500_000), ("m-mid", 6_000_000), ("m-large", 25_000_000))
STRATEGIES = ("fft", "lora", "qlora")
QUALITY = ("semantic_similarity", "token_f1", "levenshtein")
SIGMA = 0.8


def config(seeds: list[int]) -> ExperimentConfig:
    return ExperimentConfig(
        models=[ModelConfig(name=n, id=f"builtin:{n}", params=p) for n, p in SIZES], seeds=seeds,
        analysis=AnalysisConfig(permutations=99),
        scoring=ScoringConfig(bootstrap=100, metrics=list(QUALITY)))


def word_units(text: str) -> list[Unit]:
    return [Unit(text=m.group(), start=m.start(), end=m.end()) for m in re.finditer(r"\S+", text)]


def fill(store: Store, rng: np.random.Generator, n_clauses: int, seeds: list[int], effect: float) -> None:
    """One simulated study; `effect` is added to FFT's lognormal sigma (0: the null study)."""
    cells, attributions, scores = [], [], []
    clause_quality = rng.normal(0.6, 0.1, n_clauses)
    for model, params in SIZES:
        for strategy in STRATEGIES:
            sigma = SIGMA + (effect if strategy == "fft" else 0.0)
            for seed in seeds:
                cell = f"{model}/{strategy}/s{seed}"
                cells.append({"cell_id": cell, "model": model, "params": params, "strategy": strategy,
                              "seed": seed, "status": "done"})
                for i in range(n_clauses):
                    text = CLAUSES[i % len(CLAUSES)]
                    units = word_units(text)
                    s = rng.lognormal(0.0, sigma, len(units)) * rng.choice([-1, 1], len(units))
                    a = Attribution(cell_id=cell, clause_id=f"K:{i}", clause_text=text, units=units,
                                    scores=s.tolist(), method="loo", target="logprob", perturbation="delete")
                    attributions.append({"cell_id": cell, "clause_id": a.clause_id, "method": "loo",
                                         "target": "logprob", "perturbation": "delete", "unit": "word",
                                         "payload": a.to_json()})
                    for metric in QUALITY:
                        value = clause_quality[i] + rng.normal(0, 0.05)
                        scores.append({"cell_id": cell, "clause_id": a.clause_id, "metric": metric,
                                       "value": float(value if metric != "levenshtein" else 1 - value)})
    store.upsert("cells", cells, ["cell_id"])
    store.upsert("attributions", attributions, ["cell_id", "clause_id"])
    store.upsert("scores", scores, ["cell_id", "clause_id", "metric"])


def study(rep: int, n_clauses: int, seeds: list[int], effect: float) -> pd.DataFrame:
    """The `tests` table of one simulated study."""
    with tempfile.TemporaryDirectory() as tmp, Store(tmp) as store:
        fill(store, np.random.default_rng(rep), n_clauses, seeds, effect)
        analyse_run(store, config(seeds), progress=False)
        return store.read("tests")


def studies(reps: range, jobs: int, n_clauses: int, seeds: list[int],
            effect: float) -> Iterator[pd.DataFrame]:
    """The `tests` tables of several studies, in order, each as soon as it is done; `jobs` processes."""
    run = partial(study, n_clauses=n_clauses, seeds=seeds, effect=effect)
    if jobs == 1:
        yield from map(run, reps)
        return
    with ProcessPoolExecutor(jobs) as pool:
        yield from pool.map(run, reps)


def confirmatory_findings(tests: pd.DataFrame) -> pd.DataFrame:
    """Rows the report's answers would state as a difference, trend or gain."""
    return tests[(tests["role"] == "confirmatory") & tests["verdict"].isin(["significant", "improves"])]


def exploratory_findings(tests: pd.DataFrame) -> pd.DataFrame:
    return tests[(tests["role"] == "exploratory") & tests["verdict"].isin(["significant", "improves"])]


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--null", type=int, default=200, help="null studies")
    ap.add_argument("--planted", type=int, default=100, help="planted-effect studies")
    ap.add_argument("--clauses", type=int, default=30)
    ap.add_argument("--seeds", type=int, default=1, help="seeds per cell")
    ap.add_argument("--effect", type=float, default=0.2, help="added to FFT's lognormal sigma")
    ap.add_argument("--jobs", type=int, default=1, help="worker processes")
    args = ap.parse_args(argv)
    seeds = list(range(args.seeds))
    start = time.perf_counter()
    any_false, any_exploratory, per_question = 0, 0, {"rq1": 0, "rq2": 0, "rq3": 0}
    for i, tests in enumerate(studies(range(args.null), args.jobs, args.clauses, seeds, 0.0), 1):
        found = confirmatory_findings(tests)
        any_false += not found.empty
        any_exploratory += not exploratory_findings(tests).empty
        for q in per_question:
            per_question[q] += found["family"].str.startswith(q).any()
        if i % 10 == 0:  # running tally, so that an interrupted run still tells something
            print(f"[{time.perf_counter() - start:.0f} s] null studies with a confirmatory finding: "
                  f"{any_false} of {i}", file=sys.stderr, flush=True)
    hits, rq1_rows, rq1_found = 0, 0, 0
    planted = range(100_000, 100_000 + args.planted)
    for i, tests in enumerate(studies(planted, args.jobs, args.clauses, seeds, args.effect), 1):
        rq1 = tests[tests["family"].str.startswith("rq1@") & tests["p"].notna()]
        found = rq1[(rq1["verdict"] == "significant") & (rq1["effect"] > 0)]
        hits += not found.empty
        rq1_rows += len(rq1)
        rq1_found += len(found)
        if i % 10 == 0:
            print(f"[{time.perf_counter() - start:.0f} s] planted studies with FFT found more focused: "
                  f"{hits} of {i}", file=sys.stderr, flush=True)
    elapsed = time.perf_counter() - start
    print(f"design: {len(SIZES)} sizes x {len(STRATEGIES)} strategies x {args.seeds} seed(s), "
          f"{args.clauses} clauses; {elapsed:.0f} s for {args.null + args.planted} studies")
    print("null studies with a confirmatory finding, by question: "
          + ", ".join(f"{q.upper()} {v}" for q, v in per_question.items()))
    print(f"null studies with at least one exploratory finding (BH controls the false discovery rate, "
          f"not this): {any_exploratory} of {args.null}")
    if rq1_rows:
        print(f"planted: {rq1_found} of {rq1_rows} RQ1 comparisons found FFT more focused")
    rate = any_false / max(args.null, 1)
    print(f"family-wise false positive rate: {rate:.3f} over {args.null} null studies")
    print(f"power: {hits / max(args.planted, 1):.3f} at FFT lognormal sigma +{args.effect:g} over "
          f"{args.planted} studies")


if __name__ == "__main__":
    sys.exit(main())
