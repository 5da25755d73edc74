"""One figure per declared question: the data behind each answer, with its uncertainty drawn.

RQ1: the focus metric's mean per strategy and size with a 95% interval over clauses; RQ2: the summed
share of the declared categories against size; RQ3: the quality metric against size with the
equivalence margin drawn as a band around the plateau level. Means ± 1.96 standard errors over clause
values (seeds averaged per clause): a picture of the data, the tests are in the answers' numbers.
"""

from __future__ import annotations

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from clauselens.labels import strategy_rank
from clauselens.report.figures import RC, strategy_style


def _means(values: pd.DataFrame) -> pd.DataFrame:
    """Per strategy and size: mean and 95% half-width over clauses (seeds averaged per clause)."""
    per_clause = values.groupby(["strategy", "params", "clause_id"])["value"].mean().reset_index()
    out = per_clause.groupby(["strategy", "params"])["value"].agg(["mean", "std", "count"]).reset_index()
    out["half"] = 1.96 * out["std"].fillna(0) / np.sqrt(out["count"])
    return out


def lines_figure(values: pd.DataFrame, ylabel: str, title: str,
                 bands: dict[str, tuple[float, float, float]] | None = None) -> Figure:
    """Mean with 95% error bars per strategy against log size. `bands[strategy]` = (from params,
    level, margin): a shaded ±margin band from that size on (the RQ3 equivalence margin)."""
    stats = _means(values)
    with matplotlib.rc_context(RC):
        fig = Figure(figsize=(6.4, 3.6), layout="constrained")
        ax = fig.subplots()
        strategies = sorted(stats["strategy"].unique(), key=strategy_rank)
        for i, strategy in enumerate(strategies):
            colour, marker, line = strategy_style(strategy)
            s = stats[stats["strategy"] == strategy].sort_values("params")
            x = s["params"] * (1 + 0.04 * (i - (len(strategies) - 1) / 2))  # dodge overlapping bars
            ax.errorbar(x, s["mean"], yerr=s["half"], color=colour, marker=marker, ls=line, capsize=3,
                        label=strategy)
            if bands and strategy in bands:
                start, level, margin = bands[strategy]
                end = stats["params"].max()
                ax.fill_between([start, end], level - margin, level + margin, color=colour, alpha=0.15, lw=0)
        ax.set_xscale("log")
        ax.set_xlabel("parameters (log scale)")
        ax.set_ylabel(ylabel)
        ax.set_title(title, fontsize=10)
        ax.legend(fontsize=8)
    return fig
