"""Quality: each metric by size and strategy with its 95% CI, and the plateau finding marked."""

from __future__ import annotations

import re

import pandas as pd

from clauselens.config import ExperimentConfig
from clauselens.labels import format_params
from clauselens.report.figures import FigureWriter, StepMark, quality_figure
from clauselens.report.html import Section, Trace, esc, frame_table, is_missing, not_run, num, table
from clauselens.report.run_data import RunData
from clauselens.report.statistics import adjusted_p, tests_table
from clauselens.tables import SCORE_SUMMARY, TESTS

SUMMARY_COLUMNS = ("metric", "subset", "mean", "ci_low", "ci_high")


def ordered_metrics(present: set[str], preferred: list[str]) -> list[str]:
    return [m for m in preferred if m in present] + sorted(present - set(preferred))


def plateau_rows(data: RunData) -> pd.DataFrame:
    tests = data.table(TESTS)
    if data.not_run(TESTS, ("family", "test", "metric", "groups")):
        return pd.DataFrame()
    return tests[tests["family"].astype(str).str.startswith(("plateau", "rq3:"))]


def step_marks(plateau: pd.DataFrame, data: RunData, alpha: float) -> list[StepMark]:
    """Size steps named in plateau rows (`groups` like "small vs large"); rows that name no two sizes are
    listed in the table only."""
    cells = data.cells()
    params = {
        **{format_params(p): p for p in cells["params"]},  # the analyse stage's labels ("6M")
        **dict(zip(cells["size"], cells["params"], strict=True)),
        **dict(zip(cells["model"], cells["params"], strict=True)),
    }
    strategies = set(cells["strategy"])
    marks = []
    for row in plateau.to_dict("records"):
        if row.get("test") == "tost":  # the marks show gains; equivalence is in the table
            continue
        names = [n.strip() for n in re.split(r"\s+vs\.?\s+|\s*->\s*|\s*→\s*", str(row["groups"]))]
        sizes = [params[n] for n in names if n in params]
        p = adjusted_p(row)
        if len(sizes) != 2 or is_missing(p):
            continue
        words = set(re.split(r"[:@/\s,]+", f"{row['family']} {row['groups']}"))
        strategy = next((s for s in sorted(strategies) if s in words), None)
        marks.append(StepMark(str(row["metric"]), strategy, float(min(sizes)), float(max(sizes)), p < alpha))
    return marks


def _ci_cell(r: dict) -> str:
    key = {"cell_id": r["cell_id"], "metric": r["metric"], "subset": r["subset"]}
    mean, lo, hi = (num(r[c], Trace(SCORE_SUMMARY.name, key, c)) for c in ("mean", "ci_low", "ci_high"))
    n = f" n={num(r['n'], Trace(SCORE_SUMMARY.name, key, 'n'))}" if "n" in r else ""
    return f'{mean} <span class="ci">[{lo}, {hi}]{n}</span>'


def _pivot(summary: pd.DataFrame, metrics: list[str], cells: pd.DataFrame, caption: str) -> str:
    by_key = {(r["cell_id"], r["metric"]): r for r in summary.to_dict("records")}
    rows = []
    for c in cells.to_dict("records"):
        if not any((c["cell_id"], m) in by_key for m in metrics):
            continue
        rows.append(
            [esc(c["model"]), esc(c["size"]), esc(c["strategy"]), esc(c["seed"])]
            + [_ci_cell(by_key[(c["cell_id"], m)]) if (c["cell_id"], m) in by_key else "–" for m in metrics]
        )
    return table(["model", "size", "strategy", "seed", *map(esc, metrics)], rows, caption)


def quality_section(data: RunData, cfg: ExperimentConfig, figures: FigureWriter) -> Section:
    summary, why = data.cell_rows(SCORE_SUMMARY, SUMMARY_COLUMNS)
    if why:
        return Section("quality", "Quality", not_run(why))
    overall = summary[summary["subset"] == "all"]
    metrics = ordered_metrics(set(overall["metric"]), cfg.scoring.metrics)
    plateau = plateau_rows(data)
    marks = step_marks(plateau, data, cfg.scoring.alpha)
    parts = []
    if metrics:
        fig = quality_figure(overall, metrics, marks)
        parts.append(
            figures.embed(
                fig,
                "quality",
                "Each quality metric against model size (log scale), one line per strategy",
                "Mean over test clauses per cell with bootstrap 95% CI (band or bars), x = parameters "
                "on a log scale. Above each panel, the plateau test between neighbouring sizes, in the "
                f"strategy's colour: * significant gain, n.s. none (α = {cfg.scoring.alpha}).",
            )
        )
        parts.append(
            _pivot(
                overall, metrics, data.cells(), "Mean [95% CI] over all test clauses (table score_summary)"
            )
        )
    else:
        parts.append(not_run("score_summary has no rows for subset `all`"))
    parts.append("<h3>Plateau</h3>")
    if plateau.empty:
        parts.append(not_run("no `plateau:*` rows in table tests"))
    else:
        parts.append(
            tests_table(
                plateau,
                cfg.scoring.alpha,
                "Plateau tests: does the next size up still bring a significant gain?",
            )
        )
    # by kind here; by document (hundreds of rows) in tables/score_summary.csv
    kinds = summary["subset"].isin(["quantitative", "qualitative"])
    rest = summary[kinds].sort_values(["subset", "metric", "params", "strategy"])
    if not rest.empty:
        cols = [
            c for c in ("cell_id", "metric", "subset", "mean", "ci_low", "ci_high", "n") if c in rest.columns
        ]
        parts.append(
            "<details><summary>By clause kind (by document: tables/score_summary.csv)</summary>"
            + frame_table(rest, SCORE_SUMMARY.name, ["cell_id", "metric", "subset"], cols)
            + "</details>"
        )
    return Section("quality", "Quality", "".join(parts))
