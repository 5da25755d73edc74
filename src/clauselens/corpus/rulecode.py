"""Write a reference rule and its fixture buildings from a list of checks.

Every reference rule has the same shape - one loop per element kind, one `findings.append(Finding(...))`
per check - because tiny language models are trained on these rules on a CPU: regular, short code is what
they can learn. For a check on a limit, the fixtures are two buildings just inside and just outside it
(ranges get a third, just below); for a yes/no check, one building with the required value and one with
the opposite. `clauselens corpus verify` runs every rule on its fixtures in the sandbox.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

UNIT_WORDS = {
    "mm": "mm",
    "m2": "m2",
    "deg": "degrees",
    "min": "minutes",
    "l": "litres",
    "l_s": "l/s",
    "kw": "kW",
    "db": "dB",
    "n_force": "N",
    "w_m2k": "W/m2K",
    "count": "",
}
WHOLE_STEP_UNITS = {"mm", "min", "count", "n_force", "db", "deg", "l_s", "kw", "l"}
# op -> (how a rule message states the limit, the comparison in the rule's code)
LIMIT_TEXT = {
    "min": ("at least {low}", "{var} >= {low}"),
    "max": ("at most {high}", "{var} <= {high}"),
    "range": ("between {low} and {high}", "{low} <= {var} <= {high}"),
}
LOOP_NAMES = {"escape_route": "route"}  # loop variable per kind, where the kind's own name is long


@dataclass(frozen=True)
class Check:
    """One comparison a rule makes on every element of `kind`.

    `op` is "min" (value >= low), "max" (value <= high), "range" (low <= value <= high) or "is"
    (value is `expected`, a bool). `unit` is a canonical unit of `clauselens.corpus.constraints.UNITS`.
    """

    kind: str
    prop: str
    op: str
    label: str
    unit: str = ""
    low: float | None = None
    high: float | None = None
    expected: bool | None = None

    def _limit(self, template: str, **names: str) -> str:
        """`template` with the check's formatted bounds as {low} and {high}."""
        low = format_limit(self.low) if self.low is not None else ""
        high = format_limit(self.high) if self.high is not None else ""
        return template.format(low=low, high=high, **names)

    def message(self) -> str:
        if self.op not in LIMIT_TEXT:
            return self.label
        unit = UNIT_WORDS.get(self.unit, self.unit)
        unit = f" {unit}" if unit else ""
        return f"{self.label} {self._limit(LIMIT_TEXT[self.op][0])}{unit}"

    def condition(self, var: str) -> str:
        if self.op not in LIMIT_TEXT:
            return f"{var} is {self.expected}"
        return f"{var} is not None and {self._limit(LIMIT_TEXT[self.op][1], var=var)}"

    def inside(self) -> float | bool:
        """A value that just satisfies the check (the limit itself for limits)."""
        if self.op == "is":
            return bool(self.expected)
        return _number(self.high if self.op in ("max", "range") else self.low)

    def outside(self) -> list[float | bool]:
        """Values that just fail it: one past each limit."""
        if self.op == "is":
            return [not self.expected]
        out = []
        if self.op in ("max", "range"):
            out.append(_number(self.high + _step(self.high, self.unit)))
        if self.op in ("min", "range"):
            out.append(_number(self.low - _step(self.low, self.unit)))
        return out


def format_limit(x: float | None) -> str:
    """A limit as a rule writes it: 30, 2500, 0.35."""
    assert x is not None
    return str(int(x)) if float(x).is_integer() else repr(round(float(x), 6))


def _number(x: float | None) -> float:
    assert x is not None
    x = round(float(x), 6)
    return int(x) if x.is_integer() else x


def _step(x: float | None, unit: str) -> float:
    """The smallest sensible difference near `x`: 1 for whole numbers of mm, minutes..., else 1% or less."""
    assert x is not None
    if unit in WHOLE_STEP_UNITS and float(x).is_integer() and x >= 5:
        return 1
    return 10 ** (math.floor(math.log10(abs(x))) - 2) if x else 0.001


def variable(prop: str) -> str:
    """A short Python name for a property: clear_width_mm -> clear_width, is_self_closing -> self_closing."""
    name = re.sub(r"_(?:mm|m2|deg|pct|min|s|n|l|l_s|kw|db)$", "", prop)
    return re.sub(r"^(?:is|has)_", "", name) or prop


def render_rule(checks: list[Check]) -> str:
    """`def check_rule(model)` with one loop per kind (in first-use order) and one finding per check."""
    lines = ["def check_rule(model):", "    findings = []"]
    kinds = list(dict.fromkeys(c.kind for c in checks))
    for kind in kinds:
        mine = [c for c in checks if c.kind == kind]
        loop = LOOP_NAMES.get(kind, kind)
        names = [variable(c.prop) for c in mine]
        if len(set(names)) < len(names) or loop in names:
            names = [c.prop for c in mine]
        lines.append(f'    for {loop} in model.elements("{kind}"):')
        for check, name in zip(mine, names, strict=True):
            lines.append(f'        {name} = {loop}.get("{check.prop}")')
        for check, name in zip(mine, names, strict=True):
            finding = f'Finding({loop}.id, {check.condition(name)}, "{check.message()}")'
            lines.append(f"        findings.append({finding})")
    lines.append("    return findings")
    return "\n".join(lines) + "\n"


def _building(name: str, checks: list[Check], override: dict[int, float | bool]) -> dict[str, Any]:
    elements: dict[str, dict[str, Any]] = {}
    for i, check in enumerate(checks):
        el = elements.setdefault(
            check.kind,
            {"kind": check.kind, "id": f"{check.kind.replace('_', '-')}-1", "props": {}, "parent": None},
        )
        el["props"][check.prop] = override.get(i, check.inside())
    return {"name": name, "elements": list(elements.values())}


def fixtures(checks: list[Check], label: str) -> list[dict[str, Any]]:
    """A compliant building at the limits (and one at the lower end of each range), then one non-compliant
    building per way of failing a check."""
    out = [{"name": "inside", "expect_compliant": True, "building": _building(f"{label} inside", checks, {})}]
    for i, check in enumerate(checks):
        if check.op == "range":
            name = f"inside-{check.prop}-low"
            out.append(
                {
                    "name": name,
                    "expect_compliant": True,
                    "building": _building(f"{label} {name}", checks, {i: _number(check.low)}),
                }
            )
    for i, check in enumerate(checks):
        for j, value in enumerate(check.outside()):
            first = not any(f["name"].startswith("outside") for f in out)
            name = "outside" if first else f"outside-{check.prop}{'-low' if j else ''}"
            out.append(
                {
                    "name": name,
                    "expect_compliant": False,
                    "building": _building(f"{label} {name}", checks, {i: value}),
                }
            )
    return out
