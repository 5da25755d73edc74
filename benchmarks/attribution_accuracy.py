"""Section 1 of `attribution_speed.py`: accuracy of each method against a Shapley reference, same run.

Each method runs on a fresh evaluation cache (nothing reused between methods), through the same
KV-prefix engine `attribute_clause` uses; forward passes are the distinct coalitions it evaluated.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

import numpy as np
import torch
from scipy.stats import spearmanr
from transformers import LlamaForCausalLM, PreTrainedTokenizerFast

from clauselens.attribute.clause import eval_mode, prepare
from clauselens.attribute.evalcache import EvalCache
from clauselens.attribute.hierarchy import hierarchical
from clauselens.attribute.methods import MethodResult, ValueOfMasks, leave_one_out, shapley_sampling
from clauselens.attribute.registry import surrogate_evaluations
from clauselens.attribute.surrogate import surrogate
from clauselens.prompt import render_prompt
from clauselens.records import Clause

OUTPUT_TOKENS = 20
BUDGETS = (1, 2, 4)
HIERARCHY_MASS = 0.1
Runner = Callable[[int, ValueOfMasks, np.random.Generator], MethodResult]


def greedy_output(model: LlamaForCausalLM, tok: PreTrainedTokenizerFast, prompt: str, n_tokens: int) -> str:
    ids = tok(prompt, return_tensors="pt")["input_ids"]
    with torch.inference_mode():
        out = model.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=n_tokens,
                             min_new_tokens=n_tokens, do_sample=False, pad_token_id=tok.pad_token_id)
    return tok.decode(out[0, ids.shape[1]:])


def permutations_within(n: int, budget: int) -> int:
    """Most Shapley permutations whose distinct coalitions (2 + p (n - 1)) fit in `budget`; at least 1."""
    return max(1, (budget - 2) // max(n - 1, 1))


def runners() -> dict[str, tuple[Runner, bool]]:
    """label -> (method, sampled: run once per seed)."""
    out: dict[str, tuple[Runner, bool]] = {"loo": (lambda n, v, rng: leave_one_out(n, v), False)}
    for k in BUDGETS:
        out[f"shapley {k}x"] = (lambda n, v, rng, k=k: shapley_sampling(
            n, permutations_within(n, surrogate_evaluations(n, k)), rng, v), True)
    for k in BUDGETS:
        out[f"surrogate {k}x"] = (lambda n, v, rng, k=k: surrogate(
            n, v, budget=surrogate_evaluations(n, k), rng=rng), True)
    out["surrogate lasso 2x"] = (lambda n, v, rng: surrogate(
        n, v, budget=surrogate_evaluations(n, 2), fit="lasso", rng=rng), True)
    out["surrogate 4x + 3 interacting"] = (lambda n, v, rng: surrogate(
        n, v, budget=surrogate_evaluations(n, 4), interactions=3, rng=rng), True)
    return out


def counting(value: ValueOfMasks) -> tuple[ValueOfMasks, set[bytes]]:
    seen: set[bytes] = set()

    def counted(masks: np.ndarray) -> np.ndarray:
        seen.update(m.tobytes() for m in np.asarray(masks, dtype=bool))
        return value(masks)
    return counted, seen


def accuracy_section(model: LlamaForCausalLM, tok: PreTrainedTokenizerFast, clauses: list[Clause],
                     reference_permutations: int, seeds: int, say: Callable[[str], None]) -> dict[str, float]:
    """Print one table (method, mean rho to the reference, forward passes, seconds); return label -> rho."""
    rho: dict[str, list[float]] = {}
    passes: dict[str, list[int]] = {}
    seconds: dict[str, list[float]] = {}
    r2: dict[str, list[float]] = {}
    hier: list[tuple[int, int, int]] = []
    for c, clause in enumerate(clauses):
        target = greedy_output(model, tok, render_prompt(clause, tok).text, OUTPUT_TOKENS)

        def fresh(clause: Clause = clause, target: str = target) -> object:
            return prepare(model, tok, clause, target, target="logprob", perturbation="delete",
                           unit_kind="word", cache=EvalCache())
        with eval_mode(model):
            pc = fresh()
            n = len(pc.units)
            t0 = time.perf_counter()
            ref = shapley_sampling(n, reference_permutations, np.random.default_rng([99, c]), pc.value).scores
            say(f"reference {clause.clause_id}: {n} words, {reference_permutations} permutations, "
                f"{time.perf_counter() - t0:.1f} s")
            for label, (run, sampled) in runners().items():
                for seed in range(seeds if sampled else 1):
                    value, seen = counting(fresh().value)
                    t0 = time.perf_counter()
                    result = run(n, value, np.random.default_rng([seed, c]))
                    seconds.setdefault(label, []).append(time.perf_counter() - t0)
                    passes.setdefault(label, []).append(len(seen))
                    rho.setdefault(label, []).append(float(spearmanr(result.scores, ref).statistic))
                    if result.options.get("r2_heldout") is not None:
                        r2.setdefault(label, []).append(float(result.options["r2_heldout"]))
            value, seen = counting(fresh().value)
            result = hierarchical(pc.text, pc.units, value, mass=HIERARCHY_MASS)
            hier.append((len(seen), n + 1, len(result.units)))
    say("method | mean Spearman rho to reference (min) | forward passes (mean) | seconds (mean) | "
        "held-out R2 (median)")
    for label in rho:
        held = f"{statistics.median(r2[label]):.2f}" if label in r2 else "-"
        say(f"{label} | {np.mean(rho[label]):.3f} ({min(rho[label]):.3f}) | {np.mean(passes[label]):.1f} | "
            f"{np.mean(seconds[label]):.3f} | {held}")
    say(f"hierarchy (chunks, spans, then words holding >= {HIERARCHY_MASS:g} of |score|): "
        f"{np.mean([h[0] for h in hier]):.1f} forward passes vs leave-one-out's "
        f"{np.mean([h[1] for h in hier]):.1f}, {np.mean([h[2] for h in hier]):.1f} units reported "
        "(exact leave-one-out scores of those units)")
    return {label: float(np.mean(values)) for label, values in rho.items()}
