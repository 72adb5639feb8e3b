"""Last step before the kernel starts: apply limits, drop to the kernel's user, exec.

This file is run as a standalone script (``python -c <source> <spec> -- argv...``)
inside the sandbox, so it imports only the standard library and never mlchat.

Steps, in order:

1. ``setrlimit`` for memory (address space), CPU time, file size, open files,
   processes and core dumps.
2. When a user id is given (we started as root): hand the files the kernel must
   write (socket folder, connection file, private tmp) to that user, then drop
   all groups and switch gid and uid. Root's capabilities go with it.
3. ``PR_SET_NO_NEW_PRIVS``, then, when asked, a Landlock ruleset: read-only
   access to the listed folders, read-write to the writable ones, nothing else.
4. ``execve`` the kernel with ``JPY_PARENT_PID`` removed (inside a new pid
   namespace the parent pid is meaningless and ipykernel would exit).
"""

from __future__ import annotations

import ctypes
import json
import os
import resource
import sys

_RLIMITS = {
    "as": resource.RLIMIT_AS,
    "cpu": resource.RLIMIT_CPU,
    "fsize": resource.RLIMIT_FSIZE,
    "nofile": resource.RLIMIT_NOFILE,
    "nproc": resource.RLIMIT_NPROC,
    "core": resource.RLIMIT_CORE,
}

# Landlock (linux/landlock.h); syscall numbers are the same on x86_64 and aarch64.
_SYS_CREATE_RULESET, _SYS_ADD_RULE, _SYS_RESTRICT_SELF = 444, 445, 446
_PR_SET_NO_NEW_PRIVS = 38
_RULE_PATH_BENEATH = 1
_FS_EXECUTE, _FS_WRITE_FILE, _FS_READ_FILE, _FS_READ_DIR = 1 << 0, 1 << 1, 1 << 2, 1 << 3
_FS_ALL_V1 = (1 << 13) - 1
_FS_REFER, _FS_TRUNCATE = 1 << 13, 1 << 14


class _RulesetAttr(ctypes.Structure):
    _fields_ = (("handled_access_fs", ctypes.c_uint64),)


class _PathBeneathAttr(ctypes.Structure):
    _pack_ = 1
    _fields_ = (("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32))


def _landlock(libc: ctypes.CDLL, read_only: list[str], writable: list[str]) -> None:
    abi = libc.syscall(_SYS_CREATE_RULESET, None, ctypes.c_size_t(0), ctypes.c_uint32(1))
    if abi < 1:
        raise OSError(ctypes.get_errno(), "Landlock is not available")
    handled = _FS_ALL_V1 | (_FS_REFER if abi >= 2 else 0) | (_FS_TRUNCATE if abi >= 3 else 0)
    attr = _RulesetAttr(handled)
    ruleset = libc.syscall(
        _SYS_CREATE_RULESET, ctypes.byref(attr), ctypes.c_size_t(ctypes.sizeof(attr)), 0
    )
    if ruleset < 0:
        raise OSError(ctypes.get_errno(), "landlock_create_ruleset failed")
    read_access = _FS_EXECUTE | _FS_READ_FILE | _FS_READ_DIR
    file_access = _FS_EXECUTE | _FS_WRITE_FILE | _FS_READ_FILE | (handled & _FS_TRUNCATE)
    for paths, access in ((read_only, read_access), (writable, handled)):
        for path in paths:
            try:
                fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
            except OSError:
                continue
            # Rules on a single file may only carry file rights.
            allowed = access if os.path.isdir(path) else access & file_access
            rule = _PathBeneathAttr(allowed, fd)
            failed = libc.syscall(_SYS_ADD_RULE, ruleset, _RULE_PATH_BENEATH, ctypes.byref(rule), 0)
            os.close(fd)
            if failed:
                raise OSError(ctypes.get_errno(), f"landlock_add_rule failed for {path}")
    if libc.syscall(_SYS_RESTRICT_SELF, ruleset, 0):
        raise OSError(ctypes.get_errno(), "landlock_restrict_self failed")
    os.close(ruleset)


def main(argv: list[str]) -> None:
    spec = json.loads(argv[1])
    command = argv[argv.index("--") + 1 :]
    for name, value in spec.get("rlimits", {}).items():
        resource.setrlimit(_RLIMITS[name], (value, value))
    uid, gid = spec.get("uid"), spec.get("gid")
    if uid is not None and gid is not None:
        for path in spec.get("chown", []):
            if os.path.exists(path):
                os.chown(path, uid, gid)
        os.setgroups([])
        os.setgid(gid)
        os.setuid(uid)
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0):
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_NO_NEW_PRIVS) failed")
    landlock = spec.get("landlock")
    if landlock:
        _landlock(libc, landlock["read_only"], landlock["writable"])
    env = {k: v for k, v in os.environ.items() if k != "JPY_PARENT_PID"}
    os.execve(command[0], command, env)


if __name__ == "__main__":
    main(sys.argv)
