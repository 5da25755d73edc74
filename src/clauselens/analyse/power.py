"""The smallest p-value each test can reach at its sample size.

A rank or permutation test on few clauses has a floor: the exact two-sided Wilcoxon signed-rank test
on 5 non-zero differences cannot go below 2/2⁵ = 0.0625, whatever the data. A test whose floor is at or
above α cannot reject, so its non-significance says nothing about the effect; the stage records the
floor (`min_p`) beside every p and words such a test "underpowered", never "no difference".

Each floor is the p-value of the most extreme data the test can see, computed from the test's own
null distribution (exact where the test is exact; the asymptotic statistic at its maximum otherwise).
Continuous-statistic tests (t-tests, TOST) have no floor above zero: 0.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from scipy import stats


def signed_rank_min_p(n_nonzero: int, two_sided: bool = True) -> float:
    """Exact Wilcoxon signed-rank (or sign, or paired-swap permutation) test: all n differences of one
    sign is one of 2ⁿ equally likely sign patterns (two of them two-sided)."""
    if n_nonzero <= 0:
        return 1.0
    return min(1.0, (2.0 if two_sided else 1.0) / 2.0**n_nonzero)


def paired_permutation_min_p(n: int, n_permutations: int, exact: bool) -> float:
    """The clause-swap permutation test of a symmetric statistic: the identity and the all-swap give the
    same value, so the exact floor is 2/2ⁿ; a sampled test cannot go below 1/(1 + B)."""
    floor = signed_rank_min_p(n, two_sided=True)
    return floor if exact else max(floor, 1.0 / (1 + n_permutations))


def friedman_min_p(n_blocks: int, k: int) -> float:
    """Friedman's χ² is at most n(k − 1) (every block ranks the treatments alike), χ² with k − 1 df."""
    if n_blocks < 1 or k < 2:
        return 1.0
    return float(stats.chi2.sf(n_blocks * (k - 1), k - 1))


def _separated(sizes: Sequence[int]) -> list[np.ndarray]:
    """Groups whose values do not overlap (group i all below group i + 1): the most extreme ranking."""
    bounds = np.cumsum([0, *sizes])
    return [np.arange(bounds[i], bounds[i + 1], dtype=float) for i in range(len(sizes))]


def kruskal_min_p(sizes: Sequence[int]) -> float:
    """Kruskal–Wallis H at perfectly separated groups (its maximum for these sizes), χ² with k − 1 df."""
    if len(sizes) < 2 or min(sizes) < 1:
        return 1.0
    return float(stats.kruskal(*_separated(sizes)).pvalue)


def dunn_min_p(n_i: int, n_j: int, n_total: int) -> float:
    """Dunn's z for groups i and j at their largest mean-rank gap (i takes the lowest ranks, j the highest),
    two-sided normal p."""
    if min(n_i, n_j) < 1:
        return 1.0
    gap = (n_total - (n_j - 1) / 2) - (n_i + 1) / 2
    z = gap / math.sqrt(n_total * (n_total + 1) / 12 * (1 / n_i + 1 / n_j))
    return float(2 * stats.norm.sf(z))


def jonckheere_min_p(sizes: Sequence[int], method: str, n_resamples: int = 9999) -> float:
    """Jonckheere–Terpstra, two-sided: exact permutation floor 2 / (multinomial number of labellings),
    or 1/(1 + B) when sampled; the normal approximation at J's maximum Σ_{i<j} n_i n_j otherwise."""
    n = sum(sizes)
    if method == "permutation":
        labellings = math.factorial(n) / math.prod(math.factorial(s) for s in sizes)
        exact = 2.0 / labellings
        return min(1.0, exact if labellings <= n_resamples else max(exact, 1.0 / (1 + n_resamples)))
    n_i = np.asarray(sizes, float)
    j_max = (n**2 - np.sum(n_i**2)) / 2
    mean = j_max / 2
    var = (n * (n - 1) * (2 * n + 5) - np.sum(n_i * (n_i - 1) * (2 * n_i + 5))) / 72
    return float(min(1.0, 2 * stats.norm.sf((j_max - mean) / math.sqrt(var)))) if var > 0 else 1.0


def page_min_p(n_blocks: int, k: int) -> float:
    """Page's L, two-sided: every block in the predicted order is one of (k!)ⁿ rankings, doubled."""
    if n_blocks < 1 or k < 2:
        return 1.0
    return float(min(1.0, 2.0 * math.exp(-n_blocks * math.lgamma(k + 1))))


def underpowered(min_p: float | None, alpha: float) -> bool:
    """True when the test could not reach α at its n, whatever the data."""
    return min_p is not None and math.isfinite(min_p) and min_p >= alpha
