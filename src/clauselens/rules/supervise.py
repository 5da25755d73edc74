"""The driver side of one sandboxed rule run: start the child in its layers, feed it, read it, end it.

Why a separate result pipe with a token: the child's stdout is /dev/null and the verdict travels on its
own descriptor (fd 3 in the child), each line prefixed with a random token made for this run only and
handed to the child on stdin. A rule that writes to any descriptor it can reach cannot forge a line
without the token, which lives only where the audit hook keeps rule code out. Everything the child
sends is capped (`MAX_RESULT_BYTES`, `MAX_STDERR_BYTES`), so a flood cannot exhaust the driver; the
wall-clock limit kills the child's whole session, or with bubblewrap its whole PID namespace.
"""

from __future__ import annotations

import ast
import contextlib
import json
import os
import secrets
import selectors
import signal
import subprocess
import time
from dataclasses import dataclass, field
from typing import Any

from . import isolation, seccomp

CHILD = "sandbox_child.py"
LAUNCHER = "seccomp.py"
CHILD_RESULT_FD = 3
MAX_RESULT_BYTES = 64 * 1024 * 1024
MAX_STDERR_BYTES = 64 * 1024
KILL_GRACE_S = 2.0


@dataclass
class ChildRun:
    """What one child run gave: its result rows (token checked), stderr head, how it ended."""

    rows: list[tuple[Any, ...]] = field(default_factory=list)
    finished: bool = False
    stderr: bytes = b""
    timed_out: bool = False
    flooded: bool = False
    returncode: int = 0


def command(memory_mb: int, cpu_s: int, result_fd: int, program: list[str] | None = None) -> list[str]:
    """bwrap (when it works here) + the seccomp launcher + `program` (default: the rule child), whose
    `result_fd` becomes its fd 3. The red-team tests pass their own program to test the outer layers
    with the Python layer out of the way."""
    python, here = isolation.interpreter(), isolation.rules_dir()
    launcher = [python, "-I", "-S", "-B", str(here / LAUNCHER), str(memory_mb), str(cpu_s)]
    launcher += ["1" if seccomp.available() else "0", str(result_fd), "--"]
    child = program or [python, "-I", "-S", "-B", str(here / CHILD), str(CHILD_RESULT_FD)]
    return [*(isolation.bwrap_command() or ()), *launcher, *child]


def run_child(request: dict[str, Any], timeout_s: float, memory_mb: int, cpu_s: int) -> ChildRun:
    """Run the child on `request` (a token is added); never leaves it running."""
    token = secrets.token_hex(16)
    payload = json.dumps({**request, "token": token}).encode()
    read_end, write_end = os.pipe()
    try:
        proc = subprocess.Popen(
            command(memory_mb, cpu_s, write_end),
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            pass_fds=(write_end,),
            env={},
            cwd="/",
            start_new_session=True,
        )
    finally:
        os.close(write_end)
    run = ChildRun()
    try:
        result = _pump(proc, payload, read_end, time.monotonic() + timeout_s, run)
    finally:
        os.close(read_end)
        if proc.poll() is None:  # timed out, flooded, or the caller was interrupted
            _kill_session(proc)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=KILL_GRACE_S)
        if proc.stdin is not None:
            with contextlib.suppress(OSError):
                proc.stdin.close()
        if proc.stderr is not None:
            proc.stderr.close()
    run.returncode = _signal_code(proc.returncode if proc.returncode is not None else -signal.SIGKILL)
    prefix = token.encode() + b" "
    for line in result.splitlines():
        at = line.find(prefix)
        row = _parse(line[at + len(prefix) :]) if at >= 0 else None
        if row == ("done",):
            run.finished = True
        elif row is not None:
            run.rows.append(row)
    return run


def _pump(
    proc: subprocess.Popen[bytes], payload: bytes, result_fd: int, deadline: float, run: ChildRun
) -> bytes:
    """Write stdin, read the result pipe and stderr, all without blocking, until EOF or the deadline."""
    assert proc.stdin is not None and proc.stderr is not None
    sel = selectors.DefaultSelector()
    os.set_blocking(proc.stdin.fileno(), False)
    sel.register(proc.stdin.fileno(), selectors.EVENT_WRITE, "stdin")
    sel.register(result_fd, selectors.EVENT_READ, "result")
    sel.register(proc.stderr.fileno(), selectors.EVENT_READ, "stderr")
    result, err, sent, open_readers = bytearray(), bytearray(), 0, 2
    try:
        while open_readers:
            left = deadline - time.monotonic()
            if left <= 0:
                run.timed_out = True
                break
            for key, _ in sel.select(timeout=left):
                if key.data == "stdin":
                    try:
                        sent += os.write(key.fd, payload[sent : sent + 65536])
                    except (BrokenPipeError, BlockingIOError) as exc:
                        if isinstance(exc, BlockingIOError):
                            continue
                        sent = len(payload)
                    if sent >= len(payload):
                        sel.unregister(key.fd)
                        proc.stdin.close()
                    continue
                chunk = os.read(key.fd, 65536)
                if not chunk:
                    sel.unregister(key.fd)
                    open_readers -= 1
                elif key.data == "result":
                    result += chunk
                    if len(result) > MAX_RESULT_BYTES:
                        run.flooded = True
                        return bytes(result[:MAX_RESULT_BYTES])
                elif len(err) < MAX_STDERR_BYTES:
                    err += chunk[: MAX_STDERR_BYTES - len(err)]
    finally:
        sel.close()
        run.stderr = bytes(err)
    return bytes(result)


def _parse(text: bytes) -> tuple[Any, ...] | None:
    """A result row: a tuple literal (never evaluated as code); anything else is None."""
    try:
        row = ast.literal_eval(text.decode())
    except (ValueError, SyntaxError, UnicodeDecodeError, MemoryError, RecursionError, TypeError):
        return None
    return row if isinstance(row, tuple) else None


def _kill_session(proc: subprocess.Popen[bytes]) -> None:
    """SIGKILL the child's whole session; with bwrap this ends its PID namespace and all in it."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(ProcessLookupError):
        proc.kill()


def _signal_code(returncode: int) -> int:
    """bwrap reports a child killed by signal N as exit 128+N; give it as -N, like subprocess does."""
    if isolation.bwrap_command() is not None and 128 < returncode < 128 + 65:
        return -(returncode - 128)
    return returncode
