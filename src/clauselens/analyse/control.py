"""Error control over the whole analysis: Holm over the declared hypotheses, Benjamini–Hochberg over
everything else, pairwise tests gated by their omnibus test.

Why two procedures. The confirmatory family (`hypotheses`) is small and is what a paper would claim, so
its family-wise error is held at α (Holm). The exploratory tests are hundreds (every metric × size ×
strategy pair): a family-wise bound over them would leave no power, and a scope-by-scope bound lets
false findings through (21 of 60 null studies had one). The false discovery rate over *all* of them
together (Benjamini–Hochberg, 1995) is the usual compromise for screening, and every exploratory
sentence says it is exploratory.

Closed testing for pairs. A pairwise test (Wilcoxon after Friedman, Dunn after Kruskal–Wallis, for
the same family and metric) is only interpreted when its omnibus test rejects after correction. Its
adjusted p is max(omnibus adjusted p, Holm over the pairs of that omnibus), so it can never be
significant when the omnibus is not; pairs whose omnibus did not reject are marked "not tested".
With three groups this is Fisher's protected LSD with a Holm step, which is a closed test.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence

import numpy as np

from clauselens.analyse.nonparametric import adjust_present, holm
from clauselens.analyse.results import Draft

GATES = {"wilcoxon": "friedman", "dunn": "kruskal"}  # pairwise test -> its omnibus test


def benjamini_hochberg(pvalues: Sequence[float]) -> list[float]:
    """Benjamini–Hochberg (1995) step-up adjusted p-values; NaN entries are left out and stay NaN.

    q(i) = min_{j >= i} min(1, m p_(j) / j) over the sorted p-values."""
    def step(p: np.ndarray) -> np.ndarray:
        return np.minimum.accumulate((p * p.size / np.arange(1, p.size + 1))[::-1])[::-1]

    return adjust_present(pvalues, step)


def _testable(d: Draft) -> bool:
    return d.kind != "note" and math.isfinite(d.p)


def control_confirmatory(drafts: Sequence[Draft]) -> None:
    """Holm over every confirmatory test (in place)."""
    members = [d for d in drafts if _testable(d)]
    for d, q in zip(members, holm([d.p for d in members]), strict=True):
        d.p_adj, d.scope_size, d.correction, d.role = q, len(members), "holm", "confirmatory"
    for d in drafts:
        d.role = "confirmatory"


def control_exploratory(drafts: Sequence[Draft], alpha: float) -> None:
    """Benjamini–Hochberg over all exploratory tests, pairs gated by their omnibus test (in place)."""
    for d in drafts:
        d.role = "exploratory"
    testable = [d for d in drafts if _testable(d)]
    omnibus = {(d.family, d.metric, d.test): d for d in testable if d.kind == "omnibus"}
    gated: dict[tuple[str, str, str], list[Draft]] = defaultdict(list)
    pool = []
    for d in testable:
        gate = (d.family, d.metric, GATES.get(d.test, "")) if d.kind == "pair" else None
        if gate in omnibus:
            gated[gate].append(d)
        else:
            pool.append(d)
    for d, q in zip(pool, benjamini_hochberg([d.p for d in pool]), strict=True):
        d.p_adj, d.scope_size, d.correction = q, len(pool), "bh"
    for gate, pairs in gated.items():
        parent = omnibus[gate]
        for d, q in zip(pairs, holm([d.p for d in pairs]), strict=True):
            d.p_adj, d.scope_size, d.correction = max(parent.p_adj, q), len(pool), "bh"
            d.gated_out = parent.p_adj >= alpha
