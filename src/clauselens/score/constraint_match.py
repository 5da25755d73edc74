"""`constraint_match`: does the generated rule enforce the clause's numbers, not just look like a rule?

A rule's numeric constraints are its comparisons of a property with a number, each read as (unit,
comparator, value): the unit is the property's unit suffix (`clear_width_mm` -> `mm`, the vocabulary
names every numeric property with its unit, so "2m" in a clause and 2000 in a rule meet as `mm`), the
comparator is normalised so that the property is on the left (`30 <= x` is `x >= 30`), and a chained
range gives two constraints. The score is the share of the reference rule's constraints (a multiset)
that the generated rule also has. Regular expressions rather than `ast`, so a rule with a syntax error
further down still gets credit for the limits it wrote. NaN when the reference has no numeric
constraint (qualitative clauses).
"""

from __future__ import annotations

import re
from collections import Counter

from clauselens.lexicon import PROPERTY_SUFFIXES
from clauselens.score.value import MetricValue

_NUM = r"-?\d+(?:\.\d+)?"
_OPS = r">=|<=|==|>|<"
_FLIP = {">=": "<=", "<=": ">=", ">": "<", "<": ">", "==": "=="}
_UNIT = re.compile("_(" + "|".join(PROPERTY_SUFFIXES) + ")$")
_BIND = re.compile(r"(\w+)\s*=\s*\w+\.get\(\s*[\"'](\w+)[\"']")
_LEFT = re.compile(rf"(?<![\w.])([A-Za-z_]\w*)\s*({_OPS})\s*({_NUM})(?![\w.])")
_RIGHT = re.compile(rf"(?<![\w.])({_NUM})\s*({_OPS})\s*([A-Za-z_]\w*)(?![\w.(])")

Constraint = tuple[str, str, float]


def _unit(prop: str) -> str:
    if prop == "u_value":
        return "w_m2k"
    m = _UNIT.search(prop)
    return m.group(1) if m else ""


def numeric_constraints(rule: str) -> Counter[Constraint]:
    """(unit, comparator with the property on the left, value) of every property-vs-number comparison."""
    units = {var: _unit(prop) for var, prop in _BIND.findall(rule)}
    found: Counter[Constraint] = Counter()
    for var, op, num in _LEFT.findall(rule):
        found[units.get(var, ""), op, round(float(num), 6)] += 1
    for num, op, var in _RIGHT.findall(rule):
        found[units.get(var, ""), _FLIP[op], round(float(num), 6)] += 1
    return found


def constraint_match(reference: str, generated: str) -> MetricValue:
    """Share of the reference's numeric constraints that the generated rule reproduces; NaN if none."""
    ref = numeric_constraints(reference)
    if not ref:
        return MetricValue(float("nan"), "reference has no numeric constraint")
    got = numeric_constraints(generated)
    hit = sum((ref & got).values())
    missed = ref - got
    detail = ", ".join(f"{op} {v:g} {u}".strip() for u, op, v in sorted(missed))
    return MetricValue(hit / sum(ref.values()), f"missing {detail}" if detail else "")
