"""Run untrusted rules in a separate, limited process and report what happened as a `RuleOutcome`.

The parent does everything that needs trust or ifcopenshell: it checks the syntax (`compile`, no
execution), parses the buildings into plain data and kills the child on its wall-clock limit. The child
(`sandbox_child.py`, a bare `python -I -S -B`) gets the code and buildings as JSON on stdin, so it
starts fast and never imports ifcopenshell. What the child refuses and why is in its docstring and in
docs/rules.md.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, get_args

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
CHILD = Path(__file__).with_name("sandbox_child.py")
RULE_FILENAME = "<rule>"
MAX_CODE_CHARS = 100_000
MIN_MEMORY_MB = 64
KILL_GRACE_S = 2.0


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
    request = json.dumps(
        {"code": code, "buildings": buildings, "memory_mb": memory_mb, "cpu_s": math.ceil(timeout_s) + 1}
    ).encode()
    out, err, timed_out, returncode = _communicate(request, timeout_s)
    outcome = _collect(out, n)
    if outcome.status == "ok" and timed_out:  # a failure on an earlier building stays the first failure
        outcome.status, outcome.message = "timeout", f"the rule ran longer than {timeout_s:g} s"
    elif outcome.status == "ok" and not _finished(out):
        outcome.status, outcome.message = _crash(returncode, err)
    outcome.wall_s = time.perf_counter() - start
    return outcome


def _communicate(request: bytes, timeout_s: float) -> tuple[bytes, bytes, bool, int]:
    """Run the child on `request`: (stdout, stderr, timed out, return code). Never leaves it running."""
    proc = subprocess.Popen(
        [sys.executable, "-I", "-S", "-B", str(CHILD)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={},
        cwd="/",
        start_new_session=True,
    )
    timed_out = False
    try:
        out, err = proc.communicate(request, timeout=timeout_s)
    except subprocess.TimeoutExpired:
        timed_out = True
        _kill_session(proc)
        try:
            out, err = proc.communicate(timeout=KILL_GRACE_S)
        except subprocess.TimeoutExpired:  # something outside the session holds the pipes open
            out, err = b"", b""
    finally:
        if proc.poll() is None:  # the caller was interrupted (KeyboardInterrupt, cancelled task)
            _kill_session(proc)
            proc.wait()
    return out, err, timed_out, proc.wait()


def _kill_session(proc: subprocess.Popen[bytes]) -> None:
    """SIGKILL the child's whole session: the child and anything it managed to start."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)


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


def _collect(out: bytes, n: int) -> RuleOutcome:
    """Per-building results from the child's JSON lines; the first failure sets the status.

    Lines that do not follow the protocol are skipped, so a child that writes garbage cannot raise here.
    """
    outcome = RuleOutcome("ok", findings=[[] for _ in range(n)], verdicts=[None] * n)
    for raw in out.splitlines():
        try:
            row = json.loads(raw)
            i, status = int(row["building"]), row["status"]
            findings = [Finding(str(e), bool(c), str(m)) for e, c, m in row.get("findings", [])]
            line = row.get("line")
            if not 0 <= i < n or status not in STATUSES or not (line is None or isinstance(line, int)):
                continue
        except (ValueError, TypeError, KeyError, AttributeError):
            continue
        if status == "ok":
            outcome.findings[i] = findings
            outcome.verdicts[i] = all(f.compliant for f in findings)
        elif outcome.status == "ok":
            outcome.status, outcome.line = status, line
            outcome.message = f"building {i}: {row.get('message', '')}"
    return outcome


def _finished(out: bytes) -> bool:
    return out.rstrip().endswith(b'{"done": true}')


def _crash(returncode: int, err: bytes) -> tuple[Status, str]:
    """Classify a child that died before reporting every building."""
    tail = err.decode(errors="replace").strip()[-300:]
    if returncode == -signal.SIGXCPU:
        return "timeout", "the rule used up its CPU-time limit"
    if (
        "MemoryError" in tail or "allocate memory" in tail or returncode == -signal.SIGKILL
    ):  # SIGKILL: OOM killer
        return "memory", f"the rule process ran out of memory (exit {returncode}) {tail}".strip()
    return "exception", f"the rule process died (exit {returncode}) {tail}".strip()
