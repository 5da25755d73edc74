"""Check reference rules by running them: each rule, in the sandbox, on its fixture buildings.

A pair passes when the rule runs cleanly and its verdict on every fixture (all findings compliant) equals
the fixture's `expect_compliant`, and the rule finds at least one element in each fixture (a rule that
looks at the wrong element kind would otherwise pass vacuously). A quantitative pair must have an
"inside" and an "outside" fixture.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from clauselens.records import RulePair
from clauselens.rules import BuildingModel, load_building, run_rule


@dataclass
class VerifyResult:
    checked: list[RulePair] = field(default_factory=list)
    failures: list[tuple[str, str]] = field(default_factory=list)  # (clause id, why)
    fixtures_run: int = 0
    wall_s: float = 0.0


def _seeded_sample(pairs: list[RulePair], n: int | None) -> list[RulePair]:
    if n is None or n >= len(pairs):
        return pairs
    key = {
        p.clause.clause_id: hashlib.sha256(f"verify:{p.clause.clause_id}".encode()).hexdigest() for p in pairs
    }
    keep = set(sorted(key, key=key.__getitem__)[:n])
    return [p for p in pairs if p.clause.clause_id in keep]


def _check(pair: RulePair, timeout_s: float) -> tuple[str | None, int]:
    """Why the pair fails (or None), and how many fixtures were run."""
    names = [f.get("name") for f in pair.fixtures]
    if pair.kind == "quantitative" and not {"inside", "outside"} <= set(names):
        return f"quantitative pair needs 'inside' and 'outside' fixtures, has {names}", 0
    if not pair.fixtures:
        return None, 0
    try:
        buildings: list[BuildingModel] = [load_building(f["building"]) for f in pair.fixtures]
    except (KeyError, ValueError) as exc:
        return f"bad fixture building: {exc}", 0
    return _verdicts(pair, buildings, timeout_s), len(buildings)


def _verdicts(pair: RulePair, buildings: list[BuildingModel], timeout_s: float) -> str | None:
    outcome = run_rule(pair.rule, buildings, timeout_s=timeout_s)
    if not outcome.ok:
        return f"rule {outcome.status}: {outcome.message} (line {outcome.line})"
    for fixture, findings, verdict in zip(pair.fixtures, outcome.findings, outcome.verdicts, strict=True):
        if not findings:
            return f"fixture {fixture['name']!r}: the rule checked no element"
        if verdict != fixture["expect_compliant"]:
            return f"fixture {fixture['name']!r}: verdict {verdict}, expected {fixture['expect_compliant']}"
    return None


def verify_pairs(
    pairs: list[RulePair],
    sample: int | None = None,
    workers: int = 2,
    timeout_s: float = 10.0,
    on_done: Callable[[], None] | None = None,
) -> VerifyResult:
    """Verify every pair (or a seeded sample); rules run `workers` at a time in sandboxed processes."""
    start = time.perf_counter()
    chosen = _seeded_sample(pairs, sample)

    def one(pair: RulePair) -> tuple[str | None, int]:
        try:
            return _check(pair, timeout_s)
        finally:
            if on_done:
                on_done()

    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        outcomes = list(pool.map(one, chosen))
    result = VerifyResult(checked=chosen, fixtures_run=sum(n for _, n in outcomes))
    result.failures = [(p.clause.clause_id, why) for p, (why, _) in zip(chosen, outcomes, strict=True) if why]
    result.wall_s = time.perf_counter() - start
    return result
