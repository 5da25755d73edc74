"""The rule sandbox's child process: runs one untrusted rule on a few buildings, then exits.

Started by `clauselens.rules.supervise` as `python -I -S -B sandbox_child.py RESULT_FD`, already inside
the outer layers (bubblewrap namespaces where available, resource limits and the seccomp filter from
`seccomp.py`). It reads one JSON request from stdin -- {"code", "buildings" (plain `BuildingModel`
data), "token"} -- and writes, on the descriptor RESULT_FD, one line per building and a last "done"
line, each starting with the per-run random token (never on stdout, which is /dev/null). Only the
standard library and `building.py` / `vocabulary.py` are loaded, by path.

Before the rule runs the child, in this order: drops to user and group 65534 when it is root; builds
the functions that guard and run the rule with private globals (a copy of the builtins and nothing
else) and keeps what they need -- the refused-event tables, the token, the result descriptor, the
shared state -- in keyword-only defaults, whose reading and writing the audit hook refuses; removes
itself from `sys.modules`; installs the audit hook. What the rule can reach is its own globals, its
restricted builtins and the modules it may import. The routes to anything else are closed by the hook:
frames (`tb_frame`, `gi_frame`, `cr_frame`, `ag_frame`, `sys._getframe`), function internals of the
guard functions, `gc` object walks, `object.__setattr__` on functions, and no class of this module
exists to be found by `object.__subclasses__()`. The hook writes a refusal to the result descriptor
itself, with the rule's line, before raising, so a rule that catches the exception is still reported.

The audit hook is the innermost layer only (CPython documents that hooks are no security boundary):
the seccomp filter, the unprivileged user and the namespaces hold when it is bypassed.
"""

from __future__ import annotations

import builtins
import functools
import importlib
import io
import json
import os
import sys
import types
import warnings
from typing import Any

RULE_FILENAME = "<rule>"
RULE_MODULE = "rule"
NOBODY = 65534
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
        "sys._getframe",
        "sys._current_frames",
        "sys._current_exceptions",
        "object.__setattr__",
        "object.__delattr__",
        "resource.setrlimit",
        "resource.prlimit",
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
        "clauselens.refused",
    }
)
REFUSED_EVENT_PREFIXES = (
    "os.",
    "socket.",
    "ctypes.",
    "_ctypes.",
    "gc.",
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
    "_posixsubprocess.",
)
FRAME_ATTRIBUTES = frozenset({"tb_frame", "gi_frame", "cr_frame", "ag_frame", "f_back", "f_code"})
MAX_FINDINGS = 10_000
MAX_TEXT = 500


# --- functions that run after lock-down; each is rebuilt with private globals by _detach -----------
# The names below are placeholders here; main() puts the real values into the private globals only.
STATE: list[Any] = []  # [building index, trusted, refused already]
VIOLATION: type[BaseException] = BaseException
TOKEN = b""
RESULT_FD = -1
GETFRAME = sys._getframe
WRITE = os.write


def _audit(event: str, args: tuple[Any, ...]) -> None:
    """The audit hook: refuse what a rule must not do, record the first refusal, raise into the rule.

    STATE = [building index, trusted, refused already]; while `trusted` is set, the child itself is
    reading frames or tracebacks, with no rule code on the way.
    """
    if STATE[1]:
        return
    if event == "object.__getattr__":
        if args[1] in FRAME_ATTRIBUTES:
            _refuse("forbidden_operation", f"reading {_text(args[1])} is not allowed in a rule")
        return
    first = _text(args[0]) if args else ""
    if event == "clauselens.import":
        allowed = args[1] if type(args[1]) is str else ""
        _refuse("forbidden_import", f"import of {first} is not allowed in a rule; {allowed}")
    if event == "import":
        _refuse("forbidden_import", f"import of {first} is not allowed in a rule")
    if event == "clauselens.refused":
        name = args[0] if type(args[0]) is str else "?"
        _refuse("forbidden_operation", f"{name}() is not allowed in a rule")
    if event in REFUSED_EVENTS or event.startswith(REFUSED_EVENT_PREFIXES):
        _refuse("forbidden_operation", f"{event} {first} is not allowed in a rule".replace("  ", " "))


def _text(value: Any) -> str:
    """A short repr of plain values only: formatting a rule's own object could run rule code."""
    return repr(value)[:100] if type(value) in (str, bytes, int) else ""


def _refuse(status: str, message: str) -> None:
    """Write the first refusal (with the rule's line) on the result descriptor, then raise."""
    if not STATE[2]:
        STATE[2] = STATE[1] = True
        try:
            line = _caller_rule_line(GETFRAME(2))
        finally:
            STATE[1] = False
        _emit((STATE[0], status, message[:MAX_TEXT], line, []))
    raise VIOLATION(message)


def _caller_rule_line(frame: Any) -> int | None:
    while frame is not None and frame.f_code.co_filename != RULE_FILENAME:
        frame = frame.f_back
    return frame.f_lineno if frame is not None else None


def _emit(row: tuple[Any, ...]) -> None:
    """One result line: the token, then the row as a Python literal of plain str/int/bool/None/list."""
    data = TOKEN + b" " + repr(row).encode(errors="replace") + b"\n"
    while data:
        data = data[WRITE(RESULT_FD, data) :]


def _guarded_import(
    state: tuple[Any, ...],
    /,
    name: str,
    globals: Any = None,
    locals: Any = None,
    fromlist: Any = (),
    level: int = 0,
):
    """The rule's `__import__` (bound to `state` by a partial): the allow-list and the
    `clauselens.rules` facade; anything else is refused through the audit hook."""
    allowed, facades, package, real_import, audit, allowed_text, type_, str_ = state
    if type_(name) is not str_ or level != 0 or (name not in allowed and name not in facades):
        audit("clauselens.import", name if type_(name) is str_ else "?", allowed_text)
    if name in facades:
        return facades[name] if fromlist else package
    return real_import(name, globals, locals, fromlist, level)


def _run_all(*, code, models, finding, rule_builtins, memory_mb) -> None:
    """Run the rule on each building and emit its row; stop at the first refusal (already emitted)."""
    state = STATE
    for i, model in enumerate(models):
        state[0] = i
        sys.stdout = io.StringIO()  # print() output is discarded; results have their own descriptor
        row = _run_one(code, model, finding, rule_builtins, memory_mb)
        if state[2]:
            break
        _emit((i, *row))
    _emit(("done",))


def _run_one(code, model, finding, rule_builtins, memory_mb) -> tuple[Any, ...]:
    """(status, message, line, findings) for one building, the rule module executed in fresh globals."""
    module = types.ModuleType(RULE_MODULE)  # in sys.modules: dataclasses looks it up there
    module.__dict__.update({"__builtins__": rule_builtins, "Finding": finding})
    sys.modules[RULE_MODULE] = module
    scope = module.__dict__
    try:
        exec(code, scope)
        check_rule = scope.get("check_rule")
        if not callable(check_rule):
            return ("no_function", "the rule defines no function check_rule(model)", None, [])
        rows = _check_return(check_rule(model), finding)
        if type(rows) is str:
            return ("bad_return", rows, None, [])
        return ("ok", "", None, rows)
    except VIOLATION:
        return ("forbidden_operation", "", None, [])  # the hook has emitted the real row
    except MemoryError as exc:
        message = f"MemoryError: the rule exceeded its {memory_mb} MB limit"
        return ("memory", message, _traceback_rule_line(exc.__traceback__), [])
    except BaseException as exc:  # the rule's own failure, whatever it raised
        return ("exception", _describe(exc), _traceback_rule_line(exc.__traceback__), [])


def _traceback_rule_line(tb: Any) -> int | None:
    """The last rule-source line in a traceback (read while trusted: no rule code runs here)."""
    state, line = STATE, None
    state[1] = True
    try:
        while tb is not None:
            if tb.tb_frame.f_code.co_filename == RULE_FILENAME:
                line = tb.tb_lineno
            tb = tb.tb_next
    finally:
        state[1] = False
    return line if type(line) is int else None


def _plain(value: Any) -> str:
    """`str(value)` as an exact `str` (a rule's str subclass cannot steer the result encoding)."""
    return str.__str__(str(value))[:MAX_TEXT]


def _describe(exc: BaseException) -> str:
    try:
        return _plain(f"{type(exc).__name__}: {exc}")
    except BaseException:  # a rule-defined __str__ may itself fail
        return _plain(type(exc).__name__)


def _check_return(result: Any, finding: type) -> list[list[Any]] | str:
    """Findings as [element_id, compliant, message] rows, or why the return value is not valid."""
    if not isinstance(result, list | tuple):
        return f"check_rule must return a list of Finding, got {type(result).__name__}"
    if len(result) > MAX_FINDINGS:
        return f"check_rule returned {len(result)} findings; at most {MAX_FINDINGS} are accepted"
    items = list(result)
    if len(items) > MAX_FINDINGS:
        return f"check_rule returned {len(items)} findings; at most {MAX_FINDINGS} are accepted"
    rows = []
    for i, item in enumerate(items):
        if not isinstance(item, finding):
            kind = type(item).__name__
            return f"check_rule returned a {kind} at position {i}, not a clauselens.rules.Finding"
        rows.append([_plain(item.element_id), bool(item.compliant), _plain(item.message)])
    return rows


# --- set-up, before lock-down -------------------------------------------------------------------

DETACHED = (_audit, _text, _refuse, _caller_rule_line, _emit, _run_all, _run_one, _traceback_rule_line)
DETACHED += (_plain, _describe, _check_return)
CONSTANTS = ("RULE_FILENAME", "RULE_MODULE", "MAX_FINDINGS", "MAX_TEXT", "REFUSED_EVENTS")
CONSTANTS += ("REFUSED_EVENT_PREFIXES", "FRAME_ATTRIBUTES", "io", "sys", "types")


def _detach(functions: tuple[types.FunctionType, ...], names: dict[str, Any]) -> dict[str, Any]:
    """Rebuild `functions` over one private globals dict (a builtins copy, `names`, each other)."""
    private: dict[str, Any] = {"__builtins__": dict(vars(builtins)), "__name__": "sandbox"}
    private.update(names)
    private.update({name: globals()[name] for name in CONSTANTS})
    for f in functions:
        private[f.__name__] = types.FunctionType(f.__code__, private, f.__name__)
    return private


def _load_rule_api() -> types.ModuleType:
    """Import building.py (and vocabulary.py) by path, under stub packages that skip the real __init__."""
    rules_dir = os.path.dirname(os.path.abspath(__file__))
    for name, path in (("clauselens", os.path.dirname(rules_dir)), ("clauselens.rules", rules_dir)):
        package = types.ModuleType(name)
        package.__path__ = [path]
        sys.modules[name] = package
    return importlib.import_module("clauselens.rules.building")


def _rule_builtins(api: types.ModuleType) -> dict[str, Any]:
    """The builtins a rule sees: no I/O or dynamic code, imports limited to the allow-list.

    The import guard and the refused builtins are `functools.partial` objects over a function with empty
    globals and over `sys.audit`: nothing in them leads to the hook, its tables or the result channel."""
    rules_facade = types.ModuleType("clauselens.rules")
    rules_facade.Finding, rules_facade.BuildingModel, rules_facade.Element = (
        api.Finding,
        api.BuildingModel,
        api.Element,
    )
    rules_facade.vocabulary = sys.modules["clauselens.rules.vocabulary"]
    package = types.ModuleType("clauselens")
    package.rules = rules_facade
    facades = types.MappingProxyType(
        {
            "clauselens": package,
            "clauselens.rules": rules_facade,
            "clauselens.rules.vocabulary": rules_facade.vocabulary,
        }
    )
    allowed_text = f"allowed: {', '.join(sorted(ALLOWED_IMPORTS))}, clauselens.rules"
    guard = types.FunctionType(_guarded_import.__code__, {"__builtins__": {}}, "__import__")
    state = (ALLOWED_IMPORTS, facades, package, builtins.__import__, sys.audit, allowed_text, type, str)
    namespace = dict(vars(builtins))
    for name in REFUSED_BUILTINS:
        namespace[name] = functools.partial(sys.audit, "clauselens.refused", name)
    namespace["__import__"] = functools.partial(guard, state)
    return namespace


def _drop_privileges() -> None:
    """As root: become nobody (no supplementary groups), which also clears every capability."""
    if os.geteuid() != 0:
        return
    os.setgroups([])
    os.setresgid(NOBODY, NOBODY, NOBODY)
    os.setresuid(NOBODY, NOBODY, NOBODY)
    if os.getuid() == 0 or os.geteuid() == 0:
        raise SystemExit("sandbox child: could not drop root")


def main(result_fd: int) -> None:
    request = json.loads(sys.stdin.buffer.read())
    os.dup2(1, 0)  # stdin is spent; fd 1 is /dev/null
    api = _load_rule_api()
    for name in sorted(ALLOWED_IMPORTS):
        importlib.import_module(name)
    warnings.simplefilter("ignore")  # showing a warning reads source files, which the hook refuses
    models = [api.BuildingModel.from_dict(data) for data in request["buildings"]]
    code = compile(request["code"], RULE_FILENAME, "exec", dont_inherit=True)
    rule_builtins = _rule_builtins(api)
    _drop_privileges()
    names = {
        "STATE": [0, False, False],
        "VIOLATION": type("SandboxViolation", (BaseException,), {"__slots__": ()}),
        "GETFRAME": sys._getframe,
        "TOKEN": request["token"].encode(),
        "WRITE": os.write,
        "RESULT_FD": result_fd,
    }
    private = _detach(DETACHED, names)
    run = functools.partial(
        private["_run_all"],
        code=code,
        models=models,
        finding=api.Finding,
        rule_builtins=rule_builtins,
        memory_mb=int(request["memory_mb"]),
    )
    hook = private["_audit"]
    del request, names, private, api, rule_builtins, models, code
    sys.modules.pop("__main__", None)
    sys.addaudithook(hook)
    del hook
    run()
    os._exit(0)  # skip interpreter shutdown: rule-defined __del__ methods never run


if __name__ == "__main__":
    main(int(sys.argv[1]))
