"""What every metric function returns: a number and, when it needs explaining, a short reason."""

from __future__ import annotations

from typing import NamedTuple


class MetricValue(NamedTuple):
    """`value` is NaN when the metric does not apply (a clause without fixtures); `detail` says why a
    value is what it is when that is not obvious (a syntax error, a sandbox failure status, truncation)."""

    value: float
    detail: str = ""
