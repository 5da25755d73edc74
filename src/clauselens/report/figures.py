"""The report's figures (matplotlib, object API, no pyplot state), saved as PNG and SVG and embedded.

Colours: Okabe-Ito for lines (safe for the common colour-vision deficiencies), each strategy also has
its own marker and line style so the figures read in grey scale; attribution is drawn by its own
renderer (`clauselens.attribute.render`, one palette for the report and a notebook).
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from clauselens.labels import format_params, strategy_rank
from clauselens.report.html import esc
from clauselens.store import atomic_write

OKABE_ITO = ("#E69F00", "#56B4E9", "#009E73", "#D55E00", "#0072B2", "#CC79A7", "#000000", "#F0E442")
STRATEGY_STYLE = {
    "base": ("#999999", "D", ":"),
    "fft": ("#0072B2", "o", "-"),
    "lora": ("#E69F00", "s", "--"),
    "qlora": ("#009E73", "^", "-."),
}
OTHER_STYLE = ("#CC79A7", "v", "-")
RC = {
    "svg.fonttype": "none",
    "svg.hashsalt": "clauselens",
    "font.size": 10,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "axes.spines.top": False,
    "axes.spines.right": False,
}


def strategy_style(strategy: str) -> tuple[str, str, str]:
    return STRATEGY_STYLE.get(strategy, OTHER_STYLE)


def highlighted(category: str) -> bool:
    """Categories of the paper's scale finding: numerical constraints and rule identifiers."""
    c = category.lower()
    return "numer" in c or "number" in c or "identifier" in c


class FigureWriter:
    """Saves each figure as `<name>.png` and `<name>.svg` and returns a <figure> that links the SVG file
    (not a data URI: inlining every figure made the quick-start page 8 MB)."""

    def __init__(self, out_dir: Path):
        self.out_dir = out_dir
        out_dir.mkdir(parents=True, exist_ok=True)

    def embed(self, fig: Figure, name: str, alt: str, caption: str, small: bool = False) -> str:
        with matplotlib.rc_context(RC):
            svg = io.BytesIO()
            fig.savefig(svg, format="svg", metadata={"Date": None})
            with atomic_write(self.out_dir / f"{name}.svg", "wb") as fh:
                fh.write(svg.getvalue())
            with atomic_write(self.out_dir / f"{name}.png", "wb") as fh:
                fig.savefig(fh, format="png", dpi=110, metadata={"Software": None})
        cls = ' class="small"' if small else ""
        return (
            f'<figure{cls} data-figure="{esc(name)}"><img src="figures/{esc(name)}.svg" '
            f'alt="{esc(alt)}" loading="eager"><figcaption>{caption} '
            f'<a href="figures/{esc(name)}.png">PNG</a> · <a href="figures/{esc(name)}.svg">SVG</a>'
            "</figcaption></figure>"
        )


def _grid(n: int, ncols: int, width: float = 11.0, row_height: float = 3.2) -> tuple[Figure, list]:
    ncols = max(1, min(ncols, n))
    nrows = math.ceil(n / ncols)
    with matplotlib.rc_context(RC):
        fig = Figure(figsize=(width, row_height * nrows + 0.6), layout="constrained")
        axes = fig.subplots(nrows, ncols, squeeze=False).ravel().tolist()
    for ax in axes[n:]:
        ax.set_visible(False)
    return fig, axes[:n]


@dataclass(frozen=True)
class StepMark:
    """A size step of the plateau test: from params_a to params_b, significant gain or not."""

    metric: str
    strategy: str | None
    params_a: float
    params_b: float
    significant: bool


def quality_figure(summary: pd.DataFrame, metrics: Sequence[str], marks: Sequence[StepMark]) -> Figure:
    """Metric vs log parameter count, one line per strategy, 95% CI as band (one seed) or bars."""
    with matplotlib.rc_context(RC):
        fig, axes = _grid(len(metrics), 3)
        for ax, metric in zip(axes, metrics, strict=True):
            m = summary[summary["metric"] == metric]
            strategies = sorted(m["strategy"].unique(), key=strategy_rank)
            for i, strategy in enumerate(strategies):
                colour, marker, line = strategy_style(strategy)
                s = m[m["strategy"] == strategy].sort_values("params")
                per_size = s.groupby("params", as_index=False)["mean"].mean()
                ax.plot(
                    per_size["params"],
                    per_size["mean"],
                    color=colour,
                    marker=marker,
                    linestyle=line,
                    label=strategy,
                )
                yerr = [(s["mean"] - s["ci_low"]).clip(lower=0), (s["ci_high"] - s["mean"]).clip(lower=0)]
                if s.groupby("params").size().max() == 1:
                    ax.fill_between(s["params"], s["ci_low"], s["ci_high"], color=colour, alpha=0.15, lw=0)
                ax.errorbar(
                    s["params"] * (1 + 0.02 * (i - 1)),
                    s["mean"],
                    yerr=yerr,
                    fmt="none",
                    ecolor=colour,
                    capsize=3,
                    lw=1,
                )
            _mark_steps(ax, [k for k in marks if k.metric == metric])
            ax.set_xscale("log")
            ax.set_title(metric)
            ax.set_xlabel("parameters (log scale)")
            ticks = sorted(m["params"].unique())
            ax.set_xticks(ticks, [format_params(t) for t in ticks], minor=False)
            ax.minorticks_off()
        handles, labels = axes[0].get_legend_handles_labels() if axes else ([], [])
        fig.legend(handles, labels, loc="outside lower center", ncols=max(1, len(labels)), fontsize=8)
    return fig


def _mark_steps(ax: Any, marks: list[StepMark]) -> None:
    """Plateau test results in a strip above the curves: one row per strategy, in its colour."""
    if not marks:
        return
    rows = sorted({k.strategy or "" for k in marks}, key=strategy_rank)
    low, high = ax.get_ylim()
    ax.set_ylim(low, high + (high - low) * 0.1 * len(rows))
    for mark in marks:
        ax.annotate(
            "*" if mark.significant else "n.s.",
            (math.sqrt(mark.params_a * mark.params_b), 0.985 - 0.075 * rows.index(mark.strategy or "")),
            xycoords=("data", "axes fraction"),
            ha="center",
            va="top",
            fontsize=12 if mark.significant else 8,
            color=strategy_style(mark.strategy)[0] if mark.strategy else "#000000",
            fontweight="bold" if mark.significant else "normal",
        )


def category_figure(shares: pd.DataFrame) -> Figure:
    """Mean attribution share of each token category vs log params, one panel per strategy."""
    strategies = sorted(shares["strategy"].unique(), key=strategy_rank)
    categories = sorted(shares["category"].unique(), key=lambda c: (not highlighted(c), c))
    mean = shares.groupby(["strategy", "params", "category"], as_index=False)["share"].mean()
    with matplotlib.rc_context(RC):
        fig, axes = _grid(len(strategies), 4, row_height=3.6)
        for ax, strategy in zip(axes, strategies, strict=True):
            s = mean[mean["strategy"] == strategy]
            for i, cat in enumerate(categories):
                c = s[s["category"] == cat].sort_values("params")
                strong = highlighted(cat)
                ax.plot(
                    c["params"],
                    c["share"],
                    color=OKABE_ITO[i % len(OKABE_ITO)],
                    linestyle=("-", "--", ":")[(i // len(OKABE_ITO)) % 3],
                    marker="os^Dv<>p"[i % 8],
                    lw=2.8 if strong else 1.2,
                    alpha=1.0 if strong else 0.75,
                    label=cat,
                )
            ax.set_xscale("log")
            ticks = sorted(s["params"].unique())
            ax.set_xticks(ticks, [format_params(t) for t in ticks])
            ax.minorticks_off()
            ax.set_title(strategy)
            ax.set_xlabel("parameters (log scale)")
        axes[0].set_ylabel("mean share of |attribution|")
        handles, labels = axes[0].get_legend_handles_labels()
        fig.legend(handles, labels, loc="outside lower center", ncols=min(5, len(labels)), fontsize=8)
    return fig


def focus_figure(focus: pd.DataFrame, metrics: Sequence[str]) -> Figure:
    """Per-clause focus metric distributions: box plots grouped by size, one box per strategy."""
    strategies = sorted(focus["strategy"].unique(), key=strategy_rank)
    sizes = sorted(focus["params"].unique())
    width = 0.8 / max(1, len(strategies))
    with matplotlib.rc_context(RC):
        fig, axes = _grid(len(metrics), 2, row_height=3.0)
        for ax, metric in zip(axes, metrics, strict=True):
            m = focus[focus["metric"] == metric]
            for j, strategy in enumerate(strategies):
                colour = strategy_style(strategy)[0]
                data, pos = [], []
                for i, p in enumerate(sizes):
                    v = m[(m["strategy"] == strategy) & (m["params"] == p)]["value"].dropna().to_numpy()
                    if len(v):
                        data.append(v)
                        pos.append(i + (j - (len(strategies) - 1) / 2) * width)
                if data:
                    ax.boxplot(
                        data,
                        positions=pos,
                        widths=width * 0.85,
                        patch_artist=True,
                        manage_ticks=False,
                        boxprops={"facecolor": colour, "alpha": 0.55},
                        medianprops={"color": "#000"},
                        flierprops={"markersize": 3},
                    )
            ax.set_xticks(range(len(sizes)), [format_params(p) for p in sizes])
            ax.set_title(metric)
            ax.set_xlabel("model size")
        handles = [Patch(facecolor=strategy_style(s)[0], alpha=0.55, label=s) for s in strategies]
        fig.legend(handles=handles, loc="outside lower center", ncols=len(handles), fontsize=8)
    return fig


@dataclass(frozen=True)
class Curve:
    curve: str
    strategy: str
    params: float
    x: np.ndarray
    y: np.ndarray
    random: np.ndarray | None


def faithfulness_figure(curves: Sequence[Curve]) -> Figure:
    """Mean deletion/insertion curve per strategy, one panel per (curve, size), random baseline dashed."""
    kinds = sorted({c.curve for c in curves})
    sizes = sorted({c.params for c in curves})
    grid = np.linspace(0, 1, 21)
    with matplotlib.rc_context(RC):
        fig = Figure(figsize=(11, 2.8 * len(kinds) + 0.6), layout="constrained")
        axes = fig.subplots(len(kinds), len(sizes), squeeze=False, sharey="row")
        for r, kind in enumerate(kinds):
            for k, p in enumerate(sizes):
                ax = axes[r][k]
                here = [c for c in curves if c.curve == kind and c.params == p]
                randoms = [np.interp(grid, c.x, c.random) for c in here if c.random is not None]
                for strategy in sorted({c.strategy for c in here}, key=strategy_rank):
                    ys = [np.interp(grid, c.x, c.y) for c in here if c.strategy == strategy]
                    colour, marker, line = strategy_style(strategy)
                    ax.plot(
                        grid,
                        np.mean(ys, axis=0),
                        color=colour,
                        linestyle=line,
                        marker=marker,
                        markevery=5,
                        label=strategy,
                    )
                if randoms:
                    ax.plot(
                        grid,
                        np.mean(randoms, axis=0),
                        color="#555555",
                        linestyle=(0, (4, 3)),
                        label="random order",
                    )
                ax.set_title(f"{kind} · {format_params(p)}", fontsize=9)
                ax.set_xlabel("fraction of units perturbed")
            axes[r][0].set_ylabel("target")
        handles, labels = axes[0][0].get_legend_handles_labels()
        fig.legend(handles, labels, loc="outside lower center", ncols=len(labels), fontsize=8)
    return fig
