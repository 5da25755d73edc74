"""Build the open clause -> reference-rule corpus from extracted clauses, deterministically.

Quantitative pairs: every explicit numeric constraint of a clause (`constraints.find_constraints`) must map
to exactly one element kind and property through `keywords.MEASURES` / `keywords.KIND_WORDS`: the measure
word nearest the number (before it preferred) names the property, the nearest kind word among that
measure's kinds names the element, the unit is converted (2m -> 2000 mm). A clause is rejected, with its
reason counted, when a constraint sits inside a condition ("if the flue diameter is no greater than"), a
permission or a scoping relative clause, when no or two equally near readings exist, when one property is
constrained twice, or when it has more than `MAX_CHECKS` constraints. Qualitative pairs come from clauses
without a numeric constraint whose sentences oblige a yes/no property (`keywords.QUALITIES`: "should be
fitted with a self-closing device", "Use risers that are not open"). A paragraph that yields no rule is
retried item by item ("1.15a"). `curation.OVERRIDES` / `curation.REVIEWED_OUT` hold the hand-written and
the rejected readings. Rules and fixtures are written by `rulecode`. Qualitative pairs are capped at 40% of
the corpus, and the split is seeded and fixed.

The clause text is Crown copyright, Open Government Licence v3.0 (see uk-approved-documents/NOTICE.md).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from clauselens.corpus.constraints import Constraint, find_constraints
from clauselens.corpus.curation import OVERRIDES, REVIEWED_OUT
from clauselens.corpus.extract import ATTRIBUTION, Extraction, extract_corpus, list_items
from clauselens.corpus.keywords import KIND_WORDS, MEASURES, QUALITIES, Measure, Quality
from clauselens.corpus.rulecode import Check, fixtures, render_rule
from clauselens.records import Clause, RulePair
from clauselens.store import atomic_write

MAX_CHECKS = 4
MAX_KINDS = 2
MAX_TEXT_CHARS = 900
QUANTITATIVE_SHARE = 0.6
SPLIT_SEED = 0
TEST_FRACTION, VAL_FRACTION = 0.2, 0.1
AFTER_PENALTY = 10  # a word after the number is a weaker reading than one before it
TIE_CHARS = 8  # two readings this close in distance are a tie: ambiguous
CONTEXT_DISTANCE, TITLE_DISTANCE, DEFAULT_DISTANCE = 300, 2000, 3000

WINDOW_BREAK = re.compile(
    r"(?<=[.;:])\s+(?=[A-Z(])|\s(?=(?:[a-z]|[ivx]{1,4})\.\s)|\s(?=\((?:[a-z]|[ivx]{1,4})\)\s)"
)
CONDITION = re.compile(
    r"\b(?:if|where|when|unless|provided that|except|excluding|other than|apart from|"
    r"exceeding|up to|may|can)\b",
    re.IGNORECASE,
)
RELATIVE = re.compile(r"\b(?:that|which|who) (?:is|are|has|have)\b[^,;]{0,30}$", re.IGNORECASE)
REQUIRING = re.compile(r"\b(?:should|must|shall|provide|ensure|use|have|has)\b", re.IGNORECASE)
MEASURE_BEFORE, MEASURE_AFTER = 60, 25  # how far a measure word may sit from its number
NEGATION = re.compile(
    r"\b(?:need not|needs? not|does not need|do not need|not necessary|not required|not needed|"
    r"no need|omit\w*|unless|alternative\w*|instead|except|without|other than)\b",
    re.IGNORECASE,
)
# the object of an obligation: up to 50 characters with no preposition that would make it a place or purpose
_OBJECT = (
    r"(?:(?!\b(?:for|to|from|in|of|within|at|into|through|between|serv\w*|as the|as that|than)\b)"
    r"[^.;]){0,50}$"
)
PREDICATE = re.compile(
    r"\b(?:should|must|shall) (?:also )?(?:normally )?(?:be|have|contain|include|incorporate|use)\b"
    + _OBJECT,
    re.IGNORECASE,
)
NEGATED_MODAL = re.compile(r"\b(?:should|must|shall|do|does) not\b", re.IGNORECASE)
IMPERATIVE = re.compile(
    r"^(?:(?:[a-z]|[ivx]{1,4})\.\s+)?(?:Provide|Fit|Install|Use|Ensure|Make|Have|Construct|Design)\b"
    + _OBJECT
)
PROVISION = re.compile(
    r"^[^.;]{0,40}?\b(?:should|must|shall) (?:also )?(?:normally )?be (?:provided|fitted|installed|used|"
    r"located|sited|formed|incorporated|included)\b",
    re.IGNORECASE,
)
PERMISSION = re.compile(r"\b(?:may|might|can|could)\b", re.IGNORECASE)


@dataclass
class BuildReport:
    """Why clauses did or did not become pairs."""

    considered: int = 0
    rejected: Counter[str] = field(default_factory=Counter)
    examples: dict[str, list[str]] = field(default_factory=dict)
    candidates: Counter[str] = field(default_factory=Counter)

    def reject(self, reason: str, clause: Clause) -> None:
        self.rejected[reason] += 1
        shown = self.examples.setdefault(reason, [])
        if len(shown) < 5:
            shown.append(f"{clause.clause_id}: {clause.text[:140]}")


def _windows(text: str) -> list[tuple[int, int]]:
    """Sentence / list-item spans of a clause text."""
    cuts = [0] + [m.end() for m in WINDOW_BREAK.finditer(text)] + [len(text)]
    return [(a, b) for a, b in zip(cuts, cuts[1:], strict=False) if b > a]


def _window_of(text: str, pos: int) -> tuple[int, int]:
    return next(((a, b) for a, b in _windows(text) if a <= pos < b), (0, len(text)))


def _nearest(pattern: re.Pattern[str], window: str, start: int, end: int) -> tuple[float, int]:
    """Distance from the span [start, end) to the nearest match (0 inside it); and that match's length."""
    best: tuple[float, int] = (float("inf"), 0)
    for m in pattern.finditer(window):
        if m.start() < end and m.end() > start:
            d = 0.0
        elif m.end() <= start:
            d = float(start - m.end())
        else:
            d = float(m.start() - end + AFTER_PENALTY)
        if (d, -len(m.group(0))) < (best[0], -best[1]):
            best = (d, len(m.group(0)))
    return best


def _pick(scored: list[tuple[float, int, Any]]) -> Any | str:
    """The single best reading, or a reason string when there is none or a tie."""
    scored = sorted((s for s in scored if s[0] != float("inf")), key=lambda s: (s[0], -s[1]))
    if not scored:
        return "no reading"
    if len(scored) > 1 and scored[1][0] - scored[0][0] < TIE_CHARS and scored[1][0] < TITLE_DISTANCE:
        if not (scored[0][0] == scored[1][0] == 0 and scored[0][1] != scored[1][1]):
            return "ambiguous"
    return scored[0][2]


def _after(m: Measure, window: str, end: int) -> bool:
    """Is the nearest reading of the measure after the number rather than before it?"""
    before = [x for x in m.words.finditer(window) if x.end() <= end]
    return not before


def _measure(c: Constraint, window: str, title: str, start: int, end: int) -> Measure | str:
    if re.search(r"\b(?:REI|EI|RE|E|R) ?\d", c.phrase):
        return next(m for m in MEASURES if m.name == "fire resistance")
    scored = []
    for m in MEASURES:
        if m.unit != c.unit:
            continue
        d, n = _nearest(m.words, window, start, end)
        if d > MEASURE_BEFORE + AFTER_PENALTY or (
            d > MEASURE_AFTER + AFTER_PENALTY and _after(m, window, end)
        ):
            d = TITLE_DISTANCE if m.words.search(title) else float("inf")
        scored.append((d, n, m))
    picked = _pick(scored)
    return picked if isinstance(picked, Measure) else f"measure: {picked}"


def _kind(m: Measure, window: str, context: str, title: str, start: int, end: int) -> str:
    """The element kind: nearest kind word in the sentence, else in the clause before it, else the title."""
    scored = []
    for kind in m.targets:
        d, n = _nearest(KIND_WORDS[kind], window, start, end)
        if d == float("inf"):
            d, n = _nearest(KIND_WORDS[kind], context, len(context), len(context))
            d += CONTEXT_DISTANCE
        if d == float("inf") and KIND_WORDS[kind].search(title):
            d = TITLE_DISTANCE
        if d == float("inf") and kind == m.default_kind:
            d = DEFAULT_DISTANCE
        scored.append((d, n, kind))
    picked = _pick(scored)
    return picked if picked in m.targets else f"element kind: {picked}"


def map_constraint(clause: Clause, c: Constraint) -> Check | str:
    """The check a constraint states, or why it cannot be read unambiguously."""
    a, b = _window_of(clause.text, c.start)
    window, start, end = clause.text[a:b], c.start - a, min(c.end, b) - a
    before = window[:start]
    conditions = list(CONDITION.finditer(before))
    if conditions and not re.search(r"\b(?:should|must|shall)\b|,", before[conditions[-1].end() :]):
        return "constraint inside a condition"
    relative = RELATIVE.search(before)
    if relative and not REQUIRING.search(before[: relative.start()]):
        return "constraint inside a relative clause"
    if PERMISSION.search(window[end:]):
        return "constraint inside a permission"
    measure = _measure(c, window, clause.title, start, end)
    if isinstance(measure, str):
        return measure
    context = clause.text[:a]
    kind = _kind(measure, window, context, clause.title, start, end)
    if kind not in measure.targets:
        return kind
    return Check(kind, measure.targets[kind], c.op, measure.label, c.unit, low=c.low, high=c.high)


def quantitative_checks(clause: Clause) -> list[Check] | str:
    found = find_constraints(clause.text)
    if not found:
        return "no numeric constraint"
    if len(found) > MAX_CHECKS:
        return "too many constraints"
    checks: list[Check] = []
    for c in found:
        check = map_constraint(clause, c)
        if isinstance(check, str):
            return check
        if check not in checks:
            checks.append(check)
    props = [(c.kind, c.prop) for c in checks]
    if len(set(props)) < len(props):
        return "one property constrained twice"
    if len({c.kind for c in checks}) > MAX_KINDS:
        return "too many element kinds"
    return checks


def _quality_kind(q: Quality, window: str, title: str, start: int, end: int) -> str | None:
    scored = []
    for kind in q.targets:
        d, n = _nearest(KIND_WORDS[kind], window, start, end)
        if d == float("inf") and KIND_WORDS[kind].search(title):
            d = TITLE_DISTANCE
        if d == float("inf") and kind == q.default_kind:
            d = DEFAULT_DISTANCE
        scored.append((d, n, kind))
    picked = _pick(scored)
    return picked if picked in q.targets else None


def _obliges(window: str, m: re.Match[str]) -> bool:
    """Does the sentence oblige the matched phrase, rather than mention it?

    The phrase must sit in the predicate of an unnegated obligation ("should have smoke alarms", "Provide
    handrails", "should be constructed as compartment floors"), or be the subject of a provision verb
    ("Smoke alarms should be provided"); and no negation, permission or open condition may precede it.
    """
    before, after = window[: m.start()], window[m.end() :]
    if NEGATION.search(before) or NEGATED_MODAL.search(before):
        return False
    for softener in (PERMISSION, CONDITION):
        found = list(softener.finditer(before))
        if found and not re.search(r"\b(?:should|must|shall)\b|,", before[found[-1].end() :]):
            return False
    return bool(PREDICATE.search(before) or IMPERATIVE.search(before) or PROVISION.match(after))


def qualitative_checks(clause: Clause) -> list[Check] | str:
    """Yes/no checks that the clause's sentences oblige, or why there are none."""
    if find_constraints(clause.text):
        return "has a numeric constraint"
    checks: list[Check] = []
    for a, b in _windows(clause.text):
        window = clause.text[a:b]
        for q in QUALITIES:
            m = q.phrase.search(window)
            if not m or (q.requires and not q.requires.search(window)) or not _obliges(window, m):
                continue
            kind = _quality_kind(q, window, clause.title, m.start(), m.end())
            if kind is None:
                continue
            check = Check(
                kind, q.targets[kind], "is", f"{kind.replace('_', ' ')} {q.predicate}", expected=q.value
            )
            if all((c.kind, c.prop) != (check.kind, check.prop) for c in checks):
                checks.append(check)
    if not checks:
        return "no obligation on a yes/no property"
    if len(checks) > 2:
        return "too many yes/no properties"
    return checks


HEADER_KEY = "_attribution"
CORPUS_DIR = Path(__file__).with_name("uk-approved-documents")
PAIRS_PATH = Path(__file__).with_name("data") / "pairs.jsonl"


def _order_key(seed: int, key: str) -> str:
    return hashlib.sha256(f"{seed}:{key}".encode()).hexdigest()


def _text_key(pair: RulePair) -> str:
    """Pairs with the same clause text (B volume 1 and 2 repeat paragraphs) always share a split."""
    return " ".join(pair.clause.text.lower().split())


def assign_split(
    pairs: list[RulePair], seed: int, test_fraction: float, val_fraction: float
) -> list[RulePair]:
    """Seeded split, stratified by kind, whole groups of identical clause texts at a time.

    The same seed and pairs always give the same split; no clause text is in two splits.
    """
    split_of: dict[str, str] = {}
    for kind in ("quantitative", "qualitative"):
        groups = sorted(
            {_text_key(p) for p in pairs if p.kind == kind} - set(split_of), key=lambda k: _order_key(seed, k)
        )
        n_test, n_val = round(len(groups) * test_fraction), round(len(groups) * val_fraction)
        for i, key in enumerate(groups):
            split_of[key] = "test" if i < n_test else "val" if i < n_test + n_val else "train"
    return [p.model_copy(update={"split": split_of[_text_key(p)]}) for p in pairs]


def _reading(clause: Clause) -> tuple[str, list[Check] | str]:
    """(kind, checks) for a clause, or (kind, reason) when it yields no rule."""
    if clause.clause_id in REVIEWED_OUT:
        return "reviewed", REVIEWED_OUT[clause.clause_id]
    if clause.clause_id in OVERRIDES:
        checks = OVERRIDES[clause.clause_id]
        return ("quantitative" if any(c.op != "is" for c in checks) else "qualitative"), checks
    if len(clause.text) > MAX_TEXT_CHARS:
        return "any", "text too long"
    checks = quantitative_checks(clause)
    if checks != "no numeric constraint":
        return "quantitative", checks
    return "qualitative", qualitative_checks(clause)


def _diverse_first(pairs: list[RulePair]) -> list[RulePair]:
    """Pairs ordered so that each distinct rule comes once before any rule comes twice (seeded)."""
    by_rule: dict[str, list[RulePair]] = {}
    for p in sorted(pairs, key=lambda p: _order_key(SPLIT_SEED, p.clause.clause_id)):
        by_rule.setdefault(p.rule, []).append(p)
    ranked = [
        (i, _order_key(SPLIT_SEED, p.clause.clause_id), p)
        for group in by_rule.values()
        for i, p in enumerate(group)
    ]
    return [p for *_, p in sorted(ranked, key=lambda r: (r[0], r[1]))]


def build_pairs(extraction: Extraction) -> tuple[list[RulePair], BuildReport]:
    """All pairs the tables and overrides support, qualitative ones capped at about 40%, then split.

    A paragraph that yields no rule is tried item by item (`extract.list_items`: "1.15a", "1.15b"), so
    one unreadable list item does not cost the others.
    """
    report = BuildReport()
    found: dict[str, list[RulePair]] = {"quantitative": [], "qualitative": []}
    for clause in extraction.clauses:
        report.considered += 1
        kind, checks = _reading(clause)
        readings = [(clause, kind, checks)]
        if isinstance(checks, str):
            readings = [(item, *_reading(item)) for item in list_items(clause)] or readings
            if not any(not isinstance(c, str) for _, _, c in readings):
                reason = {"any": checks, "reviewed": "rejected on review (curation.REVIEWED_OUT)"}.get(
                    kind, f"{kind}: {checks}"
                )
                report.reject(reason, clause)
                continue
        for source, kind, checks in readings:
            if isinstance(checks, str):
                continue
            report.candidates[kind] += 1
            found[kind].append(
                RulePair(
                    clause=source,
                    rule=render_rule(checks),
                    kind=kind,
                    fixtures=fixtures(checks, source.clause_id),
                )
            )
    quantitative, qualitative = found["quantitative"], found["qualitative"]
    keep = round(len(quantitative) * (1 - QUANTITATIVE_SHARE) / QUANTITATIVE_SHARE)
    if len(qualitative) > keep:
        chosen = {p.clause.clause_id for p in _diverse_first(qualitative)[:keep]}
        report.rejected["qualitative beyond the 60/40 balance"] = len(qualitative) - keep
        qualitative = [p for p in qualitative if p.clause.clause_id in chosen]
    order = {c.clause_id: i for i, c in enumerate(extraction.clauses)}
    pairs = sorted(
        quantitative + qualitative,
        key=lambda p: (
            order.get(p.clause.clause_id.rstrip("abcdefghijklmnopqrstuvwxyz"), 0),
            p.clause.clause_id,
        ),
    )
    return assign_split(pairs, SPLIT_SEED, TEST_FRACTION, VAL_FRACTION), report


def write_pairs(pairs: list[RulePair], path: Path, sources: dict[str, str]) -> None:
    """JSONL, one pair per line after a header line carrying the OGL attribution; written atomically."""
    with atomic_write(path) as fh:
        header = {HEADER_KEY: ATTRIBUTION, "_built_by": "clauselens corpus build", "_pairs": len(pairs)}
        fh.write(json.dumps(header) + "\n")
        for pair in pairs:
            row = {**pair.row(), "fixtures": pair.fixtures}
            row["source"] = sources.get(pair.clause.clause_id) or sources.get(
                pair.clause.clause_id.rstrip("abcdefghijklmnopqrstuvwxyz"), ""
            )
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
    path.chmod(0o644)  # package data: readable by everyone, like the rest of the tree


def build_corpus(folder: Path = CORPUS_DIR, out: Path = PAIRS_PATH) -> tuple[list[RulePair], BuildReport]:
    """Extract, build and write the open corpus (the command behind `clauselens corpus build`)."""
    extraction = extract_corpus(folder)
    pairs, report = build_pairs(extraction)
    write_pairs(pairs, out, extraction.sources)
    return pairs, report
