"""Labels shared by every stage and the report, defined once: the parameter-count label of a model
size and the order strategies are listed in.

Labels are text only: the analyse stage writes `format_params` labels into `tests` (families and
groups), and the report shows the same ones, so one model has one label everywhere.
"""

from __future__ import annotations

import math
from typing import Any, get_args

from clauselens.records import StrategyName

STRATEGY_ORDER: tuple[str, ...] = get_args(StrategyName)  # base, fft, lora, qlora


def strategy_rank(strategy: str) -> int:
    """A strategy's place in `STRATEGY_ORDER`; unknown ones after every known one."""
    return STRATEGY_ORDER.index(strategy) if strategy in STRATEGY_ORDER else len(STRATEGY_ORDER)


def format_params(params: Any) -> str:
    """A parameter count as a short scale label: 494_000_000 -> "0.49B", 1_500_000 -> "1.5M", 124e6 -> "124M".

    A unit is used from 0.45 of it up, so that a "0.5B" model reads as 0.49B rather than 494M; unknown
    (None, NaN, missing) or non-positive counts are "?"."""
    try:
        p = float(params)
    except (TypeError, ValueError):
        return "?"
    if not p or p <= 0 or not math.isfinite(p):
        return "?"
    for threshold, suffix in ((4.5e8, "B"), (4.5e5, "M"), (4.5e2, "K")):
        if p >= threshold:
            value = p / {"B": 1e9, "M": 1e6, "K": 1e3}[suffix]
            text = f"{value:.2g}" if value < 10 else f"{value:.0f}"
            return text + suffix
    return str(int(p))
