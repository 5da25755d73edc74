"""Run untrusted rules in a separate, limited process and report what happened as a `RuleOutcome`.

The parent does everything that needs trust or ifcopenshell: it checks the syntax (`compile`, no
execution), parses the buildings into plain data and hands them to `supervise.run_child`, which starts
the child inside the operating-system layers (`isolation.py`: bubblewrap namespaces; `seccomp.py`: limits
and a seccomp filter) and kills it on its wall-clock limit. The child (`sandbox_child.py`, a bare
`python -I -S -B`) gets the code and buildings as JSON on stdin, so it starts fast and never imports
ifcopenshell. What each layer refuses and why is in those modules' docstrings and in docs/rules.md.
"""

from __future__ import annotations

import math
import signal
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, get_args

from . import supervise
from .building import BuildingModel, Finding
from .ifc import building_data

Status = Literal[
    "ok",
    "syntax_error",
    "forbidden_import",
    "forbidden_operation",
    "timeout",
    "memory",
    "exception",
    "bad_return",
    "no_function",
]
BuildingSource = str | Path | dict[str, Any] | BuildingModel
STATUSES = frozenset(get_args(Status))
RULE_FILENAME = "<rule>"
MAX_CODE_CHARS = 100_000
MIN_MEMORY_MB = 64


@dataclass
class RuleOutcome:
    """What running a rule on some buildings gave: a status, and per building its findings and verdict.

    `status` is "ok" only when every building ran cleanly; otherwise it is the first failure (in building
    order), with its message and rule-source line. Buildings that ran cleanly keep their findings and
    verdict (all findings compliant; True when there are none); the others get [] and None.
    """

    status: Status
    message: str = ""
    line: int | None = None
    findings: list[list[Finding]] = field(default_factory=list)
    verdicts: list[bool | None] = field(default_factory=list)
    wall_s: float = 0.0

    @property
    def ok(self) -> bool:
        return self.status == "ok"


def run_rule(
    code: str, buildings: Sequence[BuildingSource], timeout_s: float = 5.0, memory_mb: int = 512
) -> RuleOutcome:
    """Run the rule `code` (defining `check_rule(model)`) on each building in a sandboxed subprocess.

    `buildings` are IFC paths, building specs or `BuildingModel`s. `timeout_s` bounds the child's wall
    time for all buildings together (start-up included); `memory_mb` its address space. Bad buildings
    raise ValueError (the caller's error); everything the rule does wrong is reported in the outcome.
    With no buildings nothing runs: the outcome is "ok" (or "syntax_error") with a message saying so.
    """
    return _run(code, [building_data(b) for b in buildings], timeout_s, memory_mb)


def run_rules(
    codes: Sequence[str],
    buildings: Sequence[BuildingSource],
    timeout_s: float = 5.0,
    memory_mb: int = 512,
    workers: int = 1,
) -> list[RuleOutcome]:
    """`run_rule` for many rules on the same buildings: parsed once, each rule in its own child process,
    up to `workers` children at a time."""
    data = [building_data(b) for b in buildings]
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        return list(pool.map(lambda code: _run(code, data, timeout_s, memory_mb), codes))


def _run(code: str, buildings: list[dict[str, Any]], timeout_s: float, memory_mb: int) -> RuleOutcome:
    if not isinstance(code, str):
        raise TypeError(f"rule code must be a str, got {type(code).__name__}")
    if not timeout_s > 0:
        raise ValueError(f"timeout_s must be positive, got {timeout_s}")
    if memory_mb < MIN_MEMORY_MB:
        raise ValueError(
            f"memory_mb must be at least {MIN_MEMORY_MB} (the child's own interpreter), got {memory_mb}"
        )
    start = time.perf_counter()
    n = len(buildings)
    syntax = _syntax_error(code)
    if syntax is not None:
        message, line = syntax
        return RuleOutcome("syntax_error", message, line, [[] for _ in range(n)], [None] * n)
    if not buildings:
        return RuleOutcome(
            "ok", "no buildings: only the syntax was checked", wall_s=time.perf_counter() - start
        )
    request = {"code": code, "buildings": buildings, "memory_mb": memory_mb}
    run = supervise.run_child(request, timeout_s, memory_mb, math.ceil(timeout_s) + 1)
    outcome = _collect(run.rows, n)
    if outcome.status == "ok" and run.timed_out:  # a failure on an earlier building stays the first failure
        outcome.status, outcome.message = "timeout", f"the rule ran longer than {timeout_s:g} s"
    elif outcome.status == "ok" and run.flooded:
        outcome.status = "exception"
        outcome.message = f"the rule wrote more than {supervise.MAX_RESULT_BYTES} bytes to its result channel"
    elif outcome.status == "ok" and (not run.finished or run.returncode != 0):
        outcome.status, outcome.message = _crash(run.returncode, run.stderr)
    elif outcome.status == "ok" and None in outcome.verdicts:
        missing = outcome.verdicts.index(None)
        outcome.status, outcome.message = (
            "exception",
            f"building {missing}: the rule process reported no result",
        )
    outcome.wall_s = time.perf_counter() - start
    return outcome


def _syntax_error(code: str) -> tuple[str, int | None] | None:
    """Compile (never run) the rule in the parent: (message, line) when it is not valid Python."""
    if len(code) > MAX_CODE_CHARS:
        return f"rule source has {len(code)} characters; at most {MAX_CODE_CHARS} are accepted", None
    try:
        compile(code, RULE_FILENAME, "exec", dont_inherit=True)
    except SyntaxError as exc:
        return f"{type(exc).__name__}: {exc.msg}", exc.lineno
    except (ValueError, RecursionError, MemoryError) as exc:  # null bytes, absurd nesting
        return f"{type(exc).__name__}: {exc}", None
    return None


def _collect(rows: list[tuple[Any, ...]], n: int) -> RuleOutcome:
    """Per-building results from the child's rows (building, status, message, line, findings); the first
    failure in building order sets the status. Rows that do not follow the protocol are skipped."""
    outcome = RuleOutcome("ok", findings=[[] for _ in range(n)], verdicts=[None] * n)
    failures: dict[int, tuple[str, str, int | None]] = {}
    for row in rows:
        try:
            i, status, message, line, raw = row
            findings = [Finding(str(e), bool(c), str(m)) for e, c, m in raw]
            valid = isinstance(i, int) and 0 <= i < n and status in STATUSES and isinstance(message, str)
            if not valid or not (line is None or isinstance(line, int)) or i in failures:
                continue
        except (ValueError, TypeError):
            continue
        if status == "ok":
            outcome.findings[i] = findings
            outcome.verdicts[i] = all(f.compliant for f in findings)
        else:
            failures[i] = (status, message, line)
            outcome.findings[i], outcome.verdicts[i] = [], None
    if failures:
        first = min(failures)
        outcome.status, message, outcome.line = failures[first]  # type: ignore[assignment]
        outcome.message = f"building {first}: {message}"
    return outcome


def _crash(returncode: int, err: bytes) -> tuple[Status, str]:
    """Classify a child that died before reporting every building."""
    tail = err.decode(errors="replace").strip()[-300:]
    if returncode == -signal.SIGXCPU:
        return "timeout", "the rule used up its CPU-time limit"
    if (
        "MemoryError" in tail or "allocate memory" in tail or returncode == -signal.SIGKILL
    ):  # SIGKILL: the OOM killer (a rule cannot send signals: the seccomp filter refuses kill)
        return "memory", f"the rule process ran out of memory (exit {returncode}) {tail}".strip()
    return "exception", f"the rule process died (exit {returncode}) {tail}".strip()
