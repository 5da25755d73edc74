"""Train pairs with new limits (`clauselens.corpus.substitution`): the clause and its rule change together."""

from __future__ import annotations

import random
import re
from collections import Counter

from clauselens.corpus import builtin_pairs
from clauselens.corpus.constraints import find_constraints
from clauselens.corpus.substitution import FIRE_PERIODS, substituted_pair, substituted_pairs
from clauselens.records import Clause, RulePair
from clauselens.score.constraint_match import numeric_constraints


def _pair(text: str, condition: str, message: str, prop: str = "clear_width_mm") -> RulePair:
    rule = ("def check_rule(model):\n    findings = []\n    for door in model.elements(\"door\"):\n"
            f"        x = door.get(\"{prop}\")\n"
            f"        findings.append(Finding(door.id, x is not None and {condition}, \"{message}\"))\n"
            "    return findings\n")
    return RulePair(clause=Clause(clause_id="T:1", document="T", paragraph="1", text=text), rule=rule,
                    kind="quantitative")


def test_millimetres_change_in_clause_rule_and_message() -> None:
    pair = _pair("The door has a minimum clear opening width of 775mm, when measured as in Diagram 1.1.",
                 "x >= 775", "door clear width at least 775 mm")
    copy = substituted_pair(pair, random.Random(1))
    assert copy is not None
    new = int(re.search(r"width of (\d+)mm", copy.clause.text).group(1))
    assert new != 775 and 775 * 0.4 <= new <= 775 * 2.5
    assert f"x >= {new}," in copy.rule and f"at least {new} mm" in copy.rule and "775" not in copy.rule
    assert "Diagram 1.1" in copy.clause.text  # numbers that are not limits stay


def test_metres_in_the_clause_are_millimetres_in_the_rule() -> None:
    pair = _pair("Provide a minimum clear headroom of 2.5m, except in doorways.", "x >= 2500",
                 "headroom at least 2500 mm", prop="headroom_mm")
    for seed in range(20):
        copy = substituted_pair(pair, random.Random(seed))
        assert copy is not None
        metres = float(re.search(r"headroom of (\d+(?:\.\d)?)m", copy.clause.text).group(1))
        assert f"x >= {round(metres * 1000)}," in copy.rule


def test_fire_classes_take_standard_periods() -> None:
    pair = _pair("Doors should be fire resisting (minimum E 30).", "x >= 30",
                 "fire resistance at least 30 minutes", prop="fire_resistance_min")
    seen = set()
    for seed in range(30):
        copy = substituted_pair(pair, random.Random(seed))
        assert copy is not None
        period = int(re.search(r"minimum E (\d+)\)", copy.clause.text).group(1))
        assert period in FIRE_PERIODS and period != 30 and f"x >= {period}," in copy.rule
        seen.add(period)
    assert len(seen) >= 4


def test_a_range_keeps_its_order_or_gives_no_copy() -> None:
    pair = _pair("The rise of each step is between 150mm and 170mm.", "150 <= x <= 170", "rise 150 to 170 mm",
                 prop="rise_mm")
    kept = 0
    for seed in range(40):
        copy = substituted_pair(pair, random.Random(seed))
        if copy is None:
            continue
        low, high = map(int, re.search(r"between (\d+)mm and (\d+)mm", copy.clause.text).groups())
        assert low < high and f"{low} <= x <= {high}" in copy.rule
        kept += 1
    assert kept >= 10


def test_a_clause_without_a_limit_gives_no_copy() -> None:
    pair = _pair("Doors should be self-closing.", "x is True", "door is self closing", prop="is_self_closing")
    assert substituted_pair(pair, random.Random(0)) is None


def test_every_copy_of_the_corpus_reads_back_with_its_rule() -> None:
    """Read independently of the substitution: the rule's comparisons (constraint_match's reader) keep
    their units and comparators, and those that stated one of the clause's limits state one of the new
    clause's limits, as often as before."""
    train = [p for p in builtin_pairs() if p.split == "train"]
    copies = substituted_pairs(train, rounds=2, seed=3)
    by_id = {p.clause.clause_id: p for p in train}
    quantitative = [p for p in train if p.kind == "quantitative"]
    assert len(copies) >= 2 * 0.8 * len(quantitative)

    def limits(text: str) -> set[float]:
        return {v for c in find_constraints(text) for v in (c.low, c.high) if v is not None}

    def shape(rule: str) -> Counter[tuple[str, str]]:
        out: Counter[tuple[str, str]] = Counter()
        for (unit, op, _), n in numeric_constraints(rule).items():
            out[unit, op] += n
        return out

    def from_clause(rule: str, values: set[float]) -> int:
        return sum(n for (_, _, v), n in numeric_constraints(rule).items() if v in values)

    for copy in copies:
        original = by_id[copy.clause.clause_id.rsplit("~", 1)[0]]
        assert copy.clause.text != original.clause.text and copy.rule != original.rule
        assert shape(copy.rule) == shape(original.rule), copy.clause.clause_id
        assert from_clause(copy.rule, limits(copy.clause.text)) == from_clause(
            original.rule, limits(original.clause.text)), copy.clause.clause_id
    assert substituted_pairs(train[:30], rounds=2, seed=3) == substituted_pairs(train[:30], rounds=2, seed=3)
