"""Test results in three steps: drafted (statistic, raw p, effect), corrected for multiplicity (Holm
within a stated scope), then worded into a `TestResult` with its plain-language sentence.

The sentence needs the corrected p-value, so wording waits until every test of a scope is in.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

from clauselens.analyse.nonparametric import holm
from clauselens.analyse.power import underpowered
from clauselens.analyse.wording import (
    TEST_LABELS,
    comparison_phrase,
    correction_note,
    format_effect,
    format_p,
    join_labels,
    metric_label,
    strategy_label,
    trend_phrase,
)
from clauselens.records import TestResult

Kind = Literal["omnibus", "pair", "trend", "pattern", "agreement", "gain", "equivalence", "note"]


@dataclass
class Draft:
    """One test before correction. `scope` names the set of tests Holm's correction runs over."""

    kind: Kind
    family: str
    test: str
    metric: str
    groups: list[str]
    statistic: float
    p: float
    n: int
    scope: tuple[str, ...]
    where: str = ""  # " at 1.5M" / " for FFT"
    effect_name: str | None = None
    effect: float | None = None
    ci: tuple[float, float] | None = None
    medians: tuple[float, float] | None = None  # pair tests: each group's median
    detail: str = ""  # extra wording, e.g. "79 clauses x 3 sizes"; for notes: the reason
    min_p: float | None = None  # the smallest p the test can reach at its n (`power`)
    seed_spread: float | None = None  # SD of run means between seeds, where seeds were the unit
    role: str = ""  # "confirmatory" (a declared hypothesis) or "exploratory"; set by the stage
    margin: float | None = None  # equivalence tests: the declared margin
    above_floor: bool = True  # equivalence tests: the larger size scores above the metric's floor
    p_adj: float | None = field(default=None, init=False)
    scope_size: int = field(default=1, init=False)
    correction: str = field(default="holm", init=False)  # "holm" or "bh"
    gated_out: bool = field(default=False, init=False)  # a pair whose omnibus test did not reject


def note(family: str, test: str, metric: str, groups: list[str], n: int, what: str, why: str) -> Draft:
    """A "not enough data" record: the test could not run, and the sentence says why."""
    return Draft("note", family, test, metric, groups, math.nan, math.nan, n, (), detail=f"{what}: {why}")


def correct(drafts: Iterable[Draft]) -> list[Draft]:
    """Holm-adjust the p-values of each scope (drafts without a p-value are left alone)."""
    drafts = list(drafts)
    scopes: dict[tuple[str, ...], list[Draft]] = defaultdict(list)
    for d in drafts:
        if d.kind != "note" and math.isfinite(d.p):
            scopes[d.scope].append(d)
    for members in scopes.values():
        for d, p_adj in zip(members, holm([m.p for m in members]), strict=True):
            d.p_adj = p_adj
            d.scope_size = len(members)
    return drafts


def verdict(d: Draft, alpha: float) -> str:
    """significant / not significant / underpowered / not tested / not enough data."""
    if d.kind == "note" or not math.isfinite(d.p):
        return "not enough data"
    if d.gated_out:
        return "not tested (omnibus not significant)"
    p = d.p_adj if d.p_adj is not None else d.p
    if p < alpha and d.kind == "equivalence":
        return "equivalent" if d.above_floor else "at floor"
    if p < alpha:
        return "improves" if d.kind == "gain" else "significant"
    return "underpowered" if underpowered(d.min_p, alpha) else "not significant"


def _prefix(d: Draft, alpha: float) -> str:
    """What a sentence must say before its finding: exploratory, not tested, underpowered."""
    v = verdict(d, alpha)
    head = "Exploratory: " if d.role == "exploratory" else ""
    if v == "not tested (omnibus not significant)":
        return head + "Not tested, its omnibus test did not reject: "
    if v == "underpowered":
        return head + f"Underpowered (n = {d.n}: smallest achievable p = {d.min_p:.4g}): "
    return head


def _sentence(d: Draft, alpha: float, top_k: int) -> str:
    if d.kind == "note":
        return f"Not enough data to {d.detail}."
    return _prefix(d, alpha) + _finding(d, alpha, top_k)


def _finding(d: Draft, alpha: float, top_k: int) -> str:
    label = metric_label(d.metric, top_k)
    p_text = f"{TEST_LABELS.get(d.test, d.test)} {format_p(d.p_adj if d.p_adj is not None else d.p)}"
    p_text += correction_note(d.correction if d.p_adj is not None else None, d.scope_size)
    effect = format_effect(d.effect_name, d.effect, d.ci)
    spread = f"seed-to-seed SD {d.seed_spread:.3g}" if d.seed_spread is not None else ""
    n_text = f"n = {d.n}" + (f" ({d.detail})" if d.detail else "")
    tail = ", ".join(x for x in (p_text, effect, spread, n_text) if x)
    significant = verdict(d, alpha) in ("significant", "improves")
    if verdict(d, alpha) == "underpowered":  # silent about the effect: the test could not have seen it
        return f"{label} of {join_labels(d.groups)}{d.where} cannot be compared at this n: {tail}"
    if d.kind in ("gain", "equivalence"):
        return _step_sentence(d, alpha, label, tail)
    if d.kind == "pair":
        a, b = (strategy_label(g) for g in d.groups)
        medians = f"median {label} {d.medians[0]:.2f} vs {d.medians[1]:.2f}" if d.medians else label
        if significant:
            return f"{a} {comparison_phrase(d.metric, (d.effect or 0) > 0)} {b}{d.where}: {medians}, {tail}"
        return f"No significant difference in {label} between {a} and {b}{d.where}: {medians}, {tail}"
    if d.kind == "omnibus":
        stat = f"{'H' if d.test == 'kruskal' else 'χ²'} = {d.statistic:.2f}"
        if significant:
            return f"{join_labels(d.groups)} differ in {label}{d.where}: {stat}, {tail}"
        return f"No significant difference among {join_labels(d.groups)} in {label}{d.where}: {stat}, {tail}"
    if d.kind == "trend":
        within = "Within clauses, " if d.test == "page" else ""
        if significant and d.effect is not None and d.effect != 0:
            subject = label if within else label[0].upper() + label[1:]
            return f"{within}{subject} {trend_phrase(d.effect)} with model size{d.where}: {tail}"
        return f"No significant trend in {label} with model size{d.where}: {tail}"
    a, b = (strategy_label(g) for g in d.groups)
    if d.kind == "pattern":
        if significant:
            return f"{a} and {b} spread attribution differently across categories{d.where}: {tail}"
        return f"No significant difference between the category profiles of {a} and {b}{d.where}: {tail}"
    if significant:
        how = "rank units alike" if (d.effect or 0) > 0 else "rank units in opposite orders"
        return f"{a} and {b} {how}{d.where}: {tail}"
    return f"No significant agreement between the unit rankings of {a} and {b}{d.where}: {tail}"


def _step_sentence(d: Draft, alpha: float, label: str, tail: str) -> str:
    a, b = d.groups
    label = label[0].upper() + label[1:]
    step = f"from {a} to {b}{d.where}"
    v = verdict(d, alpha)
    if d.kind == "gain":
        if v == "improves":
            return f"{label} improves {step}: {tail}"
        return f"No significant gain in {label.lower()} {step}: {tail}"
    within = f"within ±{d.margin:g}"
    if v == "equivalent":
        return f"{label} {step} is equivalent {within}: {tail}"
    if v == "at floor":
        return (f"{label} {step} changes by less than ±{d.margin:g}, but only at its floor (no plateau "
                f"claimed): {tail}")
    return f"Equivalence {within} not shown for {label.lower()} {step}: {tail}"


def finish(drafts: Iterable[Draft], alpha: float = 0.05, top_k: int = 3) -> list[TestResult]:
    """Corrected drafts as `TestResult` records with their sentences."""
    out = []
    for d in drafts:
        out.append(TestResult(
            family=d.family, test=d.test, metric=d.metric, groups=" vs ".join(d.groups),
            statistic=d.statistic, p=d.p, p_adj=d.p_adj,
            correction=d.correction if d.p_adj is not None else None,
            effect_name=d.effect_name, effect=d.effect, n=d.n, sentence=_sentence(d, alpha, top_k),
            ci_low=d.ci[0] if d.ci else None, ci_high=d.ci[1] if d.ci else None,
            role=d.role or None, verdict=verdict(d, alpha), min_p=d.min_p, seed_spread=d.seed_spread,
        ))
    return out
