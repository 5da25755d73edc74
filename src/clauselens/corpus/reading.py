"""Read a clause's wording as checks: which element kind, property and limit each obligation states.

Quantitative: every explicit numeric constraint of a clause (`constraints.find_constraints`) must map to
exactly one element kind and property through `keywords.MEASURES` / `keywords.KIND_WORDS`: the measure
word nearest the number (before it preferred) names the property, the nearest kind word among that
measure's kinds names the element, the unit is converted (2m -> 2000 mm). A clause is rejected, with its
reason, when a constraint sits inside a condition ("if the flue diameter is no greater than"), a
permission or a scoping relative clause, when no or two equally near readings exist, when one property is
constrained twice, or when it has more than `MAX_CHECKS` constraints. Qualitative: clauses without a
numeric constraint whose sentences oblige a yes/no property (`keywords.QUALITIES`: "should be fitted with
a self-closing device", "Use risers that are not open"). `rulebook` turns the readings into pairs.
"""

from __future__ import annotations

import re
from typing import Any

from clauselens.corpus.constraints import Constraint, find_constraints
from clauselens.corpus.keywords import KIND_WORDS, MEASURES, QUALITIES, Measure, Quality
from clauselens.corpus.rulecode import Check
from clauselens.records import Clause

MAX_CHECKS = 4
MAX_KINDS = 2
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


def _nearest_kind(targets: dict[str, str], default_kind: str | None, window: str, title: str, start: int,
                  end: int, context: str | None = None) -> str:
    """The kind among `targets` named nearest the match: in the sentence, else (given a `context`) in the
    clause before it, else in the title, else the default kind; or why none is unambiguous."""
    scored = []
    for kind in targets:
        d, n = _nearest(KIND_WORDS[kind], window, start, end)
        if d == float("inf") and context is not None:
            d, n = _nearest(KIND_WORDS[kind], context, len(context), len(context))
            d += CONTEXT_DISTANCE
        if d == float("inf") and KIND_WORDS[kind].search(title):
            d = TITLE_DISTANCE
        if d == float("inf") and kind == default_kind:
            d = DEFAULT_DISTANCE
        scored.append((d, n, kind))
    return _pick(scored)


def _kind(m: Measure, window: str, context: str, title: str, start: int, end: int) -> str:
    """The element kind: nearest kind word in the sentence, else in the clause before it, else the title."""
    picked = _nearest_kind(m.targets, m.default_kind, window, title, start, end, context)
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
    picked = _nearest_kind(q.targets, q.default_kind, window, title, start, end)
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
