"""Red team: hostile rules, each checked from the outside -- nothing read, written, connected or killed.

Two suites. `HOSTILE` rules go through `run_rule` with every layer on; they must fail (not "ok"), and the
world outside must be unchanged: a canary file's secret never appears in the outcome, marker files are
not created, host sockets accept nothing, a sacrificial process and this test process receive no signal.
`RAW` programs run under the outer layers only (bubblewrap + seccomp launcher, no audit hook), i.e. as
if a rule had escaped the Python layer completely; each reports what the kernel did on fd 3.
"""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from clauselens.rules import isolation, run_rule, run_rules, supervise

DOORS = {"name": "doors", "elements": [{"kind": "door", "id": "d1", "props": {"clear_width_mm": 800}}]}
ESCAPE = (
    "[c for c in ().__class__.__base__.__subclasses__() if c.__name__ == '_wrap_close'][0]"
    ".__init__.__globals__"
)
LAYERS = isolation.layers()
needs_bwrap = pytest.mark.skipif(not LAYERS["pid namespace"], reason="bubblewrap does not work here")
needs_seccomp = pytest.mark.skipif(not LAYERS["seccomp filter"], reason="libseccomp is not installed")
SIGURG_SEEN: list[int] = []


@pytest.fixture(autouse=True)
def fixture_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLAUSELENS_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "ifc-cache"))


class World:
    """What a rule must not touch, and how to check afterwards that it did not."""

    def __init__(self, root: Path) -> None:
        self.secret = secrets.token_hex(12)
        self.canary = root / "canary.txt"
        self.canary.write_text(self.secret)
        self.canary.chmod(0o644)
        self.marker = root / "marker.txt"
        self.out_dir = root / "run-output"
        self.out_dir.mkdir()
        self.tcp = socket.create_server(("127.0.0.1", 0))
        self.tcp.setblocking(False)
        self.udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.udp.bind(("127.0.0.1", 0))
        self.udp.setblocking(False)
        self.unix_path = root / "u.sock"
        self.unix = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.unix.bind(str(self.unix_path))
        self.unix.listen()
        self.unix.setblocking(False)
        self.victim_marker = root / "victim-signalled"
        self.victim = subprocess.Popen(
            [
                sys.executable,
                "-c",
                "import signal, sys, time\n"
                "signal.signal(signal.SIGURG, lambda *a: open(sys.argv[1], 'w').write('x'))\n"
                "time.sleep(120)",
                str(self.victim_marker),
            ]
        )
        self.words = {
            "CANARY": repr(str(self.canary)),
            "MARKER": repr(str(self.marker)),
            "OUT": repr(str(self.out_dir / "injected.txt")),
            "TCP": str(self.tcp.getsockname()[1]),
            "UDP": str(self.udp.getsockname()[1]),
            "UNIX": repr(str(self.unix_path)),
            "VICTIM": str(self.victim.pid),
            "DRIVER": str(os.getpid()),
            "ESCAPE": ESCAPE,
        }
        time.sleep(0.2)  # the victim installs its handler

    def fill(self, code: str) -> str:
        for key, value in self.words.items():
            code = code.replace("{" + key + "}", value)
        return code

    def assert_untouched(self, *texts: str) -> None:
        for text in texts:
            assert self.secret not in text
        assert self.canary.read_text() == self.secret and self.canary.stat().st_mode & 0o777 == 0o644
        assert not self.marker.exists() and not self.victim_marker.exists()
        assert list(self.out_dir.iterdir()) == []
        for listener in (self.tcp, self.unix):
            with pytest.raises(BlockingIOError):
                listener.accept()
        with pytest.raises(BlockingIOError):
            self.udp.recv(100)
        assert self.victim.poll() is None, "the sacrificial process was killed"
        assert SIGURG_SEEN == [], "the driver received a signal"

    def close(self) -> None:
        self.victim.kill()
        self.victim.wait()
        for s in (self.tcp, self.udp, self.unix):
            s.close()


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    previous = signal.signal(signal.SIGURG, lambda signum, frame: SIGURG_SEEN.append(signum))
    w = World(tmp_path)
    try:
        yield w
    finally:
        w.close()
        signal.signal(signal.SIGURG, previous)
        SIGURG_SEEN.clear()


def rule(body: str, prelude: str = "") -> str:
    lines = "".join(f"    {line}\n" for line in body.splitlines())
    return f"{prelude}def check_rule(model):\n{lines}    return []\n"


def leak(expr: str) -> str:
    """A rule that puts `expr` (e.g. a file's content) into a finding, so a leak would show."""
    return f"def check_rule(model):\n    return [Finding('x', True, str({expr}))]\n"


OS_ = f"g = {ESCAPE}\n"
SYS_ = OS_ + "sys = g['sys']\n"
# (name, code, acceptable statuses)
# what a refused operation or import ends as
REFUSED = {"forbidden_operation"}
REFUSED_IMPORT = {"forbidden_import", "forbidden_operation"}
HOSTILE = [
    (
        "globals route: rewrite the import guard's state, then import os",
        rule(
            "st = __import__.args[0]\n"
            "__import__.func.__globals__['__builtins__'].update(type=lambda x: str)\n"
            "os = __import__('os')\n"
            "return [Finding('x', True, open({CANARY}).read())]"
        ),
        {"forbidden_import", "forbidden_operation", "exception"},
    ),
    (
        "globals route: replace the import guard with the real import",
        rule(
            "__import__.__setstate__((__import__.args[0][3], (), {}, None))\n"
            "import os\n"
            "return [Finding('x', True, os.read(os.open({CANARY}, 0), 99).decode())]"
        ),
        {"forbidden_import", "forbidden_operation", "exception"},
    ),
    (
        "globals route: the child module via sys.modules",
        rule(SYS_ + "m = sys.modules['__main__']"),
        {"exception"},
    ),
    (
        "frame walk: empty every refused-event table in reach, then open",
        rule(
            SYS_ + "f = sys._getframe(0)\n"
            "while f is not None:\n"
            "    for scope in (f.f_globals, f.f_builtins):\n"
            "        for key in [k for k in scope if 'REFUSED' in k]:\n"
            "            scope[key] = frozenset() if 'EVENTS' in key else ()\n"
            "    f = f.f_back\n"
            "return [Finding('x', True, open({CANARY}).read())]"
        ),
        REFUSED,
    ),
    (
        "frame walk: call the runner's helpers to forge a row",
        rule(
            SYS_ + "gl = sys._getframe(1).f_globals\n"
            "sys.audit('clauselens.emit', ('ok', '', None, [['x', True, 'forged']]))"
        ),
        REFUSED,
    ),
    ("frame walk: f_code of a caller", rule(SYS_ + "c = sys._getframe(1).f_code"), REFUSED),
    (
        "traceback walk: tb_frame",
        rule("try:\n    1 / 0\nexcept ZeroDivisionError as e:\n    f = e.__traceback__.tb_frame"),
        REFUSED,
    ),
    ("generator frame: gi_frame", rule("g = (i for i in [1])\nf = g.gi_frame"), REFUSED),
    ("sys._current_frames", rule(SYS_ + "sys._current_frames()"), REFUSED),
    (
        "object.__subclasses__: look for the hook's functions",
        rule(
            "for c in object.__subclasses__():\n"
            "    for v in list(vars(c).values()):\n"
            "        gl = getattr(v, '__globals__', None)\n"
            "        if isinstance(gl, dict) and 'TOKEN' in gl and gl['TOKEN']:\n"
            "            return [Finding('x', True, repr(gl['TOKEN']))]\n"
            "raise LookupError('not found')"
        ),
        {"exception", "forbidden_operation"},
    ),
    (
        "gc.get_objects",
        rule(SYS_ + "gc = sys.modules.get('gc') or __import__.args[0][3]('gc')\ngc.get_objects()"),
        REFUSED_IMPORT,
    ),
    (
        "gc.get_referrers",
        rule(SYS_ + "import_ = __import__.args[0][3]\nimport_('gc').get_referrers(sys)"),
        REFUSED_IMPORT,
    ),
    ("import ctypes", rule("import ctypes"), {"forbidden_import"}),
    ("ctypes through the real import", rule("__import__.args[0][3]('ctypes')"), {"forbidden_import"}),
    ("import cffi", rule("import cffi"), {"forbidden_import"}),
    ("/proc/self/mem", rule(OS_ + "fd = g['open']('/proc/self/mem', 0)"), REFUSED),
    ("/proc/self/environ", leak("open('/proc/self/environ').read()"), REFUSED),
    ("parent's environ and fds", rule(OS_ + "p = g['getppid']()\ng['listdir'](f'/proc/{p}/fd')"), REFUSED),
    ("read a file outside", leak("open({CANARY}).read()"), REFUSED),
    ("read through os.open", leak(f"(lambda g: g['read'](g['open']({{CANARY}}, 0), 99))({ESCAPE})"), REFUSED),
    ("read through io.FileIO", rule(SYS_ + "sys.modules['io'].FileIO({CANARY}).read()"), REFUSED),
    ("write a file outside", rule("open({MARKER}, 'w').write('x')"), REFUSED),
    ("write through os.open", rule(OS_ + "g['write'](g['open']({MARKER}, 577), b'x')"), REFUSED),
    ("write into the run's output folder", rule(OS_ + "g['write'](g['open']({OUT}, 577), b'x')"), REFUSED),
    ("symlink to the canary", rule(OS_ + "g['symlink']({CANARY}, {MARKER})"), REFUSED),
    ("chmod the canary", rule(OS_ + "g['chmod']({CANARY}, 0o777)"), REFUSED),
    ("remove the canary", rule(OS_ + "g['remove']({CANARY})"), REFUSED),
    (
        "TCP connect to the host",
        rule(SYS_ + "s = __import__.args[0][3]('socket').create_connection(('127.0.0.1', {TCP}))"),
        REFUSED_IMPORT,
    ),
    (
        "UDP to the host",
        rule(
            SYS_
            + "sock = __import__.args[0][3]('_socket')\ns = sock.socket(2, 2)\n"
            + "s.sendto(b'x', ('127.0.0.1', {UDP}))"
        ),
        REFUSED_IMPORT,
    ),
    (
        "Unix socket to the host",
        rule(SYS_ + "sock = __import__.args[0][3]('_socket')\ns = sock.socket(1, 1)\ns.connect({UNIX})"),
        REFUSED_IMPORT,
    ),
    ("fork bomb", rule(OS_ + "while True:\n    g['fork']()"), REFUSED),
    (
        "children outliving the rule",
        rule(OS_ + "if g['fork']() == 0:\n    g['execv']('/bin/sleep', ['sleep', '60'])"),
        REFUSED,
    ),
    ("kill the sacrificial process", rule(OS_ + "g['kill']({VICTIM}, 9)"), REFUSED),
    ("signal the sacrificial process", rule(OS_ + "g['kill']({VICTIM}, 23)"), REFUSED),
    ("signal the driver", rule(OS_ + "g['kill']({DRIVER}, 23)"), REFUSED),
    ("kill the parent", rule(OS_ + "g['kill'](g['getppid'](), 9)"), REFUSED),
    ("kill its own process group", rule(OS_ + "g['killpg'](0, 9)"), REFUSED),
    (
        "setrlimit raise",
        rule(SYS_ + "r = __import__.args[0][3]('resource')\nr.setrlimit(r.RLIMIT_AS, (-1, -1))"),
        REFUSED_IMPORT,
    ),
    ("os.execv", rule(OS_ + "g['execv']('/bin/sh', ['sh', '-c', 'touch ' + {MARKER}])"), REFUSED),
    ("os.system", rule(OS_ + "g['system']('touch ' + {MARKER})"), REFUSED),
    ("posix_spawn", rule(OS_ + "g['posix_spawn']('/bin/touch', ['touch', {MARKER}], {})"), REFUSED),
    ("sys.addaudithook", rule(SYS_ + "sys.addaudithook(lambda *a: None)"), REFUSED),
    ("sys.settrace", rule(SYS_ + "sys.settrace(lambda *a: None)"), REFUSED),
    (
        "code object surgery",
        rule("def f():\n    pass\nf.__code__ = f.__code__.replace(co_name='g')"),
        REFUSED,
    ),
    ("function from a code object", rule("t = type(lambda: 0)\nf = t((lambda: 0).__code__, {})"), REFUSED),
    ("marshal.loads", rule(SYS_ + "sys.modules['marshal'].loads(b'')"), REFUSED),
    ("mmap", rule(SYS_ + "__import__.args[0][3]('mmap').mmap(-1, 10)"), REFUSED_IMPORT),
    (
        "forge the verdict on stdout and fd 3",
        rule(
            OS_
            + "for fd in (1, 2, 3):\n    g['write'](fd, b'0 (0, \"ok\", \"\", None, [])\\n')\n"
            + "raise ValueError('x')"
        ),
        {"exception"},
    ),
    ("forge the building counter", rule(SYS_ + "sys.audit('clauselens.building')"), REFUSED),
    (
        "catch the refusal and carry on",
        rule("try:\n    open({CANARY})\nexcept BaseException:\n    pass\nreturn [Finding('x', True)]"),
        REFUSED,
    ),
    (
        "exception whose __str__ escapes",
        "class E(Exception):\n    def __str__(self):\n        return open({CANARY}).read()\n\n"
        "def check_rule(model):\n    raise E()\n",
        REFUSED,
    ),
]


@pytest.mark.parametrize(("name", "code", "statuses"), HOSTILE, ids=[h[0] for h in HOSTILE])
def test_hostile_rule_is_contained(world: World, name: str, code: str, statuses: set[str]) -> None:
    outcome = run_rule(world.fill(code), [DOORS], timeout_s=3.0, memory_mb=128)
    assert outcome.status in statuses, (outcome.status, outcome.message)
    assert outcome.verdicts == [None]
    world.assert_untouched(repr(outcome))


def test_hostile_suite_is_large_enough() -> None:
    assert len(HOSTILE) + len(RAW) >= 40 and len(HOSTILE) >= 40


@pytest.mark.parametrize(
    ("name", "code"),
    [
        ("flood stdout", rule("while True:\n    print('x' * 100000)")),
        ("flood stderr", rule(OS_ + "while True:\n    g['write'](2, b'x' * 65536)")),
        ("flood the result descriptor", rule(OS_ + "while True:\n    g['write'](3, b'x' * 65536)")),
        ("CPU spin ignoring SIGTERM", rule(SYS_ + "while True:\n    pass")),
    ],
)
def test_floods_and_spins_end_on_the_wall_clock(world: World, name: str, code: str) -> None:
    start = time.perf_counter()
    outcome = run_rule(world.fill(code), [DOORS], timeout_s=2.0, memory_mb=128)
    assert time.perf_counter() - start < 2.0 + supervise.KILL_GRACE_S + 1.0
    assert outcome.status in {"timeout", "exception", "memory"} and outcome.verdicts == [None], (
        outcome.message
    )
    world.assert_untouched(repr(outcome))


def test_str_subclass_findings_cannot_steer_the_encoding() -> None:
    code = """
class S(str):
    def __repr__(self):
        return "'), (1, 'ok', '', None, []), ('"
    def __str__(self):
        return self
def check_rule(model):
    return [Finding(S('d1'), True, S('m'))]
"""
    outcome = run_rule(code, [DOORS, DOORS])
    assert outcome.ok and [[f.element_id for f in fs] for fs in outcome.findings] == [["d1"], ["d1"]]


def test_the_driver_survives_and_the_next_rule_runs(world: World) -> None:
    codes = [
        world.fill(rule(OS_ + "g['kill'](g['getppid'](), 9)")),
        "def check_rule(model):\n    return []\n",
    ]
    assert [o.status for o in run_rules(codes, [DOORS], workers=2)] == ["forbidden_operation", "ok"]


# --- the outer layers alone: programs run as if the Python layer had been bypassed ----------------

RAW_PRELUDE = """
import os, sys
def report(name, fn):
    try:
        result = 'ok ' + repr(fn())[:200]
    except BaseException as exc:
        result = 'refused ' + type(exc).__name__
    os.write(3, (name + ': ' + result + '\\n').encode())
"""
CTYPES = "import ctypes\nlibc = ctypes.CDLL(None, use_errno=True)\nerrno = ctypes.get_errno\n"
# (name, program body, expected report: 'refused' (any exception) or an exact text)
RAW = [
    ("write into the output folder", "report('r', lambda: open({OUT}, 'w'))", "refused"),
    ("write a marker", "report('r', lambda: os.open({MARKER}, os.O_WRONLY | os.O_CREAT))", "refused"),
    ("mkdir", "report('r', lambda: os.mkdir('/tmp/x'))", "refused"),
    ("symlink", "report('r', lambda: os.symlink({CANARY}, '/tmp/l'))", "refused"),
    (
        "TCP socket",
        "import socket\nreport('r', lambda: socket.create_connection(('127.0.0.1', {TCP})))",
        "refused",
    ),
    (
        "UDP socket",
        "import socket\nreport('r', lambda: socket.socket(2, 2).sendto(b'x', ('127.0.0.1', {UDP})))",
        "refused",
    ),
    ("Unix socket", "import socket\nreport('r', lambda: socket.socket(1, 1).connect({UNIX}))", "refused"),
    ("fork", "report('r', os.fork)", "refused"),
    ("execv", "report('r', lambda: os.execv('/bin/sh', ['sh']))", "refused"),
    ("execve of the reserved descriptor", "report('r', lambda: os.execve(1000, ['x'], {}))", "refused"),
    ("move a descriptor onto the reserved number", "report('r', lambda: os.dup2(0, 1000))", "refused"),
    ("kill the sacrificial process", "report('r', lambda: os.kill({VICTIM}, 9))", "refused"),
    ("signal the driver", "report('r', lambda: os.kill({DRIVER}, 23))", "refused"),
    ("kill every process", "report('r', lambda: os.kill(-1, 0))", "refused"),
    (
        "raise RLIMIT_AS",
        "import resource\nreport('r', lambda: resource.setrlimit(resource.RLIMIT_AS, (-1, -1)))",
        "refused",
    ),
    (
        "ptrace the driver through ctypes",
        CTYPES + "report('r', lambda: (libc.ptrace(16, {DRIVER}, 0, 0), errno()))",
        "ok (-1, 1)",
    ),
    ("kill through ctypes", CTYPES + "report('r', lambda: (libc.kill({VICTIM}, 9), errno()))", "ok (-1, 1)"),
    (
        "unshare through ctypes",
        CTYPES + "report('r', lambda: (libc.unshare(0x10000000), errno()))",
        "ok (-1, 1)",
    ),
    (
        "mount through ctypes",
        CTYPES + "report('r', lambda: (libc.mount(b'none', b'/tmp', b'tmpfs', 0, None), errno()))",
        "ok (-1, 1)",
    ),
    (
        "open for writing through ctypes",
        CTYPES + "report('r', lambda: (libc.open({MARKER}.encode(), 65, 0o644), errno()))",
        "ok (-1, 1)",
    ),
    ("the environment", "report('r', lambda: open('/proc/self/environ').read())", "ok ''"),
]
RAW_BWRAP = [
    ("read a file outside", "report('r', lambda: open({CANARY}).read())", "refused FileNotFoundError"),
    ("list the host's /tmp", "report('r', lambda: os.listdir('/tmp'))", "ok []"),
    (
        "read the host's files",
        "report('r', lambda: any(os.path.exists(p) for p in ('/etc/passwd', '/var', '/home', '/srv')))",
        "ok False",
    ),
    (
        "other processes in /proc",
        "report('r', lambda: sorted(p for p in os.listdir('/proc') if p.isdigit()) <= ['1', '2', '3'])",
        "ok True",
    ),
    ("the parent is invisible", "report('r', lambda: os.getppid() in (0, 1))", "ok True"),
    (
        "no network interface but loopback",
        "dev = open('/proc/self/net/dev').read().splitlines()[2:]\n"
        "report('r', lambda: sorted(line.split(':')[0].strip() for line in dev))",
        "ok ['lo']",
    ),
]


def run_raw(world: World, body: str, timeout_s: float = 10.0) -> str:
    """Run a program under bwrap + the seccomp launcher (no audit hook); what it wrote on fd 3."""
    read_end, write_end = os.pipe()
    program = [isolation.interpreter(), "-I", "-S", "-c", RAW_PRELUDE + world.fill(body)]
    try:
        proc = subprocess.Popen(
            supervise.command(256, 10, write_end, program),
            pass_fds=(write_end,),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            env={},
            start_new_session=True,
        )
    finally:
        os.close(write_end)
    with os.fdopen(read_end, "rb") as reader:
        out = reader.read()
    _, err = proc.communicate(timeout=timeout_s)
    assert proc.returncode == 0, err.decode()[-500:]
    return out.decode()


@needs_seccomp
@pytest.mark.parametrize(("name", "body", "expected"), RAW, ids=[r[0] for r in RAW])
def test_outer_layers_hold_without_the_audit_hook(world: World, name: str, body: str, expected: str) -> None:
    report = run_raw(world, body)
    assert report.startswith("r: "), report
    result = report[3:].strip()
    assert result == expected or (expected == "refused" and result.startswith("refused ")), result
    world.assert_untouched(report)


@needs_bwrap
@needs_seccomp
@pytest.mark.parametrize(("name", "body", "expected"), RAW_BWRAP, ids=[r[0] for r in RAW_BWRAP])
def test_namespaces_hide_the_host(world: World, name: str, body: str, expected: str) -> None:
    report = run_raw(world, body)
    assert report[3:].strip() == expected
    world.assert_untouched(report)


@needs_seccomp
def test_a_root_child_runs_as_nobody(world: World) -> None:
    if os.geteuid() != 0:
        pytest.skip("the child only drops privileges when started as root")
    probe = rule(
        OS_ + "return [Finding(str((g['getuid'](), g['geteuid'](), g['getgid'](), g['getgroups']())), True)]"
    )
    outcome = run_rule(probe, [DOORS])
    assert outcome.ok and outcome.findings[0][0].element_id == "(65534, 65534, 65534, [])"


def test_doctor_lists_every_layer_and_strict_fails_on_a_missing_one(monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from clauselens.cli import app

    result = CliRunner().invoke(app, ["doctor"])
    assert result.exit_code == 0
    for name in isolation.LAYERS:
        assert name in result.output
    weaker = {**isolation.layers(), "pid namespace": False}
    monkeypatch.setattr(isolation, "layers", lambda: weaker)
    result = CliRunner().invoke(app, ["doctor", "--strict"])
    assert result.exit_code == 1 and "missing" in result.output
    assert isolation.manifest_entry()["missing"] == ["pid namespace"]
