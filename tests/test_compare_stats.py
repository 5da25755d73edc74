"""clauselens.compare without models: alignment, deltas, the quantisation split, ablation against its
control, robustness measures and the correctness model, on constructed inputs with known answers."""

from __future__ import annotations

import math
import re

import numpy as np
import pandas as pd
import pytest

from clauselens.attribute import token_units, word_units
from clauselens.compare import (
    PrecisionPair,
    ablate_clause,
    adapter_delta,
    aligned_scores,
    correctness_model,
    rank_agreement,
    robustness_clause,
    split_clause,
    summarise_split,
)
from clauselens.compare.ablation import summarise_ablation, word_categories
from clauselens.compare.alignment import abs_rank_correlation, cross_model_agreement
from clauselens.compare.correctness import PREDICTORS, correctness_data, fit_term
from clauselens.compare.intervals import mean_with_ci
from clauselens.compare.robustness import runs_needed, summarise_robustness
from clauselens.records import Attribution, Clause, Unit

TEXT = "Every stair shall have a headroom of not less than 2.0 m, see Diagram 1.3 of Approved Document K."


def word_attr(scores: list[float], cell: str = "c", clause_id: str = "K:1", text: str = TEXT,
              **kw: object) -> Attribution:
    units = word_units(text)
    assert len(scores) == len(units)
    return Attribution(cell_id=cell, clause_id=clause_id, clause_text=text, units=units, scores=scores,
                       method=str(kw.get("method", "loo")), target="logprob",
                       perturbation=str(kw.get("perturbation", "delete")))


def n_words(text: str = TEXT) -> int:
    return len(word_units(text))


# -- alignment ------------------------------------------------------------------------------------------

def char_attr(text: str, per_char: list[float]) -> Attribution:
    """An attribution on single characters (a char-level tokenizer's units)."""
    units = [Unit(text=ch, start=i, end=i + 1, kind="token") for i, ch in enumerate(text) if not ch.isspace()]
    scores = [per_char[u.start] for u in units]
    return Attribution(cell_id="chars", clause_id="K:1", clause_text=text, units=units, scores=scores,
                       method="loo", target="logprob", perturbation="delete")


def test_alignment_pairs_words_across_unit_kinds_and_preserves_totals():
    rng = np.random.default_rng(0)
    per_char = rng.normal(size=len(TEXT)).tolist()
    chars = char_attr(TEXT, per_char)
    words = word_units(TEXT)
    # the same importance expressed on words directly: each word = sum of its characters
    direct = word_attr([sum(per_char[u.start:u.end]) for u in words])
    sa, sb = aligned_scores(chars, direct)
    np.testing.assert_allclose(sa, sb, atol=1e-12)
    assert rank_agreement(chars, direct) == pytest.approx(1.0)
    # punctuation characters belong to no word: their score is reported, not silently dropped
    from clauselens.attribute import to_words
    moved = to_words(chars)
    punct = sum(per_char[i] for i, ch in enumerate(TEXT) if not ch.isspace()
                and not any(w.start <= i < w.end for w in words))
    assert moved.options["unaligned_score"] == pytest.approx(punct)


def test_rank_agreement_is_minus_one_for_reversed_importance_and_refuses_other_clauses():
    k = n_words()
    a = word_attr(list(np.arange(1.0, k + 1)))
    b = word_attr(list(np.arange(k, 0.0, -1)))
    assert rank_agreement(a, b) == pytest.approx(-1.0)
    other = word_attr([1.0] * n_words("A door shall be wide."), text="A door shall be wide.")
    with pytest.raises(ValueError, match="different clause texts"):
        rank_agreement(a, other)


def test_rank_correlation_of_a_constant_map_is_undefined_not_an_error():
    assert math.isnan(abs_rank_correlation(np.ones(5), np.arange(5.0)))
    assert math.isnan(abs_rank_correlation(np.arange(2.0), np.arange(2.0)))  # too few units
    assert abs_rank_correlation(np.array([1.0, -3, 2]), np.array([-1.0, 3, 2]), "spearman_rho") == 1.0


def test_cross_model_agreement_pairs_sizes_within_strategy():
    k = n_words()
    base = np.arange(1.0, k + 1)
    attrs = []
    for clause in ("K:1", "K:2", "K:3"):
        attrs += [word_attr(list(base), cell="xs/lora/s0", clause_id=clause),
                  word_attr(list(base * 2), cell="m/lora/s0", clause_id=clause),  # same ranking
                  word_attr(list(base[::-1]), cell="xs/fft/s0", clause_id=clause)]
    cells = pd.DataFrame({"cell_id": ["xs/lora/s0", "m/lora/s0", "xs/fft/s0"], "model": ["xs", "m", "xs"],
                          "params": [1e5, 1e6, 1e5], "strategy": ["lora", "lora", "fft"],
                          "seed": [0, 0, 0]}).set_index("cell_id")
    rows = cross_model_agreement(attrs, cells, n_boot=200)
    assert {(r["cell_a"], r["cell_b"]) for r in rows} == {("xs/lora/s0", "m/lora/s0")}  # fft has one size
    word = next(r for r in rows if r["unit"] == "word")
    assert word["value"] == pytest.approx(1.0) and word["n"] == 3


# -- adapter delta ----------------------------------------------------------------------------------------

def test_adapter_delta_row():
    k = n_words()
    ft = np.zeros(k)
    ft[[u.text for u in word_units(TEXT)].index("2.0")] = 3.0  # the threshold matters after fine-tuning
    base = np.full(k, 0.5)
    row = adapter_delta(word_attr(ft.tolist(), cell="x/lora/s0"), word_attr(base.tolist(), cell="b"),
                        base_cell_id="x/base/s0", base_precision="full")
    assert row["top_unit"] == "2.0" and row["top_delta"] == pytest.approx(2.5)
    assert row["l1"] == pytest.approx(2.5 + 0.5 * (k - 1))
    assert row["l1_relative"] == pytest.approx(row["l1"] / (3.0 + 0.5 * k))
    payload = Attribution.from_json(row["payload"])
    np.testing.assert_allclose(payload.scores, ft - base)
    assert payload.cell_id == "x/lora/s0" and payload.options["base_cell_id"] == "x/base/s0"


# -- quantisation split ------------------------------------------------------------------------------------

def test_quantisation_split_attributes_difference_to_its_source():
    rng = np.random.default_rng(1)
    k = n_words()
    lora = np.abs(rng.normal(size=k))
    qlora = np.abs(rng.normal(size=k))  # trained differently: an unrelated map
    noise = 0.01 * rng.normal(size=k)  # 4-bit: a small perturbation of the same map
    pair = PrecisionPair(lora_full=word_attr(lora.tolist()), lora_4bit=word_attr((lora + noise).tolist()),
                         qlora_full=word_attr(qlora.tolist()), qlora_4bit=word_attr((qlora - noise).tolist()))
    rows = {r["distance"]: r for r in split_clause(pair)}
    for r in rows.values():
        assert r["trained_differently"] > 5 * r["quantisation_noise"] > 0
    # the other way round: one adapter, a strong quantisation effect
    same = PrecisionPair(lora_full=word_attr(lora.tolist()), lora_4bit=word_attr(qlora.tolist()),
                         qlora_full=word_attr(lora.tolist()), qlora_4bit=word_attr(qlora.tolist()))
    for r in split_clause(same):
        assert r["trained_differently"] == pytest.approx(0.0, abs=1e-9) and r["quantisation_noise"] > 0.1
        assert r["observed"] == pytest.approx(r["quantisation_noise"])


def test_summarise_split_averages_seeds_per_clause_and_gives_intervals():
    rows = []
    for clause in range(6):
        for seed in (0, 1):
            rows.append({"model": "m", "seed": seed, "clause_id": f"K:{clause}", "distance": "js_distance",
                         "observed": 0.3, "trained_differently": 0.2 + 0.01 * clause,
                         "quantisation_noise": 0.05 + 0.02 * seed,
                         "difference": 0.15 + 0.01 * clause - 0.02 * seed})
    out = summarise_split(pd.DataFrame(rows), {"m": 1e6}, n_boot=500)
    assert len(out) == 1
    r = out[0]
    assert r["n_clauses"] == 6 and r["params"] == 1e6
    assert r["quantisation_noise"] == pytest.approx(0.06)
    assert r["trained_differently_ci_low"] < r["trained_differently"] < r["trained_differently_ci_high"]
    assert "QLoRA" in r["sentence"]


# -- category ablation -------------------------------------------------------------------------------------

def test_category_ablation_beats_random_control_when_numbers_matter():
    """A constructed model: the output's log-probability falls by 4 nats per missing number word and by
    0.1 per other missing word. Ablating numerical constraints must beat the same-size random control."""
    clauses = [Clause(clause_id=f"K:{i}", document="K", paragraph=str(i), text=t) for i, t in enumerate([
        "The rise of every step shall be not more than 220 mm and the going not less than 220 mm.",
        "Every stair shall have a headroom of not less than 2.0 m measured from the pitch line.",
        "A landing shall be at least 900 mm long and as wide as the widest part of the stair.",
        "Handrails shall be fixed at a height of between 900 mm and 1000 mm above the pitch line.",
        "Doors to escape routes shall open in the direction of escape, with a width of 800 mm.",
    ])]
    numbers = re.compile(r"\d")

    def value_for(clause: Clause):
        units, _ = word_categories(clause)
        n_numbers = sum(bool(numbers.search(u.text)) for u in units)
        n_other = len(units) - n_numbers

        def value(texts: list[str]) -> np.ndarray:
            out = []
            for t in texts:
                kept = word_units(t)
                kept_numbers = sum(bool(numbers.search(u.text)) for u in kept)
                out.append(-4.0 * (n_numbers - kept_numbers) - 0.1 * (n_other - (len(kept) - kept_numbers)))
            return np.array(out)
        return value

    rows = []
    for clause in clauses:
        rows += [{"cell_id": "m/fft/s0", **r} for r in ablate_clause(clause, value_for(clause), draws=6)]
    per_clause = pd.DataFrame(rows)
    nums = per_clause[per_clause["category"] == "numerical_constraint"]
    assert len(nums) == 5
    assert (nums["drop"] == 4.0 * nums["n_units"]).all()  # every number word of these clauses is one
    summary = {r["category"]: r for r in summarise_ablation(per_clause, n_boot=500)}
    num = summary["numerical_constraint"]
    assert num["mean_drop"] > num["control_mean_drop"] > 0
    assert num["ci_low"] > num["control_ci_high"]
    assert num["ratio"] > 2 and num["excess_ci_low"] > 0
    fn = summary["function"]  # function words carry no number: their ablation is weaker than random
    assert fn["mean_drop"] < fn["control_mean_drop"]


def test_ablation_control_is_seeded_and_same_size():
    clause = Clause(clause_id="K:9", document="K", paragraph="9", text=TEXT)
    calls: list[list[str]] = []

    def value(texts: list[str]) -> np.ndarray:
        calls.append(texts)
        return np.array([len(word_units(t)) for t in texts], dtype=float)  # one nat per missing word

    a = ablate_clause(clause, value, draws=4, seed=3)
    b = ablate_clause(clause, value, draws=4, seed=3)
    assert a == b and calls[0] == calls[1]
    for r in a:  # deleting k words costs k nats, for the category and for each random draw alike
        assert r["drop"] == pytest.approx(r["n_units"]) and r["control_drop"] == pytest.approx(r["n_units"])
    assert len(calls[0]) == 1 + len(a) * 5


# -- robustness ----------------------------------------------------------------------------------------------

def test_robustness_measures_known_agreements():
    k = n_words()
    rng = np.random.default_rng(2)
    x = rng.normal(size=k)
    runs = {("loo", "delete", 0): word_attr(list(x)), ("loo", "mask", 0): word_attr(list(2 * x)),
            ("loo", "substitute", 0): word_attr(list(x)),
            ("shapley", "delete", 0): word_attr(list(x)),
            ("shapley", "delete", 1): word_attr(list(-np.sign(x) * (10 - np.abs(x))))}
    rows = {(r["measure"], r["statistic"]): r["value"] for r in robustness_clause(runs, "delete")}
    assert rows[("perturbation_baseline", "kendall_tau")] == pytest.approx(1.0)  # |2x| ranks like |x|
    assert rows[("loo_vs_shapley", "spearman_rho")] == pytest.approx(1.0)
    assert rows[("shapley_seed", "kendall_tau")] == pytest.approx(-1.0)  # |10 - |x|| reverses |x|
    with pytest.raises(ValueError, match="need attributions"):
        robustness_clause({k: v for k, v in runs.items() if k[0] == "loo"}, "delete")
    assert len(runs_needed("mask")) == 5


def test_summarise_robustness_pools_cells_by_clause():
    rows = []
    for cell, level in (("a", 0.9), ("b", 0.5)):
        for i in range(4):
            rows.append({"cell_id": cell, "clause_id": f"K:{i}", "measure": "shapley_seed",
                         "statistic": "kendall_tau", "value": level + 0.01 * i})
    out = {r["cell_id"]: r for r in summarise_robustness(pd.DataFrame(rows), n_boot=300)}
    assert out["a"]["value"] == pytest.approx(0.915) and out["b"]["value"] == pytest.approx(0.515)
    assert out["all"]["value"] == pytest.approx(0.715) and out["all"]["n"] == 8
    assert out["all"]["n_clauses"] == 4
    assert out["all"]["ci_low"] <= out["all"]["value"] <= out["all"]["ci_high"]


def test_mean_with_ci_edges():
    assert all(math.isnan(v) for v in mean_with_ci([]))
    m, lo, hi = mean_with_ci([0.4])
    assert m == 0.4 and math.isnan(lo) and math.isnan(hi)
    assert mean_with_ci([0.25, 0.25, 0.25]) == (0.25, 0.25, 0.25)


# -- correctness model -------------------------------------------------------------------------------------

def synthetic_tables(n_clauses: int, beta: float, seed: int = 0, all_correct: bool = False):
    """scores / focus / shares / cells for 4 cells x n clauses; logit P(correct) = clause effect + beta*z."""
    rng = np.random.default_rng(seed)
    strategies = ["fft", "lora", "qlora", "base"]
    cells = pd.DataFrame({"cell_id": [f"m/{s}/s0" for s in strategies], "model": "m", "params": 1e6,
                          "strategy": strategies, "seed": 0})
    clause_effect = rng.normal(0, 0.7, n_clauses)
    scores, focus, shares = [], [], []
    for cell in cells["cell_id"]:
        for c in range(n_clauses):
            gini = rng.uniform(0.2, 0.8)
            z = (gini - 0.5) / 0.173
            p = 1 / (1 + math.exp(-(clause_effect[c] + beta * z)))
            correct = 1.0 if all_correct else float(rng.random() < p)
            scores.append({"cell_id": cell, "clause_id": f"K:{c}", "metric": "verdict_accuracy",
                           "value": correct if correct == 1.0 else rng.choice([0.0, 0.5])})
            focus += [{"cell_id": cell, "clause_id": f"K:{c}", "metric": "gini", "value": gini},
                      {"cell_id": cell, "clause_id": f"K:{c}", "metric": "entropy",
                       "value": rng.uniform(0, 1)}]
            shares += [{"cell_id": cell, "clause_id": f"K:{c}", "category": cat, "share": rng.uniform(0, 0.5)}
                       for cat in ("numerical_constraint", "rule_identifier")]
    return pd.DataFrame(scores), pd.DataFrame(focus), pd.DataFrame(shares), cells


def test_correctness_model_recovers_a_known_effect():
    data = correctness_data(*synthetic_tables(n_clauses=60, beta=1.2))
    assert set(PREDICTORS) <= set(data.columns) and len(data) == 240
    rows = {r["term"]: r for r in correctness_model(data)}
    gini = rows["gini"]
    assert gini["estimate"] > 1 and gini["ci_low"] > 1, gini  # OR per SD, interval excludes 1
    assert gini["p"] < 0.01 and gini["n_clauses"] == 60 and gini["n"] == 240
    assert gini["sentence"].startswith("One SD more gini raises")
    entropy = rows["entropy"]  # unrelated to the outcome
    assert entropy["ci_low"] < 1 < entropy["ci_high"]


def test_correctness_model_recovers_a_negative_effect():
    data = correctness_data(*synthetic_tables(n_clauses=60, beta=-1.2, seed=4))
    gini = fit_term(data, "gini")
    assert gini["estimate"] < 1 and gini["ci_high"] < 1


@pytest.mark.parametrize("n_clauses, all_correct, reason", [
    (40, True, "every generated rule gives the right verdict"),
    (3, False, "3 clause(s)"),
])
def test_correctness_model_degenerate_data_is_reported_not_raised(n_clauses, all_correct, reason):
    data = correctness_data(*synthetic_tables(n_clauses=n_clauses, beta=1.0, all_correct=all_correct))
    for row in correctness_model(data):
        assert row["sentence"].startswith("not estimable: ") and reason in row["sentence"]
        assert math.isnan(row["estimate"])


def test_correctness_model_reports_separation():
    data = correctness_data(*synthetic_tables(n_clauses=30, beta=0.0))
    data["correct"] = (data["gini"] > data["gini"].median()).astype(float)
    row = fit_term(data, "gini")
    assert row["sentence"].startswith("not estimable:") and "separates" in row["sentence"]


def test_token_units_stay_inside_words():
    """Guard for the alignment contract: our word units and any token split share character offsets."""
    class Whitespace:
        is_fast = True

        def __call__(self, text, add_special_tokens=False, return_offsets_mapping=False):
            return {"offset_mapping": [(m.start(), m.end()) for m in re.finditer(r"\S", text)]}

    tokens = token_units(TEXT, Whitespace())
    words = word_units(TEXT)
    assert all(any(w.start <= t.start and t.end <= w.end for w in words) for t in tokens if t.text.isalnum())
