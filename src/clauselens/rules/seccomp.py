"""The rule child's launcher: resource limits and a seccomp filter (libseccomp through ctypes), then exec.

Why a kernel filter: the audit hook and the restricted builtins live inside the interpreter that runs
the rule, so a rule that finds a way around them runs with the child's full system-call rights. The
filter is installed right before the rule runs, cannot be removed or loosened afterwards (the kernel
only ever adds filters), and survives any Python-level escape. Refused calls fail with EPERM, except
that `clone3` fails with ENOSYS so that a C library falls back to `clone` (which is refused too).

What it refuses: creating sockets; tracing or reading other processes' memory; sending signals
(`kill`, `tkill`, `tgkill`, queued signals, pidfds); `execve`; `fork`/`vfork`/`clone` (the child runs
single-threaded, so the limit on new processes and threads is zero); raising resource limits; changing
user, group or capabilities; namespaces, mounts, kernel modules, BPF, perf, userfaultfd, io_uring
(which could open files past the filter), keyrings, TIOCSTI; opening a file for writing or creating
one; creating, removing, renaming, linking or changing the mode or owner of any path.

Why a launcher: Python has no seccomp call of its own, and loading ctypes into the process that runs
the rule would hand the rule a memory-read primitive (ctypes' base classes stay reachable through
`object.__subclasses__()`). So this module runs as a small program of its own (`python -I -S
seccomp.py MEMORY_MB CPU_S FILTER RESULT_FD -- CHILD...`): it sets the resource limits, installs the
filter and replaces itself with the child through `fexecve` on a descriptor numbered `EXEC_FD`. The
filter allows `execveat` on that descriptor number only and `execve` never; `RLIMIT_NOFILE`
(`MAX_FILES`) keeps every later descriptor far below `EXEC_FD`, so once the child runs nothing can be
executed again. Changing user stays allowed (the kernel refuses it to anyone but root), because a
root child drops to nobody only after the interpreter has started. Standard library only; Linux only.
"""

from __future__ import annotations

import ctypes
import errno
import os
import resource

ALLOW = 0x7FFF0000
CMP_EQ = 4
CMP_NE = 1
CMP_MASKED_EQ = 7
TIOCSTI = 0x5412
DENIED = (
    "socket socketpair ptrace process_vm_readv process_vm_writev kill tkill tgkill rt_sigqueueinfo "
    "rt_tgsigqueueinfo pidfd_open pidfd_send_signal pidfd_getfd execve fork vfork clone setrlimit capset "
    "mount umount2 pivot_root chroot unshare setns keyctl add_key request_key bpf perf_event_open "
    "userfaultfd init_module finit_module delete_module kexec_load kexec_file_load reboot swapon swapoff "
    "personality open_by_handle_at name_to_handle_at io_uring_setup io_uring_enter io_uring_register "
    "openat2 creat mknod mknodat link linkat symlink symlinkat unlink unlinkat rename renameat renameat2 "
    "mkdir mkdirat rmdir chmod fchmod fchmodat chown fchown lchown fchownat truncate ftruncate utime "
    "utimes utimensat futimesat acct quotactl settimeofday clock_settime adjtimex sethostname "
    "setdomainname iopl ioperm move_pages migrate_pages mbind lookup_dcookie fanotify_init"
).split()
WRITE_FLAGS = (os.O_WRONLY, os.O_RDWR, os.O_CREAT, os.O_TRUNC)
EXEC_FD = 1000
RESULT_FD = 3
MAX_FILES = 32


class _ArgCmp(ctypes.Structure):
    _fields_ = [
        ("arg", ctypes.c_uint),
        ("op", ctypes.c_int),
        ("datum_a", ctypes.c_uint64),
        ("datum_b", ctypes.c_uint64),
    ]


def _errno(code: int) -> int:
    return 0x00050000 | (code & 0xFFFF)


def _library() -> ctypes.CDLL:
    lib = ctypes.CDLL("libseccomp.so.2", use_errno=True)
    lib.seccomp_init.restype = ctypes.c_void_p
    lib.seccomp_init.argtypes = [ctypes.c_uint32]
    lib.seccomp_syscall_resolve_name.argtypes = [ctypes.c_char_p]
    lib.seccomp_rule_add_array.argtypes = [
        ctypes.c_void_p,
        ctypes.c_uint32,
        ctypes.c_int,
        ctypes.c_uint,
        ctypes.POINTER(_ArgCmp),
    ]
    lib.seccomp_load.argtypes = [ctypes.c_void_p]
    lib.seccomp_release.argtypes = [ctypes.c_void_p]
    return lib


def available() -> bool:
    """Whether libseccomp can be loaded here (the kernel's support is only known on `install`)."""
    try:
        _library()
    except OSError:
        return False
    return True


def install() -> None:
    """Load the filter into this process (and any it could start). Raises OSError when that fails."""
    lib = _library()
    ctx = lib.seccomp_init(ALLOW)
    if not ctx:
        raise OSError("seccomp_init failed")
    try:
        eperm = _errno(errno.EPERM)

        def add(name: str, action: int = eperm, *cmps: tuple[int, int, int, int]) -> None:
            nr = lib.seccomp_syscall_resolve_name(name.encode())
            if nr < 0:  # not a system call on this architecture (e.g. `open` on arm64)
                return
            array = (_ArgCmp * max(1, len(cmps)))(*[_ArgCmp(*c) for c in cmps])
            rc = lib.seccomp_rule_add_array(ctx, action, nr, len(cmps), array)
            if rc < 0:
                raise OSError(-rc, f"seccomp rule for {name} failed: {os.strerror(-rc)}")

        for name in DENIED:
            add(name)
        add("clone3", _errno(errno.ENOSYS))
        add("execveat", eperm, (0, CMP_NE, EXEC_FD, 0))
        add("prlimit64", eperm, (2, CMP_NE, 0, 0))  # setting a limit; reading one stays allowed
        add("ioctl", eperm, (1, CMP_EQ, TIOCSTI, 0))
        for flag in WRITE_FLAGS:
            add("open", eperm, (1, CMP_MASKED_EQ, flag, flag))
            add("openat", eperm, (2, CMP_MASKED_EQ, flag, flag))
        rc = lib.seccomp_load(ctx)
        if rc < 0:
            raise OSError(-rc, f"seccomp_load failed: {os.strerror(-rc)}")
    finally:
        lib.seccomp_release(ctx)


def _limit(kind: int, value: int) -> None:
    resource.setrlimit(kind, (value, value))


def main(argv: list[str]) -> None:
    """`seccomp.py MEMORY_MB CPU_S FILTER RESULT_FD -- PROGRAM ARGS...`: limit, filter (FILTER=1), move
    the result descriptor to 3, then become PROGRAM."""
    memory_mb, cpu_s, use_filter, result_fd, program = (
        int(argv[0]),
        int(argv[1]),
        argv[2],
        int(argv[3]),
        argv[5:],
    )
    if result_fd != RESULT_FD:
        os.dup2(result_fd, RESULT_FD)
        os.close(result_fd)
    binary = os.open(program[0], os.O_RDONLY | os.O_CLOEXEC)
    os.dup2(binary, EXEC_FD, inheritable=False)
    os.close(binary)
    _limit(resource.RLIMIT_AS, memory_mb * 1024 * 1024)
    _limit(resource.RLIMIT_CPU, cpu_s)
    _limit(resource.RLIMIT_FSIZE, 0)
    _limit(resource.RLIMIT_CORE, 0)
    _limit(resource.RLIMIT_NPROC, 0)  # not enforced for root; the filter refuses fork and clone anyway
    _limit(resource.RLIMIT_NOFILE, MAX_FILES)
    if use_filter == "1":
        install()
    os.execve(EXEC_FD, program, {})


if __name__ == "__main__":
    import sys

    main(sys.argv[1:])
