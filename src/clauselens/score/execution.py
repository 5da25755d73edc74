"""Execution metric: run the generated rule on the clause's fixture buildings, compare its verdicts.

A rule is code that can be run, so a rule that reads like the reference but checks the wrong threshold
is caught here and nowhere else. The generated code only ever runs in `clauselens.rules.run_rule`'s
sandboxed subprocess.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from clauselens.rules import run_rule
from clauselens.score.value import MetricValue

MAX_DETAIL = 200


def verdict_accuracy(generated: str, fixtures: Sequence[dict[str, Any]], timeout_s: float = 5.0,
                     memory_mb: int = 512) -> MetricValue:
    """Share of the clause's fixtures on which the generated rule's verdict equals the expected one.

    `fixtures` are `RulePair.fixtures`: `{"name", "expect_compliant", "building": spec}`, where
    `expect_compliant` is the reference rule's verdict (compliant = every finding compliant). Higher is
    better, in [0, 1].
    - No fixtures: NaN, detail "no fixtures" (the clause has no execution score; summaries skip NaN).
    - The rule fails in the sandbox (syntax error, forbidden import, timeout, exception, ...) on any
      fixture: 0, detail "<status>: <message>"; the status (`RuleOutcome.status`) is the text before
      the first colon, so failures can be counted by type.
    - Otherwise the share of agreeing fixtures; detail names the fixtures it got wrong.
    """
    if not fixtures:
        return MetricValue(math.nan, "no fixtures")
    for i, fixture in enumerate(fixtures):
        missing = {"building", "expect_compliant"} - set(fixture)
        if missing:
            raise ValueError(f"fixtures[{i}] ({fixture.get('name', '?')!r}): missing field(s) "
                             f"{sorted(missing)}; expected name, expect_compliant, building")
    outcome = run_rule(generated, [f["building"] for f in fixtures], timeout_s=timeout_s, memory_mb=memory_mb)
    if outcome.status != "ok":
        return MetricValue(0.0, f"{outcome.status}: {outcome.message}"[:MAX_DETAIL])
    pairs = zip(fixtures, outcome.verdicts, strict=True)
    wrong = [str(f.get("name", i)) for i, (f, verdict) in enumerate(pairs)
             if verdict != bool(f["expect_compliant"])]
    detail = f"wrong on: {', '.join(wrong)}"[:MAX_DETAIL] if wrong else ""
    return MetricValue(1.0 - len(wrong) / len(fixtures), detail)
