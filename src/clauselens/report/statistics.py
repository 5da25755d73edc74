"""Statistics (every test row with its sentence) and Findings (only what a test supports).

A finding is a `tests` row whose corrected p (raw p where no correction was stored) is below alpha;
each is stated with the test behind it and links to its row. A (family, metric) with no such row is
stated as "no significant difference", with its smallest p, so an absent effect is visible too.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from clauselens.report.html import Section, Trace, cell_value, esc, is_missing, not_run, num, text
from clauselens.report.run_data import RunData
from clauselens.tables import TESTS

KEY = ("family", "test", "metric", "groups")
COLUMNS = (
    "family",
    "metric",
    "groups",
    "test",
    "statistic",
    "p",
    "p_adj",
    "correction",
    "effect_name",
    "effect",
    "n",
)


def adjusted_p(row: dict[str, Any]) -> float | None:
    """The corrected p where a correction was applied, else the raw p."""
    p = row.get("p_adj")
    return row.get("p") if is_missing(p) else p


def significant(row: dict[str, Any], alpha: float) -> bool:
    p = adjusted_p(row)
    return not is_missing(p) and p < alpha


def sorted_tests(data: RunData) -> pd.DataFrame:
    return data.table(TESTS).sort_values(list(KEY), kind="stable").reset_index(drop=True)


def _key(r: dict[str, Any]) -> dict[str, Any]:
    return {k: r[k] for k in KEY}


def sentence(r: dict[str, Any]) -> str:
    """The row's own sentence; a generated one naming the test where the row has none."""
    if isinstance(r.get("sentence"), str) and r["sentence"].strip():
        return text(r["sentence"], Trace(TESTS.name, _key(r), "sentence"))
    stat = num(r.get("statistic"), Trace(TESTS.name, _key(r), "statistic"))
    return f"{esc(r['family'])} · {esc(r['metric'])}: {esc(r['groups'])} ({esc(r['test'])}, statistic {stat})"


def tests_table(tests: pd.DataFrame, alpha: float, caption: str, anchors: bool = False) -> str:
    """One body per test: its numbers on the first line, its sentence across the table below them."""
    cols = [c for c in COLUMNS if c in tests.columns]
    bodies = []
    for i, r in zip(tests.index, tests.to_dict("records"), strict=True):
        cells = "".join(f"<td>{cell_value(r[c], Trace(TESTS.name, _key(r), c))}</td>" for c in cols)
        sig = significant(r, alpha)
        mark = ' <span class="sig">significant</span>' if sig else ""
        anchor = f' id="test-{i}"' if anchors else ""
        bodies.append(
            f'<tbody{anchor}><tr>{cells}</tr><tr class="sentence{" significant" if sig else ""}">'
            f'<td colspan="{len(cols)}">{sentence(r)}{mark}</td></tr></tbody>'
        )
    head = "".join(f'<th scope="col">{esc(c)}</th>' for c in cols)
    return (
        f'<div class="scroll"><table class="tests"><caption>{caption}</caption>'
        f"<thead><tr>{head}</tr></thead>{''.join(bodies)}</table></div>"
    )


def statistics_section(data: RunData, alpha: float) -> Section:
    why = data.not_run(TESTS, KEY)
    if why:
        return Section("statistics", "Statistics", not_run(why))
    tests = sorted_tests(data)
    total = num(len(tests), Trace(TESTS.name, {}, "family", "count"))
    body = (
        f"<p>{total} test(s); significant means corrected p &lt; α = {alpha} (raw p where the row "
        "stores no correction).</p>" + tests_table(tests, alpha, "Every statistical test (table tests)", True)
    )
    return Section("statistics", "Statistics", body)


def _finding(i: int, r: dict[str, Any]) -> str:
    corrected = not is_missing(r.get("p_adj"))
    col = "p_adj" if corrected else "p"
    how = "uncorrected"
    if corrected:
        how = f"corrected, {esc(r['correction'])}" if not is_missing(r.get("correction")) else "corrected"
    return (
        f'<li class="sig-finding">{sentence(r)} <span class="ns">— {esc(r["test"])}, '
        f"{col} = {num(r[col], Trace(TESTS.name, _key(r), col))} ({how}), "
        f'<a href="#test-{i}">test row</a></span></li>'
    )


def _no_difference(family: str, metric: str, g: pd.DataFrame, alpha: float) -> str:
    col = "p_adj" if "p_adj" in g.columns and g["p_adj"].notna().any() else "p"
    smallest = num(g[col].min(), Trace(TESTS.name, {"family": family, "metric": metric}, col, "min"))
    names = ", ".join(sorted({esc(t) for t in g["test"]}))
    return (
        f'<li class="ns-finding"><strong>No significant difference</strong>: {esc(family)}, '
        f"{esc(metric)} ({len(g)} test(s): {names}; smallest {col} = {smallest}, α = {alpha}; "
        f'<a href="#test-{g.index[0]}">test rows</a>).</li>'
    )


def findings_section(data: RunData, alpha: float) -> Section:
    why = data.not_run(TESTS, (*KEY, "p"))
    if why:
        return Section("findings", "Findings", not_run(why))
    tests = sorted_tests(data)
    items = []
    for (family, metric), g in tests.groupby(["family", "metric"], sort=True):
        sig = [(i, r) for i, r in zip(g.index, g.to_dict("records"), strict=True) if significant(r, alpha)]
        items += [_finding(i, r) for i, r in sig] or [_no_difference(family, metric, g, alpha)]
    n_sig = sum(significant(r, alpha) for r in tests.to_dict("records"))
    total = num(len(tests), Trace(TESTS.name, {}, "family", "count"))
    body = (
        f"<p>{n_sig} of {total} tests significant at α = {alpha}. Each finding below is the sentence of "
        f'the test that supports it.</p><ul class="findings">{"".join(items)}</ul>'
    )
    return Section("findings", "Findings", body)
