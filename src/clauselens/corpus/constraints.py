"""Find explicit numeric constraints in clause text: "a minimum clear headroom of 2m", "not more than 220mm".

A constraint is a comparator phrase bound to a number with a unit. Only phrases that state a limit count
(minimum / maximum / at least / not less than / not more than / no more than / not exceed / between ... and);
bare "more than" and "less than" are left out on purpose because in the Approved Documents they almost
always open a condition ("If the flight is more than 2m wide, ..."), not a requirement. This is also the
detector that labels a user's clause quantitative or qualitative when the file has no `kind` column.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from clauselens.lexicon import CANONICAL_UNITS, LOWER_BOUND_PATTERNS, UPPER_BOUND_PATTERNS

UNITS = CANONICAL_UNITS  # unit as written -> (canonical unit, factor to it)
_UNIT = "|".join(sorted((re.escape(u) for u in UNITS), key=len, reverse=True))
_NUM = r"\d{1,3}(?:,\d{3})+|\d+(?:\.\d+)?"


def _v(i: int | str) -> str:
    """A number with its unit, as named groups num<i> / unit<i>."""
    return rf"(?P<num{i}>{_NUM})\s?(?P<unit{i}>{_UNIT})(?![\w/])"


_NP = (
    r"(?:[a-z][a-z/()]*[ ,]+){0,7}?"  # a short noun phrase: "clear headroom ", "stair width between walls, "
)
_CLASS, _PERIOD = "REI|RE|EI|E|R", r"\d{2,3}"  # a fire resistance class and its minutes: "REI 30"
# one stated value inside a constraint's phrase: a number with its unit, or a fire resistance class
VALUE = re.compile(rf"{_v('')}|\b(?:{_CLASS}) ?(?P<cls>{_PERIOD})\b")

MIN_WORDS = "(?:" + "|".join(LOWER_BOUND_PATTERNS) + ")"
MAX_WORDS = "(?:" + "|".join(UPPER_BOUND_PATTERNS) + ")"

PATTERNS: list[tuple[str, re.Pattern[str]]] = [
    ("range", re.compile(rf"\bbetween {_v(1)} and {_v(2)}")),
    ("range", re.compile(rf"(?<![\d.,]){_v(1)} to {_v(2)}")),
    ("min", re.compile(rf"\b{MIN_WORDS} {_v(1)}", re.IGNORECASE)),
    ("max", re.compile(rf"\b{MAX_WORDS} {_v(1)}", re.IGNORECASE)),
    ("min", re.compile(rf"\bminimum {_NP}of {_v(1)}", re.IGNORECASE)),
    ("max", re.compile(rf"\bmaximum {_NP}of {_v(1)}", re.IGNORECASE)),
    ("min", re.compile(rf"(?<![\d.,]){_v(1)} (?:minimum|min\.(?!\w))")),
    ("max", re.compile(rf"(?<![\d.,]){_v(1)} (?:maximum|max\.(?!\w))")),
    # fire resistance classes: "minimum REI 30", "(minimum E 30)"
    (
        "min",
        re.compile(
            rf"\bminimum (?:rating of |fire resistance (?:of )?)?(?P<cls1>{_CLASS}) ?(?P<num1>{_PERIOD})\b"
        ),
    ),
]


@dataclass(frozen=True)
class Constraint:
    """One stated limit: `op` is min / max / range; values are in the canonical `unit`."""

    op: str
    low: float | None
    high: float | None
    unit: str
    start: int
    end: int
    phrase: str


def _number(text: str) -> float:
    return float(text.replace(",", ""))


def _value(m: re.Match[str], i: int) -> tuple[float, str]:
    if m.groupdict().get(f"cls{i}"):
        return _number(m[f"num{i}"]), "min"
    unit, factor = UNITS[m[f"unit{i}"]]
    return round(_number(m[f"num{i}"]) * factor, 6), unit


def find_constraints(text: str) -> list[Constraint]:
    """Every explicit numeric limit in the text, left to right; overlapping matches keep the longest."""
    found: list[Constraint] = []
    for op, pattern in PATTERNS:
        for m in pattern.finditer(text):
            v1, u1 = _value(m, 1)
            if op == "range":
                v2, u2 = _value(m, 2)
                if u1 != u2 or v1 >= v2:
                    continue
                c = Constraint("range", v1, v2, u1, m.start(), m.end(), m.group(0))
            else:
                c = Constraint(
                    op,
                    v1 if op == "min" else None,
                    v1 if op == "max" else None,
                    u1,
                    m.start(),
                    m.end(),
                    m.group(0),
                )
            found.append(c)
    found.sort(key=lambda c: (c.start, -(c.end - c.start)))
    kept: list[Constraint] = []
    for c in found:
        if kept and c.start < kept[-1].end:
            continue
        kept.append(c)
    return kept


def is_quantitative(text: str) -> bool:
    """Does the clause state an explicit numeric constraint?"""
    return bool(find_constraints(text))
