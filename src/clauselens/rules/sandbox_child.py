"""The rule sandbox's child process: runs one untrusted rule on a few buildings, then exits.

Started by `clauselens.rules.supervise` as `python -I -S -B sandbox_child.py RESULT_FD`, already inside
the outer layers (bubblewrap namespaces where available, resource limits and the seccomp filter from
`seccomp.py`). It reads one JSON request from stdin -- {"code", "buildings" (plain `BuildingModel`
data), "token"} -- and writes, on the descriptor RESULT_FD, one line per building and a last "done"
line, each starting with the per-run random token (never on stdout, which is /dev/null). Only the
standard library, `sandbox_policy.py` (what the hook refuses) and `building.py` / `vocabulary.py` are
loaded, by path.

Before the rule runs the child drops to user and group 65534 when it is root, then moves the audit hook
and the functions it uses (the refused-event tables, the token, the result descriptor, its state) into
one private globals dict, and the functions that run the rule into another; both leave this module,
which leaves `sys.modules`, and the hook is installed. Nothing a rule can reach refers to the hook's
globals: the rule's `__import__` and refused builtins are partials over a function with empty globals
and over `sys.audit`; no class of this module exists for `object.__subclasses__()`; `gc` walks,
`sys._current_frames` and frames from tracebacks and generators are refused; the frames a rule can get
from `sys._getframe` (which namedtuple, enum and typing need) are the runner's, which hold no reference
to the hook. Results are written by the hook itself, for requests from the runner's own frame only
(its code and globals are checked by identity), and a refusal is written with the rule's line and
ends the process at once, so catching the exception changes nothing.

The audit hook is the innermost layer only (CPython documents that hooks are no security boundary):
the seccomp filter, the unprivileged user and the namespaces hold when it is bypassed.
"""

from __future__ import annotations

import builtins
import functools
import importlib
import importlib.util
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


def _load_policy() -> types.ModuleType:
    """sandbox_policy.py, beside this file, loaded by path (the child imports no package)."""
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "sandbox_policy.py")
    spec = importlib.util.spec_from_file_location("clauselens_sandbox_policy", path)
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


_policy = _load_policy()
ALLOWED_IMPORTS = _policy.ALLOWED_IMPORTS
REFUSED_BUILTINS = _policy.REFUSED_BUILTINS
REFUSED_EVENTS = _policy.REFUSED_EVENTS
REFUSED_EVENT_PREFIXES = _policy.REFUSED_EVENT_PREFIXES
FRAME_ATTRIBUTES = _policy.FRAME_ATTRIBUTES
del _policy
MAX_FINDINGS = 10_000
MAX_TEXT = 500


# --- the audit hook: rebuilt over its own private globals by _detach; rule code never reaches them ---
# These names are placeholders here; main() puts the real values into the hook's private globals only.
BUSY = [False]  # the hook is running: events its own frame reads raise are let through
BUILDING = [-1]  # index of the building being checked, counted by the hook itself
TOKEN = b""
RESULT_FD = -1
RUNNER: tuple[Any, Any] = (None, None)  # (code, globals) of the one frame allowed to report results
GETFRAME = sys._getframe
WRITE = os.write
EXIT = os._exit
TRACEBACK = types.TracebackType


def _audit(event: str, args: tuple[Any, ...]) -> None:
    """The audit hook. CPython builds `event` and `args` as an exact str and tuple; everything inside
    `args` may be the rule's own object, so it is type-checked before any use, and the hook never calls
    a method of a rule object (which would run rule code while the hook is busy)."""
    if BUSY[0]:
        return
    BUSY[0] = True
    try:
        _check(event, args)
    finally:
        BUSY[0] = False


def _check(event: str, args: tuple[Any, ...]) -> None:
    if event == "object.__getattr__":
        if type(args[1]) is not str or args[1] in FRAME_ATTRIBUTES:
            _refuse("forbidden_operation", f"reading {_text(args[1])} is not allowed in a rule")
        return
    if event == "object.__setattr__":
        if type(args[1]) is not str or args[1] == "__code__":
            _refuse("forbidden_operation", f"setting {_text(args[1])} is not allowed in a rule")
        return
    first = _text(args[0]) if args else ""
    if event == "clauselens.line":
        _traceback_line(args[0])
    elif event in ("clauselens.building", "clauselens.emit"):
        frame = GETFRAME(2)  # 0: _check, 1: _audit, 2: whoever called sys.audit
        if frame.f_code is not RUNNER[0] or frame.f_globals is not RUNNER[1]:
            _refuse("forbidden_operation", f"{event} is not allowed in a rule")
        if event == "clauselens.building":
            BUILDING[0] += 1
        else:
            _emit_row(args[0])
    elif event == "clauselens.import":
        allowed = args[1] if type(args[1]) is str else ""
        _refuse("forbidden_import", f"import of {first} is not allowed in a rule; {allowed}")
    elif event == "import":
        _refuse("forbidden_import", f"import of {first} is not allowed in a rule")
    elif event == "clauselens.refused":
        name = args[0] if type(args[0]) is str else "?"
        _refuse("forbidden_operation", f"{name}() is not allowed in a rule")
    elif event in REFUSED_EVENTS or event.startswith(REFUSED_EVENT_PREFIXES):
        _refuse("forbidden_operation", f"{event} {first} is not allowed in a rule".replace("  ", " "))


def _text(value: Any) -> str:
    """A short repr of plain values only: formatting a rule's own object could run rule code."""
    return repr(value)[:100] if type(value) in (str, bytes, int) else ""


def _refuse(status: str, message: str) -> None:
    """Report the refusal with the rule's line, then end the process: nothing the rule does after a
    refused action counts, and a rule cannot catch it."""
    frame, line = GETFRAME(0), None
    while frame is not None:
        name = frame.f_code.co_filename
        if type(name) is str and name == RULE_FILENAME:
            line = frame.f_lineno
            break
        frame = frame.f_back
    frame = None
    _emit((max(BUILDING[0], 0), status, message[:MAX_TEXT], line, []))
    _emit(("done",))
    EXIT(0)


def _traceback_line(box: Any) -> None:
    """box = [traceback]: replace it by the last rule-source line in the traceback (or None)."""
    if type(box) is not list or len(box) != 1:
        return
    tb, line = box[0], None
    while type(tb) is TRACEBACK:
        name = tb.tb_frame.f_code.co_filename
        if type(name) is str and name == RULE_FILENAME:
            line = tb.tb_lineno
        tb = tb.tb_next
    box[0] = line


def _emit_row(row: Any) -> None:
    """Write the runner's row for the current building, or "done"; only plain values pass."""
    if type(row) is tuple and len(row) == 1 and type(row[0]) is str and row[0] == "done":
        _emit(("done",))
        return
    if type(row) is not tuple or len(row) != 4:
        return
    status, message, line, findings = row
    if type(status) is not str or type(message) is not str or type(findings) is not list:
        return
    if not (line is None or type(line) is int):
        return
    clean = []
    for f in findings:
        if type(f) is not list or len(f) != 3:
            return
        element, compliant, text = f[0], f[1], f[2]
        if type(element) is not str or type(compliant) is not bool or type(text) is not str:
            return
        clean.append([element[:MAX_TEXT], compliant, text[:MAX_TEXT]])
    _emit((BUILDING[0], status, message[:MAX_TEXT], line, clean))


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


# --- the runner: rebuilt over its own private globals (without the hook's) by _detach -----------


def _run_all(code, models, finding, rule_builtins, memory_mb, audit) -> None:
    """Run the rule on each building; the hook writes each row (it checks that this frame asks)."""
    for model in models:
        audit("clauselens.building")
        sys.stdout = io.StringIO()  # print() output is discarded; results have their own descriptor
        audit("clauselens.emit", _run_one(code, model, finding, rule_builtins, memory_mb, audit))
    audit("clauselens.emit", ("done",))


def _run_one(code, model, finding, rule_builtins, memory_mb, audit) -> tuple[Any, ...]:
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
    except MemoryError as exc:
        message = f"MemoryError: the rule exceeded its {memory_mb} MB limit"
        return ("memory", message, _rule_line(exc.__traceback__, audit), [])
    except BaseException as exc:  # the rule's own failure, whatever it raised
        return ("exception", _describe(exc), _rule_line(exc.__traceback__, audit), [])


def _rule_line(tb: Any, audit: Any) -> int | None:
    """The last rule-source line of a traceback, read by the hook (frames are closed to everyone else)."""
    box = [tb]
    audit("clauselens.line", box)
    return box[0] if type(box[0]) is int else None


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

HOOK_FUNCTIONS = ("_audit", "_check", "_text", "_refuse", "_traceback_line", "_emit_row", "_emit")
RUNNER_FUNCTIONS = ("_run_all", "_run_one", "_rule_line", "_plain", "_describe", "_check_return")
CONSTANTS = ("RULE_FILENAME", "RULE_MODULE", "MAX_FINDINGS", "MAX_TEXT", "REFUSED_EVENTS")
CONSTANTS += ("REFUSED_EVENT_PREFIXES", "FRAME_ATTRIBUTES", "io", "sys", "types")


def _detach(names: tuple[str, ...], values: dict[str, Any]) -> dict[str, Any]:
    """Move the functions `names` out of this module into one new globals dict (a private copy of the
    builtins, the constants, `values` and each other): no module global leads to them afterwards."""
    module = globals()
    private: dict[str, Any] = {"__builtins__": dict(vars(builtins)), "__name__": "sandbox"}
    private.update({name: module[name] for name in CONSTANTS})
    private.update(values)
    for name in names:
        f = module.pop(name)
        private[name] = types.FunctionType(f.__code__, private, name, f.__defaults__)
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
    guard = types.FunctionType(
        _guarded_import.__code__, {"__builtins__": {}}, "__import__", _guarded_import.__defaults__
    )
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


def _start(result_fd: int) -> Any:
    """Set everything up and install the hook; return the runner, to be called by the caller's caller so
    that no frame a rule can walk to holds it (rule code can reach frames through `sys._getframe`)."""
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
    runner = _detach(RUNNER_FUNCTIONS, {})
    run_all = runner.pop("_run_all")  # nothing but the caller's evaluation stack holds it
    values = {
        "BUSY": [False],
        "BUILDING": [-1],
        "TOKEN": request["token"].encode(),
        "RESULT_FD": result_fd,
        "RUNNER": (run_all.__code__, runner),
        "GETFRAME": sys._getframe,
        "WRITE": os.write,
        "EXIT": os._exit,
        "TRACEBACK": types.TracebackType,
    }
    hook = _detach(HOOK_FUNCTIONS, values)["_audit"]
    sys.modules.pop("__main__", None)
    sys.addaudithook(hook)
    return functools.partial(
        run_all, code, models, api.Finding, rule_builtins, int(request["memory_mb"]), sys.audit
    )


if __name__ == "__main__":
    _start(int(sys.argv[1]))()
    os._exit(0)  # skip interpreter shutdown: rule-defined __del__ methods never run
