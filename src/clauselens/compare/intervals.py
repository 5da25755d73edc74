"""Confidence intervals for the compare stage: percentile bootstrap of a mean over clauses.

Clauses are the unit of replication (every cell sees the same test clauses), so each comparison
reduces to one value per clause and its interval resamples clauses. scipy's `bootstrap` does the
resampling; a fixed seed makes reruns identical.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from scipy import stats

LEVEL = 0.95
MIN_VALUES = 3  # fewer clauses and a bootstrap interval only restates the values seen


def mean_with_ci(values: Sequence[float], *, n_boot: int = 1000, seed: int = 0,
                 level: float = LEVEL) -> tuple[float, float, float]:
    """(mean, ci_low, ci_high) of finite `values`; NaN interval with fewer than `MIN_VALUES` values."""
    v = np.asarray([x for x in values if math.isfinite(x)], dtype=float)
    if v.size == 0:
        return math.nan, math.nan, math.nan
    mean = float(v.mean())
    if v.size < MIN_VALUES:
        return mean, math.nan, math.nan
    if np.all(v == v[0]):  # no spread: every resample has the same mean
        return mean, mean, mean
    res = stats.bootstrap((v,), np.mean, n_resamples=n_boot, confidence_level=level, method="percentile",
                          rng=np.random.default_rng(seed))
    return mean, float(res.confidence_interval.low), float(res.confidence_interval.high)


def format_ci(value: float, low: float, high: float, digits: int = 2) -> str:
    """"0.41 (95% CI 0.30 to 0.52)", or just the value when there is no interval."""
    if not math.isfinite(value):
        return "n/a"
    if not (math.isfinite(low) and math.isfinite(high)):
        return f"{value:.{digits}f} (no interval: fewer than {MIN_VALUES} clauses)"
    return f"{value:.{digits}f} (95% CI {low:.{digits}f} to {high:.{digits}f})"
