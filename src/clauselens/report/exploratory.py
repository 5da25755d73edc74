"""Exploratory results (collapsed, sorted by adjusted p) and the separate page of every test.

The exploratory tests are corrected together by Benjamini–Hochberg (the false discovery rate, not the
family-wise error) and each sentence says "Exploratory"; they are folded away under the answers so that
they read as leads, not findings. The full table of every test goes to `statistics.html`, which keeps the
main page short.
"""

from __future__ import annotations

from pathlib import Path

from clauselens.report.html import Section, esc, not_run, page
from clauselens.report.run_data import RunData
from clauselens.report.statistics import KEY, significant, statistics_section, tests_table
from clauselens.store import atomic_write
from clauselens.tables import TESTS

STATISTICS_PAGE = "statistics.html"
SHOWN = 100  # exploratory rows on the main page; all of them are on the statistics page


def exploratory_section(data: RunData, alpha: float) -> Section:
    why = data.not_run(TESTS, (*KEY, "p", "role"))
    if why:
        return Section("exploratory", "Exploratory results", not_run(why))
    tests = data.table(TESTS)
    rows = tests[(tests["role"] == "exploratory") & tests["p"].notna()]
    rows = rows.assign(_q=rows["p_adj"].fillna(rows["p"])).sort_values(["_q", *KEY], kind="stable")
    rows = rows.drop(columns="_q").reset_index(drop=True)
    n_sig = sum(significant(r, alpha) for r in rows.to_dict("records"))
    shown = f"the {SHOWN} with the smallest adjusted p" if len(rows) > SHOWN else "all"
    body = (
        f"<p>{len(rows)} exploratory tests, corrected together by Benjamini–Hochberg (false discovery rate "
        f"α = {alpha}); a pairwise test counts only where its omnibus test rejected. {n_sig} pass. These "
        f'are leads for a new study, not findings. Every test: <a href="{STATISTICS_PAGE}">'
        f"{STATISTICS_PAGE}</a>.</p><details><summary>Exploratory tests, by adjusted p ({shown})</summary>"
        + tests_table(rows.head(SHOWN), alpha, "Exploratory tests (table tests, role = exploratory)")
        + "</details>"
    )
    return Section("exploratory", "Exploratory results", body)


def write_statistics_page(out: Path, data: RunData, title: str, alpha: float) -> Path:
    """`<out>/statistics.html`: every test row with its sentence."""
    section = statistics_section(data, alpha)
    html = page(f"{title}: statistics", f'<a href="index.html">back to the report</a> · {esc(title)}',
                [section])
    path = out / STATISTICS_PAGE
    with atomic_write(path) as fh:
        fh.write(html)
    return path
