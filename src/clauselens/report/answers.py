"""The report's first section: the three declared questions, each answered in one sentence.

Each answer is one of supported / not supported / inconclusive / underpowered, read from the
confirmatory rows of `tests` (families `rq1@`, `rq2:`, `rq3:`; Holm over all of them). Every number in
an answer is traced to its store row; the adjusted p-values carry `data-claim="yes"` where the sentence
states a difference, trend or gain on that row's evidence, and `data-claim="no"` where it says none was
shown, so a reader (and `tests/test_report_answers.py`) can check each claim against the store.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pandas as pd

from clauselens.analyse.hypotheses import QUESTIONS, size_metric
from clauselens.analyse.wording import comparison_phrase, metric_label, strategy_label
from clauselens.config import ExperimentConfig
from clauselens.labels import format_params
from clauselens.report.answer_figures import lines_figure
from clauselens.report.figures import FigureWriter
from clauselens.report.html import Section, Trace, esc, is_missing, not_run, num
from clauselens.report.run_data import RunData
from clauselens.tables import CATEGORY_SHARES, FOCUS, SCORES, TESTS, TRAINING, Table

KEY = ("family", "test", "metric", "groups")


def _key(r: dict[str, Any]) -> dict[str, Any]:
    return {k: r[k] for k in KEY}


def _n(r: dict[str, Any], col: str) -> str:
    return num(r[col], Trace(TESTS.name, _key(r), col))


def _p(r: dict[str, Any], claim: bool) -> str:
    """The adjusted p of row `r`, marked as evidence for (claim) or against a finding."""
    span = _n(r, "p_adj")
    return span.replace("<span ", f'<span data-claim="{"yes" if claim else "no"}" ', 1)


def _effect(r: dict[str, Any]) -> str:
    ci = ""
    if not is_missing(r.get("ci_low")) and not is_missing(r.get("ci_high")):
        ci = f" [{_n(r, 'ci_low')}, {_n(r, 'ci_high')}]"
    spread = ""
    if not is_missing(r.get("seed_spread")):
        spread = f", seed-to-seed SD {_n(r, 'seed_spread')}"
    name = str(r.get("effect_name") or "effect").replace("_", " ")
    # every RQ test counts clauses (with seeds too: the runs are in the seed spread)
    return f"{esc(name)} {_n(r, 'effect')}{ci}{spread}, n = {_n(r, 'n')} clauses"


def _none_shown(rows: pd.DataFrame, alpha: float, what: str) -> tuple[str, str]:
    """(verdict, sentence) when no row is significant: underpowered, inconclusive or not supported."""
    records = rows.to_dict("records")
    under = [r for r in records if r.get("verdict") == "underpowered"]
    best = min(records, key=lambda r: (r["p_adj"], r["p"]))  # Holm ties adjusted p's: the raw p breaks them
    if len(under) == len(records):
        r = under[0]
        return "underpowered", (f"Underpowered: {what} cannot be shown at this size of study "
                                f"(n = {_n(r, 'n')}: "
                                f"smallest achievable p = {_n(r, 'min_p')} ≥ α = {alpha}; smallest adjusted "
                                f"p {_p(best, False)}).")
    if under:
        return "inconclusive", (f"Inconclusive: {what} was not shown ({len(under)} of {len(records)} tests "
                                f"underpowered; smallest adjusted p = {_p(best, False)}, α = {alpha}).")
    return "not supported", (f"Not supported: {what} was not shown (smallest Holm-adjusted p = "
                             f"{_p(best, False)} over {len(records)} test(s), α = {alpha}; "
                             f"{_effect(best)}).")


def _ran(tests: pd.DataFrame, prefix: str, test: str | None = None) -> pd.DataFrame:
    rows = tests[tests["family"].astype(str).str.startswith(prefix) & tests["p_adj"].notna()]
    return rows if test is None else rows[rows["test"] == test]


def _answer(rows: pd.DataFrame, alpha: float, what: str, unanswered: str,
            supported: Callable[[dict[str, Any], int], tuple[str, str]]) -> tuple[str, str]:
    """A question's verdict from its tests: not run, not shown, or `supported(the significant test with the
    smallest adjusted p, how many are significant)`."""
    if rows.empty:
        return "not run", unanswered
    sig = rows[rows["verdict"] == "significant"].sort_values(["p_adj", "p"])
    if sig.empty:
        return _none_shown(rows, alpha, what)
    return supported(sig.iloc[0].to_dict(), len(sig))


def answer_rq1(tests: pd.DataFrame, metric: str, alpha: float) -> tuple[str, str]:
    rows = _ran(tests, "rq1@")
    label = metric_label(metric)

    def supported(r: dict[str, Any], n_sig: int) -> tuple[str, str]:
        a, b = (strategy_label(g) for g in str(r["groups"]).split(" vs "))
        where = str(r["family"]).split("@", 1)[1]
        phrase = comparison_phrase(metric, r["effect"] > 0)
        return "supported", (f"Supported: {a} {phrase} {b} at {esc(where)} "
                             f"({label} {_effect(r)}, Holm-adjusted p = {_p(r, True)}); "
                             f"{n_sig} of {len(rows)} comparisons significant.")

    return _answer(rows, alpha, f"a difference in {label} between fine-tuning strategies",
                   f"Not answered: no strategy comparison of {label} could run.", supported)


def answer_rq2(tests: pd.DataFrame, metric: str, alpha: float) -> tuple[str, str]:
    rows = _ran(tests, "rq2:")
    label = metric_label(metric)

    def supported(r: dict[str, Any], n_sig: int) -> tuple[str, str]:
        strategy = strategy_label(str(r["family"]).split(":", 1)[1])
        rising = r["effect"] > 0
        head = "Supported" if rising else "Not supported (the opposite)"
        return ("supported" if rising else "not supported"), (
            f"{head}: {label} {'rises' if rising else 'falls'} with model size for {strategy} ({_effect(r)}, "
            f"Holm-adjusted p = {_p(r, True)}); {n_sig} of {len(rows)} strategies significant.")

    return _answer(rows, alpha, f"a trend in {label} with model size",
                   f"Not answered: no trend in {label} could be tested (two sizes are needed).", supported)


def answer_rq3(tests: pd.DataFrame, metric: str, alpha: float) -> tuple[str, str]:
    rows = tests[tests["family"].astype(str).str.startswith("rq3:") & (tests["test"] == "plateau")]
    label = metric_label(metric)
    if rows.empty:
        return "not run", f"Not answered: no size steps of {label} could be tested."
    parts, verdicts = [], []
    for r in rows.sort_values("family").to_dict("records"):
        strategy = strategy_label(str(r["family"]).split(":", 1)[1])
        verdicts.append(r["verdict"])
        if r["verdict"] == "plateau":
            parts.append(f"plateaus at {esc(format_params(r['effect']))} for {strategy} "
                         f"(larger steps equivalent, largest TOST Holm-adjusted p = {_p(r, True)})")
        elif r["verdict"] == "still improving":
            parts.append(f"is still improving at the largest size for {strategy} (gain Holm-adjusted p = "
                         f"{_p(r, True)})")
        else:
            parts.append(f"shows no plateau for {strategy} (the last step neither gains nor is shown "
                         f"equivalent; gain adjusted p = {_p(r, False)})")
    if "plateau" in verdicts:
        head, verdict = "Supported", "supported"
    elif all(v == "still improving" for v in verdicts):
        head, verdict = "Not supported", "not supported"
    else:
        head, verdict = "Inconclusive", "inconclusive"
    return verdict, f"{head}: {label} {'; '.join(parts)}."


def _values(data: RunData, table: Table, metric: str | list[str], column: str = "metric") -> pd.DataFrame:
    df, why = data.cell_rows(table, (column,))
    if why:
        return pd.DataFrame()
    wanted = [metric] if isinstance(metric, str) else metric
    return df[df[column].isin(wanted)]


def _figures(data: RunData, cfg: ExperimentConfig, tests: pd.DataFrame, figures: FigureWriter) -> list[str]:
    acfg, out = cfg.analysis, []
    focus = _values(data, FOCUS, acfg.focus_metric)
    if not focus.empty:
        fig = lines_figure(focus, metric_label(acfg.focus_metric), "RQ1: focus per strategy and size")
        out.append(figures.embed(fig, "rq1_focus", "Focus metric per strategy and size with 95% intervals",
                                 f"RQ1: mean {esc(metric_label(acfg.focus_metric))} per clause, 95% interval "
                                 "over clauses."))
    shares = _values(data, CATEGORY_SHARES, acfg.size_categories, "category")
    if not shares.empty:
        summed = shares.groupby(["cell_id", "clause_id", "strategy", "params"], as_index=False)["share"].sum()
        fig = lines_figure(summed.rename(columns={"share": "value"}), "summed share",
                           "RQ2: " + metric_label(size_metric(acfg)))
        out.append(figures.embed(fig, "rq2_shares", "Share on the declared categories against model size",
                                 "RQ2: share of attribution on " + esc(", ".join(acfg.size_categories))
                                 + " per clause, 95% interval over clauses."))
    quality = _values(data, SCORES, acfg.quality_metric)
    if not quality.empty:
        bands = {}
        for r in tests[tests["family"].astype(str).str.startswith("rq3:") & (tests["test"] == "plateau")
                       & (tests["verdict"] == "plateau")].to_dict("records"):
            strategy = str(r["family"]).split(":", 1)[1]
            at = quality[(quality["strategy"] == strategy) & (quality["params"] == r["effect"])]
            if not at.empty:
                margin = acfg.margin(acfg.quality_metric)
                bands[strategy] = (float(r["effect"]), float(at["value"].mean()), margin)
        fig = lines_figure(quality, metric_label(acfg.quality_metric), "RQ3: quality against size", bands)
        out.append(figures.embed(fig, "rq3_quality", "Quality against model size with the equivalence margin",
                                 f"RQ3: mean {esc(metric_label(acfg.quality_metric))}, 95% interval over "
                                 f"clauses; shaded: ±{acfg.margin(acfg.quality_metric):g} (the declared "
                                 "equivalence margin) from the plateau size on."))
    return out


def budget_note(data: RunData) -> str:
    """A note when the strategies took different numbers of optimiser steps: RQ1 then compares training
    recipes, not equal budgets, and a reader quoting it should know (empty when the steps agree)."""
    training, why = data.cell_rows(TRAINING, ("steps",))
    if why or training["steps"].isna().any():
        return ""
    steps = training.drop_duplicates(["strategy", "steps"]).sort_values(["strategy", "steps"])
    per_strategy = steps.groupby("strategy")["steps"].agg(lambda s: frozenset(s.astype(int)))
    if per_strategy.nunique() < 2:  # steps that differ only between sizes or seeds do not favour a strategy
        return ""
    parts = []
    for strategy in data.strategies():
        rows = steps[steps["strategy"] == strategy]
        if rows.empty:
            continue
        values = " or ".join(num(r["steps"], Trace(TRAINING.name, {"cell_id": r["cell_id"]}, "steps"))
                             for r in rows.to_dict("records"))
        parts.append(f"{esc(strategy_label(strategy))} {values}")
    return (f'<p class="note" data-note="budget">The strategies were trained for different numbers of '
            f"optimiser steps ({', '.join(parts)}; table training): RQ1 compares them as configured, "
            "not at equal training budgets.</p>")


def answers_section(data: RunData, cfg: ExperimentConfig, figures: FigureWriter) -> Section:
    why = data.not_run(TESTS, (*KEY, "p_adj", "role", "verdict"))
    if why:
        return Section("answers", "Answers", not_run(f"{why}; run the analyse stage"))
    tests = data.table(TESTS)
    acfg = cfg.analysis
    answers = [
        ("RQ1", *answer_rq1(tests, acfg.focus_metric, acfg.alpha)),
        ("RQ2", *answer_rq2(tests, size_metric(acfg), acfg.alpha)),
        ("RQ3", *answer_rq3(tests, acfg.quality_metric, acfg.alpha)),
    ]
    items = "".join(
        f'<li><strong>{q}. {esc(QUESTIONS[q])}</strong><p class="answer" data-question="{q}" '
        f'data-verdict="{esc(verdict)}">{sentence}</p></li>'
        for q, verdict, sentence in answers
    )
    n = int(tests["role"].eq("confirmatory").sum())
    body = (
        f'<ol class="answers">{items}</ol><p class="note">The three questions were declared in the config '
        f"before the analysis ran (table hypotheses); their {n} tests are one family, Holm-corrected at "
        f"α = {acfg.alpha}. Everything else in this report is exploratory. All tests: "
        '<a href="statistics.html">statistics.html</a>.</p>'
        + budget_note(data)
        + "".join(_figures(data, cfg, tests, figures))
    )
    return Section("answers", "Answers", body)
