"""What the rule sandbox's child refuses and allows: the tables of its audit hook and import guard.

Loaded by path by `sandbox_child.py` (which runs with `-I -S` and imports no package) before any rule
code runs; every value is immutable, and the hook keeps its own references to them.
"""

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
        "sys._current_exceptions",
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
