"""Units of perturbation: model tokens, words, and semantic spans, each with character offsets.

Every unit points into the clause text by `[start, end)` character offsets, so a perturbed clause is
rebuilt from the offsets and attributions made with different tokenizers align on the same text.

Semantic spans are the parts of a clause the study cares about, each kept whole so one perturbation
removes all of it: a number with its unit ("2.0 metres", "1200mm"), a rule identifier ("1.12",
"Diagram 1.3", "Approved Document B", "BS 5395-2"), a comparator phrase ("not less than"), and a
condition ("except in doorways", up to the next clause punctuation). Words not inside a span stay
word units. When spans overlap, the earlier kind in `SPAN_PRIORITY` wins (a condition swallows the
numbers inside it: the condition is what the clause makes conditional).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from clauselens.lexicon import SPAN_COMPARATORS, SPAN_UNITS
from clauselens.records import Unit
from clauselens.registry import UNITS

# A word: letters/digits with internal punctuation kept ("2.0", "5395-2", "self-closing", "W/m2K").
WORD_RE = re.compile(r"[\w%°²³](?:[\w.,/'’&+·%°²³-]*[\w%°²³])?")

NUMBER = r"\d+(?:,\d{3})*(?:\.\d+)?"
UNIT_RE = "|".join(re.escape(u) for u in sorted(SPAN_UNITS, key=len, reverse=True))
NUMBER_UNIT_RE = re.compile(
    rf"(?<![\w.]){NUMBER}(?:\s?(?:{UNIT_RE})(?![\w²³])|\s?:\s?\d+\b|\s+in\s+\d+\b)"
)
BARE_NUMBER_RE = re.compile(rf"(?<![\w.]){NUMBER}(?:\.\d+)*[a-z]?(?![\w.]\w)")

_REF_WORDS = (
    "diagrams?|tables?|figures?|fig\\.|appendix|appendices|annex|sections?|paragraphs?|paras?\\.?|"
    "clauses?|regulations?|requirements?|parts?|volumes?|schedules?|class|category"
)
IDENTIFIER_RES = [
    re.compile(r"(?i:approved\s+documents?)\s+[A-Z](?:\s*,?\s*(?i:volume|vol\.)\s*\d)?(?![\w])"),
    re.compile(
        rf"\b(?i:{_REF_WORDS})\s+(?:[A-Z]\d*|\d+)(?:\.\d+)*[a-z]?(?:\(\w+\))*"
        rf"(?:\s*(?:to|and|or|-|–)\s*\d+(?:\.\d+)*)?(?![\w])"
    ),
    re.compile(r"\b(?:BS|EN|ISO|IEC|PAS|DD)(?:\s+(?:EN|ISO|IEC))*\s+\d+(?:[-:.]\d+)*(?:\+A\d+(?::\d{4})?)?"),
]

COMPARATORS = SPAN_COMPARATORS
COMPARATOR_RE = re.compile(
    r"\b(?i:" + "|".join(re.escape(c).replace(r"\ ", r"\s+") for c in COMPARATORS) + r")\b"
)
CONDITION_WORDS = ["provided that", "other than", "where", "except", "unless", "if"]
# A condition runs to the next , ; : ( ) or sentence-ending full stop ("." or ":" inside "2.5", "1:12" stay).
CONDITION_RE = re.compile(
    r"\b(?i:" + "|".join(w.replace(" ", r"\s+") for w in CONDITION_WORDS) + r")\b(?:[^,;:.()]|[.:](?=\d))+"
)

SPAN_PRIORITY = ("condition", "identifier", "number_unit", "comparator", "number")


def _units_from_matches(text: str, matches: Iterable[re.Match[str]], kind: str) -> list[Unit]:
    return [Unit(text=m.group(0), start=m.start(), end=m.end(), kind=kind) for m in matches]  # type: ignore[arg-type]


def word_units(text: str) -> list[Unit]:
    """Words with their offsets; punctuation between words is not a unit and is never perturbed."""
    return _units_from_matches(text, WORD_RE.finditer(text), "word")


def _candidates(text: str) -> list[tuple[str, int, int]]:
    """(span_type, start, end) candidates in priority order."""
    out: list[tuple[str, int, int]] = []
    for m in CONDITION_RE.finditer(text):
        end = m.start() + len(m.group(0).rstrip())
        if len(text[m.start():end].split()) >= 2:  # the keyword alone is not a condition
            out.append(("condition", m.start(), end))
    for pattern in IDENTIFIER_RES:
        out += [("identifier", m.start(), m.end()) for m in pattern.finditer(text)]
    out += [("number_unit", m.start(), m.end()) for m in NUMBER_UNIT_RE.finditer(text)]
    out += [("comparator", m.start(), m.end()) for m in COMPARATOR_RE.finditer(text)]
    for m in BARE_NUMBER_RE.finditer(text):
        # A dotted number ("1.12", "2.5.3") outside a quantity is a paragraph reference.
        span_type = "identifier" if "." in m.group(0) else "number"
        out.append((span_type, m.start(), m.end()))
    return out


def _overlaps(taken: list[tuple[int, int]], start: int, end: int) -> bool:
    return any(start < e and s < end for s, e in taken)


def span_units(text: str) -> list[Unit]:
    """Semantic spans (number+unit, identifier, comparator, condition, bare number) plus the other words.

    A bare dotted number right after a comparator is a quantity ("at least 1.5"), not an identifier.
    """
    taken: list[tuple[int, int]] = []
    units: list[Unit] = []
    for span_type, start, end in _candidates(text):
        if _overlaps(taken, start, end):
            continue
        taken.append((start, end))
        units.append(Unit(text=text[start:end], start=start, end=end, kind="span", span_type=span_type))
    units.sort(key=lambda u: u.start)
    for i, unit in enumerate(units):
        if unit.span_type == "identifier" and unit.text[0].isdigit() and i > 0:
            before = units[i - 1]
            if before.span_type == "comparator" and not text[before.end:unit.start].strip():
                unit.span_type = "number"
    words = [w for w in word_units(text) if not _overlaps(taken, w.start, w.end)]
    return sorted(units + words, key=lambda u: u.start)


def token_units(text: str, tokenizer: object) -> list[Unit]:
    """The model's own tokens of the clause text (tokenized alone, without special tokens).

    Offsets come from the fast tokenizer's offset mapping; surrounding whitespace is trimmed from each
    token's range and whitespace-only tokens are dropped, so every unit covers visible text.
    """
    if not getattr(tokenizer, "is_fast", False):
        raise TypeError("token_units needs a fast (Rust) tokenizer: offset mappings are not available "
                        f"for {type(tokenizer).__name__}")
    enc = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)  # type: ignore[operator]
    units: list[Unit] = []
    for start, end in enc["offset_mapping"]:
        while start < end and text[start].isspace():
            start += 1
        while end > start and text[end - 1].isspace():
            end -= 1
        if end > start and (not units or start >= units[-1].end):
            units.append(Unit(text=text[start:end], start=start, end=end, kind="token"))
    return units


def unit_kind(units: list[Unit]) -> str:
    """The unit setting a list of units came from (span lists also hold plain words)."""
    kinds = {u.kind for u in units}
    return "span" if "span" in kinds else "token" if "token" in kinds else "word"


UNITS.register("token", lambda text, tokenizer=None: token_units(text, tokenizer))
UNITS.register("word", lambda text, tokenizer=None: word_units(text))
UNITS.register("span", lambda text, tokenizer=None: span_units(text))


def make_units(text: str, kind: str, tokenizer: object | None = None) -> list[Unit]:
    """Units of the configured kind (`AttributionConfig.unit`, `clauselens.registry.UNITS`)."""
    return UNITS[kind](text, tokenizer)


def check_offsets(text: str, units: list[Unit]) -> None:
    """Units must point at their own text, in order, without overlap (they are rebuilt from offsets)."""
    last = 0
    for i, u in enumerate(units):
        if text[u.start:u.end] != u.text:
            raise ValueError(f"unit {i} ({u.text!r}) does not match clause text at [{u.start}, {u.end})")
        if u.start < last:
            raise ValueError(f"unit {i} ({u.text!r}) overlaps the unit before it")
        last = u.end
