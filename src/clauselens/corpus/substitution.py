"""Copies of train pairs with new limits: the same clause and rule, every stated limit another number.

Fine-tuned on a few hundred real pairs, a small model learns the usual limit of each kind of clause
instead of reading it. Ladder v4's m wrote `fire_resistance >= 15` for "at least 150mm clear".
In a copy of a real train pair whose limits change together in clause and rule, the rule can only
be predicted by reading the clause's number and converting it ("2.5m" -> 2500), in real regulation
prose rather than in templates. The ladder's pretraining mix uses these copies
(`clauselens.models.synthetic`). Only pairs given as train pairs go in. A copy is kept only if the
corpus's own constraint finder reads the same kinds of limit (comparator and unit, in order) back from
the new clause; its fixtures are dropped, since they were built for the old limits.
"""

from __future__ import annotations

import random
import re
from collections.abc import Sequence

from clauselens.corpus.constraints import UNITS, VALUE, Constraint, find_constraints
from clauselens.corpus.rulecode import format_limit
from clauselens.records import RulePair

FIRE_PERIODS = (15, 20, 30, 60, 90, 120, 180, 240)  # minutes of the REI / E classes
_RULE_NUMBER = re.compile(r"(?<![\w.])\d+(?:\.\d+)?(?![\w.])")


def _new_number(written: str, rng: random.Random) -> str:
    """Another number written like `written`: 0.4 to 2.5 times it, same decimals, as round as it was."""
    decimals = len(written.split(".")[1]) if "." in written else 0
    x = float(written.replace(",", ""))
    step = 10 if x >= 100 and x % 10 == 0 else 5 if x >= 20 and x % 5 == 0 else 1
    for _ in range(20):
        y = x * rng.uniform(0.4, 2.5)
        y = round(y, decimals) if decimals else max(step, round(y / step) * step)
        if y != x and y > 0:
            return f"{y:.{decimals}f}"
    return ""


def _kinds(found: Sequence[Constraint]) -> list[tuple[str, str]]:
    return [(c.op, c.unit) for c in found]


def substituted_pair(pair: RulePair, rng: random.Random, tag: str = "sub",
                     found: Sequence[Constraint] | None = None) -> RulePair | None:
    """`pair` with each limit its clause states replaced by a new number, in the clause and in the rule
    (in the rule's canonical unit); None where the rule has no such limit or the copy would not read
    back the same kinds of limit. `found`: the clause's constraints, where the caller has them."""
    text = pair.clause.text
    found = find_constraints(text) if found is None else found
    mapping: dict[float, float] = {}  # old -> new value in the canonical unit, one new value per old one
    out, last = [], 0
    for c in found:
        for m in VALUE.finditer(text, c.start, c.end):
            number = m["num"] or m["cls"]
            factor = UNITS[m["unit"]][1] if m["unit"] else 1.0
            old = round(float(number.replace(",", "")) * factor, 6)
            if old in mapping:
                new = mapping[old]
            else:
                written = (str(rng.choice([p for p in FIRE_PERIODS if str(p) != number])) if m["cls"]
                           else _new_number(number, rng))
                if not written:
                    return None
                new = mapping[old] = round(float(written) * factor, 6)
            start, end = m.span("num") if m["num"] else m.span("cls")
            out.append(text[last:start] + format_limit(new / factor))
            last = end
    if not mapping or len(set(mapping.values())) < len(mapping):
        return None
    new_text = "".join(out) + text[last:]

    def swap(m: re.Match[str]) -> str:
        value = round(float(m.group(0)), 6)
        return format_limit(mapping[value]) if value in mapping else m.group(0)

    rule = _RULE_NUMBER.sub(swap, pair.rule)
    if rule == pair.rule or _kinds(find_constraints(new_text)) != _kinds(found):
        return None
    clause = pair.clause.model_copy(update={"clause_id": f"{pair.clause.clause_id}~{tag}", "text": new_text})
    return pair.model_copy(update={"clause": clause, "rule": rule, "fixtures": []})


def substituted_pairs(pairs: Sequence[RulePair], rounds: int, seed: int = 0) -> list[RulePair]:
    """Up to `rounds` copies of each pair (`substituted_pair`), seeded; pairs without a limit give none.
    Each original clause is read by the constraint finder once, not once a round."""
    rng = random.Random(seed)
    found = [find_constraints(p.clause.text) for p in pairs]
    return [copy for r in range(rounds) for p, f in zip(pairs, found, strict=True)
            if (copy := substituted_pair(p, rng, tag=f"sub{r}", found=f)) is not None]
