"""Operating-system isolation of the rule child: which layers this machine offers, and the command line.

Why bubblewrap: it is a small Debian package (`bubblewrap`) that puts one process into new PID, network,
IPC, UTS and mount namespaces with a read-only view of chosen directories, without a daemon or a
container image. The child sees only the interpreter, the system libraries and this directory
(read-only), a fresh /proc that shows no process but its own, a minimal /dev and an empty private /tmp;
it has no network interface but loopback, and it cannot see or signal the driver. bwrap is started
with --die-with-parent, so the sandbox dies with the driver, and the driver kills bwrap to end the whole
PID namespace at once.

Started as root, the child drops to user and group 65534 (nobody) itself, before the rule runs (bwrap
is then not given a user namespace, so the child is nobody on the host too and owns nothing). As
another user, bwrap adds a user namespace when the kernel allows it.

The layers are probed once per process (`layers()`); what is missing is reported by `clauselens
doctor` and in each run's manifest, never silently skipped. The seccomp filter and the in-interpreter
layers are applied by the child itself (`sandbox_child.py`).
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import sys
from pathlib import Path

from . import seccomp

RULES_DIR = Path(__file__).resolve().parent
# where the sandbox sees RULES_DIR: a fixed path, so no part of the host's tree (a checkout under /tmp,
# a home folder) shows through in the rule's view
SANDBOX_RULES_DIR = Path("/opt/clauselens-rules")
NOBODY = 65534
LAYERS = (
    "separate process",
    "resource limits",
    "audit hook",
    "restricted builtins",
    "unprivileged user",
    "seccomp filter",
    "pid namespace",
    "network namespace",
    "mount namespace (read-only view, private /tmp)",
)

BWRAP_HINT = "install bubblewrap (make sandbox) and allow it to create namespaces"
HOW_TO_ADD = {
    "seccomp filter": "install libseccomp2 (Debian: apt-get install libseccomp2)",
    "pid namespace": BWRAP_HINT,
    "network namespace": BWRAP_HINT,
    "mount namespace (read-only view, private /tmp)": BWRAP_HINT,
}


def interpreter() -> str:
    """The real interpreter behind this (virtual environment's) python: the child needs only its stdlib."""
    return os.path.realpath(sys.executable)


def _mounts() -> list[str]:
    """bwrap arguments for the read-only view: the C library, the interpreter and this directory."""
    args: list[str] = []
    for top in ("/usr", "/lib", "/lib64", "/lib32", "/libx32", "/bin", "/sbin"):
        if os.path.islink(top):
            args += ["--symlink", os.readlink(top), top]
        elif os.path.isdir(top):
            args += ["--ro-bind", top, top]
    if os.path.exists("/etc/ld.so.cache"):
        args += ["--ro-bind", "/etc/ld.so.cache", "/etc/ld.so.cache"]
    prefix = os.path.realpath(sys.base_prefix)
    if not prefix.startswith("/usr/"):
        args += ["--ro-bind", prefix, prefix]
    return [*args, "--ro-bind", str(RULES_DIR), str(SANDBOX_RULES_DIR)]


def rules_dir() -> Path:
    """Where the child finds this directory: the fixed in-sandbox path under bwrap, else the real one."""
    return SANDBOX_RULES_DIR if bwrap_command() is not None else RULES_DIR


@functools.lru_cache(maxsize=1)
def bwrap_command() -> tuple[str, ...] | None:
    """The bwrap prefix that works here (probed once by running the interpreter in it), or None."""
    bwrap = shutil.which("bwrap")
    if bwrap is None:
        return None
    base = [bwrap, "--die-with-parent", "--new-session", "--unshare-pid", "--unshare-net"]
    base += ["--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try"]
    if os.geteuid() != 0:
        base.append("--unshare-user")
    base += [*_mounts(), "--proc", "/proc", "--dev", "/dev", "--perms", "1777", "--tmpfs", "/tmp"]
    base += ["--chdir", "/tmp", "--clearenv", "--"]
    check = f"import os; print(len(os.listdir('/proc/1/fd')) >= 0 and os.path.isdir('{SANDBOX_RULES_DIR}'))"
    try:
        probe = subprocess.run(
            [*base, interpreter(), "-I", "-S", "-c", check],
            capture_output=True,
            timeout=20,
            env={},
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return tuple(base) if probe.returncode == 0 and probe.stdout.strip() == b"True" else None


@functools.lru_cache(maxsize=1)
def layers() -> dict[str, bool]:
    """Each isolation layer and whether it is active for rules run from this process."""
    wrapped = bwrap_command() is not None
    return {
        "separate process": True,
        "resource limits": True,
        "audit hook": True,
        "restricted builtins": True,
        # as root the child drops to nobody; as any other user it already is unprivileged
        "unprivileged user": True,
        "seccomp filter": seccomp.available(),
        "pid namespace": wrapped,
        "network namespace": wrapped,
        "mount namespace (read-only view, private /tmp)": wrapped,
    }


def manifest_entry() -> dict[str, list[str]]:
    """The run manifest's "sandbox" field: which layers guarded this run's rules, which were missing."""
    return {
        "active": [name for name, on in layers().items() if on],
        "missing": [name for name, on in layers().items() if not on],
    }
