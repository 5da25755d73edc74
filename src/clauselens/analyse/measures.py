"""Per-clause measures of one attribution: how it splits across categories, and how focused it is.

Everything is computed on *absolute* attributions normalised to sum to one (`p_i = |s_i| / sum |s|`):
a unit that changes the output a lot matters whether it raises or lowers the target. A clause whose
attribution is zero everywhere has no distribution; its measures are NaN and the tests leave it out.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from scipy.stats import entropy as shannon_entropy

from clauselens.records import Attribution


def attribution_distribution(scores: Sequence[float]) -> np.ndarray | None:
    """|scores| normalised to sum to one; None when every score is zero."""
    a = np.abs(np.asarray(scores, dtype=float))
    if a.ndim != 1:
        raise ValueError(f"scores must be a flat list of numbers, got shape {a.shape}")
    if not np.all(np.isfinite(a)):
        raise ValueError("scores contain NaN or infinite values")
    total = a.sum()
    return None if total == 0 else a / total


@dataclass(frozen=True)
class FocusMetrics:
    """How concentrated one clause's attribution is.

    - entropy: Shannon entropy of p divided by log(n); 0 = all on one unit, 1 = uniform (lower = focused).
    - gini: Gini coefficient of p with the small-sample factor n/(n-1), so that all mass on one unit
      gives 1 whatever the clause length and uniform gives 0 (higher = focused).
    - top_k_mass: the share of the k largest units (higher = focused; k/n for a uniform clause).
    - effective_units: exp(entropy in nats), the Hill number of order 1 (perplexity): the number of
      equally important units that would have the same entropy (lower = focused). It counts units, so
      it grows with clause length; the inverse participation ratio 1/sum(p^2) is the order-2 analogue
      and is not used.
    Entropy and Gini are NaN for one-unit clauses; everything is NaN for an all-zero attribution.
    """

    entropy: float
    gini: float
    top_k_mass: float
    effective_units: float
    n_units: int

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


# +1: a higher value means a more focused attribution; -1: a lower value does.
FOCUS_DIRECTION: dict[str, int] = {"entropy": -1, "gini": 1, "top_k_mass": 1, "effective_units": -1}


def focus_metrics(scores: Sequence[float], top_k: int = 3) -> FocusMetrics:
    """Focus of one clause's attribution (see `FocusMetrics` for the definitions)."""
    if top_k < 1:
        raise ValueError(f"top_k must be at least 1, got {top_k}")
    p = attribution_distribution(scores)
    n = len(scores)
    if p is None:
        return FocusMetrics(math.nan, math.nan, math.nan, math.nan, n)
    h = float(shannon_entropy(p))  # nats; zero-probability units contribute nothing
    top = float(np.sort(p)[::-1][:top_k].sum())
    if n < 2:
        return FocusMetrics(math.nan, math.nan, top, math.exp(h), n)
    x = np.sort(p)
    ranks = np.arange(1, n + 1)
    gini = float(np.sum((2 * ranks - n - 1) * x) / (n * x.sum())) * n / (n - 1)
    return FocusMetrics(h / math.log(n), gini, top, math.exp(h), n)


def category_shares(
    attribution: Attribution, categories: Sequence[str], category_names: Sequence[str]
) -> list[dict[str, Any]]:
    """One row per category: share of absolute attribution, per-unit share, and unit count.

    `categories` gives each unit's category (from `categorise`); `category_names` lists every category
    to report, so a category absent from the clause still gets a row (share 0, n_units 0).
    `share_per_unit` divides each category's share by its unit count and renormalises over the
    categories present, so that it sums to one and a category wins only if its *average* unit carries
    more attribution, not because it has more units. It is NaN for absent categories.
    """
    if len(categories) != len(attribution.units):
        raise ValueError(f"{attribution.cell_id} / {attribution.clause_id}: {len(categories)} categories for "
                         f"{len(attribution.units)} units")
    unknown = set(categories) - set(category_names)
    if unknown:
        raise ValueError(f"categories {sorted(unknown)} are not in the reported category list")
    p = attribution_distribution(attribution.scores)
    cats = np.asarray(categories, dtype=object)
    counts = {c: int(np.sum(cats == c)) for c in category_names}
    shares = {c: (math.nan if p is None else float(p[cats == c].sum())) for c in category_names}
    mean_share = {c: shares[c] / counts[c] for c in category_names if counts[c]}
    total = sum(mean_share.values())
    rows = []
    for c in category_names:
        per_unit = mean_share[c] / total if c in mean_share and total > 0 else math.nan
        rows.append({"cell_id": attribution.cell_id, "clause_id": attribution.clause_id, "category": c,
                     "share": shares[c], "share_per_unit": per_unit, "n_units": counts[c]})
    return rows
