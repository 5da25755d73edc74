"""Error control, power floors, equivalence and the seed component, each checked against an independent
computation: statsmodels (Holm, Benjamini–Hochberg, TOST), scipy (t-tests, exact Wilcoxon, Page),
brute-force enumeration (sign assignments, labellings) and hand-computed run means."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.weightstats import ttost_ind, ttost_paired

from clauselens.analyse.control import benjamini_hochberg, control_confirmatory, control_exploratory
from clauselens.analyse.hypotheses import rq1_drafts, rq2_drafts
from clauselens.analyse.nonparametric import profile_permutation_test
from clauselens.analyse.power import (
    friedman_min_p,
    jonckheere_min_p,
    kruskal_min_p,
    page_min_p,
    signed_rank_min_p,
)
from clauselens.analyse.quality import plateau_rows, step_drafts
from clauselens.analyse.results import Draft, finish, verdict
from clauselens.config import AnalysisConfig
from clauselens.score.plateau import gain_p, paired_moments, pooled_moments, tost_p


def draft(kind: str, test: str, p: float, metric: str = "gini", family: str = "strategy@1M",
          groups: tuple[str, ...] = ("fft", "lora")) -> Draft:
    return Draft(kind, family, test, metric, list(groups), 1.0, p, 10, ())


# -- multiplicity ---------------------------------------------------------------------------------------
def test_benjamini_hochberg_matches_statsmodels_and_keeps_nan():
    p = np.random.default_rng(0).uniform(0, 0.2, 40) ** 2
    p[[3, 17]] = np.nan
    ours = np.array(benjamini_hochberg(p))
    ok = ~np.isnan(p)
    assert ours[ok] == pytest.approx(multipletests(p[ok], method="fdr_bh")[1], abs=1e-12)
    assert np.isnan(ours[~ok]).all()


def test_confirmatory_family_is_holm_over_every_test_like_statsmodels():
    ps = [0.001, 0.02, 0.04, 0.3, 0.012, 0.5]
    drafts = [draft("pair", "wilcoxon", p, family=f"rq1@{i}") for i, p in enumerate(ps)]
    drafts.append(Draft("note", "rq2:fft", "page", "x", [], math.nan, math.nan, 2, ()))
    control_confirmatory(drafts)
    assert [d.p_adj for d in drafts[:-1]] == pytest.approx(multipletests(ps, method="holm")[1])
    assert all(d.role == "confirmatory" for d in drafts) and drafts[-1].p_adj is None
    assert {d.scope_size for d in drafts[:-1]} == {6}


def test_pairs_are_gated_by_their_omnibus_test():
    """Closed testing: a pair's adjusted p is max(omnibus BH-adjusted p, Holm over its pairs); the
    reference values come from statsmodels."""
    open_gate = draft("omnibus", "friedman", 0.001, groups=("fft", "lora", "qlora"))
    shut_gate = draft("omnibus", "friedman", 0.2, metric="entropy", groups=("fft", "lora", "qlora"))
    other = draft("trend", "page", 0.03, family="scale:fft")
    open_pairs = [draft("pair", "wilcoxon", p, groups=g)
                  for p, g in ((0.004, ("fft", "lora")), (0.03, ("fft", "qlora")), (0.6, ("lora", "qlora")))]
    shut_pairs = [draft("pair", "wilcoxon", 0.001, metric="entropy")]  # tiny p, but its omnibus fails
    drafts = [open_gate, shut_gate, other, *open_pairs, *shut_pairs]
    control_exploratory(drafts, alpha=0.05)
    bh = multipletests([0.001, 0.2, 0.03], method="fdr_bh")[1]
    assert [open_gate.p_adj, shut_gate.p_adj, other.p_adj] == pytest.approx(bh)
    holm = multipletests([0.004, 0.03, 0.6], method="holm")[1]
    assert [d.p_adj for d in open_pairs] == pytest.approx(np.maximum(bh[0], holm))
    assert shut_pairs[0].p_adj == pytest.approx(max(bh[1], 0.001))
    assert [verdict(d, 0.05) for d in open_pairs] == ["significant", "not significant", "not significant"]
    assert verdict(shut_pairs[0], 0.05) == "not tested (omnibus not significant)"
    assert all(d.role == "exploratory" and d.correction == "bh" for d in drafts)
    sentence = finish(shut_pairs)[0].sentence
    assert sentence.startswith("Exploratory: Not tested, its omnibus test did not reject")


# -- power floors ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("n", [3, 5, 6, 8])
def test_signed_rank_floor_matches_enumeration_of_sign_assignments(n):
    ranks = np.arange(1, n + 1)
    t_plus = [ranks[np.array(s, bool)].sum() for s in itertools.product((0, 1), repeat=n)]
    top = max(t_plus)
    brute = 2 * sum(t >= top for t in t_plus) / len(t_plus)  # two-sided: both extremes
    assert signed_rank_min_p(n) == pytest.approx(brute)
    assert signed_rank_min_p(n) == pytest.approx(stats.wilcoxon(ranks, method="exact").pvalue)
    assert signed_rank_min_p(5) == 0.0625  # the example: n = 5 cannot reach 0.05


def test_other_floors_match_their_tests_at_the_most_extreme_data():
    concordant = np.tile(np.arange(3.0), (6, 1))  # every clause ranks the three strategies alike
    assert friedman_min_p(6, 3) == pytest.approx(stats.friedmanchisquare(*concordant.T).pvalue)
    sizes = [3, 4, 5]
    n = sum(sizes)
    ranks = np.split(np.arange(1, n + 1), np.cumsum(sizes)[:-1])
    h = 12 / (n * (n + 1)) * sum(r.sum() ** 2 / r.size for r in ranks) - 3 * (n + 1)  # by hand
    assert kruskal_min_p(sizes) == pytest.approx(stats.chi2.sf(h, 2))
    ordered = np.tile(np.arange(4.0), (3, 1))
    assert page_min_p(3, 4) == pytest.approx(2 * stats.page_trend_test(ordered, method="exact").pvalue)
    # Jonckheere, exact: 2 / (number of distinct labellings), counted by enumeration
    labellings = {tuple(p) for p in itertools.permutations([0, 0, 1, 1, 2])}
    assert jonckheere_min_p([2, 2, 1], "permutation") == pytest.approx(2 / len(labellings))


def test_an_underpowered_test_is_worded_as_such():
    d = draft("pair", "wilcoxon", 0.0625)
    d.min_p, d.n = 0.0625, 5
    result = finish([d])[0]
    assert result.verdict == "underpowered"
    assert result.sentence.startswith("Underpowered (n = 5: smallest achievable p = 0.0625)")
    assert "No significant difference" not in result.sentence


# -- equivalence and gains ----------------------------------------------------------------------------
def test_tost_and_gain_match_statsmodels_and_scipy():
    rng = np.random.default_rng(3)
    small, large = rng.normal(0.6, 0.1, 25), None
    large = small + rng.normal(0.005, 0.02, 25)
    m = paired_moments(large - small)
    assert tost_p(m, 0.02) == pytest.approx(ttost_paired(large, small, -0.02, 0.02)[0])
    assert gain_p(m) == pytest.approx(stats.ttest_rel(large, small, alternative="greater").pvalue)
    runs_a, runs_b = np.array([0.52, 0.55, 0.50]), np.array([0.56, 0.58, 0.57, 0.55])
    m = pooled_moments(runs_a, runs_b)
    assert tost_p(m, 0.05) == pytest.approx(ttost_ind(runs_b, runs_a, -0.05, 0.05, usevar="pooled")[0])
    assert gain_p(m) == pytest.approx(stats.ttest_ind(runs_b, runs_a, alternative="greater").pvalue)


def test_zero_variance_gains_have_defined_p_values():
    flat = paired_moments(np.zeros(6))
    assert tost_p(flat, 0.02) == 0.0 and gain_p(flat) == 1.0
    shifted = paired_moments(np.full(6, 0.5))
    assert tost_p(shifted, 0.02) == 1.0 and gain_p(shifted) == 0


def _scores(levels: dict[float, float], n: int = 30, noise: float = 0.01, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    clause = rng.normal(0, 0.02, n)
    return pd.DataFrame([{"params": p, "seed": 0, "clause_id": f"K:{i}", "value": level + clause[i]
                          + rng.normal(0, noise)} for p, level in levels.items() for i in range(n)])


def test_plateau_needs_equivalence_above_the_floor():
    acfg = AnalysisConfig()
    rising_then_flat = step_drafts(_scores({1e6: 0.3, 4e6: 0.6, 16e6: 0.6}), "fft", "semantic_similarity",
                                   acfg, "rq3:fft")
    control_confirmatory(rising_then_flat)
    row = plateau_rows(rising_then_flat, 0.05, {"1M": 1e6, "4M": 4e6, "16M": 16e6})[0]
    assert row.verdict == "plateau" and row.effect == 4e6 and "plateaus at 4M for FFT" in row.sentence
    stuck = _scores({1e6: 0.0, 4e6: 0.0, 16e6: 0.0}, noise=0.0).assign(value=0.0)  # every size scores 0
    floor = step_drafts(stuck, "fft", "syntax_valid", acfg, "plateau:fft:syntax_valid")
    control_exploratory(floor, 0.05)
    assert {verdict(d, 0.05) for d in floor if d.kind == "equivalence"} == {"at floor"}
    row = plateau_rows(floor, 0.05, {})[0]
    assert row.verdict == "inconclusive" and "plateaus" not in row.sentence
    noisy = step_drafts(_scores({1e6: 0.5, 4e6: 0.5}, n=6, noise=0.2), "fft", "semantic_similarity", acfg,
                        "f")
    control_confirmatory(noisy)
    assert plateau_rows(noisy, 0.05, {})[0].verdict == "inconclusive"  # not shown flat: no plateau


# -- seeds: clauses and runs both random ------------------------------------------------------------------
def test_two_seeds_test_against_clauses_and_runs_by_clarks_min_f():
    """With seeds, RQ1's test is Clark's (1973) min F′ from the by-runs and the by-clauses F, computed
    here from scipy's two t-tests: 1/F′ = 1/F1 + 1/F2, df = (F1 + F2)² / (F1²/df2 + F2²/df1)."""
    rows = []
    for strategy, base in (("fft", 0.60), ("lora", 0.50)):
        for seed, shift in ((0, 0.0), (1, 0.03), (2, -0.01)):
            for i, v in enumerate((0.1, -0.1, 0.05, -0.05)):
                bump = 0.04 * (i % 2) if strategy == "fft" else 0.0  # the strategies differ by clause
                rows.append({"strategy": strategy, "seed": seed, "clause_id": f"K:{i}", "metric": "gini",
                             "value": base + shift + v + 0.01 * i + bump})
    frame = pd.DataFrame(rows)
    d = rq1_drafts(frame, "1M", "gini")[0]
    runs = frame.groupby(["strategy", "seed"])["value"].mean()
    by_runs = stats.ttest_ind(runs["fft"], runs["lora"])
    clauses = frame.groupby(["strategy", "clause_id"])["value"].mean()
    by_clauses = stats.ttest_rel(clauses["fft"], clauses["lora"])
    f1, f2, df1, df2 = by_runs.statistic**2, by_clauses.statistic**2, 4, 3
    min_f = f1 * f2 / (f1 + f2)
    df = (f1 + f2) ** 2 / (f1**2 / df2 + f2**2 / df1)
    assert d.test == "t_crossed" and d.n == 4 and d.detail == "clauses × 6 runs"
    assert d.p == pytest.approx(stats.f.sf(min_f, 1, df), rel=1e-9)
    assert d.effect == pytest.approx(0.12)  # 0.1 between the strategies, plus the bump on half the clauses
    assert d.statistic**2 == pytest.approx(min_f)
    fft, lora = runs["fft"].to_numpy(), runs["lora"].to_numpy()
    assert d.seed_spread == pytest.approx(math.sqrt((fft.var(ddof=1) + lora.var(ddof=1)) / 2))


def _null_study(rng: np.random.Generator, clauses: int = 12, seeds: int = 3) -> pd.DataFrame:
    """No true difference between strategies or sizes, but each clause reacts to them in its own way
    (sd 0.1, a fixed draw of clauses) and each run has its own offset (sd 0.01)."""
    rows = []
    for strategy, params in itertools.product(("fft", "lora"), (1e6, 4e6, 16e6)):
        reaction = rng.normal(0, 0.1, clauses)
        for seed in range(seeds):
            values = 0.5 + reaction + rng.normal(0, 0.01) + rng.normal(0, 0.01, clauses)
            rows += [{"strategy": strategy, "params": params, "seed": seed, "clause_id": f"K:{i}",
                      "metric": "m", "value": v} for i, v in enumerate(values)]
    return pd.DataFrame(rows)


def test_with_seeds_a_difference_the_clauses_do_not_carry_is_not_significant():
    """200 null studies in which the clauses drawn, not the strategy or the size, make the run means
    differ. Run means alone (scipy's t-test, the seed-as-unit design) call most of them significant;
    RQ1 and RQ2 with clauses and runs both random keep the false-positive rate near α."""
    rng = np.random.default_rng(11)
    naive_rq1 = crossed_rq1 = naive_rq2 = crossed_rq2 = 0
    sims = 200
    for _ in range(sims):
        data = _null_study(rng)
        at_size = data[data["params"] == 4e6]
        runs = at_size.groupby(["strategy", "seed"])["value"].mean()
        naive_rq1 += stats.ttest_ind(runs["fft"], runs["lora"]).pvalue < 0.05
        crossed_rq1 += rq1_drafts(at_size, "4M", "m")[0].p < 0.05
        fft = data[data["strategy"] == "fft"]
        run_means = fft.groupby(["params", "seed"])["value"].mean().reset_index()
        naive_rq2 += stats.linregress(np.log10(run_means["params"]), run_means["value"]).pvalue < 0.05
        crossed_rq2 += rq2_drafts(fft, "fft", "m", 0)[0].p < 0.05
    assert naive_rq1 / sims > 0.3 and naive_rq2 / sims > 0.3  # the design this replaces
    assert crossed_rq1 / sims <= 0.08 and crossed_rq2 / sims <= 0.08


def test_too_few_clauses_and_all_ties_do_not_produce_p_values_of_zero():
    rows = [{"strategy": s, "seed": 0, "clause_id": f"K:{i}", "metric": "gini", "value": 0.5}
            for s in ("fft", "lora") for i in range(4)]
    d = rq1_drafts(pd.DataFrame(rows), "1M", "gini")[0]
    assert d.p == 1.0  # every difference zero: no evidence
    d = rq1_drafts(pd.DataFrame(rows[:2] + rows[4:6]), "1M", "gini")[0]
    assert d.kind == "note"  # two clauses: not enough data


def test_profile_permutation_undefined_statistic_is_nan_not_zero():
    a = np.array([[0.5, 0.5], [np.nan, np.nan], [0.2, 0.8]])
    b = np.array([[0.4, 0.6], [0.3, 0.7], [0.1, 0.9]])
    dist, p, _ = profile_permutation_test(a, b, 99)
    assert math.isnan(dist) and math.isnan(p)
    zero = np.zeros((3, 2))
    assert math.isnan(profile_permutation_test(zero, b, 99)[1])
