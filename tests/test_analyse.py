"""clauselens.analyse: the categoriser, the per-clause measures, the analysis on synthetic attributions
(a difference built in is found; identical cells are not called different) and the stage on a Store."""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from clauselens.analyse import (
    CATEGORIES,
    analyse_run,
    categorise,
    category_shares,
    compare_strategies,
    focus_metrics,
    pattern_permutation_test,
    scale_trends,
)
from clauselens.config import AnalysisConfig, ExperimentConfig, ModelConfig
from clauselens.labels import format_params
from clauselens.records import Attribution, Unit
from clauselens.store import Store
from clauselens.tables import ATTRIBUTIONS, CATEGORY_SHARES, CELLS, FOCUS, TESTS

# clause texts of assorted shapes (numbers, ranges, references); benchmarks/null_calibration.py uses them too
CLAUSES = (Path(__file__).parent / "data" / "analysis_clauses.txt").read_text().splitlines()


def word_units(text: str) -> list[Unit]:
    return [Unit(text=m.group(), start=m.start(), end=m.end()) for m in re.finditer(r"\S+", text)]


def make(text: str, scores, cell: str = "m/fft/s0", clause: str = "K:1", units=None) -> Attribution:
    units = units if units is not None else word_units(text)
    return Attribution(cell_id=cell, clause_id=clause, clause_text=text, units=units, scores=list(scores),
                       method="loo", target="logprob", perturbation="delete")


def word_categories(text: str, lexicons=None) -> dict[str, str]:
    a = make(text, [0.0] * len(word_units(text)))
    return {u.text.strip(".,;()"): c for u, c in zip(a.units, categorise(a, lexicons), strict=True)}


# -- categoriser ---------------------------------------------------------------------------------------
def test_numbers_bound_to_units_or_comparators_are_numerical_constraints():
    cats = word_categories("The clear width shall be not less than 800 mm and at least 2 where flights "
                           "exceed 1:12, with a rise of 2.5m or 36 risers.")
    assert cats["800"] == "numerical_constraint" and cats["mm"] == "unit"
    assert cats["2"] == "numerical_constraint"  # "at least 2"
    assert cats["1:12"] == "numerical_constraint" and cats["2.5m"] == "numerical_constraint"
    assert cats["36"] == "content"  # a number bound to neither
    assert cats["not"] == cats["less"] == cats["than"] == cats["least"] == cats["exceed"] == "comparator"


def test_rule_identifiers():
    text = ("1.12 For the rise, comply with paragraphs 1.2 and 1.3, Diagram 1.5 and Approved Document B "
            "Volume 1, BS 5395-1:2010 and Requirement K1 of the Building Regulations 2010.")
    cats = word_categories(text)
    for w in ("1.12", "paragraphs", "1.2", "1.3", "Diagram", "1.5", "Approved", "Document", "B", "Volume",
              "BS", "5395-1:2010", "Requirement", "K1", "Building", "Regulations", "2010"):
        assert cats[w] == "rule_identifier", w
    assert cats["rise"] == "content" and cats["For"] == "function"
    # the same dotted number with a unit is a measurement, not a paragraph
    assert word_categories("1.5 m minimum clear width.")["1.5"] == "numerical_constraint"
    assert word_categories("Part of the wall.")["Part"] == "content"  # "Part" only before an identifier


def test_conditions_deontics_entities_function_words():
    cats = word_categories("Where a stair is provided, handrails shall be fitted unless the landing is "
                           "level; doors must open. Provide guarding to escape routes.")
    assert cats["Where"] == cats["unless"] == "condition"
    assert cats["shall"] == cats["must"] == "deontic"
    assert cats["Provide"] == "deontic"  # a directive verb opening a sentence
    for w in ("stair", "handrails", "landing", "doors", "guarding", "escape", "routes"):
        assert cats[w] == "building_entity", w
    assert cats["a"] == cats["is"] == cats["the"] == "function"
    assert cats["fitted"] == cats["open"] == cats["level"] == "content"
    assert word_categories("We provide a door.")["provide"] == "content"  # not opening a sentence


def test_token_and_span_units():
    text = "A handrail at 1.12 metres"
    pieces = [("A", 0, 1), (" hand", 1, 6), ("rail", 6, 10), (" at", 10, 13), (" 1", 13, 15), (".12", 15, 18),
              (" metres", 18, 25)]
    tokens = [Unit(text=t, start=s, end=e, kind="token") for t, s, e in pieces]
    assert categorise(make(text, [0] * 7, units=tokens)) == [
        "function", "building_entity", "building_entity", "function", "numerical_constraint",
        "numerical_constraint", "unit"]
    text = "Where the landing is level, provide at least 2 m"
    spans = [Unit(text="Where", start=0, end=5, kind="span", span_type="condition"),
             Unit(text="the landing", start=6, end=17, kind="span"),
             Unit(text="is level,", start=18, end=27, kind="span"),
             Unit(text="provide at least 2 m", start=28, end=48, kind="span"),
             Unit(text="2 m", start=45, end=48, kind="span", span_type="number_unit")]
    assert categorise(make(text, [0] * 5, units=spans)) == [
        "condition", "building_entity", "content", "numerical_constraint", "numerical_constraint"]


def test_user_lexicons_add_categories_and_win():
    lex = {"dimension": ["headroom", "clear width", "going"], "building_entity": ["dumbwaiter"]}
    cats = word_categories("The clear width and going of the dumbwaiter and its headroom.", lex)
    assert cats["clear"] == cats["width"] == cats["going"] == cats["headroom"] == "dimension"
    assert cats["dumbwaiter"] == "building_entity"
    assert word_categories("The dumbwaiter.")["dumbwaiter"] == "content"  # only with the lexicon
    with pytest.raises(ValueError, match="analysis.lexicons"):
        word_categories("x", {"Bad Name": ["x"]})
    with pytest.raises(ValueError, match="offsets 3:40 outside the clause"):
        categorise(make("abc", [0], units=[Unit(text="x", start=3, end=40)]))


# -- measures ----------------------------------------------------------------------------------------------
def test_category_shares_and_per_unit_shares():
    text = "Provide a 2 m clear headroom"
    a = make(text, [1, 0, -2, 1, 1, 3])
    cats = categorise(a)
    assert cats == ["deontic", "function", "numerical_constraint", "unit", "content", "content"]
    rows = {r["category"]: r for r in category_shares(a, cats, CATEGORIES)}
    assert [r["category"] for r in category_shares(a, cats, CATEGORIES)] == list(CATEGORIES)
    assert rows["content"]["share"] == pytest.approx(4 / 8) and rows["content"]["n_units"] == 2
    assert rows["numerical_constraint"]["share"] == pytest.approx(2 / 8)
    # per unit: content 0.25, numerical 0.25, deontic 0.125, unit 0.125, function 0 -> over 0.75
    assert rows["content"]["share_per_unit"] == pytest.approx(1 / 3)
    assert rows["numerical_constraint"]["share_per_unit"] == pytest.approx(1 / 3)
    assert rows["deontic"]["share_per_unit"] == pytest.approx(1 / 6)
    assert rows["function"]["share_per_unit"] == 0
    assert rows["comparator"]["share"] == 0 and math.isnan(rows["comparator"]["share_per_unit"])
    assert sum(r["share"] for r in rows.values()) == pytest.approx(1)
    with pytest.raises(ValueError, match="not in the reported category list"):
        category_shares(a, ["mystery"] * 6, CATEGORIES)


def test_format_params():
    assert [format_params(p) for p in (494_032_768, 1_500_000, 7_615_616_512, 124_000_000, 13e9, 900)] == [
        "0.49B", "1.5M", "7.6B", "124M", "13B", "0.9K"]
    assert {format_params(p) for p in (None, float("nan"), pd.NA, 0, -5)} == {"?"}  # unknown sizes


# -- synthetic attributions ------------------------------------------------------------------------------
def synthetic(rng, cell: str, clause: str, text: str, sigma: float, boost: float = 1.0) -> Attribution:
    """Lognormal |scores| (larger sigma = more focused), numerical-constraint units multiplied by boost."""
    units = word_units(text)
    cats = np.array(categorise(make(text, [0] * len(units))))
    scores = rng.lognormal(0.0, sigma, len(units)) * np.where(cats == "numerical_constraint", boost, 1.0)
    return make(text, scores * rng.choice([-1, 1], len(units)), cell=cell, clause=clause, units=units)


def design(rng, n_clauses: int, spec: dict[str, tuple[float, float]]) -> dict[str, list[Attribution]]:
    """strategy -> attributions of the same clauses; spec: strategy -> (sigma, numerical boost)."""
    texts = [(f"K:{i}", CLAUSES[i % len(CLAUSES)]) for i in range(n_clauses)]
    return {s: [synthetic(rng, f"m/{s}/s0", c, t, sigma, boost) for c, t in texts]
            for s, (sigma, boost) in spec.items()}


def measures(cells: dict[str, list[Attribution]]) -> tuple[pd.DataFrame, dict[str, pd.DataFrame]]:
    values, profiles = [], {}
    for strategy, attrs in cells.items():
        shares = []
        for a in attrs:
            values.append({"clause_id": a.clause_id, "strategy": strategy, "metric": "gini",
                           "value": focus_metrics(a.scores).gini})
            shares += category_shares(a, categorise(a), CATEGORIES)
        frame = pd.DataFrame(shares)
        values += [{"clause_id": r.clause_id, "strategy": strategy, "metric": "share:numerical_constraint",
                    "value": r.share} for r in frame[frame.category == "numerical_constraint"].itertuples()]
        profiles[strategy] = frame.pivot(index="clause_id", columns="category", values="share")
    return pd.DataFrame(values), profiles


def test_more_focused_cell_is_found():
    hits = 0
    for rep in range(20):
        values, _ = measures(design(np.random.default_rng(rep), 20, {"fft": (1.2, 1), "lora": (0.6, 1)}))
        results = compare_strategies(values, family="strategy@1.5M", where=" at 1.5M")
        w = next(r for r in results if r.test == "wilcoxon" and r.metric == "gini")
        hits += w.p_adj < 0.05 and w.effect > 0
    assert hits >= 18
    assert w.sentence.startswith("FFT is more focused than LoRA at 1.5M: median Gini")


def test_category_emphasis_is_found_by_shares_and_profiles():
    cells = design(np.random.default_rng(7), 24, {"fft": (0.8, 4.0), "lora": (0.8, 1.0), "qlora": (0.8, 1.0)})
    values, profiles = measures(cells)
    results = compare_strategies(values, family="strategy@1.5M", where=" at 1.5M")
    pairs = {r.groups: r for r in results
             if r.test == "wilcoxon" and r.metric == "share:numerical_constraint"}
    assert pairs["fft vs lora"].p_adj < 0.01 and pairs["fft vs qlora"].p_adj < 0.01
    assert pairs["fft vs lora"].sentence.startswith("FFT puts more weight on numerical constraints than LoRA")
    pattern = {r.groups: r
               for r in pattern_permutation_test(profiles, family="pattern@1.5M", n_permutations=499)}
    assert pattern["fft vs lora"].p_adj < 0.01 and pattern["fft vs qlora"].p_adj < 0.01
    assert pattern["fft vs lora"].sentence.startswith("FFT and LoRA spread attribution differently")


def test_scale_trend_is_found():
    rng = np.random.default_rng(11)
    rows = []
    for params, boost in ((1_500_000, 1.0), (6_000_000, 3.0), (25_000_000, 9.0)):
        for a in design(rng, 16, {"fft": (0.8, boost)})["fft"]:
            share = next(r["share"] for r in category_shares(a, categorise(a), CATEGORIES)
                         if r["category"] == "numerical_constraint")
            rows.append({"clause_id": a.clause_id, "params": params, "metric": "share:numerical_constraint",
                         "value": share})
    results = scale_trends(pd.DataFrame(rows), family="scale:fft", where=" for FFT", n_boot=500)
    jt = next(r for r in results if r.test == "jonckheere")
    page = next(r for r in results if r.test == "page")
    assert jt.p_adj < 0.01 and jt.effect > 0 and jt.ci_low > 0
    assert page.p_adj < 0.01 and page.effect > 0.5
    assert jt.sentence.startswith("Share on numerical constraints rises with model size for FFT")
    assert jt.groups == "1.5M vs 6M vs 25M" and jt.n == 48


def test_identical_cells_are_not_called_different():
    """Same generating distribution for every strategy: each test rejects at 5% in at most 10 of 100 runs."""
    false_positives = {"friedman": 0, "kruskal": 0, "wilcoxon": 0, "permutation_js": 0}
    for rep in range(100):
        cells = design(np.random.default_rng(1000 + rep), 15,
                       {"fft": (0.8, 1.5), "lora": (0.8, 1.5), "qlora": (0.8, 1.5)})
        values, profiles = measures(cells)
        results = compare_strategies(values[values.metric == "gini"], family="f")
        results += pattern_permutation_test(profiles, family="p", n_permutations=199)
        for test in false_positives:
            adjusted = [r.p_adj for r in results if r.test == test]
            false_positives[test] += min(adjusted) < 0.05
    assert all(v <= 10 for v in false_positives.values()), false_positives


# -- the stage ---------------------------------------------------------------------------------------
def config(**analysis) -> ExperimentConfig:
    return ExperimentConfig(models=[ModelConfig(name="m-small", id="builtin:a", params=1_500_000),
                                    ModelConfig(name="m-large", id="builtin:b", params=25_000_000)],
                            analysis=AnalysisConfig(**analysis))


def fill_store(store: Store, models, strategies, seeds, n_clauses: int, rng) -> None:
    cells, rows = [], []
    for model, params in models:
        for strategy in strategies:
            for seed in seeds:
                cell = f"{model}/{strategy}/s{seed}"
                cells.append({"cell_id": cell, "model": model, "params": params, "strategy": strategy,
                              "seed": seed, "status": "done", "error": None})
                for i in range(n_clauses):
                    a = synthetic(rng, cell, f"K:{i}", CLAUSES[i % len(CLAUSES)], 0.8)
                    rows.append({"cell_id": cell, "clause_id": a.clause_id, "method": "loo",
                                 "target": "logprob", "perturbation": "delete", "unit": "word",
                                 "payload": a.to_json()})
    store.upsert(CELLS, cells)
    store.upsert(ATTRIBUTIONS, rows)


def snapshot(store: Store) -> dict[str, pd.DataFrame]:
    out = {}
    for table in (CATEGORY_SHARES, FOCUS, TESTS):
        df = store.read(table)
        out[table.name] = df.sort_values(list(df.columns[:4])).reset_index(drop=True)
    return out


def test_analyse_run_fills_tables_idempotently_and_owns_them(tmp_path):
    store = Store(tmp_path)
    fill_store(store, [("m-small", 1_500_000), ("m-large", 25_000_000)], ["fft", "lora"], [0, 1], 6,
               np.random.default_rng(0))
    store.upsert(TESTS, [{"family": "other_stage:x", "test": "plateau", "metric": "x",
                          "groups": "a", "statistic": 1.0, "p": 0.5, "n": 3, "sentence": "stale"},
                         {"family": "strategy@old", "test": "wilcoxon", "metric": "x", "groups": "a",
                          "statistic": 1.0, "p": 0.5, "n": 3, "sentence": "stale"}])
    store.upsert(FOCUS, [{"cell_id": "gone/fft/s0", "clause_id": "K:0", "metric": "gini", "value": 0.1}])
    cfg = config(focus_metrics=["gini", "entropy"], permutations=99)
    analyse_run(store, cfg, progress=False)
    first = snapshot(store)
    analyse_run(store, cfg, progress=False)
    second = snapshot(store)
    for table in first:
        pd.testing.assert_frame_equal(first[table], second[table])

    shares, focus, tests = first["category_shares"], first["focus"], first["tests"]
    assert len(shares) == 8 * 6 * len(CATEGORIES)  # 8 cells x 6 clauses x categories
    assert shares.groupby(["cell_id", "clause_id"])["share"].sum().to_numpy() == pytest.approx(1)
    assert set(focus["metric"]) == {"gini", "entropy"} and "gone/fft/s0" not in set(focus["cell_id"])
    families = set(tests["family"])
    assert {"strategy@1.5M", "strategy@25M", "pattern@1.5M", "agreement@25M", "scale:fft", "scale:lora",
            "rq1@1.5M", "rq2:fft"} <= families
    assert not {"strategy@old", "other_stage:x"} & families  # the stage owns `tests`: replaced whole
    pairs = tests[(tests.family == "strategy@1.5M") & (tests.test == "wilcoxon")]
    ran = pairs[pairs["p"].notna()]
    assert ran["n"].max() == 6 and ran["correction"].eq("bh").all() and ran["role"].eq("exploratory").all()
    confirmatory = tests[tests["family"].str.startswith(("rq1", "rq2", "rq3"))]
    assert confirmatory["role"].eq("confirmatory").all()
    assert confirmatory["correction"].dropna().eq("holm").all()
    # two seeds per cell: RQ1 tests against clauses and runs both random, and reports the seed spread
    rq1 = tests[tests["family"] == "rq1@1.5M"].iloc[0]
    assert rq1["test"] == "t_crossed" and rq1["n"] == 6 and rq1["seed_spread"] > 0
    # a category present in too few clauses is recorded, not tested
    assert pairs[pairs["p"].isna()]["sentence"].str.startswith("Not enough data").all()
    assert tests["sentence"].str.len().min() > 0
    trend = tests[(tests.family == "scale:fft") & (tests.test == "jonckheere") & tests["p"].notna()]
    assert trend["ci_low"].notna().all() and (trend["ci_low"] <= trend["effect"] + 1e-9).all()


def test_small_design_records_not_enough_data(tmp_path):
    store = Store(tmp_path)
    fill_store(store, [("m-small", 1_500_000)], ["lora"], [0], 2, np.random.default_rng(1))
    analyse_run(store, config(), progress=False)
    tests = store.read(TESTS)
    assert set(tests["family"]) == {"strategy@1.5M", "pattern@1.5M", "agreement@1.5M", "scale:lora",
                                    "rq1@1.5M", "rq2:lora"}
    assert tests["sentence"].str.startswith("Not enough data").all()
    assert tests["p"].isna().all()
    assert len(store.read(FOCUS)) == 2 * 4


def test_bad_inputs_name_the_row(tmp_path):
    store = Store(tmp_path)
    with pytest.raises(ValueError, match=r"analysis.size_categories: unknown categories \['numbers'\]"):
        analyse_run(store, config(size_categories=["numbers"]), progress=False)
    with pytest.raises(ValueError, match="analysis.quality_metric: unknown metric 'rouge'"):
        analyse_run(store, config(quality_metric="rouge"), progress=False)
    fill_store(store, [("m-small", 1_500_000)], ["fft"], [0], 1, np.random.default_rng(2))
    with pytest.raises(ValueError, match="no attributions match the config's attribution options"):
        analyse_run(store, config().model_copy(update={"attribution": config().attribution.model_copy(
            update={"method": "shapley"})}), progress=False)
    store.upsert(ATTRIBUTIONS, [{"cell_id": "m-small/fft/s0", "clause_id": "K:0", "method": "loo",
                                 "target": "logprob", "perturbation": "delete", "unit": "word",
                                 "payload": '{"cell_id": "m-small/fft/s0"}'}])
    with pytest.raises(ValueError, match=r"cell_id='m-small/fft/s0', clause_id='K:0': payload is not an "
                                         r"Attribution: clause_id: Field required"):
        analyse_run(store, config(), progress=False)
