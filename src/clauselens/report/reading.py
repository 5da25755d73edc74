"""Does each cell's model read the clause? A table per cell, and a warning on results from cells that don't.

A model that writes the same rule whatever the clause has nothing in its input to attribute, so every
attribution, focus and category finding drawn from it describes noise. The evidence per cell comes from
`score_summary` (subset `all`): `clause_dependence` (log-probability gain of the cell's own rule under
its own clause; its 95 % bootstrap interval must exclude 0), `distinct_rules` and `truncated`. A model can
read a clause for what to check and still not for its limits, so `constraint_match` on the quantitative
clauses stands beside them, and a "yes" says so when the model reproduces fewer than half of the limits.
"""

from __future__ import annotations

import pandas as pd

from clauselens.report.html import Section, Trace, esc, is_missing, num, table
from clauselens.report.run_data import RunData
from clauselens.tables import SCORE_SUMMARY

DIAGNOSTICS = ("clause_dependence", "distinct_rules", "truncated")
DISTINCT_BAR = 0.75
LIMITS_BAR = 0.5  # share of the reference's numeric constraints reproduced (`constraint_match`)


def reading_rows(data: RunData) -> pd.DataFrame:
    """One row per cell: the diagnostics' mean and interval, and `reads` (dependence CI above 0)."""
    summary = data.table(SCORE_SUMMARY)
    if data.not_run(SCORE_SUMMARY, ("cell_id", "metric", "subset", "mean", "ci_low", "ci_high")):
        return pd.DataFrame()
    rows = summary[(summary["subset"] == "all") & summary["metric"].isin(DIAGNOSTICS)]
    if rows.empty:
        return pd.DataFrame()
    wide = rows.pivot_table(index="cell_id", columns="metric", values=["mean", "ci_low", "ci_high"],
                            aggfunc="first")
    wide.columns = [f"{metric}_{stat}" for stat, metric in wide.columns]
    wide = wide.reset_index()
    for m in DIAGNOSTICS:
        for stat in ("mean", "ci_low", "ci_high"):
            if f"{m}_{stat}" not in wide.columns:
                wide[f"{m}_{stat}"] = float("nan")
    wide["reads"] = wide["clause_dependence_ci_low"].fillna(float("-inf")) > 0
    limits = summary[(summary["subset"] == "quantitative") & (summary["metric"] == "constraint_match")]
    wide["constraint_match_mean"] = wide["cell_id"].map(dict(zip(limits["cell_id"], limits["mean"],
                                                                 strict=True)))
    return wide


def unread_cells(data: RunData) -> list[str]:
    """Cells whose clause dependence is not clearly above 0 (or was not measured)."""
    rows = reading_rows(data)
    known = set(rows["cell_id"]) if not rows.empty else set()
    cells = data.cells()
    missing = [c for c in cells["cell_id"] if c not in known] if not cells.empty else []
    return sorted(missing + ([] if rows.empty else rows.loc[~rows["reads"], "cell_id"].tolist()))


def reading_section(data: RunData) -> Section:
    rows = reading_rows(data)
    if rows.empty:
        why = "No reading diagnostics in <code>score_summary</code> (run the score stage)."
        return Section("reading", "Does each model read the clause?", f'<p class="not-run">{why}</p>')
    rows = data.with_cells(rows).sort_values(["params", "strategy"])

    def stat(row: dict, metric: str) -> str:
        key = {"cell_id": row["cell_id"], "metric": metric, "subset": "all"}
        trace = Trace(SCORE_SUMMARY.name, key, "mean")
        value = num(row[f"{metric}_mean"], trace)
        low, high = row[f"{metric}_ci_low"], row[f"{metric}_ci_high"]
        if metric == "clause_dependence" and not is_missing(low):
            value += f" [{low:.3f}, {high:.3f}]"
        return value

    body = []
    for row in rows.to_dict("records"):
        verdict = "yes" if row["reads"] else "<strong>no: results from this cell describe noise</strong>"
        distinct = row["distinct_rules_mean"]
        if row["reads"] and not is_missing(distinct) and distinct < DISTINCT_BAR:
            verdict += f" (but fewer than {DISTINCT_BAR:.0%} of clauses get their own rule)"
        limits = row["constraint_match_mean"]
        if row["reads"] and not is_missing(limits) and limits < LIMITS_BAR:
            verdict += (" (but not its limits: it reproduces fewer than half of the clauses' numeric "
                        "constraints)")
        key = {"cell_id": row["cell_id"], "metric": "constraint_match", "subset": "quantitative"}
        limits_cell = num(limits, Trace(SCORE_SUMMARY.name, key, "mean"))
        body.append([esc(row["model"]), esc(row["size"]), esc(row["strategy"]),
                     *(stat(row, m) for m in DIAGNOSTICS), limits_cell, verdict])
    intro = ("<p>A model reads the clause when its own rule is likelier after its own clause than after "
             "other test clauses: <code>clause_dependence</code> (mean log-probability gain per token, 95 % "
             "bootstrap interval) must be above 0. <code>distinct_rules</code> is the share of clauses whose "
             "rule differs from the cell's most common rule; <code>truncated</code> the share cut off by "
             "<code>max_new_tokens</code>; <code>constraint_match</code> the share of the reference rule's "
             "numeric constraints (value, unit, comparator) the rule reproduces, on the quantitative clauses."
             "</p>")
    header = ["model", "size", "strategy", "clause_dependence [95 % CI]", "distinct_rules", "truncated",
              "constraint_match (quantitative)", "reads the clause?"]
    return Section("reading", "Does each model read the clause?", intro + table(header, body))


def with_reading_warning(section: Section, unread: list[str]) -> Section:
    """`section` with a warning naming the cells whose results it shows but whose models ignore the clause."""
    if not unread:
        return section
    note = (f'<p class="not-run">Warning: cell(s) {esc(", ".join(unread))} do not clearly read the clause '
            "(clause_dependence interval not above 0); their attribution results here describe a model that "
            'ignores its input. See <a href="#reading">Does each model read the clause?</a></p>')
    return Section(section.anchor, section.title, note + section.body)
