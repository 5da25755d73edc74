"""The rule sandbox's child process: runs one untrusted rule on a few buildings, then exits.

Started by `clauselens.rules.sandbox` as `python -I -S -B sandbox_child.py` (no site-packages, no
environment, no bytecode writes). It reads one JSON request from stdin -- {"code", "buildings" (plain
`BuildingModel` data), "memory_mb", "cpu_s"} -- and writes one JSON line per building to stdout, then
{"done": true}. Only the standard library and `building.py` / `vocabulary.py` are loaded, by path, so
a call costs about 40 ms of CPU. Its own errors still go to stderr, which the parent reports.

Before the rule runs, the child locks itself down, in layers:
1. resource limits: address space (memory_mb), CPU seconds, no file growth, no new processes, no core
   dumps, and no file descriptors beyond those already open;
2. an audit hook (PEP 578) that refuses file opens, every `os.*` event (system, exec, fork, kill,
   remove, listdir ...), subprocesses, sockets, ctypes, new module imports, tracing, gc object walks and
   changes to resource limits; the first refusal is recorded, so a rule that catches it still fails;
3. the rule's own builtins: `__import__` admits only an allow-list of pure modules, and `open`, `exec`,
   `eval`, `compile`, `input` and `breakpoint` are refused.
Audit hooks are not a security boundary (see docs/rules.md): the resource limits, the separate process
and the parent's wall-clock kill are what contain a rule that escapes the hook.
"""

from __future__ import annotations

import builtins
import importlib
import io
import json
import math
import os
import resource
import sys
import types
import warnings
from typing import Any

RULE_FILENAME = "<rule>"
RULE_MODULE = "rule"
ALLOWED_IMPORTS = frozenset(
    {
        "__future__",
        "math",
        "cmath",
        "re",
        "itertools",
        "functools",
        "operator",
        "statistics",
        "collections",
        "collections.abc",
        "dataclasses",
        "typing",
        "fractions",
        "decimal",
        "numbers",
        "string",
        "bisect",
        "heapq",
        "enum",
        "copy",
    }
)
REFUSED_BUILTINS = ("open", "exec", "eval", "compile", "input", "breakpoint", "help", "exit", "quit")
REFUSED_EVENTS = frozenset(
    {
        "open",
        "import",
        "subprocess.Popen",
        "pty.spawn",
        "mmap.__new__",
        "code.__new__",
        "function.__new__",
        "marshal.loads",
        "marshal.load",
        "pickle.find_class",
        "sys.addaudithook",
        "sys.settrace",
        "sys.setprofile",
        "sys._current_frames",
        "resource.setrlimit",
        "resource.prlimit",
        "gc.get_objects",
        "gc.get_referrers",
        "gc.get_referents",
        "builtins.input",
        "builtins.breakpoint",
        "webbrowser.open",
        "urllib.Request",
        "sqlite3.connect",
        "glob.glob",
        "tempfile.mkstemp",
        "tempfile.mkdtemp",
        "cpython.run_command",
        "cpython.run_file",
        "cpython.run_module",
        "cpython.run_startup",
        "cpython._PySys_ClearAuditHooks",
    }
)
REFUSED_EVENT_PREFIXES = (
    "os.",
    "socket.",
    "ctypes.",
    "_ctypes.",
    "shutil.",
    "fcntl.",
    "signal.",
    "winreg.",
    "msvcrt.",
    "_winapi.",
    "syslog.",
    "ftplib.",
    "smtplib.",
    "http.",
    "telnetlib.",
)
MAX_FINDINGS = 10_000
MAX_TEXT = 500


class SandboxViolation(BaseException):
    """Raised into the rule when it does something refused; BaseException so `except Exception` misses it."""


class Guard:
    """The first refused action of the rule: (status, message, line)."""

    violation: tuple[str, str, int | None] | None = None

    @classmethod
    def refuse(cls, status: str, message: str) -> None:
        if cls.violation is None:
            cls.violation = (status, message, _rule_line_of_caller())
        raise SandboxViolation(message)


def _rule_line_of_caller() -> int | None:
    frame: types.FrameType | None = sys._getframe(1)
    while frame is not None and frame.f_code.co_filename != RULE_FILENAME:
        frame = frame.f_back
    return frame.f_lineno if frame is not None else None


def _audit(event: str, args: tuple[Any, ...]) -> None:
    if event in REFUSED_EVENTS or event.startswith(REFUSED_EVENT_PREFIXES):
        status = "forbidden_import" if event == "import" else "forbidden_operation"
        detail = f" {args[0]!r}" if args and isinstance(args[0], str | bytes | int) else ""
        Guard.refuse(status, f"{event}{detail} is not allowed in a rule")


def _load_rule_api() -> types.ModuleType:
    """Import building.py (and vocabulary.py) by path, under stub packages that skip the real __init__."""
    rules_dir = os.path.dirname(os.path.abspath(__file__))
    for name, path in (("clauselens", os.path.dirname(rules_dir)), ("clauselens.rules", rules_dir)):
        package = types.ModuleType(name)
        package.__path__ = [path]
        sys.modules[name] = package
    return importlib.import_module("clauselens.rules.building")


def _rule_builtins(api: types.ModuleType) -> dict[str, Any]:
    """The builtins a rule sees: no I/O or dynamic code, imports limited to the allow-list."""
    rules_facade = types.ModuleType("clauselens.rules")
    rules_facade.Finding, rules_facade.BuildingModel, rules_facade.Element = (
        api.Finding,
        api.BuildingModel,
        api.Element,
    )
    rules_facade.vocabulary = sys.modules["clauselens.rules.vocabulary"]
    package_facade = types.ModuleType("clauselens")
    package_facade.rules = rules_facade
    facades = {
        "clauselens": package_facade,
        "clauselens.rules": rules_facade,
        "clauselens.rules.vocabulary": rules_facade.vocabulary,
    }

    def guarded_import(
        name: str, globals: Any = None, locals: Any = None, fromlist: Any = (), level: int = 0
    ):
        if level == 0 and name in facades:
            return facades[name] if fromlist else package_facade
        if level != 0 or name not in ALLOWED_IMPORTS:
            Guard.refuse(
                "forbidden_import",
                f"import of {name!r} is not allowed in a rule; allowed: "
                f"{', '.join(sorted(ALLOWED_IMPORTS))}, clauselens.rules",
            )
        return builtins.__import__(name, globals, locals, fromlist, level)

    def refused(name: str):
        def refuse(*args: Any, **kwargs: Any) -> None:
            Guard.refuse("forbidden_operation", f"{name}() is not allowed in a rule")

        return refuse

    namespace = dict(vars(builtins))
    namespace.update({name: refused(name) for name in REFUSED_BUILTINS})
    namespace["__import__"] = guarded_import
    return namespace


def _lock_down(memory_mb: int, cpu_s: int) -> None:
    limit_bytes = memory_mb * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (limit_bytes, limit_bytes))
    resource.setrlimit(resource.RLIMIT_CPU, (cpu_s, cpu_s))
    resource.setrlimit(resource.RLIMIT_FSIZE, (0, 0))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    resource.setrlimit(resource.RLIMIT_NPROC, (0, 0))  # not enforced for root; the audit hook still is
    open_fds = [int(fd) for fd in os.listdir("/proc/self/fd")] if os.path.isdir("/proc/self/fd") else [8]
    fd_cap = max(open_fds) + 1
    resource.setrlimit(resource.RLIMIT_NOFILE, (fd_cap, fd_cap))
    sys.addaudithook(_audit)


def _rule_line(tb: types.TracebackType | None) -> int | None:
    line = None
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == RULE_FILENAME:
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


def _describe(exc: BaseException) -> str:
    try:
        text = f"{type(exc).__name__}: {exc}"
    except BaseException:  # a rule-defined __str__ may itself fail
        text = type(exc).__name__
    return text[:MAX_TEXT]


def _check_return(result: Any, api: types.ModuleType) -> list[list[Any]] | str:
    """Findings as [element_id, compliant, message] rows, or why the return value is not valid."""
    if not isinstance(result, list | tuple):
        return f"check_rule must return a list of Finding, got {type(result).__name__}"
    if len(result) > MAX_FINDINGS:
        return f"check_rule returned {len(result)} findings; at most {MAX_FINDINGS} are accepted"
    rows = []
    for i, item in enumerate(result):
        if not isinstance(item, api.Finding):
            return (
                f"check_rule returned a {type(item).__name__} at position {i}, not a clauselens.rules.Finding"
            )
        rows.append([str(item.element_id)[:MAX_TEXT], bool(item.compliant), str(item.message)[:MAX_TEXT]])
    return rows


def _run_one(
    code: types.CodeType, model: Any, api: types.ModuleType, rule_builtins: dict[str, Any], memory_mb: int
) -> dict[str, Any]:
    """Execute the rule module in fresh globals and call check_rule(model)."""
    module = types.ModuleType(RULE_MODULE)  # in sys.modules: dataclasses looks it up there
    module.__dict__.update({"__builtins__": rule_builtins, "Finding": api.Finding})
    sys.modules[RULE_MODULE] = module
    scope = module.__dict__
    try:
        exec(code, scope)
        check_rule = scope.get("check_rule")
        if not callable(check_rule):
            return {"status": "no_function", "message": "the rule defines no function check_rule(model)"}
        rows = _check_return(check_rule(model), api)
        if isinstance(rows, str):
            return {"status": "bad_return", "message": rows}
        return {"status": "ok", "findings": rows}
    except SandboxViolation as exc:  # main() reports the recorded violation in its place
        return {"status": "forbidden_operation", "message": str(exc)[:MAX_TEXT]}
    except MemoryError as exc:
        return {
            "status": "memory",
            "message": f"MemoryError: the rule exceeded its {memory_mb} MB limit",
            "line": _rule_line(exc.__traceback__),
        }
    except BaseException as exc:  # the rule's own failure, whatever it raised
        return {"status": "exception", "message": _describe(exc), "line": _rule_line(exc.__traceback__)}


def main() -> None:
    request = json.loads(sys.stdin.buffer.read())
    api = _load_rule_api()
    for name in sorted(ALLOWED_IMPORTS):
        importlib.import_module(name)
    results = os.fdopen(os.dup(1), "wb", buffering=0)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.close(devnull)
    warnings.simplefilter("ignore")  # showing a warning reads source files, which the hook refuses
    models = [api.BuildingModel.from_dict(data) for data in request["buildings"]]
    code = compile(request["code"], RULE_FILENAME, "exec", dont_inherit=True)
    rule_builtins = _rule_builtins(api)
    memory_mb = int(request["memory_mb"])
    _lock_down(memory_mb, int(math.ceil(request["cpu_s"])))
    for i, model in enumerate(models):
        sys.stdout = io.StringIO()  # print() output is discarded; results have their own fd
        result = _run_one(code, model, api, rule_builtins, memory_mb)
        if Guard.violation is not None:
            status, message, line = Guard.violation
            result = {"status": status, "message": message, "line": line}
        results.write(json.dumps({"building": i, **result}).encode() + b"\n")
        if Guard.violation is not None:
            break
    results.write(b'{"done": true}\n')
    os._exit(0)  # skip interpreter shutdown: rule-defined __del__ methods never run


if __name__ == "__main__":
    main()
