"""Task controls: prctl, CPU affinity and the scheduler queries.

The guest runs on one emulated CPU (the deterministic scheduler interleaves its threads
on it), so its affinity mask is CPU 0 and setting one without CPU 0 is EINVAL, as for a
mask of CPUs that are all offline.
"""

from __future__ import annotations

import errno
import struct

from vm.linux.process import find_task
from vm.linux.syscalls import neg, s32, syscall

PR_SET_PDEATHSIG, PR_GET_PDEATHSIG, PR_GET_DUMPABLE, PR_SET_DUMPABLE = 1, 2, 3, 4
PR_GET_KEEPCAPS, PR_SET_KEEPCAPS, PR_SET_NAME, PR_GET_NAME = 7, 8, 15, 16
PR_GET_SECCOMP, PR_CAPBSET_READ, PR_SET_TIMERSLACK, PR_GET_TIMERSLACK = 21, 23, 29, 30
PR_SET_CHILD_SUBREAPER, PR_GET_CHILD_SUBREAPER = 36, 37
PR_SET_NO_NEW_PRIVS, PR_GET_NO_NEW_PRIVS = 38, 39
TASK_COMM_LEN = 16
CPUS = 1
_I = struct.Struct("<i")


def _target(proc, pid: int):
    pid = s32(pid)
    if pid < 0:
        return None
    if pid == 0 or pid == proc.tid:
        return proc
    return find_task(proc.kernel, pid) or proc.kernel.procs.get(pid)


_HOST_GETAFFINITY = {"x86_64": 204, "i386": 242, "i686": 242, "aarch64": 123}
_mask_size = None


def cpumask_size() -> int:
    """What sched_getaffinity answers with a large buffer: the kernel's cpumask size,
    which a program may take for the number of bytes that matter (glibc's CPU_SETSIZE
    probing). The host kernel's own (32 on a kernel built for 256 CPUs), asked once;
    4 (one i386 long) where it cannot be asked."""
    global _mask_size
    if _mask_size is None:
        _mask_size = 4
        try:
            import ctypes
            import platform
            nr = _HOST_GETAFFINITY.get(platform.machine())
            if nr is not None:
                buf = ctypes.create_string_buffer(1024)
                got = ctypes.CDLL(None).syscall(nr, 0, 1024, buf)
                if 4 <= got <= 1024 and not got & 3:
                    _mask_size = got
        except (ImportError, OSError, AttributeError, TypeError, ValueError):
            pass
    return _mask_size


@syscall(242)
def sys_sched_getaffinity(proc, pid, size, mask, *_):
    if _target(proc, pid) is None:
        return neg(errno.ESRCH)
    if size * 8 < CPUS or size & 3:
        return neg(errno.EINVAL)
    n = min(size, cpumask_size())
    proc.mem.write(mask, b"\x01".ljust(n, b"\0"))
    return n


@syscall(241)
def sys_sched_setaffinity(proc, pid, size, mask, *_):
    raw = proc.mem.read(mask, min(size, 128))
    if _target(proc, pid) is None:
        return neg(errno.ESRCH)
    if not raw or not raw[0] & 1:
        return neg(errno.EINVAL)       # no CPU of the mask is online
    return 0


@syscall(172)
def sys_prctl(proc, option, arg2, arg3, arg4, arg5, *_):
    if option == PR_SET_NAME:
        proc.comm = _name(proc, arg2)
        return 0
    if option == PR_GET_NAME:
        proc.mem.write(arg2, proc.comm[:TASK_COMM_LEN - 1].ljust(TASK_COMM_LEN, b"\0"))
        return 0
    if option == PR_SET_PDEATHSIG:
        if arg2 > 64:
            return neg(errno.EINVAL)
        proc.pdeathsig = arg2          # recorded; a parent's death is not signalled
        return 0
    if option == PR_GET_PDEATHSIG:
        proc.mem.write(arg2, _I.pack(getattr(proc, "pdeathsig", 0)))
        return 0
    if option == PR_GET_DUMPABLE:
        return getattr(proc, "dumpable", 1)
    if option == PR_SET_DUMPABLE:
        if arg2 not in (0, 1):
            return neg(errno.EINVAL)
        proc.dumpable = arg2
        return 0
    if option == PR_GET_KEEPCAPS or option == PR_GET_SECCOMP:
        return 0
    if option == PR_SET_KEEPCAPS:
        return 0 if arg2 in (0, 1) else neg(errno.EINVAL)
    if option == PR_GET_TIMERSLACK:
        return getattr(proc, "timerslack", 50000)
    if option == PR_SET_TIMERSLACK:
        proc.timerslack = arg2 or 50000
        return 0
    if option == PR_SET_CHILD_SUBREAPER:
        proc.subreaper = int(bool(arg2))   # recorded; orphans still go to init
        return 0
    if option == PR_GET_CHILD_SUBREAPER:
        proc.mem.write(arg2, _I.pack(getattr(proc, "subreaper", 0)))
        return 0
    if option == PR_SET_NO_NEW_PRIVS:
        if arg2 != 1 or arg3 or arg4 or arg5:
            return neg(errno.EINVAL)
        proc.no_new_privs = 1
        return 0
    if option == PR_GET_NO_NEW_PRIVS:
        return getattr(proc, "no_new_privs", 0)
    return neg(errno.EINVAL)


def _name(proc, addr: int) -> bytes:
    """A thread name: at most 15 bytes are taken, with or without a NUL among them."""
    data = bytearray()
    for i in range(TASK_COMM_LEN - 1):
        b = proc.mem.read(addr + i, 1)
        if b == b"\0":
            break
        data += b
    return bytes(data)


# -- scheduler queries (one policy: SCHED_OTHER, priority 0) ------------------------------

SCHED_OTHER, SCHED_FIFO, SCHED_RR, SCHED_BATCH, SCHED_IDLE = 0, 1, 2, 3, 5


@syscall(157)
def sys_sched_getscheduler(proc, pid, *_):
    return SCHED_OTHER if _target(proc, pid) is not None else neg(errno.ESRCH)


@syscall(155)
def sys_sched_getparam(proc, pid, param, *_):
    if _target(proc, pid) is None:
        return neg(errno.ESRCH)
    proc.mem.write(param, _I.pack(0))
    return 0


@syscall(159)
def sys_sched_get_priority_max(proc, policy, *_):
    return {SCHED_FIFO: 99, SCHED_RR: 99}.get(policy, 0 if policy in (
        SCHED_OTHER, SCHED_BATCH, SCHED_IDLE) else neg(errno.EINVAL))


@syscall(160)
def sys_sched_get_priority_min(proc, policy, *_):
    return {SCHED_FIFO: 1, SCHED_RR: 1}.get(policy, 0 if policy in (
        SCHED_OTHER, SCHED_BATCH, SCHED_IDLE) else neg(errno.EINVAL))
