"""Behaviour: what each model relies on (category shares), how focused it is, and how faithful."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pandas as pd

from clauselens.config import ExperimentConfig
from clauselens.report.figures import Curve, FigureWriter, category_figure, faithfulness_figure, focus_figure
from clauselens.report.html import Section, Trace, esc, not_run, num, table
from clauselens.report.run_data import CELL_COLUMNS, RunData
from clauselens.tables import CATEGORY_SHARES, CELLS, FAITHFULNESS, FOCUS

X_KEYS, Y_KEYS, RANDOM_KEYS = ("fraction", "x", "fractions"), ("value", "y", "score", "values"), ("random",)


def _first(d: dict, keys: tuple[str, ...]) -> Any:
    return next((d[k] for k in keys if k in d), None)


def parse_points(raw: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray | None] | None:
    """A faithfulness curve from its `points` JSON: {"fraction": [...], "value": [...], "random": [...]},
    a list of [x, y] pairs, a list of {"fraction", "value"(, "random")} objects, or a list of values at
    evenly spaced fractions. None when the shape is none of these."""
    try:
        pts = json.loads(raw) if isinstance(raw, str) else raw
        random = None
        if isinstance(pts, dict):
            y = np.asarray(_first(pts, Y_KEYS), dtype=float)
            x = _first(pts, X_KEYS)
            x = np.linspace(0, 1, len(y)) if x is None else np.asarray(x, dtype=float)
            r = _first(pts, RANDOM_KEYS)
            random = None if r is None else np.asarray(r, dtype=float)
        elif isinstance(pts, list) and pts and isinstance(pts[0], dict):
            x = np.asarray([_first(p, X_KEYS) for p in pts], dtype=float)
            y = np.asarray([_first(p, Y_KEYS) for p in pts], dtype=float)
            if all(_first(p, RANDOM_KEYS) is not None for p in pts):
                random = np.asarray([_first(p, RANDOM_KEYS) for p in pts], dtype=float)
        elif isinstance(pts, list) and pts and isinstance(pts[0], list | tuple):
            arr = np.asarray(pts, dtype=float)
            x, y = arr[:, 0], arr[:, 1]
            random = arr[:, 2] if arr.shape[1] > 2 else None
        elif isinstance(pts, list) and pts:
            y = np.asarray(pts, dtype=float)
            x = np.linspace(0, 1, len(y))
        else:
            return None
    except (TypeError, ValueError, IndexError):
        return None
    if y.ndim != 1 or len(x) != len(y) or len(y) < 2 or (random is not None and len(random) != len(y)):
        return None
    if x.max() > 1:  # unit counts rather than fractions
        x = x / x.max()
    return x, y, random


def _cell_pivot(
    df: pd.DataFrame, data: RunData, source: str, column_key: str, value: str, agg: str, caption: str
) -> str:
    """Rows = cells, columns = values of `column_key`, each entry `agg` of `value` over clauses."""
    stats = df.groupby(["cell_id", column_key])[value].agg(agg).to_dict()
    cols = sorted(df[column_key].unique())
    rows = []
    for c in data.cells().to_dict("records"):
        if not any((c["cell_id"], k) in stats for k in cols):
            continue
        traced = [
            num(stats[(c["cell_id"], k)], Trace(source, {"cell_id": c["cell_id"], column_key: k}, value, agg))
            if (c["cell_id"], k) in stats
            else "–"
            for k in cols
        ]
        rows.append([esc(c["model"]), esc(c["size"]), esc(c["strategy"]), *traced])
    return table(["model", "size", "strategy", *map(esc, cols)], rows, caption)


def _categories(data: RunData, figures: FigureWriter) -> str:
    shares, why = data.cell_rows(CATEGORY_SHARES, ("clause_id", "category", "share"))
    if why:
        return not_run(why)
    out = [
        figures.embed(
            category_figure(shares),
            "category_shares",
            "Mean attribution share of each token category against model size, per strategy",
            "Share of absolute attribution per token category, averaged over clauses; thick "
            "lines: numerical constraints and rule identifiers, the categories the paper finds "
            "growing with scale.",
        ),
        _cell_pivot(
            shares,
            data,
            "category_shares",
            "category",
            "share",
            "mean",
            "Mean share of |attribution| per category (table category_shares)",
        ),
    ]
    if "share_per_unit" in shares.columns:
        out.append(
            "<details><summary>Share per unit (corrects for category length)</summary>"
            + _cell_pivot(shares, data, "category_shares", "category", "share_per_unit", "mean", "")
            + "</details>"
        )
    return "".join(out)


def _focus(data: RunData, cfg: ExperimentConfig, figures: FigureWriter) -> str:
    focus, why = data.cell_rows(FOCUS, ("clause_id", "metric", "value"))
    if why:
        return not_run(why)
    present = set(focus["metric"])
    preferred = list(cfg.analysis.focus_metrics)
    metrics = [m for m in preferred if m in present] + sorted(present - set(preferred))
    return figures.embed(
        focus_figure(focus, metrics),
        "focus",
        "Box plots of per-clause focus metrics by model size and strategy",
        "Per-clause focus of attribution (box: quartiles, line: median, whiskers: 1.5 IQR).",
    ) + _cell_pivot(
        focus, data, "focus", "metric", "value", "median", "Median focus per cell over clauses (table focus)"
    )


def _faithfulness(data: RunData, figures: FigureWriter) -> str:
    faith, why = data.cell_rows(FAITHFULNESS, ("clause_id", "curve"))
    if why:
        return not_run(why)
    out = []
    curves = []
    if "points" in faith.columns:
        for r in faith.to_dict("records"):
            parsed = parse_points(r["points"])
            if parsed:
                curves.append(Curve(r["curve"], r["strategy"], float(r["params"]), *parsed))
    if curves:
        out.append(
            figures.embed(
                faithfulness_figure(curves),
                "faithfulness",
                "Deletion and insertion curves per size and strategy against a random order",
                "Target as units are removed (deletion) or restored (insertion) in order of "
                "attribution, mean over clauses; dashed: the same for a random order.",
            )
        )
    else:
        out.append(not_run("no readable `points` curves in table faithfulness; numbers below only"))
    cols = [c for c in ("aopc", "random_aopc", "comprehensiveness", "sufficiency") if c in faith.columns]
    stats = faith.groupby(["cell_id", "curve"])[cols].mean()
    counts = faith.groupby(["cell_id", "curve"]).size()
    rows = []
    for c in data.cells().to_dict("records"):
        for curve in sorted(faith["curve"].unique()):
            if (c["cell_id"], curve) not in counts:
                continue
            key = {"cell_id": c["cell_id"], "curve": curve}
            mean = stats.loc[(c["cell_id"], curve)]
            rows.append(
                [esc(c["model"]), esc(c["size"]), esc(c["strategy"]), esc(curve)]
                + [num(mean[k], Trace(FAITHFULNESS.name, key, k, "mean")) for k in cols]
                + [num(int(counts[(c["cell_id"], curve)]),
                       Trace(FAITHFULNESS.name, key, "clause_id", "count"))]
            )
    out.append(
        table(
            ["model", "size", "strategy", "curve", *(f"mean {c}" for c in cols), "clauses"],
            rows,
            "Faithfulness per cell: AOPC of the attribution order vs a random order (table faithfulness)",
        )
    )
    return "".join(out)


def behaviour_section(data: RunData, cfg: ExperimentConfig, figures: FigureWriter) -> Section:
    if data.cells().empty:
        why = data.not_run(CELLS, CELL_COLUMNS) or "no cells"
        return Section("behaviour", "Behaviour", not_run(why))
    body = (
        "<h3>What the models read: token categories</h3>"
        + _categories(data, figures)
        + "<h3>How focused: focus metrics</h3>"
        + _focus(data, cfg, figures)
        + "<h3>How faithful: deletion and insertion</h3>"
        + _faithfulness(data, figures)
    )
    return Section("behaviour", "Behaviour", body)
