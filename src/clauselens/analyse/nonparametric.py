"""Statistical building blocks: effect sizes, Dunn's z, Jonckheere–Terpstra, Page's L (two-sided), the
paired permutation test on category profiles, and a clause-level bootstrap for Spearman's rho.

scipy.stats does the standard tests; this module adds what scipy lacks, each checked against published
values in tests/test_analyse_stats.py. Functions take plain arrays and return numbers, so that the
family-level code (`comparisons`, `trends`) only decides *what* to test.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from scipy import stats
from scipy.spatial.distance import jensenshannon

Alternative = Literal["two-sided", "increasing", "decreasing"]


def holm(pvalues: Sequence[float]) -> list[float]:
    """Holm (1979) step-down adjusted p-values; NaN entries are left out and stay NaN.

    p_adj(i) = max_{j <= i} min(1, (m − j + 1) p_(j)) over the sorted p-values. Written out rather than
    taken from statsmodels' `multipletests`, whose Holm branch runs a full `gc.collect()` per call
    (0.2 s each in a stage with hundreds of scopes); the tests check the two agree.
    """
    return adjust_present(pvalues, lambda p: np.maximum.accumulate((p.size - np.arange(p.size)) * p))


def adjust_present(pvalues: Sequence[float], step: Callable[[np.ndarray], np.ndarray]) -> list[float]:
    """Apply a multiple-testing `step` to the non-NaN p-values sorted ascending (capped at 1); NaN
    entries are left out of the family and stay NaN."""
    p = np.asarray(pvalues, dtype=float)
    out = np.full(p.shape, np.nan)
    ok = np.flatnonzero(~np.isnan(p))
    if ok.size:
        order = ok[np.argsort(p[ok], kind="stable")]
        out[order] = np.minimum(1.0, step(p[order]))
    return out.tolist()


# -- effect sizes -------------------------------------------------------------------------------------
def epsilon_squared(h: float, n: int) -> float:
    """Kruskal–Wallis effect size epsilon² = H / ((n² − 1) / (n + 1)) = H / (n − 1)
    (Tomczak & Tomczak 2014)."""
    return h / (n - 1)


def kendalls_w(chi2: float, n_blocks: int, k: int) -> float:
    """Kendall's W from Friedman's chi² (scipy's tie-corrected one): W = chi² / (n (k − 1))."""
    return chi2 / (n_blocks * (k - 1))


def cliffs_delta(x: Sequence[float], y: Sequence[float]) -> float:
    """Cliff's delta = P(X > Y) − P(X < Y), from the Mann–Whitney U of x (ties count half)."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    u = stats.mannwhitneyu(x, y, alternative="two-sided").statistic
    return float(2 * u / (len(x) * len(y)) - 1)


def rank_biserial_paired(x: Sequence[float], y: Sequence[float]) -> float:
    """Matched-pairs rank-biserial r = (T+ − T−) / (T+ + T−) on d = x − y, zero differences dropped
    (Kerby 2014); positive when x tends to exceed y. 0 when every difference is zero."""
    d = np.asarray(x, float) - np.asarray(y, float)
    d = d[d != 0]
    if d.size == 0:
        return 0.0
    ranks = stats.rankdata(np.abs(d))
    t_plus, t_minus = ranks[d > 0].sum(), ranks[d < 0].sum()
    return float((t_plus - t_minus) / (t_plus + t_minus))


# -- Dunn -----------------------------------------------------------------------------------------------
def dunn_z(groups: Sequence[Sequence[float]]) -> dict[tuple[int, int], tuple[float, float]]:
    """Dunn's (1964) pairwise z and two-sided unadjusted p, with the tie correction of Glantz (2012).

    z_ij = (mean rank_i − mean rank_j) / sqrt((N(N+1)/12 − sum(t³ − t)/(12(N − 1))) (1/n_i + 1/n_j)),
    ranks over all groups pooled; positive when group i ranks higher.
    """
    arrays = [np.asarray(g, float) for g in groups]
    pooled = np.concatenate(arrays)
    n = pooled.size
    ranks = stats.rankdata(pooled)
    _, ties = np.unique(pooled, return_counts=True)
    variance = n * (n + 1) / 12 - np.sum(ties**3 - ties) / (12 * (n - 1))
    bounds = np.cumsum([0] + [a.size for a in arrays])
    mean_ranks = [ranks[bounds[i]:bounds[i + 1]].mean() for i in range(len(arrays))]
    out = {}
    for i, j in itertools.combinations(range(len(arrays)), 2):
        se = math.sqrt(variance * (1 / arrays[i].size + 1 / arrays[j].size))
        z = (mean_ranks[i] - mean_ranks[j]) / se if se > 0 else 0.0
        out[(i, j)] = (float(z), float(2 * stats.norm.sf(abs(z))))
    return out


# -- ordered alternatives ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class TrendResult:
    statistic: float
    pvalue: float
    z: float | None
    method: str


def _jt_statistic(*groups: np.ndarray, axis: int = -1) -> np.ndarray:
    """J = sum over ordered group pairs i < j of #(x_i < x_j) + 0.5 #(x_i = x_j); vectorised over
    leading axes, as scipy's permutation_test batches resamples."""
    arrays = [np.moveaxis(np.asarray(g, float), axis, -1) for g in groups]
    total = np.zeros(np.broadcast_shapes(*(a.shape[:-1] for a in arrays)))
    for i, j in itertools.combinations(range(len(arrays)), 2):
        a, b = arrays[i][..., :, None], arrays[j][..., None, :]
        total = total + np.sum(a < b, axis=(-2, -1)) + 0.5 * np.sum(a == b, axis=(-2, -1))
    return total


def _tail(z: float, alternative: Alternative) -> float:
    if alternative == "increasing":
        return float(stats.norm.sf(z))
    if alternative == "decreasing":
        return float(stats.norm.cdf(z))
    return float(min(1.0, 2 * stats.norm.sf(abs(z))))


def jonckheere_terpstra(
    groups: Sequence[Sequence[float]],
    alternative: Alternative = "two-sided",
    method: Literal["auto", "asymptotic", "permutation"] = "auto",
    n_resamples: int = 9999,
    seed: int = 0,
) -> TrendResult:
    """Jonckheere–Terpstra test of a monotone trend across groups given in their predicted order.

    asymptotic: normal approximation with the tie-corrected variance of Hollander & Wolfe (1999, eq. 6.19);
    permutation: scipy.stats.permutation_test over group labels (exact when all relabellings fit in
    `n_resamples`); auto: permutation when a group has fewer than 5 values, else asymptotic.
    """
    arrays = [np.asarray(g, float) for g in groups]
    if len(arrays) < 2 or any(a.size == 0 for a in arrays):
        raise ValueError("Jonckheere–Terpstra needs at least two non-empty groups")
    j = float(_jt_statistic(*arrays))
    if method == "auto":
        method = "permutation" if min(a.size for a in arrays) < 5 else "asymptotic"
    if method == "permutation":
        alt = {"increasing": "greater", "decreasing": "less", "two-sided": "two-sided"}[alternative]
        res = stats.permutation_test(arrays, _jt_statistic, permutation_type="independent", alternative=alt,
                                     n_resamples=n_resamples, vectorized=True,
                                     rng=np.random.default_rng(seed))
        return TrendResult(j, float(res.pvalue), None, "permutation")
    n_i = np.array([a.size for a in arrays], float)
    n = n_i.sum()
    _, t = np.unique(np.concatenate(arrays), return_counts=True)
    t = t.astype(float)
    mean = (n**2 - np.sum(n_i**2)) / 4
    var = ((n * (n - 1) * (2 * n + 5) - np.sum(n_i * (n_i - 1) * (2 * n_i + 5))
            - np.sum(t * (t - 1) * (2 * t + 5))) / 72
           + np.sum(n_i * (n_i - 1) * (n_i - 2)) * np.sum(t * (t - 1) * (t - 2))
           / (36 * n * (n - 1) * (n - 2))
           + np.sum(n_i * (n_i - 1)) * np.sum(t * (t - 1)) / (8 * n * (n - 1)))
    if var <= 0:  # every value tied: no ordering information at all
        return TrendResult(j, 1.0, 0.0, "asymptotic")
    z = (j - mean) / math.sqrt(var)
    return TrendResult(j, _tail(z, alternative), float(z), "asymptotic")


def page_trend_two_sided(table: np.ndarray) -> TrendResult:
    """Page's L test (scipy) for rows = blocks (clauses), columns = treatments in predicted order;
    two-sided as twice the smaller one-sided p-value. The statistic is L for the increasing order."""
    table = np.asarray(table, float)
    up = stats.page_trend_test(table)
    down = stats.page_trend_test(table[:, ::-1])
    return TrendResult(float(up.statistic), float(min(1.0, 2 * min(up.pvalue, down.pvalue))), None, up.method)


def page_mean_rho(l_statistic: float, n_blocks: int, k: int) -> float:
    """The mean within-block Spearman correlation with the predicted order that Page's L implies:
    rho = 12 L / (n k (k² − 1)) − 3 (k + 1) / (k − 1) (Page 1963)."""
    return 12 * l_statistic / (n_blocks * k * (k**2 - 1)) - 3 * (k + 1) / (k - 1)


def spearman_cluster_bootstrap(
    table: np.ndarray, x: Sequence[float], n_boot: int = 1000, seed: int = 0, level: float = 0.95
) -> tuple[float, float, float]:
    """Spearman's rho between x (one value per column) and the values of `table` (rows = clauses), with a
    percentile CI from resampling whole clauses, which keeps a clause's values at every size together
    (they are not independent observations). Returns (rho, ci_low, ci_high)."""
    table = np.asarray(table, float)
    n, k = table.shape
    xs = np.tile(np.asarray(x, float), n)
    rho = float(stats.spearmanr(xs, table.ravel()).statistic)
    rng = np.random.default_rng(seed)
    samples = table[rng.integers(0, n, size=(n_boot, n))].reshape(n_boot, n * k)
    rx = stats.rankdata(xs)
    ry = stats.rankdata(samples, axis=1)
    rx_c = rx - rx.mean()
    ry_c = ry - ry.mean(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        boot = (ry_c @ rx_c) / np.sqrt((ry_c**2).sum(axis=1) * (rx_c**2).sum())
    boot = boot[np.isfinite(boot)]
    if boot.size == 0 or not math.isfinite(rho):
        return rho, math.nan, math.nan
    lo, hi = np.quantile(boot, [(1 - level) / 2, (1 + level) / 2])
    return rho, float(lo), float(hi)


def mean_ci_bootstrap(values: Sequence[float], n_boot: int = 1000, seed: int = 0,
                      level: float = 0.95) -> tuple[float, float]:
    """Percentile bootstrap CI of a mean (used for the mean Kendall tau over clauses)."""
    v = np.asarray(values, float)
    rng = np.random.default_rng(seed)
    means = v[rng.integers(0, v.size, size=(n_boot, v.size))].mean(axis=1)
    lo, hi = np.quantile(means, [(1 - level) / 2, (1 + level) / 2])
    return float(lo), float(hi)


# -- attribution patterns ------------------------------------------------------------------------------------
def profile_permutation_test(
    a: np.ndarray, b: np.ndarray, n_permutations: int = 999, seed: int = 0
) -> tuple[float, float, bool]:
    """Paired permutation test of a difference between two cells' category profiles.

    Rows of `a` and `b` are the same clauses; each row is a distribution over categories. The statistic
    is the Jensen–Shannon distance (base 2, in [0, 1]) between the two cells' mean profiles. Under the
    null hypothesis the two cells are exchangeable within each clause, so the reference distribution
    swaps each clause's pair of rows at random. A per-clause distance would not do: it is unchanged by
    such a swap. All 2^n swaps are enumerated when 2^n <= n_permutations (exact p); otherwise
    p = (1 + #{T* >= T}) / (1 + n_permutations) (Phipson & Smyth 2010).
    Returns (distance, p, exact). A NaN anywhere (a profile with no attribution) or a mean profile that
    is all zero makes the distance undefined: (nan, nan, exact), never p = 0. A permuted statistic that
    is undefined counts as at least as extreme (the conservative choice).
    """
    a, b = np.asarray(a, float), np.asarray(b, float)
    if a.shape != b.shape or a.ndim != 2:
        raise ValueError(f"profiles must be two equal (clauses x categories) arrays, got {a.shape}, "
                         f"{b.shape}")
    n = a.shape[0]
    exact = 2**n <= n_permutations
    if n == 0 or not (np.isfinite(a).all() and np.isfinite(b).all()) or a.mean(0).sum() <= 0 \
            or b.mean(0).sum() <= 0:
        return math.nan, math.nan, exact
    observed = float(jensenshannon(a.mean(0), b.mean(0), base=2))
    if not math.isfinite(observed):
        return math.nan, math.nan, exact
    if exact:
        swaps = np.array(list(itertools.product((0.0, 1.0), repeat=n)))
    else:
        swaps = np.random.default_rng(seed).integers(0, 2, size=(n_permutations, n)).astype(float)
    shift = swaps @ (b - a) / n  # how much each swap moves mean(a) towards mean(b)
    null = jensenshannon(a.mean(0) + shift, b.mean(0) - shift, base=2, axis=1)
    hits = int(np.sum(~(null < observed - 1e-12)))  # NaN counts as a hit
    p = hits / len(swaps) if exact else (1 + hits) / (1 + n_permutations)
    return observed, float(p), exact
