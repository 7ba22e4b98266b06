"""Resource usage: getrusage, the rusage wait4 fills, and waitid.

A task's CPU time is vm/linux/cputime.py's, all of it user time; its maximum resident
size is the most it had mapped. A parent collects a child's usage, with that of the children
the child waited for, when it reaps it (wait4, waitpid, waitid), as Linux does for
RUSAGE_CHILDREN.
"""

from __future__ import annotations

import errno
import os
import struct

from vm.linux import signals as S
from vm.linux.cputime import charge, leader, up_to_now  # noqa: F401  (charge: kernel.py)
from vm.linux.process import ZOMBIE
from vm.linux.syscalls import WouldBlock, neg, s32, syscall

RUSAGE = struct.Struct("<4l14l")           # utime, stime (timevals), then 14 longs
RUSAGE_SELF, RUSAGE_CHILDREN, RUSAGE_THREAD = 0, -1, 1
P_ALL, P_PID, P_PGID, P_PIDFD = 0, 1, 2, 3
WNOHANG, WSTOPPED, WEXITED, WCONTINUED, WNOWAIT = 1, 2, 4, 8, 0x01000000
WALL_FLAGS = 0x20000000 | 0x40000000 | 0x80000000      # __WNOTHREAD, __WALL, __WCLONE
CLD_EXITED, CLD_KILLED, CLD_DUMPED = 1, 2, 3


def _own(proc) -> tuple:
    """(seconds, max mapped bytes) of a process: every thread of it."""
    lead = leader(proc)
    return getattr(lead, "group_time", 0.0), getattr(lead, "max_mapped", 0)


def _children(proc) -> tuple:
    return getattr(proc, "child_time", 0.0), getattr(proc, "child_mapped", 0)


def _pack(secs: float, mapped: int) -> bytes:
    us = int(secs * 1e6)
    return RUSAGE.pack(us // 10**6, us % 10**6, 0, 0, mapped >> 10, *([0] * 13))


def child_usage(child) -> bytes:
    """What wait4 stores for a reaped child: its usage and its reaped children's."""
    secs, mapped = _own(child)
    csecs, cmapped = _children(child)
    return _pack(secs + csecs, max(mapped, cmapped))


def reaped(parent, child) -> None:
    """``parent`` reaps ``child``: its usage joins the parent's RUSAGE_CHILDREN."""
    secs, mapped = _own(child)
    csecs, cmapped = _children(child)
    lead = leader(parent)
    lead.child_time = getattr(lead, "child_time", 0.0) + secs + csecs
    lead.child_mapped = max(getattr(lead, "child_mapped", 0), mapped, cmapped)


@syscall(77)
def sys_getrusage(proc, who, buf, *_):
    who = s32(who)
    up_to_now(proc)
    if who == RUSAGE_SELF:
        data = _pack(*_own(proc))
    elif who == RUSAGE_THREAD:
        data = _pack(getattr(proc, "cpu_time", 0.0), _own(proc)[1])
    elif who == RUSAGE_CHILDREN:
        data = _pack(*_children(leader(proc)))
    else:
        return neg(errno.EINVAL)
    proc.mem.write(buf, data)
    return 0


# -- waitid ----------------------------------------------------------------------------

def _siginfo(child) -> bytes:
    """The SIGCHLD siginfo of a dead child: si_code says how it ended, si_status what
    with (exit status, or the signal)."""
    status = child.wait_status
    if status & 0x7F:
        sig = status & 0x7F
        code, value = (CLD_DUMPED if S.dumps_core(sig) else CLD_KILLED), sig
    else:
        code, value = CLD_EXITED, status >> 8 & 0xFF
    return struct.pack("<iiiiIi", S.SIGCHLD, 0, code, child.pid, os.getuid(),
                       value).ljust(S.SIGINFO_SIZE, b"\0")


@syscall(284)
def sys_waitid(proc, idtype, ident, infop, options, ru, *_):
    ident = s32(ident)
    if options & ~(WNOHANG | WSTOPPED | WEXITED | WCONTINUED | WNOWAIT | WALL_FLAGS) or \
            not options & (WEXITED | WSTOPPED | WCONTINUED):
        return neg(errno.EINVAL)
    if idtype == P_ALL:
        match = list(proc.children)
    elif idtype == P_PID:
        if ident <= 0:
            return neg(errno.EINVAL)
        match = [c for c in proc.children if c.pid == ident]
    elif idtype == P_PGID:
        if ident < 0:
            return neg(errno.EINVAL)
        pgid = ident or proc.pgid
        match = [c for c in proc.children if c.pgid == pgid]
    else:
        return neg(errno.EINVAL)                 # P_PIDFD: no pidfds here
    if not match:
        return neg(errno.ECHILD)
    if infop:
        proc.mem.check_write(infop, S.SIGINFO_SIZE)
    for child in match:
        if child.state == ZOMBIE and options & WEXITED:
            if infop:
                proc.mem.write(infop, _siginfo(child))
            if ru:
                proc.mem.write(ru, child_usage(child))
            if not options & WNOWAIT:
                reaped(proc, child)
                proc.kernel.reap(child)
            return 0
    if options & WNOHANG:                         # nothing yet: si_pid 0 tells so
        if infop:
            proc.mem.write(infop, bytes(S.SIGINFO_SIZE))
        if ru:
            proc.mem.write(ru, bytes(RUSAGE.size))
        return 0
    raise WouldBlock
