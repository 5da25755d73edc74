"""Each statistic of clauselens.analyse against a published or independently computed value.

References:
- Kruskal–Wallis: Hollander & Wolfe (1973, p. 116), lung function data (R's `kruskal.test` example):
  chi² = 0.77143, p = 0.68.
- Friedman: Sprent & Smeeton, Applied Nonparametric Statistical Methods (3rd ed., 6.3.2), pulse rates
  (scipy's tutorial): chi² = 10.571, p = 0.0050634.
- Wilcoxon: Fisher's (1935) paired differences from scipy's `wilcoxon` docs: T = 24, p = 0.041259765625.
- Jonckheere–Terpstra: Bewick, Cheek & Ball (2004), Critical Care 8:196, ICU stays:
  U12 = 23, U13 = 34.5, U23 = 19.5, J = 77, one-sided p = 0.005.
- Page's L: scipy's `page_trend_test` docs (Page 1963 teaching-methods table): L = 133.5, p = 0.0018191.
- Kendall's tau: scipy's `kendalltau` docs: tau = -0.47140452079103173.
- Dunn: scikit-posthocs `posthoc_dunn` (an independent implementation) and a hand-computed z.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pandas as pd
import pytest
import scikit_posthocs
from scipy import stats
from statsmodels.stats.multitest import multipletests

from clauselens.analyse import compare_strategies, focus_metrics, ranking_agreement
from clauselens.analyse.nonparametric import (
    cliffs_delta,
    dunn_z,
    holm,
    jonckheere_terpstra,
    kendalls_w,
    page_mean_rho,
    page_trend_two_sided,
    profile_permutation_test,
    rank_biserial_paired,
    spearman_cluster_bootstrap,
)
from clauselens.records import Attribution, Unit


def _one(results, test, groups=None):
    found = [r for r in results if r.test == test and (groups is None or r.groups == groups)]
    assert len(found) == 1, [(r.test, r.groups) for r in results]
    return found[0]


def _long(groups: dict[str, list[float]], paired: bool) -> pd.DataFrame:
    rows = []
    for strategy, values in groups.items():
        for i, v in enumerate(values):
            clause = f"c{i}" if paired else f"{strategy}-{i}"
            rows.append({"clause_id": clause, "strategy": strategy, "metric": "gini", "value": v})
    return pd.DataFrame(rows)


# -- multiplicity --------------------------------------------------------------------------------------
def test_holm_textbook_and_statsmodels():
    # by hand: sorted 0.005*4 = 0.02, 0.01*3 = 0.03, 0.03*2 = 0.06, 0.04*1 = 0.04 -> running max
    assert holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    rng = np.random.default_rng(3)
    p = rng.uniform(0, 0.2, 12)
    p[[2, 7]] = p[5]  # ties
    assert holm(p) == pytest.approx(multipletests(p, method="holm")[1])
    with_nan = holm([0.01, float("nan"), 0.02])
    assert with_nan[0] == pytest.approx(0.02) and with_nan[2] == pytest.approx(0.02)
    assert math.isnan(with_nan[1])


# -- unpaired: Kruskal–Wallis + Dunn ------------------------------------------------------------------
def test_kruskal_hollander_wolfe_and_epsilon_squared():
    groups = {"fft": [2.9, 3.0, 2.5, 2.6, 3.2], "lora": [3.8, 2.7, 4.0, 2.4],
              "qlora": [2.8, 3.4, 3.7, 2.2, 2.0]}
    results = compare_strategies(_long(groups, paired=False), family="strategy@x")
    kw = _one(results, "kruskal")
    assert kw.statistic == pytest.approx(0.77143, abs=1e-5)
    assert kw.p == pytest.approx(0.68, abs=0.005)
    assert kw.effect_name == "epsilon_squared" and kw.effect == pytest.approx(0.77143 / 13, abs=1e-5)
    assert kw.n == 14
    # unpaired clauses: the paired tests cannot run and say so instead of failing
    friedman = _one(results, "friedman")
    assert math.isnan(friedman.p) and friedman.sentence.startswith("Not enough data")
    assert "No significant difference" in kw.sentence


def test_dunn_matches_hand_computation_and_scikit_posthocs():
    # ranks 1..6: mean ranks 2 and 5, variance 6*7/12 = 3.5, se = sqrt(3.5 * 2/3)
    (z, p), = dunn_z([[1, 2, 3], [4, 5, 6]]).values()
    assert z == pytest.approx(-3 / math.sqrt(3.5 * 2 / 3))
    assert p == pytest.approx(2 * stats.norm.sf(3 / math.sqrt(3.5 * 2 / 3)))
    data = [[1, 2, 3, 5, 1], [12, 31, 54, 12], [10, 12, 6, 74, 11]]  # scikit-posthocs' example, with ties
    ours = dunn_z(data)
    ref = scikit_posthocs.posthoc_dunn(data, p_adjust=None).to_numpy()
    ref_holm = scikit_posthocs.posthoc_dunn(data, p_adjust="holm").to_numpy()
    pairs = sorted(ours)
    assert [ours[k][1] for k in pairs] == pytest.approx([ref[i, j] for i, j in pairs])
    assert holm([ours[k][1] for k in pairs]) == pytest.approx([ref_holm[i, j] for i, j in pairs])


def test_cliffs_delta_hand_and_brute_force():
    # x = 1: -3; x = 2: tie, -2; x = 3: +1, tie, -1 -> -5/9
    assert cliffs_delta([1, 2, 3], [2, 3, 4]) == pytest.approx(-5 / 9)
    rng = np.random.default_rng(0)
    x, y = rng.integers(0, 5, 17), rng.integers(1, 6, 11)  # many ties
    brute = np.mean([np.sign(a - b) for a, b in itertools.product(x, y)])
    assert cliffs_delta(x, y) == pytest.approx(brute)


# -- paired: Friedman + Wilcoxon -----------------------------------------------------------------------
def test_friedman_sprent_smeeton_and_kendalls_w():
    groups = {"fft": [72, 96, 88, 92, 74, 76, 82], "lora": [120, 120, 132, 120, 101, 96, 112],
              "qlora": [76, 95, 104, 96, 84, 72, 76]}
    fr = _one(compare_strategies(_long(groups, paired=True), family="strategy@x"), "friedman")
    assert fr.statistic == pytest.approx(10.5714, abs=1e-4)
    assert fr.p == pytest.approx(0.0050634, abs=1e-6)
    # Kendall's W from its definition: 12 S / (m² (k³ − k)), m raters (clauses), k objects (strategies)
    ranks = stats.rankdata(np.array(list(groups.values())).T, axis=1)
    s = np.sum((ranks.sum(0) - ranks.sum() / 3) ** 2)
    assert fr.effect == pytest.approx(12 * s / (7**2 * (3**3 - 3)))
    assert fr.effect == pytest.approx(10.5714 / 14, abs=1e-4)


def test_kendalls_w_with_ties_matches_tie_corrected_definition():
    table = np.array([[1, 2, 2, 4], [3, 3, 1, 2], [1, 2, 3, 4], [2, 1, 1, 1], [4, 3, 2, 1], [1, 1, 2, 2]],
                     dtype=float)
    m, k = table.shape
    chi2 = stats.friedmanchisquare(*table.T).statistic
    ranks = stats.rankdata(table, axis=1)
    s = np.sum((ranks.sum(0) - m * (k + 1) / 2) ** 2)
    ties = sum(np.sum(c**3 - c) for row in table for c in [np.unique(row, return_counts=True)[1]])
    assert kendalls_w(chi2, m, k) == pytest.approx(12 * s / (m**2 * (k**3 - k) - m * ties))


def test_wilcoxon_fisher_example_with_rank_biserial():
    d = [6, 8, 14, 16, 23, 24, 28, 29, 41, -48, 49, 56, 60, -67, 75]
    groups = {"fft": d, "lora": [0] * len(d)}
    results = compare_strategies(_long(groups, paired=True), family="strategy@1.5M", where=" at 1.5M")
    w = _one(results, "wilcoxon")
    assert w.statistic == 24 and w.p == pytest.approx(0.041259765625)
    assert w.p_adj == pytest.approx(w.p)  # one pair: Holm changes nothing
    assert w.effect == pytest.approx((96 - 24) / 120)  # T+ = 120 − 24
    assert w.sentence.startswith("FFT is more focused than LoRA at 1.5M: median Gini")
    assert "Wilcoxon p = 0.041 (Holm)" in w.sentence and "r = 0.60" in w.sentence and "n = 15" in w.sentence


def test_rank_biserial_drops_zero_differences():
    # non-zero d = [1, -2, 3, 3] -> |d| ranks [1, 2, 3.5, 3.5]: T+ = 8, T- = 2
    assert rank_biserial_paired([1, 2, 1, 5, 6], [1, 1, 3, 2, 3]) == pytest.approx(0.6)
    assert rank_biserial_paired([1, 2], [1, 2]) == 0.0


# -- ordered alternatives --------------------------------------------------------------------------------
ICU = [[7, 1, 2, 6, 11, 8], [4, 7, 16, 11, 21], [20, 25, 13, 9, 14, 11]]


def test_jonckheere_bewick_icu_example():
    res = jonckheere_terpstra(ICU, "increasing", method="asymptotic")
    assert res.statistic == 77  # 23 + 34.5 + 19.5
    assert round(res.pvalue, 3) == 0.005
    assert res.z == pytest.approx(2.56, abs=0.01)  # 2.55 without the tie correction
    perm = jonckheere_terpstra(ICU, "increasing", method="permutation", n_resamples=20000, seed=1)
    assert perm.pvalue == pytest.approx(res.pvalue, abs=0.002)
    assert jonckheere_terpstra(ICU, "decreasing", method="asymptotic").pvalue == pytest.approx(1 - res.pvalue)
    assert jonckheere_terpstra(ICU, "two-sided", method="asymptotic").pvalue == pytest.approx(2 * res.pvalue)


def test_jonckheere_without_ties_uses_classic_variance():
    groups = [[106, 114, 116, 127, 145], [110, 125, 143, 148, 151], [136, 139, 149, 160, 174]]  # Sachs 1997
    res = jonckheere_terpstra(groups, "increasing", method="asymptotic")
    brute = sum(np.sum(np.less.outer(a, b)) for a, b in itertools.combinations(map(np.array, groups), 2))
    n, sizes = 15, np.array([5, 5, 5])
    var = (n**2 * (2 * n + 3) - np.sum(sizes**2 * (2 * sizes + 3))) / 72
    assert res.statistic == brute
    assert res.z == pytest.approx((brute - (n**2 - np.sum(sizes**2)) / 4) / math.sqrt(var))


def test_jonckheere_small_n_with_ties_is_exact():
    # values {1, 2, 2, 3} split 2 + 2: J over the 6 splits is 3.5, 3.5, 2, 2, 0.5, 0.5 -> P(J >= 3.5) = 2/6
    res = jonckheere_terpstra([[1, 2], [2, 3]], "increasing")  # auto -> permutation for n_i < 5
    assert res.method == "permutation" and res.statistic == 3.5
    assert res.pvalue == pytest.approx(1 / 3)


def test_page_scipy_example_two_sided_and_mean_rho():
    table = np.array([[3, 4, 3], [2, 2, 4], [3, 3, 5], [1, 3, 2], [2, 3, 2], [2, 4, 5], [1, 2, 4], [3, 4, 4],
                      [2, 4, 5], [1, 3, 4]])
    res = page_trend_two_sided(table)
    assert res.statistic == 133.5 and res.pvalue == pytest.approx(2 * 0.0018191161948127822)
    rng = np.random.default_rng(5)
    noisy = rng.normal(size=(9, 4)) + 0.3 * np.arange(4)
    rows = np.mean([stats.spearmanr(np.arange(4), r).statistic for r in noisy])
    assert page_mean_rho(page_trend_two_sided(noisy).statistic, 9, 4) == pytest.approx(rows)


def test_spearman_cluster_bootstrap_matches_fisher_z_for_independent_data():
    rng = np.random.default_rng(1)
    x = np.log10([1e6, 4e6, 2e7, 1e8])
    table = 0.3 * np.arange(4)[None, :] + rng.normal(size=(150, 4))
    rho, lo, hi = spearman_cluster_bootstrap(table, x, n_boot=2000, seed=0)
    assert rho == pytest.approx(stats.spearmanr(np.tile(x, 150), table.ravel()).statistic)
    se = math.sqrt(1.06 / (600 - 3))  # Fieller, Hartley & Pearson (1957)
    assert lo == pytest.approx(math.tanh(math.atanh(rho) - 1.96 * se), abs=0.03)
    assert hi == pytest.approx(math.tanh(math.atanh(rho) + 1.96 * se), abs=0.03)
    assert spearman_cluster_bootstrap(table, x, 2000, 0) == (rho, lo, hi)  # seeded


# -- patterns and agreement --------------------------------------------------------------------------------
def test_profile_permutation_exact_small_case():
    a, b = np.array([[1.0, 0.0], [1.0, 0.0]]), np.array([[0.0, 1.0], [0.0, 1.0]])
    # swaps: none or both keep JS = 1; one swap gives equal means (JS = 0) -> p = 2/4
    dist, p, exact = profile_permutation_test(a, b, n_permutations=999)
    assert (dist, p, exact) == (pytest.approx(1.0), pytest.approx(0.5), True)
    same = np.full((3, 2), 0.5)
    assert profile_permutation_test(same, same, 999)[1] == 1.0


def _attribution(cell: str, clause: str, scores: list[float]) -> Attribution:
    text = " ".join(f"w{i}" for i in range(len(scores)))
    units = [Unit(text=f"w{i}", start=3 * i, end=3 * i + 2) for i in range(len(scores))]
    return Attribution(cell_id=cell, clause_id=clause, clause_text=text, units=units, scores=scores,
                       method="loo", target="logprob", perturbation="delete")


def test_ranking_agreement_scipy_kendalltau_example():
    x1, x2 = [12, 2, 1, 12, 2], [1, 4, 7, 1, 0]
    cells = {"fft": {0: [_attribution("a", f"c{i}", x1) for i in range(3)]},
             "lora": {0: [_attribution("b", f"c{i}", [-v for v in x2]) for i in range(3)]}}  # |.| used
    res = ranking_agreement(cells, family="agreement@x")[0]
    assert res.statistic == pytest.approx(-0.47140452079103173)
    assert (res.ci_low, res.ci_high) == (pytest.approx(res.statistic), pytest.approx(res.statistic))
    assert res.n == 3


def test_focus_metrics_reference_values():
    uniform = focus_metrics([1, 1, 1, 1], top_k=3)
    assert (uniform.entropy, uniform.gini, uniform.top_k_mass, uniform.effective_units) == pytest.approx(
        (1.0, 0.0, 0.75, 4.0))
    one_hot = focus_metrics([0, -5, 0, 0], top_k=2)  # sign ignored
    assert (one_hot.entropy, one_hot.gini, one_hot.top_k_mass, one_hot.effective_units) == pytest.approx(
        (0.0, 1.0, 1.0, 1.0))
    # [.5, .25, .25]: H = 1.5 bits -> 1.5 / log2(3); exp(H nats) = 2^1.5
    f = focus_metrics([2, -1, 1], top_k=1)
    assert f.entropy == pytest.approx(1.5 / math.log2(3)) and f.effective_units == pytest.approx(2**1.5)
    assert f.top_k_mass == pytest.approx(0.5)
    # Gini of 1..5 from the mean absolute difference: sum|xi - xj| / (2 n² mean) = 40 / 150, times n/(n-1)
    assert focus_metrics([1, 2, 3, 4, 5]).gini == pytest.approx(40 / 150 * 5 / 4)
    zero = focus_metrics([0.0, 0.0])
    assert all(math.isnan(v) for v in (zero.entropy, zero.gini, zero.top_k_mass, zero.effective_units))
    single = focus_metrics([3.0])
    assert math.isnan(single.gini) and single.top_k_mass == 1.0
    with pytest.raises(ValueError, match="NaN or infinite"):
        focus_metrics([1.0, float("nan")])
