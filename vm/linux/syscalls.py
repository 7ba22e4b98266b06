"""The i386 Linux system calls a static glibc program, busybox and flat programs need.

Each call is registered once with ``@syscall(number)``, which fills the dispatch table and
the names the tracer prints. A handler takes the process and the raw 32-bit arguments and
returns the value for EAX (a negative errno on failure), as the kernel does. An unknown
call returns -ENOSYS.
"""

from __future__ import annotations

import errno
import os
import random
import re
import stat
import struct
import time
from typing import Callable

from vm.diskquota import name_removed, new_inode, set_append
from vm.linux import abi, cputime, procfs, uptime
from vm.linux import addrspace as mapped
from vm.linux.abi import (
    AT_EMPTY_PATH,
    AT_FDCWD,
    AT_REMOVEDIR,
    AT_SYMLINK_NOFOLLOW,
    PAGE,
    neg,
)
from vm.linux.files import (
    O_PATH,
    POLLERR,
    POLLHUP,
    POLLNVAL,
    POLLPRI,
    READ_EVENTS,
    WRITE_EVENTS,
    DeviceFile,
    GuestFileError,
    HostFile,
    HostStream,
    PathFile,
    Pipe,
    PipeEnd,
    WouldBlock,
    host_access,
    open_fifo,
)
from vm.linux.process import NR_OPEN, RLIM_INFINITY, RLIMIT_NOFILE, RLIMIT_STACK, find_task
from vm.sandbox import O_PATH as O_HOST_PATH
from vm.sandbox import ProcRef, SandboxError
from vm.x86.faults import MemoryFault

SYSCALLS: dict = {}      # number -> (name, handler)


class ProcessExit(Exception):
    """The process ended: exit status as a shell reports it (128+signal when killed)."""

    def __init__(self, status: int, signal: int = 0):
        super().__init__(status)
        self.status = status
        self.signal = signal


def deadline_of(proc, seconds: float) -> float:
    """The end of a timed wait: set when the call starts, kept while it is retried."""
    if proc.state != "blocked" or proc.deadline is None:
        proc.deadline = time.monotonic() + seconds
    return proc.deadline


class ExecDone(Exception):
    """execve replaced the process's Machine: there is no return value to store."""


class ContextSet(Exception):
    """sigreturn restored every register: EAX is not a return value."""


def syscall(number: int, name: str | None = None) -> Callable:
    def register(fn: Callable) -> Callable:
        SYSCALLS[number] = (name or fn.__name__.removeprefix("sys_"), fn)
        return fn
    return register


def s32(v: int) -> int:
    v &= 0xFFFFFFFF
    return v - (1 << 32) if v & 0x80000000 else v


def dispatch(proc, nr: int, args: tuple) -> int:
    entry = SYSCALLS.get(nr)
    if entry is None:
        return neg(errno.ENOSYS)
    try:
        return entry[1](proc, *args)
    except (GuestFileError, SandboxError) as e:
        return neg(e.errno)
    except proc.memory_errors:
        return neg(errno.EFAULT)
    except OSError as e:
        return neg(abi.errno_of(e))


def name_of(nr: int) -> str:
    entry = SYSCALLS.get(nr)
    return entry[0] if entry else f"syscall_{nr}"


def argc_of(nr: int) -> int:
    """How many arguments a call takes (its handler's named parameters), for traces."""
    entry = SYSCALLS.get(nr)
    if entry is None:
        return 6
    return max(entry[1].__code__.co_argcount - 1, 0)


# -- process ---------------------------------------------------------------------------

# exit (1), gettid, set_tid_address, the robust list, sched_yield, tkill and tgkill:
# vm/linux/threads.py

@syscall(252)
def sys_exit_group(proc, status, *_):
    raise ProcessExit(status & 0xFF)


@syscall(20)
def sys_getpid(proc, *_):
    return proc.pid


@syscall(64)
def sys_getppid(proc, *_):
    return proc.ppid


for _nr, _name, _fn in ((199, "getuid32", os.getuid), (200, "getgid32", os.getgid),
                        (201, "geteuid32", os.geteuid), (202, "getegid32", os.getegid),
                        (24, "getuid", os.getuid), (47, "getgid", os.getgid),
                        (49, "geteuid", os.geteuid), (50, "getegid", os.getegid)):
    SYSCALLS[_nr] = (_name, lambda proc, *_a, _f=_fn: _f())


@syscall(209)
def sys_getresuid32(proc, ruid, euid, suid, *_):
    for p in (ruid, euid, suid):
        proc.mem.write(p, struct.pack("<I", os.getuid()))
    return 0


@syscall(211)
def sys_getresgid32(proc, rgid, egid, sgid, *_):
    for p in (rgid, egid, sgid):
        proc.mem.write(p, struct.pack("<I", os.getgid()))
    return 0


@syscall(205)
def sys_getgroups32(proc, size, lst, *_):
    groups = os.getgroups()
    if s32(size) < 0:                       # (an int: -1 wrote the list anywhere)
        return neg(errno.EINVAL)
    if size == 0:
        return len(groups)
    if size < len(groups):
        return neg(errno.EINVAL)
    proc.mem.write(lst, struct.pack(f"<{len(groups)}I", *groups))
    return len(groups)


@syscall(213)
def sys_setuid32(proc, uid, *_):
    return 0 if uid == os.getuid() else neg(errno.EPERM)


@syscall(214)
def sys_setgid32(proc, gid, *_):
    return 0 if gid == os.getgid() else neg(errno.EPERM)


@syscall(386)
def sys_rseq(proc, *_):
    return neg(errno.ENOSYS)


@syscall(243)
def sys_set_thread_area(proc, uinfo, *_):
    entry, base, limit, flags = abi.USER_DESC.unpack(proc.mem.read(uinfo, 16))
    if not _tls_desc_okay(base, limit, flags):
        return neg(errno.EINVAL)
    if entry == 0xFFFFFFFF:
        # the first free GDT TLS slot (12-14), as the kernel picks (glibc's has 12)
        used = proc.machine.descriptors
        entry = next((e for e in (12, 13, 14) if e << 3 | 3 not in used), None)
        if entry is None:
            return neg(errno.ESRCH)
        proc.mem.write(uinfo, struct.pack("<I", entry))
    elif not 12 <= entry <= 14:
        return neg(errno.EINVAL)
    if base == 0 and limit == 0 and flags & 0x7F in (0, 0x28):
        proc.machine.descriptors.pop(entry << 3 | 3, None)     # cleared: loading it is #GP
        return 0
    proc.set_tls(entry, base, limit, flags)
    return 0


def _tls_desc_okay(base: int, limit: int, flags: int) -> bool:
    """Linux's tls_desc_okay: an empty or all-zero user_desc, else a present 32-bit data
    segment (flags: seg_32bit 1, contents 6, read_exec_only 8, limit_in_pages 0x10,
    seg_not_present 0x20, useable 0x40). A not-present TLS segment is refused, so no
    segment load of a TLS selector is #NP."""
    if base == 0 and limit == 0 and flags & 0x7F in (0, 0x28):    # LDT_zero, LDT_empty
        return True
    return bool(flags & 1) and (flags >> 1) & 3 <= 1 and not flags & 0x20


@syscall(122)
def sys_uname(proc, buf, *_):
    fields = ["Linux", "pyvm", "6.1.0-pyvm", "#1 SMP pyvm", "i686", "(none)"]
    data = b"".join(f.encode()[:64].ljust(abi.UTSNAME_FIELD, b"\0") for f in fields)
    proc.mem.write(buf, data)
    return 0


def _getrlimit(proc, resource: int, rlim: int, most: int) -> int:
    if resource >= RLIM_NLIMITS:
        return neg(errno.EINVAL)
    cur, mx = proc.rlimit(resource)
    proc.mem.write(rlim, abi.RLIMIT32.pack(min(cur, most), min(mx, most)))
    return 0


@syscall(191, "ugetrlimit")
def sys_ugetrlimit(proc, resource, rlim, *_):
    return _getrlimit(proc, resource, rlim, 0xFFFFFFFF)


@syscall(76, "getrlimit")
def sys_old_getrlimit(proc, resource, rlim, *_):
    """The old call: limits past 2^31 - 1 read as that (the kernel's old_getrlimit)."""
    return _getrlimit(proc, resource, rlim, 0x7FFFFFFF)


@syscall(340)
def sys_prlimit64(proc, pid, resource, new, old, *_):
    """Another process of the run may be the target: they all have the guest's
    credentials (Linux's check_prlimit_permission)."""
    target = proc
    if pid not in (0, proc.pid):
        target = find_task(proc.kernel, pid)
        if target is None:
            return neg(errno.ESRCH)
    want = abi.RLIMIT64.unpack(proc.mem.read(new, 16)) if new else None
    if resource >= RLIM_NLIMITS:
        return neg(errno.EINVAL)
    if old:
        cur, mx = target.rlimit(resource)
        proc.mem.check_write(old, 16)
    if want is not None:
        err = _set_rlimit(target, resource, *want)
        if err:
            return err
    if old:
        proc.mem.write(old, abi.RLIMIT64.pack(cur, mx))
    return 0


@syscall(75)
def sys_setrlimit(proc, resource, rlim, *_):
    inf = lambda v: RLIM_INFINITY if v == 0xFFFFFFFF else v  # noqa: E731
    cur, mx = abi.RLIMIT32.unpack(proc.mem.read(rlim, 8))
    return _set_rlimit(proc, resource, inf(cur), inf(mx))


RLIM_NLIMITS = 16


def _set_rlimit(proc, resource: int, cur: int, mx: int) -> int:
    """As Linux for a process without CAP_SYS_RESOURCE (a guest never has it): a hard
    limit may only come down. Raising RLIMIT_NOFILE at will gave a guest a million
    descriptors and as many files in flight (host memory past any limit)."""
    if resource >= RLIM_NLIMITS or cur > mx:
        return neg(errno.EINVAL)
    if mx > proc.rlimit(resource)[1] or resource == RLIMIT_NOFILE and mx > NR_OPEN:
        return neg(errno.EPERM)
    proc.rlimits[resource] = (cur, mx)
    if resource == RLIMIT_STACK:
        proc.limit_stack()              # (how far the stack may grow: addrspace.py)
    return 0


@syscall(60)
def sys_umask(proc, mask, *_):
    old, proc.umask = proc.umask, mask & 0o777
    return old


@syscall(355)
def sys_getrandom(proc, buf, count, flags, *_):
    """As Linux, the bytes go out a chunk at a time and a fault after some of them is a
    short count, not EFAULT (a huge count into a small buffer)."""
    count = min(count, GETRANDOM_MAX)
    if not count:
        return 0
    end = max(proc.aspace.writable_end(buf, buf + count), buf)
    if end == buf:
        return neg(errno.EFAULT)
    for a in range(buf, end, READ_MAX):
        proc.mem.write(a, proc.kernel.random_bytes(min(READ_MAX, end - a)))  # --seed's
    return end - buf


# -- time ------------------------------------------------------------------------------

def _cpu_clock(proc, clk: int) -> int | None:
    """ns of a CPU-time clock: the task's own time (vm/linux/cputime.py), not the host
    process's, which holds every guest process and pyvm's start. A negative id is
    clock_getcpuclockid's: ~pid above 3 bits, bit 2 a thread's, the low two its kind
    (3 is none); pid 0 is the caller, a thread only of the caller's process. None:
    no such clock or task (EINVAL)."""
    clk = s32(clk)
    if clk >= 0:
        task, thread = proc, clk == 3
    else:
        pid, thread = ~(clk >> 3), bool(clk & 4)
        if clk & 3 == 3:
            return None
        if not pid:
            task = proc
        elif pid == abi.PARENT_PID and not thread:
            return 0                  # pyvm's parent: no time of it is known here
        elif thread:
            task = find_task(proc.kernel, pid, proc.pid)
        else:
            task = proc.kernel.procs.get(pid)
        if task is None:
            return None
    cputime.up_to_now(proc)
    secs = cputime.thread_seconds(task) if thread else cputime.process_seconds(task)
    return int(secs * 1e9)


def _clock(proc, clk: int) -> int | None:
    """ns of clock ``clk`` now, or None (EINVAL)."""
    if _resolution(clk) is None:
        return None
    if clk in (1, 4, 6, 7, 9):    # MONOTONIC, _RAW, _COARSE, BOOTTIME, BOOTTIME_ALARM:
        ns = uptime.monotonic_ns()  # the sandbox's uptime, as /proc/uptime and sysinfo
        return ns - ns % _resolution(clk) if clk == 6 else ns
    if clk in (2, 3) or s32(clk) < 0:     # PROCESS/THREAD_CPUTIME_ID, clock_getcpuclockid
        return _cpu_clock(proc, clk)
    return time.time_ns()


@syscall(265)
def sys_clock_gettime(proc, clk, tp, *_):
    ns = _clock(proc, clk)
    if ns is None:
        return neg(errno.EINVAL)
    proc.mem.write(tp, abi.TIMESPEC32.pack(ns // 10**9, ns % 10**9))
    return 0


@syscall(403)
def sys_clock_gettime64(proc, clk, tp, *_):
    ns = _clock(proc, clk)
    if ns is None:
        return neg(errno.EINVAL)
    proc.mem.write(tp, abi.TIMESPEC64.pack(ns // 10**9, ns % 10**9))
    return 0


def _resolution(clk: int) -> int | None:
    """A clock's resolution in ns (the coarse clocks tick with the host's jiffies), None
    for a clock that does not exist."""
    clk = s32(clk)
    if clk < 0:
        return 1                  # a process or thread CPU clock (clock_getcpuclockid)
    if clk in (5, 6):             # REALTIME_COARSE, MONOTONIC_COARSE
        try:
            return max(1, round(time.clock_getres(clk) * 1e9))
        except OSError:
            return 4_000_000
    return 1 if clk <= 11 and clk != 10 else None


def _clock_getres(proc, clk: int, tp: int, spec) -> int:
    ns = _resolution(clk)
    if ns is None:
        return neg(errno.EINVAL)
    if tp:
        proc.mem.write(tp, spec.pack(ns // 10**9, ns % 10**9))
    return 0


@syscall(266)
def sys_clock_getres(proc, clk, tp, *_):
    return _clock_getres(proc, clk, tp, abi.TIMESPEC32)


@syscall(406)
def sys_clock_getres_time64(proc, clk, tp, *_):
    return _clock_getres(proc, clk, tp, abi.TIMESPEC64)


@syscall(78)
def sys_gettimeofday(proc, tv, tz, *_):
    ns = time.time_ns()
    if tv:
        proc.mem.write(tv, abi.TIMEVAL32.pack(ns // 10**9, (ns // 1000) % 10**6))
    if tz:
        proc.mem.write(tz, bytes(8))
    return 0


@syscall(13)
def sys_time(proc, tloc, *_):
    t = int(time.time())
    if tloc:
        proc.mem.write(tloc, struct.pack("<I", t))
    return t


@syscall(43)
def sys_times(proc, buf, *_):
    """The process's CPU time and its reaped children's, in clock ticks (all user time:
    vm/linux/cputime.py); the return is the sandbox's uptime in ticks."""
    if buf:
        cputime.up_to_now(proc)
        own, children = cputime.process_seconds(proc), cputime.children_seconds(proc)
        proc.mem.write(buf, struct.pack("<4I", int(own * 100) & 0xFFFFFFFF, 0,
                                        int(children * 100) & 0xFFFFFFFF, 0))
    return int(uptime.uptime() * 100) & 0x7FFFFFFF


def _sleep(proc, sec: int, nsec: int) -> int:
    """Sleep without stopping the other processes: block until the deadline."""
    if not 0 <= nsec < 10**9 or sec < 0:
        return neg(errno.EINVAL)
    deadline = deadline_of(proc, sec + nsec / 1e9)
    if time.monotonic() < deadline:
        raise WouldBlock(deadline)
    proc.deadline = None
    return 0


@syscall(162)
def sys_nanosleep(proc, req, rem, *_):
    sec, nsec = abi.TIMESPEC32.unpack(proc.mem.read(req, 8))
    return _sleep(proc, sec, nsec)


# the clocks clock_nanosleep sleeps on (a CPU clock too: _cpu_sleep), and
# those that exist but cannot be slept on (EOPNOTSUPP; any other is EINVAL)
NSLEEP_CLOCKS = frozenset((0, 1, 2, 7, 11))  # REALTIME MONOTONIC PROCESS_CPUTIME BOOTTIME TAI
NO_NSLEEP_CLOCKS = frozenset((3, 4, 5, 6, 8, 9))


def _clock_nanosleep(proc, clk: int, flags: int, req: int, spec) -> int:
    clk = s32(clk)
    if clk >= 0 and clk not in NSLEEP_CLOCKS:       # checked first, as the kernel does
        return neg(errno.EOPNOTSUPP if clk in NO_NSLEEP_CLOCKS else errno.EINVAL)
    if clk < 0 and clk & 7 == CLOCKFD:  # a clock of a device fd: no clock_nanosleep
        return neg(errno.EOPNOTSUPP)
    sec, nsec = spec.unpack(proc.mem.read(req, spec.size))
    if clk < 0 and not _cpu_clock_exists(proc, clk):
        return neg(errno.EINVAL)
    if clk == 2 or clk < 0:         # a CPU clock: until it reads the time asked
        return _cpu_sleep(proc, clk, bool(flags & 1), sec, nsec)
    if flags & 1:                 # TIMER_ABSTIME
        delta = sec * 10**9 + nsec - (_clock(proc, clk) or 0)
        sec, nsec = max(0, delta) // 10**9, max(0, delta) % 10**9
    return _sleep(proc, sec, nsec)


def _cpu_sleep(proc, clk: int, absolute: bool, sec: int, nsec: int) -> int:
    """Sleep until CPU clock ``clk`` reaches the time asked (Linux's posix_cpu_nsleep):
    it advances only while the tasks it measures run, so a process sleeping on its own
    clock with no other thread sleeps until a signal. The end is kept while the call is
    retried; each retry waits at least the CPU time still missing (the guest's tasks all
    run on one host thread: a clock runs no faster than the wall clock)."""
    if not 0 <= nsec < 10**9 or sec < 0:
        return neg(errno.EINVAL)
    now = _clock(proc, clk) or 0
    if proc.state != "blocked" or getattr(proc, "cpu_sleep_end", None) is None:
        proc.cpu_sleep_end = sec * 10**9 + nsec + (0 if absolute else now)
    missing = proc.cpu_sleep_end - now
    if missing > 0:
        raise WouldBlock(time.monotonic() + missing / 1e9)
    proc.cpu_sleep_end = None
    return 0


CLOCKFD = 3                         # clk & 7 of a negative clock id naming a device fd


def _cpu_clock_exists(proc, clk: int) -> bool:
    """Whether the negative clock id ``clk`` names a CPU clock clock_nanosleep can use,
    decoded as Linux's posix-cpu-timers.c does: the pid ~(clk >> 3) (0: the caller),
    4 a thread's clock, clk & 3 which clock (3 is none). A thread clock must name
    another thread of the caller's process; a process clock a process that exists."""
    pid = ~(clk >> 3)
    if clk & 3 == 3:
        return False
    if clk & 4:
        return pid not in (0, proc.tid) and find_task(proc.kernel, pid, proc.pid) is not None
    return pid in (0, abi.PARENT_PID) or pid in proc.kernel.procs


@syscall(267)
def sys_clock_nanosleep(proc, clk, flags, req, rem, *_):
    return _clock_nanosleep(proc, clk, flags, req, abi.TIMESPEC32)


@syscall(407)
def sys_clock_nanosleep_time64(proc, clk, flags, req, rem, *_):
    return _clock_nanosleep(proc, clk, flags, req, abi.TIMESPEC64)


# -- memory ----------------------------------------------------------------------------

@syscall(45)
def sys_brk(proc, addr, *_):
    return proc.set_brk(addr)


@syscall(192)
def sys_mmap2(proc, addr, length, prot, flags, fd, pgoff):
    return proc.mmap(addr, length, prot, flags, s32(fd), pgoff * PAGE)


@syscall(90)
def sys_old_mmap(proc, argp, *_):
    addr, length, prot, flags, fd, off = struct.unpack("<6I", proc.mem.read(argp, 24))
    return proc.mmap(addr, length, prot, flags, s32(fd), off)


@syscall(91)
def sys_munmap(proc, addr, length, *_):
    return proc.munmap(addr, length)


PROT_SEM, PROT_GROWSDOWN, PROT_GROWSUP = 8, 0x01000000, 0x02000000
PROT_GROWS = PROT_GROWSDOWN | PROT_GROWSUP


@syscall(125)
def sys_mprotect(proc, addr, length, prot, *_):
    """Linux's checks in its order: both growth bits, then alignment and an empty range,
    then unknown bits (EINVAL), an unmapped page (ENOMEM), and a growth bit outside the
    stack or a MAP_GROWSDOWN mapping (EINVAL; PROT_GROWSDOWN reaches its start)."""
    grows = prot & PROT_GROWS
    if grows == PROT_GROWS:
        return neg(errno.EINVAL)
    if addr & 0xFFF or not length:
        return proc.mprotect(addr, length, 0)           # EINVAL, or 0 for nothing
    if prot & ~(grows | PROT_SEM | 7):
        return neg(errno.EINVAL)
    if grows:
        asp = proc.aspace
        end = addr + length
        if grows == PROT_GROWSUP:       # the mapping at addr (ENOMEM: none) never grows up
            return neg(errno.EINVAL if asp.is_mapped(addr, addr + 1) else errno.ENOMEM)
        if end > proc.machine.mem.size or not _any_mapped(asp, addr, end):
            return neg(errno.ENOMEM)
        down = asp.growsdown_start(addr)    # a guest's MAP_GROWSDOWN mapping: from its start
        if down is not None:
            if not asp.is_mapped(down, end):
                return neg(errno.ENOMEM)
            return proc.mprotect(down, end - down, prot & 7)
        lo = asp.stack_bottom()         # the first mapping met must be the stack's
        if _any_mapped(asp, addr, min(end, lo)) or addr >= asp.layout.stack_top:
            return neg(errno.EINVAL)
        if not asp.is_mapped(lo, end):
            return neg(errno.ENOMEM)
        length, addr = end - lo, lo
    return proc.mprotect(addr, length, prot & 7)


def _any_mapped(asp, start: int, end: int) -> bool:
    """Whether a page of [start, end) is mapped (Linux's vma_find finds a mapping)."""
    p0, p1 = start >> 12, min(-(-end >> 12), len(asp.prot))
    return p0 < p1 and asp.prot.count(0, p0, p1) < p1 - p0


@syscall(163)
def sys_mremap(proc, old, old_size, new_size, flags, new_addr, *_):
    return proc.mremap(old, old_size, new_size, flags)


# -- signals ---------------------------------------------------------------------------

@syscall(174)
def sys_rt_sigaction(proc, sig, act, oact, sigsetsize, *_):
    if sigsetsize != 8:
        return neg(errno.EINVAL)
    new = abi.SIGACTION.unpack(proc.mem.read(act, 20)) if act else None
    if not 1 <= sig <= 64 or sig in (9, 19) and act:
        return neg(errno.EINVAL)
    if oact:
        proc.mem.write(oact, abi.SIGACTION.pack(*proc.sigactions.get(sig, (0, 0, 0, 0))))
    if new is not None:
        proc.sigactions[sig] = new
    return 0


@syscall(126)
def sys_sigprocmask(proc, how, nset, oset, *_):
    """The old sigprocmask, on signals 1-32 only (the real-time ones keep their bits):
    static glibc's getcontext, setcontext and swapcontext call it. Without it
    swapcontext failed (-1, ENOSYS) and a handler leaving by it went on in the handler,
    its signal still blocked."""
    old = proc.sigmask & 0xFFFFFFFF
    if nset:
        mask = struct.unpack("<I", proc.mem.read(nset, 4))[0] & ~0x40100     # KILL, STOP
        if how == 0:
            proc.sigmask |= mask
        elif how == 1:
            proc.sigmask &= ~mask
        elif how == 2:
            proc.sigmask = proc.sigmask & ~0xFFFFFFFF | mask
        else:
            return neg(errno.EINVAL)
    if oset:
        proc.mem.write(oset, struct.pack("<I", old))
    return 0


@syscall(175)
def sys_rt_sigprocmask(proc, how, nset, oset, sigsetsize, *_):
    if sigsetsize != 8:
        return neg(errno.EINVAL)
    mask = None
    if nset:                     # read before oset is written: they may be the same buffer
        mask = struct.unpack("<Q", proc.mem.read(nset, 8))[0] & ~0x40100   # KILL, STOP
        if how not in (0, 1, 2):
            return neg(errno.EINVAL)
    if oset:
        proc.mem.write(oset, struct.pack("<Q", proc.sigmask))
    if mask is not None:
        if how == 0:
            proc.sigmask |= mask
        elif how == 1:
            proc.sigmask &= ~mask
        else:
            proc.sigmask = mask
    return 0


@syscall(186)
def sys_sigaltstack(proc, ss, oss, *_):
    sp, flags, size = proc.altstack
    on = bool(size) and sp <= proc.machine.cpu.r[4] < sp + size
    if oss:
        proc.mem.write(oss, struct.pack("<IiI", sp, flags | (1 if on else 0), size))
    if ss:
        nsp, nflags, nsize = struct.unpack("<IiI", proc.mem.read(ss, 12))
        if on:
            return neg(errno.EPERM)
        if nflags & ~(2 | 0x80000000):          # SS_DISABLE, SS_AUTODISARM
            return neg(errno.EINVAL)
        if nflags & 2:
            proc.altstack = (0, 2, 0)
        elif nsize < 2048:                      # MINSIGSTKSZ
            return neg(errno.ENOMEM)
        else:
            proc.altstack = (nsp, 0, nsize)
    return 0


def _signal_self(proc, sig: int) -> int:
    """Make ``sig`` pending on the caller: the kernel acts on it as the call returns."""
    if not 0 <= sig <= 64:
        return neg(errno.EINVAL)
    proc.deliver_signal(sig)
    return 0


@syscall(37)
def sys_kill(proc, pid, sig, *_):
    pid = s32(pid)
    if pid == proc.pid:
        return _signal_self(proc, sig)
    return proc.kill_other(pid, sig)


# -- files -----------------------------------------------------------------------------

def _path(proc, addr: int) -> str:
    if not addr:
        raise GuestFileError(errno.EFAULT)
    return os.fsdecode(proc.read_cstr(addr))


def _dir_base(proc, dirfd: int, path: str) -> str | None:
    """Guest directory a relative path is resolved against (for the *at calls): where the
    directory is now, not the name it was opened by (it may have been renamed since)."""
    dirfd = s32(dirfd)
    if path.startswith("/") or dirfd == AT_FDCWD:
        return None
    f = proc.fds.get(dirfd)
    if isinstance(f, procfs.ProcDir):
        return f.path
    if not isinstance(f, HostFile) or not f.is_dir:
        raise GuestFileError(errno.ENOTDIR if isinstance(f, HostFile) else errno.EBADF)
    return proc.sandbox.fd_base(f.fd)


def _lookup(proc, dirfd: int, path: str, follow: bool = True):
    """Host path, or ProcRef for the guest's /proc, of a path given to an *at call."""
    return proc.sandbox.lookup(path, _dir_base(proc, dirfd, path), follow,
                               procfs.lookup_for(proc))


def _resolve(proc, dirfd: int, path: str, follow: bool = True) -> str:
    """Host path of a path given to an *at call; the guest's /proc is refused (EACCES)."""
    return proc.sandbox.resolve(path, _dir_base(proc, dirfd, path), follow)


def _fd_host(proc, f) -> str:
    """The host path of the file an open descriptor holds now (fchmod, fchown...)."""
    if not isinstance(f, HostFile):
        raise GuestFileError(errno.EINVAL)
    return proc.sandbox.resolve(proc.sandbox.fd_base(f.fd), follow=False)


def check_fd_write(proc, f) -> None:
    """May the inode open as ``f`` be changed (fchmod, fchown, futimens)? Its current name
    must be writable and its links accounted for; the caller then acts on ``f.fd``."""
    proc.sandbox.check_write(_fd_host(proc, f), entry=False)
    proc.sandbox.check_inode(os.fstat(f.fd))


EMULATED_DEVICES = ("/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom")
_SELF_FD = re.compile(r"/(?:dev/fd|proc/self/fd|proc/(\d+)/fd)/(0|[1-9]\d*)")   # (03: ENOENT)
_OTHER_FD = re.compile(r"/proc/\d+/(?:task/\d+/)?fd/\d+")     # (_SELF_FD: own pid)
_STD_NAMES = {"/dev/stdin": 0, "/dev/stdout": 1, "/dev/stderr": 2}


def _fd_alias(proc, path: str):
    """The guest descriptor a /dev/stdout, /dev/fd/N or /proc/self/fd/N path names (the
    host's would be pyvm's own descriptors)."""
    if "//" in path:                    # (/dev//fd/3: the same name)
        path = re.sub("//+", "/", path)
    if path in _STD_NAMES:
        return _STD_NAMES[path]
    m = _SELF_FD.fullmatch(path)
    if m is None or m.group(1) is not None and int(m.group(1)) != proc.pid:
        return None
    return int(m.group(2))


def _exe(proc):
    """The open program file of /proc/self/exe (vm/linux/loader.py ExeFile)."""
    exe = getattr(proc.exe_host_path, "exe", None)
    if exe is None:
        raise GuestFileError(errno.ENOENT)
    return exe


def _open_proc(proc, ref: ProcRef, flags: int, writing: bool):
    """An open file for a node of the guest's /proc."""
    if ref == ("exe",):                      # the program, not pyvm's interpreter
        if writing:
            raise GuestFileError(errno.ETXTBSY)
        # the file that was executed (held open), not whatever its name holds now
        # (O_PATH: a name only, never read, as any O_PATH descriptor)
        return HostFile(_exe(proc).reopen(), proc.exe_host_path,
                        flags & (abi.O_NONBLOCK | O_PATH), not flags & O_PATH, False)
    node = procfs.node(proc, ref)
    if node is not None and node[0] in ("link", "exe"):
        if flags & O_PATH:                    # the link itself, as a name
            return PathFile("/proc/" + "/".join(ref), stat.S_IFLNK | 0o777)
        raise GuestFileError(errno.ELOOP)     # a link itself (O_NOFOLLOW): not opened
    if node == ("dir",) and writing:
        raise GuestFileError(errno.EISDIR)
    if len(ref) >= 3 and ref[-2] == "fd" and node == ("file",):
        f = _proc_fd_file(proc, ref)
        reopened = _reopen(proc, f, flags, 0)     # (a regular file: a new description)
        return reopened if reopened is not None else _not_dir(f, flags)   # the same one
    return procfs.open_node(proc, ref, writing)


def _proc_fd_file(proc, ref: ProcRef):
    """The open file /proc/<pid>/fd/N (``ref``) names, of whichever guest process."""
    target = procfs._target(proc, ref if ref[0] != "self" else (str(proc.pid),) + ref[1:])
    if target is None:
        raise GuestFileError(errno.ENOENT)
    return target.fds.get(int(ref[-1]))


def _open_other_fd(proc, dirfd: int, path: str, flags: int, mode: int) -> int | None:
    """/proc/<another pid>/fd/N of a regular file, followed: Linux jumps to the file the
    descriptor holds (not its name: deleted or renamed since, the same inode), a new
    open file description made as /proc/self/fd/N's (_reopen). None: any other file,
    which its link's name opens (or the open file itself: pipes, streams)."""
    ref = _lookup(proc, dirfd, path, follow=False)
    if not isinstance(ref, ProcRef) or len(ref) < 3 or ref[-2] != "fd" \
            or not ref[-1].isdigit() or procfs.node(proc, ref) is None:
        return None
    return _reopen(proc, _proc_fd_file(proc, ref), flags, mode)


O_TMPFILE = 0o20000000              # (glibc's O_TMPFILE is this bit with O_DIRECTORY)


def _not_dir(f, flags: int):
    """``f``, the open file a /proc/self/fd/N or /dev/stdin names, reopened: ENOTDIR when
    O_DIRECTORY asks for a directory and it is not one."""
    if flags & abi.O_DIRECTORY and not getattr(f, "is_dir", False):
        raise GuestFileError(errno.ENOTDIR)
    return f


def _reopen(proc, f, flags: int, mode: int):
    """/dev/stdin, /dev/fd/N, /proc/self/fd/N of a regular file: a new open file
    description with the flags asked for (its own offset), as Linux makes; the guest
    descriptor, or None to share ``f`` (anything else: pipes, sockets, ttys, devices).
    Access within what ``f`` grants (_within_grant) reopens the inode ``f`` holds (the
    host's /proc/self/fd of pyvm's own descriptor: no name is walked, a deleted file
    too); more than that is judged as an open of its current name would be (--root,
    --allow-write, protected files), and the name must still hold the same inode (a
    deleted file, or one outside --root, has no name: EACCES where Linux would grant
    writing through a read-only descriptor)."""
    f = getattr(f, "stream", f)         # (an O_PATH name of a stream: as the stream)
    if not isinstance(f, (HostFile, HostStream)):
        return None
    try:
        st = os.fstat(f.fd)
        granted = _within_grant(f, flags)
    except OSError:
        return None
    if not stat.S_ISREG(st.st_mode):
        return None
    if flags & abi.O_DIRECTORY:
        raise GuestFileError(errno.ENOTDIR)
    if flags & O_PATH:                  # a name of the inode only: no access to judge
        if isinstance(f, HostStream):   # (no host descriptor: its reopen shares it)
            named = PathFile(f.path, stat.S_IFREG | stat.S_IMODE(st.st_mode))
            named.status_flags, named.stream = O_PATH, f
            return proc.fds.install(named, cloexec=bool(flags & abi.O_CLOEXEC))
        flags &= O_PATH | abi.O_CLOEXEC
        granted = True
    acc = flags & abi.O_ACCMODE
    reads, writes = acc in (0, 2), acc in (1, 2)
    keep = flags & ~(abi.O_CREAT | abi.O_EXCL)
    if not granted:
        try:
            name = proc.sandbox.fd_base(f.fd)       # (outside the root or deleted: none)
        except SandboxError:
            raise GuestFileError(errno.EACCES) from None
        if _fd_alias(proc, name) is not None:       # (a --root file named /dev/stdin)
            raise GuestFileError(errno.EACCES)
        gfd = _open(proc, AT_FDCWD, name, keep, mode)
        try:
            now = os.fstat(proc.fds.get(gfd).fd)
            same = (now.st_dev, now.st_ino) == (st.st_dev, st.st_ino)
        except (OSError, AttributeError):
            same = False
        if not same:                                # renamed or replaced behind it
            proc.fds.close(gfd)
            raise GuestFileError(errno.EACCES)
        return gfd
    hflags = {0: os.O_RDONLY, 1: os.O_WRONLY, 2: os.O_RDWR}.get(acc, os.O_RDONLY)
    if flags & abi.O_APPEND:
        hflags |= os.O_APPEND
    if flags & abi.O_NONBLOCK:
        hflags |= os.O_NONBLOCK
    if flags & O_PATH:
        hflags = O_HOST_PATH
    try:
        fd = os.open(f"/proc/self/fd/{f.fd}", hflags | os.O_NOCTTY | os.O_CLOEXEC)
    except OSError as e:
        raise GuestFileError(e.errno or errno.EACCES) from None
    try:
        now = os.fstat(fd)
        if (now.st_dev, now.st_ino) != (st.st_dev, st.st_ino):
            raise GuestFileError(errno.EAGAIN)
        if flags & abi.O_TRUNC:                     # (f may be cut: _within_grant)
            proc.sandbox.check_inode(now)
            if writes:                              # the new descriptor, not f's
                cut = lambda: os.ftruncate(fd, 0)   # noqa: E731
            else:                                   # O_RDONLY|O_TRUNC truncates too
                cut = lambda: os.truncate(f"/proc/self/fd/{fd}", 0)     # noqa: E731
            if mapped.spaces or mapped.privates:
                mapped.truncating(fd, 0, cut)
            else:
                cut()
        host = os.readlink(f"/proc/self/fd/{fd}")
    except OSError as e:
        os.close(fd)
        raise GuestFileError(e.errno or errno.EIO) from None
    except BaseException:
        os.close(fd)
        raise
    status = keep & ~(abi.O_TRUNC | abi.O_CLOEXEC)
    if isinstance(f, HostStream):       # (the same access as the stream: _within_grant)
        return proc.fds.install(f.reopened(fd, status), cloexec=bool(flags & abi.O_CLOEXEC))
    nf = HostFile(fd, host, status, reads, writes)
    nf.hide = proc.sandbox.hides_entry
    if writes:
        nf.budget = proc.kernel.output_budget
    return proc.fds.install(nf, cloexec=bool(flags & abi.O_CLOEXEC))


def _within_grant(f, flags: int) -> bool:
    """May ``f`` (a HostFile or HostStream) be reopened with ``flags`` through its inode,
    without asking the sandbox about its name? Only for access its host descriptor has
    (F_GETFL: a stdout may be a read-only file, a stdin write-only) and the guest was
    given. A HostFile was opened through the sandbox (inside --root, not hidden), so
    reading it is granted (an O_PATH one's too: Linux reopens it with the inode's
    permissions), and writing and truncating it when it was opened for writing (the
    guest may drop its O_APPEND). A standard stream was never judged: only what
    its host descriptor allows and the guest's stream does (no O_TRUNC: pyvm gives no
    ftruncate of a stream; no writing without O_APPEND where the host's appends), and
    the reopened file stays a stream (HostStream.reopened)."""
    acc = flags & abi.O_ACCMODE
    reads, writes = acc in (0, 2), acc in (1, 2)
    host_r, host_w, host_append = host_access(f.fd)
    if isinstance(f, HostFile):
        return not (writes or flags & abi.O_TRUNC) or f.writable and host_w
    if reads and not (f.readable and host_r) or flags & abi.O_TRUNC:
        return False
    return not writes or f.writable and host_w and \
        (not host_append or bool(flags & abi.O_APPEND))


def _refused_early(proc, dirfd: int, path: str, flags: int) -> None:
    """What Linux refuses before opening anything: O_TMPFILE without O_DIRECTORY, with
    O_CREAT or read-only (EINVAL), else once the directory is found EOPNOTSUPP (pyvm makes
    no unnamed files: what a file system without them answers; callers fall back to a
    named file); O_CREAT of a name with a trailing slash (EISDIR once its directory is
    found: nothing is created)."""
    if flags & O_TMPFILE:
        if flags & (abi.O_DIRECTORY | abi.O_CREAT) != abi.O_DIRECTORY or \
                not flags & abi.O_ACCMODE:
            raise GuestFileError(errno.EINVAL)
        host = _lookup(proc, dirfd, path)
        if not isinstance(host, ProcRef) and not os.path.isdir(host):
            raise GuestFileError(errno.ENOTDIR if os.path.lexists(host) else errno.ENOENT)
        raise GuestFileError(errno.EOPNOTSUPP)
    if flags & abi.O_CREAT and path.endswith("/"):
        _lookup(proc, dirfd, path.rstrip("/") or "/")
        raise GuestFileError(errno.EISDIR)


def _open(proc, dirfd: int, path: str, flags: int, mode: int) -> int:
    sb = proc.sandbox
    cloexec = bool(flags & abi.O_CLOEXEC)
    proc.fds.reserve()          # EMFILE before anything is created or truncated (Linux's)
    alias = _fd_alias(proc, path)
    if alias is not None:
        try:
            f = proc.fds.get(alias)
        except GuestFileError:
            raise GuestFileError(errno.ENOENT) from None
        # the name is a symlink (Linux's magic link): it exists, and is not followed
        # under O_NOFOLLOW (O_PATH: the link itself)
        if flags & abi.O_CREAT and flags & abi.O_EXCL:
            raise GuestFileError(errno.EEXIST)
        if flags & abi.O_NOFOLLOW:
            if not flags & O_PATH:
                raise GuestFileError(errno.ELOOP)
            link = PathFile(path, stat.S_IFLNK | 0o777)
            link.status_flags = O_PATH | abi.O_NOFOLLOW
            return proc.fds.install(link, cloexec=cloexec)
        reopened = _reopen(proc, f, flags, mode)
        if reopened is not None:
            return reopened
        return proc.fds.install(_not_dir(f, flags), cloexec=cloexec)
    if not flags & (O_PATH | abi.O_NOFOLLOW) and _OTHER_FD.fullmatch(path):
        reopened = _open_other_fd(proc, dirfd, path, flags, mode)
        if reopened is not None:
            return reopened
    _refused_early(proc, dirfd, path, flags)
    if flags & O_PATH:                  # a name only: the other flags do not apply
        flags &= O_PATH | abi.O_DIRECTORY | abi.O_NOFOLLOW | abi.O_CLOEXEC
    acc = flags & abi.O_ACCMODE
    writing = acc in (1, 2) or flags & (abi.O_CREAT | abi.O_TRUNC)
    host = _lookup(proc, dirfd, path, follow=not flags & abi.O_NOFOLLOW)
    if isinstance(host, ProcRef):
        return proc.fds.install(_open_proc(proc, host, flags, bool(writing)), cloexec=cloexec)
    if sb.to_guest(host) in EMULATED_DEVICES:
        f = DeviceFile(host.rsplit("/", 1)[1], acc in (0, 2), acc in (1, 2))
        f.random = proc.kernel.random_bytes             # /dev/urandom: --seed's stream
        return proc.fds.install(f, cloexec=cloexec)
    try:
        before = os.lstat(host)
    except OSError:
        before = None
    if before is not None and (stat.S_ISCHR(before.st_mode) or stat.S_ISBLK(before.st_mode)):
        raise GuestFileError(errno.EACCES)   # host devices are not the guest's
    if writing and (before is not None or flags & abi.O_CREAT):
        if before is None or not stat.S_ISDIR(before.st_mode):
            sb.check_write(host)
        if before is not None:
            sb.check_inode(before, path)     # before O_TRUNC can touch it
    hflags = {0: os.O_RDONLY, 1: os.O_WRONLY, 2: os.O_RDWR}.get(acc, os.O_RDONLY)
    for g, h in ((abi.O_CREAT, os.O_CREAT), (abi.O_EXCL, os.O_EXCL),
                 (abi.O_APPEND, os.O_APPEND), (abi.O_DIRECTORY, os.O_DIRECTORY),
                 (abi.O_NONBLOCK, os.O_NONBLOCK), (O_PATH, O_HOST_PATH)):
        if flags & g:
            hflags |= h
    # the path is already resolved: a final symlink now is one swapped in since (or the
    # link itself under O_NOFOLLOW), never followed; every file is opened by name in the
    # verified directory (Sandbox.open), truncated once verified
    hflags |= os.O_NOCTTY
    mode = file_mode(mode & ~proc.umask)
    if before is not None and stat.S_ISFIFO(before.st_mode) and not flags & O_PATH:
        fd = open_fifo(proc.fds, lambda: proc.kernel.fifo_ends, id(proc),
                       (before.st_dev, before.st_ino), acc,
                       bool(flags & abi.O_NONBLOCK),
                       lambda extra: sb.open(host, hflags | extra, mode, path))
    elif before is None and flags & abi.O_CREAT:      # a new inode: vm/diskquota.py
        with new_inode(proc.kernel.output_budget) as room:
            if not room:
                raise GuestFileError(errno.EDQUOT)
            fd = sb.open(host, hflags, mode, path)
    else:
        fd = sb.open(host, hflags, mode, path)
    try:
        st = os.fstat(fd)
        if before is not None and (st.st_dev, st.st_ino) != (before.st_dev, before.st_ino):
            raise GuestFileError(errno.EAGAIN)       # replaced between check and open
        if flags & abi.O_TRUNC and stat.S_ISDIR(st.st_mode):
            raise GuestFileError(errno.EISDIR)       # O_TRUNC asks to write, as Linux's
        if flags & abi.O_TRUNC and stat.S_ISREG(st.st_mode):
            sb.check_inode(st, path)
            if acc in (1, 2):
                cut = lambda: os.ftruncate(fd, 0)   # noqa: E731
            else:                                    # O_RDONLY|O_TRUNC truncates too
                cut = lambda: os.truncate(f"/proc/self/fd/{fd}", 0)     # noqa: E731
            if mapped.spaces or mapped.privates:     # mapped pages of it: cut too
                mapped.truncating(fd, 0, cut)
            else:
                cut()
    except OSError:
        os.close(fd)
        raise
    f = HostFile(fd, host, flags & ~(abi.O_CREAT | abi.O_EXCL | abi.O_TRUNC | abi.O_CLOEXEC),
                 acc in (0, 2), acc in (1, 2),
                 proc.kernel.fifo_ends if stat.S_ISFIFO(st.st_mode) else None)
    f.hide = sb.hides_entry
    if f.writable and stat.S_ISREG(st.st_mode):    # (--max-output: not to fill the disk)
        f.budget = proc.kernel.output_budget
    return proc.fds.install(f, cloexec=cloexec)


@syscall(5)
def sys_open(proc, path, flags, mode, *_):
    return _open(proc, AT_FDCWD, _path(proc, path), flags, mode)


@syscall(295)
def sys_openat(proc, dirfd, path, flags, mode, *_):
    return _open(proc, dirfd, _path(proc, path), flags, mode)


@syscall(8)
def sys_creat(proc, path, mode, *_):
    return _open(proc, AT_FDCWD, _path(proc, path), 0o1101, mode)


@syscall(6)
def sys_close(proc, fd, *_):
    proc.fds.close(fd)
    return 0


# A guest's length argument is never a host allocation size: reads return at most
# READ_MAX bytes, writes take at most WRITE_MAX per call (short counts are legal and
# callers loop), as Linux caps one call at 0x7ffff000 bytes.
READ_MAX = 1 << 20
WRITE_MAX = 1 << 24
GETRANDOM_MAX = (1 << 25) - 1             # Linux's own limit for one getrandom


def _read(f, count: int) -> bytes:
    try:
        return f.read(min(count, READ_MAX))
    except GuestFileError as e:
        if e.errno == errno.EAGAIN and not f.status_flags & abi.O_NONBLOCK:
            host = f.wait_fd()              # a host pipe or terminal wakes the wait
            raise WouldBlock(fds=() if host is None else (host,)) from None
        raise


def write_all(proc, f, data: bytes, write, blocking: bool,
              deadline: float | None = None) -> int:
    """A write that blocks until all of ``data`` is taken, as the kernel's to a pipe or
    a stream socket: ``write(chunk)`` takes what fits (EAGAIN when nothing does). The
    bytes written so far are kept in ``proc.partial`` while the call waits and is
    retried; a signal then ends it with that count (Kernel.act_on_signals), as does
    ``deadline`` (SO_SNDTIMEO) or an error after some bytes were written."""
    key = (id(f), len(data))
    done = 0
    if proc.partial is not None and proc.partial[0] == key and proc.state == "blocked":
        done = proc.partial[1]
    proc.partial = None
    while True:
        try:
            n = write(data[done:] if done else data)
        except GuestFileError as e:
            if e.errno != errno.EAGAIN or not blocking:
                if done:
                    return done
                raise
            if deadline is not None and time.monotonic() >= deadline:
                if done:
                    return done
                raise
            if done:
                proc.partial = (key, done)
            raise WouldBlock(deadline) from None
        done += n
        if done >= len(data) or not blocking:
            return done


def _write(proc, f, data: bytes) -> int:
    if proc.rlimits:                        # the guest's RLIMIT_FSIZE (fsizelimit.py)
        from vm.linux import fsizelimit
        data = fsizelimit.clip(proc, f, data)
    try:
        if isinstance(f, PipeEnd) or getattr(f, "stream", False) is True:
            return write_all(proc, f, data, f.write,
                             not f.status_flags & abi.O_NONBLOCK)
        return f.write(data)
    except GuestFileError as e:
        if e.errno == errno.EAGAIN and not f.status_flags & abi.O_NONBLOCK:
            raise WouldBlock from None
        if e.errno == errno.EPIPE:
            _signal_self(proc, 13)          # SIGPIPE, and the call fails with EPIPE
        raise


def _nothing(f, reading: bool) -> int:
    """A read or write of 0 bytes: Linux's vfs_read/vfs_write check the descriptor's
    mode first (EBADF; an O_PATH descriptor has none), and a directory has no read
    (EISDIR), an eventfd no read or write under 8 bytes, an epoll none (EINVAL)."""
    if not (f.readable if reading else f.writable) or f.status_flags & O_PATH:
        return neg(errno.EBADF)
    if reading and getattr(f, "is_dir", False):
        return neg(errno.EISDIR)
    return neg(f.zero_io_error) if f.zero_io_error else 0


def _read_unfaulted(f, count: int):
    """A read whose buffer faults: what Linux answers before (or without) copying
    anything out, else None (EFAULT). vfs_read checks the mode first (EBADF), a
    directory has no read (EISDIR); nothing is copied from /dev/null (the guest's or a
    host stream on it), a regular file at or past its end, or an empty pipe or socket
    (EOF: 0; else it waits, or EAGAIN, as any read of it)."""
    if not _can(f, True):
        return neg(errno.EBADF)
    if getattr(f, "is_dir", False):
        return neg(errno.EISDIR)
    if not isinstance(f, (HostFile, HostStream, DeviceFile)) and \
            stat.S_IFMT(f.fstat().st_mode) in (stat.S_IFIFO, stat.S_IFSOCK):
        # (an in-memory pipe or socket: empty, the read itself copies nothing)
        return None if f.readable_bytes() else len(_read(f, count))
    if _is_null(f):
        return 0
    if isinstance(f, (HostFile, HostStream)):
        try:
            st = os.fstat(f.fd)
            if stat.S_ISREG(st.st_mode) and os.lseek(f.fd, 0, os.SEEK_CUR) >= st.st_size:
                return 0
        except OSError:
            pass
    return None


def _can(f, reading: bool) -> bool:
    """The descriptor's FMODE_READ (or FMODE_WRITE): a standard stream's is its host
    descriptor's (pyvm reads and writes it whatever its number)."""
    if isinstance(f, HostStream):
        try:
            return host_access(f.fd)[0 if reading else 1]
        except OSError:
            return False
    return (f.readable if reading else f.writable) and not f.status_flags & O_PATH


def _is_null(f) -> bool:
    """/dev/null: the guest's, or a host stream or file on the host's."""
    if isinstance(f, DeviceFile):
        return f.name == "null"
    if isinstance(f, (HostFile, HostStream)):
        try:
            st = os.fstat(f.fd)
        except OSError:
            return False
        return stat.S_ISCHR(st.st_mode) and st.st_rdev == os.makedev(1, 3)
    return False


@syscall(3)
def sys_read(proc, fd, buf, count, *_):
    f = proc.fds.get(fd)
    if not count:
        return _nothing(f, True)
    if f.status_flags & O_PATH:
        return neg(errno.EBADF)             # (before a directory's EISDIR, as fdget)
    try:
        proc.mem.check_write(buf, 1)        # EFAULT before any data is consumed
    except MemoryFault:
        answer = _read_unfaulted(f, count)  # (none to copy: no fault, as Linux's)
        if answer is None:
            raise
        return answer
    data = _read(f, count)
    proc.mem.write(buf, data)
    return len(data)


@syscall(4)
def sys_write(proc, fd, buf, count, *_):
    f = proc.fds.get(fd)
    if not count:
        return _nothing(f, False)
    n = min(count, WRITE_MAX)
    try:
        data = proc.mem.read(buf, n)
    except MemoryFault:
        done = _write_faulted(proc, f, b"", buf, n, n)
        if done is None:
            raise
        return done
    return _write(proc, f, data)


def _write_faulted(proc, f, data: bytes, base: int, n: int, total: int):
    """A write whose bytes at ``base`` (``n`` of them, after ``data`` taken from
    earlier iovecs; ``total``: all of the call's) fault: what Linux answers, else None
    (EFAULT). vfs_write checks the mode first (EBADF); /dev/null and /dev/zero take
    every byte unread (the count), /dev/full none (ENOSPC); a regular file (and
    /dev/urandom) takes those before the first unreadable byte (generic_perform_write's
    short count; none: EFAULT); a pipe or socket none."""
    if not _can(f, False):
        return neg(errno.EBADF)
    if _is_null(f) or isinstance(f, DeviceFile) and f.name == "zero":
        return total
    if isinstance(f, DeviceFile) and f.name == "full":
        return neg(errno.ENOSPC)            # (write_full reads nothing either)
    if not (getattr(f, "regular", False) or isinstance(f, HostStream) and not f.waits or
            isinstance(f, DeviceFile) and f.name in ("random", "urandom")):
        return None
    part = proc.aspace.readable_end(base, base + n) - base    # (a guard page too)
    data += proc.mem.read(base, part) if part else b""
    return _write(proc, f, bytes(data)) if data else None


MAX_RW_COUNT = 0x7FFFF000            # Linux's most bytes one read or write moves


def _iovecs(proc, iov: int, iovcnt: int) -> list:
    """(base, length) pairs as Linux's import_iovec takes them: a length that is negative
    as a ssize_t is EINVAL, and the total is cut at MAX_RW_COUNT (it never overflows)."""
    if iovcnt > 1024:
        raise GuestFileError(errno.EINVAL)
    vecs = [abi.IOVEC.unpack(proc.mem.read(iov + 8 * i, 8)) for i in range(iovcnt)]
    left = MAX_RW_COUNT
    for i, (base, length) in enumerate(vecs):
        if length >= 1 << 31:
            raise GuestFileError(errno.EINVAL)
        if length > left:
            vecs[i] = base, left
        left -= vecs[i][1]
    return vecs


@syscall(145)
def sys_readv(proc, fd, iov, iovcnt, *_):
    f = proc.fds.get(fd)
    if not f.readable:                      # the file's mode first, as vfs_readv
        raise GuestFileError(errno.EBADF)
    vecs = _iovecs(proc, iov, iovcnt)
    total = sum(length for _base, length in vecs)
    if not total:
        return 0
    data = _read(f, total)
    pos = 0
    for base, length in vecs:
        if pos >= len(data):
            break
        proc.mem.write(base, data[pos:pos + length])
        pos += length
    return len(data)


@syscall(146)
def sys_writev(proc, fd, iov, iovcnt, *_):
    f = proc.fds.get(fd)
    if not f.writable:                      # the file's mode first, as vfs_writev
        raise GuestFileError(errno.EBADF)
    data = bytearray()
    vecs = _iovecs(proc, iov, iovcnt)
    for base, length in vecs:
        n = min(length, WRITE_MAX - len(data))
        try:
            data += proc.mem.read(base, n)
        except MemoryFault:
            done = _write_faulted(proc, f, data, base, n,
                                  min(WRITE_MAX, sum(length for _b, length in vecs)))
            if done is None:
                raise
            return done
        if len(data) >= WRITE_MAX:
            break
    data = bytes(data)
    return _write(proc, f, data) if data else 0


def loff(lo: int, hi: int) -> int:
    """A 64-bit file offset (loff_t) passed in two registers, signed: a negative one is
    EINVAL before it reaches the host (whose calls overflow on it)."""
    offset = hi << 32 | lo
    return offset - (1 << 64) if offset >= 1 << 63 else offset


def _position(lo: int, hi: int) -> int:
    """pread64's and pwrite64's offset: EINVAL when negative (before EBADF)."""
    offset = loff(lo, hi)
    if offset < 0:
        raise GuestFileError(errno.EINVAL)
    return offset


@syscall(180)
def sys_pread64(proc, fd, buf, count, off_lo, off_hi, *_):
    offset = _position(off_lo, off_hi)
    data = proc.fds.get(fd).pread(min(count, READ_MAX), offset)
    proc.mem.write(buf, data)
    return len(data)


@syscall(181)
def sys_pwrite64(proc, fd, buf, count, off_lo, off_hi, *_):
    offset = _position(off_lo, off_hi)
    f = proc.fds.get(fd)
    data = proc.mem.read(buf, min(count, WRITE_MAX))
    if proc.rlimits:                        # the guest's RLIMIT_FSIZE (fsizelimit.py)
        from vm.linux import fsizelimit
        data = fsizelimit.clip(proc, f, data, offset)
    return f.pwrite(data, offset)


SEEK_MAX = 4                                # SEEK_HOLE


def _seek(proc, fd: int, offset: int, whence: int) -> int:
    f = proc.fds.get(fd)
    if whence > SEEK_MAX:                   # (after EBADF, as the kernel checks)
        return neg(errno.EINVAL)
    return f.seek(offset, whence)


@syscall(19)
def sys_lseek(proc, fd, offset, whence, *_):
    pos = _seek(proc, fd, s32(offset), whence)
    return pos if pos < 1 << 31 else neg(errno.EOVERFLOW)


@syscall(140)
def sys__llseek(proc, fd, hi, lo, result, whence, *_):
    pos = _seek(proc, fd, loff(lo, hi), whence)
    if pos < 0:
        return pos
    proc.mem.write(result, struct.pack("<q", pos))
    return 0


def _stat_path(proc, dirfd, path: str, flags: int) -> os.stat_result:
    if not path and flags & AT_EMPTY_PATH:
        return proc.fds.get(s32(dirfd)).fstat()
    host = _lookup(proc, dirfd, path, follow=not flags & AT_SYMLINK_NOFOLLOW)
    if host == ("exe",):
        return os.fstat(_exe(proc).fd)
    if isinstance(host, ProcRef):
        return procfs.stat_node(proc, host)
    with proc.sandbox.parent(host) as (d, name):
        return os.stat(name, dir_fd=d, follow_symlinks=False)


@syscall(195)
def sys_stat64(proc, path, buf, *_):
    proc.mem.write(buf, abi.pack_stat64(_stat_path(proc, AT_FDCWD, _path(proc, path), 0)))
    return 0


@syscall(196)
def sys_lstat64(proc, path, buf, *_):
    st = _stat_path(proc, AT_FDCWD, _path(proc, path), AT_SYMLINK_NOFOLLOW)
    proc.mem.write(buf, abi.pack_stat64(st))
    return 0


@syscall(197)
def sys_fstat64(proc, fd, buf, *_):
    proc.mem.write(buf, abi.pack_stat64(proc.fds.get(fd).fstat()))
    return 0


@syscall(300)
def sys_fstatat64(proc, dirfd, path, buf, flags, *_):
    st = _stat_path(proc, dirfd, os.fsdecode(proc.read_cstr(path)) if path else "", flags)
    proc.mem.write(buf, abi.pack_stat64(st))
    return 0


@syscall(383)
def sys_statx(proc, dirfd, path, flags, mask, buf, *_):
    st = _stat_path(proc, dirfd, os.fsdecode(proc.read_cstr(path)) if path else "", flags)
    proc.mem.write(buf, abi.pack_statx(st))
    return 0


def _access(proc, dirfd, path: str, mode: int, flags: int = 0) -> int:
    host = _lookup(proc, dirfd, path, follow=not flags & AT_SYMLINK_NOFOLLOW)
    if isinstance(host, ProcRef):
        if host != ("exe",):
            procfs.stat_node(proc, host)    # ENOENT when there is no such node
        return neg(errno.EACCES) if mode & 2 else 0
    with proc.sandbox.parent(host) as (d, name):
        os.stat(name, dir_fd=d, follow_symlinks=False)      # ENOENT
        if mode & 2 and not proc.sandbox.may_write(host):
            return neg(errno.EROFS)
        ok = os.access(name, mode & 7, dir_fd=d, follow_symlinks=False)
    return 0 if ok else neg(errno.EACCES)


@syscall(33)
def sys_access(proc, path, mode, *_):
    return _access(proc, AT_FDCWD, _path(proc, path), mode)


@syscall(307)
def sys_faccessat(proc, dirfd, path, mode, *_):
    return _access(proc, dirfd, _path(proc, path), mode)


@syscall(439)
def sys_faccessat2(proc, dirfd, path, mode, flags, *_):
    return _access(proc, dirfd, _path(proc, path), mode, flags)


@syscall(220)
def sys_getdents64(proc, fd, buf, count, *_):
    """A buffer of entries from the directory's stream (a host directory's, or a /proc
    one made now): nothing of a listing is kept between calls."""
    f = proc.fds.get(fd)
    if not getattr(f, "is_dir", False):
        return neg(errno.ENOTDIR)
    where = f.dir_position()
    data = f.read_dirents(count)
    try:
        proc.mem.write(buf, data)
    except proc.memory_errors:
        f.set_dir_position(where)           # (EFAULT: no entry lost)
        fit = _dirents_fitting(proc, buf, data)
        if not fit:
            raise
        data = f.read_dirents(fit)          # Linux copies entry by entry: those that fit
        proc.mem.write(buf, data[:fit])
    return len(data)


def _dirents_fitting(proc, buf: int, data: bytes) -> int:
    """Bytes of the whole getdents64 records of ``data`` that can be stored at ``buf``
    before a fault (a buffer running into an unmapped page)."""
    pos = 0
    while pos + 19 <= len(data):
        reclen = struct.unpack_from("<H", data, pos + 16)[0]
        try:
            proc.mem.write(buf + pos, data[pos:pos + reclen])
        except proc.memory_errors:
            break
        pos += reclen
    return pos


@syscall(183)
def sys_getcwd(proc, buf, size, *_):
    data = os.fsencode(proc.sandbox.cwd) + b"\0"     # (any bytes: a name is not UTF-8)
    if len(data) > size:
        return neg(errno.ERANGE)
    proc.mem.write(buf, data)
    return len(data)


@syscall(12)
def sys_chdir(proc, path, *_):
    proc.sandbox.chdir(_path(proc, path))
    return 0


@syscall(133)
def sys_fchdir(proc, fd, *_):
    f = proc.fds.get(fd)
    if not isinstance(f, HostFile) or not f.is_dir:
        return neg(errno.ENOTDIR)
    try:
        name = proc.sandbox.fd_base(f.fd)
    except SandboxError:                    # removed: it is the cwd all the same
        name = "/"
    proc.sandbox.hold_cwd(os.dup(f.fd), name)
    return 0


def _mkdir(proc, dirfd, path: str, mode: int) -> int:
    host = _resolve(proc, dirfd, path, follow=False)
    if os.path.lexists(host):
        return neg(errno.EEXIST)
    proc.sandbox.check_write(host)
    with new_inode(proc.kernel.output_budget) as room, \
            proc.sandbox.parent(host) as (d, name):
        if not room:                    # --max-output bounds the disk: vm/diskquota.py
            return neg(errno.EDQUOT)
        os.mkdir(name, mode & ~proc.umask & 0o7777, dir_fd=d)
    return 0


@syscall(39)
def sys_mkdir(proc, path, mode, *_):
    return _mkdir(proc, AT_FDCWD, _path(proc, path), mode)


@syscall(296)
def sys_mkdirat(proc, dirfd, path, mode, *_):
    return _mkdir(proc, dirfd, _path(proc, path), mode)


def _unlink(proc, dirfd, path: str, flags: int) -> int:
    host = _resolve(proc, dirfd, path, follow=False)
    if not os.path.lexists(host):
        return neg(errno.ENOENT)
    proc.sandbox.check_write(host)
    with proc.sandbox.parent(host) as (d, name):
        if flags & AT_REMOVEDIR:
            os.rmdir(name, dir_fd=d)
        elif stat.S_ISDIR(os.stat(name, dir_fd=d, follow_symlinks=False).st_mode):
            return neg(errno.EISDIR)
        else:
            os.unlink(name, dir_fd=d)
    name_removed(proc.kernel.output_budget)
    return 0


@syscall(10)
def sys_unlink(proc, path, *_):
    return _unlink(proc, AT_FDCWD, _path(proc, path), 0)


@syscall(40)
def sys_rmdir(proc, path, *_):
    return _unlink(proc, AT_FDCWD, _path(proc, path), AT_REMOVEDIR)


@syscall(301)
def sys_unlinkat(proc, dirfd, path, flags, *_):
    return _unlink(proc, dirfd, _path(proc, path), flags)


RENAME_NOREPLACE, RENAME_EXCHANGE, RENAME_WHITEOUT = 1, 2, 4


def _rename(proc, olddirfd, old: str, newdirfd, new: str, flags: int = 0) -> int:
    src = _resolve(proc, olddirfd, old, follow=False)
    dst = _resolve(proc, newdirfd, new, follow=False)
    if not os.path.lexists(src):
        return neg(errno.ENOENT)
    proc.sandbox.check_write(src)
    proc.sandbox.check_write(dst)
    with proc.sandbox.parent(src) as (sd, sname), proc.sandbox.parent(dst) as (dd, dname):
        if flags & RENAME_EXCHANGE or flags & RENAME_NOREPLACE:
            return _renameat2(sd, sname, dd, dname, flags)
        replaced = _replaces(sd, sname, dd, dname)
        os.rename(sname, dname, src_dir_fd=sd, dst_dir_fd=dd)
    if replaced:        # the name it took the place of is gone: the quota gets one back
        name_removed(proc.kernel.output_budget)
    return 0


def _replaces(sd: int, src: str, dd: int, dst: str) -> bool:
    """Whether renaming ``src`` to ``dst`` removes a name: ``dst`` exists and is not
    another link to the same file (Linux then leaves both names)."""
    try:
        a = os.stat(src, dir_fd=sd, follow_symlinks=False)
        b = os.stat(dst, dir_fd=dd, follow_symlinks=False)
    except OSError:
        return False
    return (a.st_dev, a.st_ino) != (b.st_dev, b.st_ino)


def _renameat2(sd: int, src: str, dd: int, dst: str, flags: int) -> int:
    """renameat2 with NOREPLACE or EXCHANGE, through the host's own call (atomic)."""
    import ctypes
    libc = ctypes.CDLL(None, use_errno=True)
    fn = getattr(libc, "renameat2", None)
    if fn is None:
        return neg(errno.EINVAL)
    if fn(sd, os.fsencode(src), dd, os.fsencode(dst), flags) != 0:
        return neg(ctypes.get_errno() or errno.EINVAL)
    return 0


@syscall(38)
def sys_rename(proc, old, new, *_):
    return _rename(proc, AT_FDCWD, _path(proc, old), AT_FDCWD, _path(proc, new))


@syscall(302)
def sys_renameat(proc, olddirfd, old, newdirfd, new, *_):
    return _rename(proc, olddirfd, _path(proc, old), newdirfd, _path(proc, new))


@syscall(353)
def sys_renameat2(proc, olddirfd, old, newdirfd, new, flags, *_):
    if flags & ~(RENAME_NOREPLACE | RENAME_EXCHANGE) or \
            flags & RENAME_NOREPLACE and flags & RENAME_EXCHANGE:
        return neg(errno.EINVAL)             # RENAME_WHITEOUT is for overlay file systems
    return _rename(proc, olddirfd, _path(proc, old), newdirfd, _path(proc, new), flags)


def _readlink(proc, dirfd, path: str, buf: int, size: int) -> int:
    if s32(size) <= 0:                      # bufsiz is an int: Linux's first check
        return neg(errno.EINVAL)
    host = _lookup(proc, dirfd, path, follow=False)
    if isinstance(host, ProcRef):
        target = os.fsencode(procfs.readlink_node(proc, host))
    else:
        with proc.sandbox.parent(host) as (d, name):
            target = os.fsencode(os.readlink(name, dir_fd=d))
    data = target[:size]
    proc.mem.write(buf, data)
    return len(data)


@syscall(85)
def sys_readlink(proc, path, buf, size, *_):
    return _readlink(proc, AT_FDCWD, _path(proc, path), buf, size)


@syscall(305)
def sys_readlinkat(proc, dirfd, path, buf, size, *_):
    return _readlink(proc, dirfd, _path(proc, path), buf, size)


@syscall(83)
def sys_symlink(proc, target, path, *_):
    host = _resolve(proc, AT_FDCWD, _path(proc, path), follow=False)
    proc.sandbox.check_write(host)
    with new_inode(proc.kernel.output_budget) as room, \
            proc.sandbox.parent(host) as (d, name):
        if not room:
            return neg(errno.EDQUOT)
        os.symlink(_path(proc, target), name, dir_fd=d)
    return 0


S_ISUID_ISGID = stat.S_ISUID | stat.S_ISGID


def file_mode(mode: int, directory: bool = False) -> int:
    """The permission bits a guest may give a host file: never set-user-ID or
    set-group-ID on a file. A setuid program the guest made in a writable tree runs,
    for whoever starts it on the host, as the user who ran pyvm: the guest's code out of
    the sandbox. A directory keeps S_ISGID (its new files take its group; nothing runs)."""
    return mode & (0o3777 if directory else 0o1777)


def _chmod(proc, host: str, mode: int) -> int:
    with proc.sandbox.entry(host) as (inode, st):
        os.chmod(inode, file_mode(mode, stat.S_ISDIR(st.st_mode)))
    return 0


@syscall(15)
def sys_chmod(proc, path, mode, *_):
    return _chmod(proc, _resolve(proc, AT_FDCWD, _path(proc, path)), mode)


@syscall(94)
def sys_fchmod(proc, fd, mode, *_):
    f = proc.fds.get(fd)
    if isinstance(f, HostFile):
        check_fd_write(proc, f)
        os.fchmod(f.fd, file_mode(mode, f.is_dir))
    return 0


@syscall(306)
def sys_fchmodat(proc, dirfd, path, mode, *_):
    return _chmod(proc, _resolve(proc, dirfd, _path(proc, path)), mode)


def _utimens(proc, dirfd, path_addr, times, flags, spec) -> int:
    follow = not flags & AT_SYMLINK_NOFOLLOW
    if not path_addr:                        # futimens: the open file itself
        f = proc.fds.get(s32(dirfd))
        check_fd_write(proc, f)
        os.utime(f.fd, **_utime_ns(proc, times, spec, os.fstat(f.fd)))
        return 0
    host = _resolve(proc, dirfd, _path(proc, path_addr), follow)
    with proc.sandbox.entry(host, follow) as (inode, st):
        ns = _utime_ns(proc, times, spec, st)
        if inode is not None:
            os.utime(inode, **ns)
        else:                                # the symlink itself
            with proc.sandbox.parent(host) as (d, name):
                os.utime(name, dir_fd=d, follow_symlinks=False, **ns)
    return 0


def _utime_ns(proc, times: int, spec, st: os.stat_result) -> dict:
    """os.utime's ``ns=`` argument for what a utimes call asks (none: now)."""
    if not times:
        return {}
    raw = proc.mem.read(times, 2 * spec.size)
    ts = [spec.unpack_from(raw, i * spec.size) for i in range(2)]
    now = time.time_ns()
    ns = []
    for (sec, nsec), old in zip(ts, (st.st_atime_ns, st.st_mtime_ns)):
        nsec = s32(nsec)                     # (a compat task's tv_nsec is 32 bits)
        if nsec == (1 << 30) - 1:            # UTIME_NOW
            ns.append(now)
        elif nsec == (1 << 30) - 2:          # UTIME_OMIT
            ns.append(old)
        elif not 0 <= nsec < 10**9:
            raise GuestFileError(errno.EINVAL)
        else:
            ns.append(sec * 10**9 + nsec)
    return {"ns": tuple(ns)}


@syscall(320)
def sys_utimensat(proc, dirfd, path, times, flags, *_):
    return _utimens(proc, dirfd, path, times, flags, abi.TIMESPEC32)


@syscall(412)
def sys_utimensat_time64(proc, dirfd, path, times, flags, *_):
    return _utimens(proc, dirfd, path, times, flags, abi.TIMESPEC64)


@syscall(118)
def sys_fsync(proc, fd, *_):
    proc.fds.get(fd).fsync()
    return 0


SYSCALLS[148] = ("fdatasync", sys_fsync)


def _ftruncate(proc, fd: int, length: int) -> int:
    f = proc.fds.get(fd)
    if not isinstance(f, HostFile) or not f.writable or f.is_dir or length < 0:
        return neg(errno.EINVAL)
    if proc.rlimits and f.regular:          # the guest's RLIMIT_FSIZE (fsizelimit.py)
        from vm.linux import fsizelimit
        fsizelimit.check_length(proc, length, os.fstat(f.fd).st_size)
    f.grow_to(length)
    if (mapped.spaces or mapped.privates) and f.regular:    # mapped: cut there too
        mapped.truncating(f.fd, length, lambda: os.ftruncate(f.fd, length))
    else:
        os.ftruncate(f.fd, length)
    return 0


@syscall(93)
def sys_ftruncate(proc, fd, length, *_):
    return _ftruncate(proc, fd, s32(length))


@syscall(194)
def sys_ftruncate64(proc, fd, lo, hi, *_):
    return _ftruncate(proc, fd, s32(hi) << 32 | lo)


@syscall(41)
def sys_dup(proc, fd, *_):
    return proc.fds.install(proc.fds.get(fd))


def _fd_limit(proc) -> int:
    return proc.fds.limit()                 # RLIMIT_NOFILE, as its table checks it


@syscall(63)
def sys_dup2(proc, old, new, *_):
    f = proc.fds.get(old)
    if not 0 <= new < _fd_limit(proc):
        return neg(errno.EBADF)
    if old == new:
        return new
    return proc.fds.install(f, new)


@syscall(330)
def sys_dup3(proc, old, new, flags, *_):
    f = proc.fds.get(old)
    if old == new or flags & ~abi.O_CLOEXEC:
        return neg(errno.EINVAL)
    if not 0 <= new < _fd_limit(proc):
        return neg(errno.EBADF)
    return proc.fds.install(f, new, cloexec=bool(flags & abi.O_CLOEXEC))


F_UNLCK = 2


@syscall(221)
def sys_fcntl64(proc, fd, cmd, arg, *_):
    f = proc.fds.get(fd)
    if cmd in (abi.F_DUPFD, abi.F_DUPFD_CLOEXEC):
        if not 0 <= arg < _fd_limit(proc):
            return neg(errno.EINVAL)
        [new] = proc.fds.reserve(1, arg)        # EMFILE: no free number in [arg, limit)
        return proc.fds.install(f, new, cmd == abi.F_DUPFD_CLOEXEC)
    if cmd == abi.F_GETFD:
        return int(proc.fds.fds[fd][1])
    if cmd == abi.F_SETFD:
        proc.fds.fds[fd][1] = bool(arg & abi.FD_CLOEXEC)
        return 0
    if cmd == abi.F_GETFL:
        acc = 2 if f.readable and f.writable else 1 if f.writable else 0
        return (f.status_flags & ~abi.O_ACCMODE) | acc | abi.O_LARGEFILE
    if cmd == abi.F_SETFL:
        f.status_flags = (f.status_flags & abi.O_ACCMODE) | (arg & ~abi.O_ACCMODE)
        if isinstance(f, HostFile) and f.writable and not f.is_dir:
            # the host descriptor appends as the guest's does: where a write lands
            # (and whether its hole is charged, files.py) follows F_SETFL
            set_append(f.fd, bool(arg & abi.O_APPEND))
        return 0
    if cmd in (abi.F_GETLK, 12):            # (12: F_GETLK64) record locks are not kept,
        proc.mem.write(arg, struct.pack("<h", F_UNLCK))     # so none is in the way
        return 0
    if cmd in (abi.F_SETLK, abi.F_SETLKW, 13, 14):
        return 0
    return neg(errno.EINVAL)


SYSCALLS[55] = ("fcntl", sys_fcntl64)


FIONCLEX, FIOCLEX, FIONBIO = 0x5450, 0x5451, 0x5421
_FD_IOCTLS = (FIONCLEX, FIOCLEX, FIONBIO)


def _fd_ioctl(proc, fd: int, f, req: int, arg: int) -> int:
    """The ioctls Linux answers for every descriptor (tty, file, pipe, socket alike):
    FIOCLEX/FIONCLEX set and clear close-on-exec, FIONBIO sets or clears O_NONBLOCK from
    the int at ``arg`` (EFAULT unreadable), as F_SETFD and F_SETFL would."""
    if req == FIONBIO:
        on = struct.unpack("<i", proc.mem.read(arg, 4))[0]
        f.status_flags = f.status_flags | abi.O_NONBLOCK if on else \
            f.status_flags & ~abi.O_NONBLOCK
        return 0
    proc.fds.fds[fd][1] = req == FIOCLEX
    return 0


@syscall(54)
def sys_ioctl(proc, fd, req, arg, *_):
    f = proc.fds.get(fd)
    if f.status_flags & O_PATH:
        return neg(errno.EBADF)             # (ksys_ioctl's fdget: no O_PATH file)
    if req == abi.FIONREAD:
        proc.mem.write(arg, struct.pack("<i", f.readable_bytes()))
        return 0
    if req in _FD_IOCTLS:               # do_vfs_ioctl's: any descriptor, before the file's
        return _fd_ioctl(proc, fd, f, req, arg)
    if not f.isatty():
        return neg(errno.ENOTTY)
    if req == abi.TCGETS:
        import termios
        iflag, oflag, cflag, lflag, _ispeed, _ospeed, cc = termios.tcgetattr(f.fd)
        ccb = bytes(c if isinstance(c, int) else c[0] for c in cc[:19])
        proc.mem.write(arg, struct.pack("<4IB", iflag, oflag, cflag, lflag, 0)
                       + ccb.ljust(19, b"\0"))
        return 0
    if req == abi.TIOCGWINSZ:
        try:
            cols, rows = os.get_terminal_size(f.fd)
        except OSError:
            cols, rows = 80, 24
        proc.mem.write(arg, abi.WINSIZE.pack(rows, cols, 0, 0))
        return 0
    if req == abi.TIOCGPGRP:
        proc.mem.write(arg, struct.pack("<i", proc.pid))
        return 0
    if req in (abi.TCSETS, 0x5403, 0x5404):
        return 0
    return neg(errno.ENOTTY)


def _pipe(proc, fds_addr: int, flags: int) -> int:
    if flags & ~(abi.O_NONBLOCK | abi.O_CLOEXEC | O_DIRECT):
        return neg(errno.EINVAL)
    proc.mem.check_write(fds_addr, 8)       # EFAULT before any descriptor is made
    p = Pipe(proc.kernel.memory_budget)
    ends = PipeEnd(p, False), PipeEnd(p, True)
    for end in ends:
        end.status_flags = flags & abi.O_NONBLOCK
    r, w = proc.fds.reserve(2)              # EMFILE: neither end is installed
    proc.fds.install(ends[0], r, cloexec=bool(flags & abi.O_CLOEXEC))
    proc.fds.install(ends[1], w, cloexec=bool(flags & abi.O_CLOEXEC))
    proc.mem.write(fds_addr, struct.pack("<ii", r, w))
    return 0


O_DIRECT = 0o40000                          # packet mode: accepted, not modelled


@syscall(42)
def sys_pipe(proc, fds, *_):
    return _pipe(proc, fds, 0)


@syscall(331)
def sys_pipe2(proc, fds, flags, *_):
    return _pipe(proc, fds, flags)


def _ready(proc, fd: int, events: int) -> int:
    try:
        f = proc.fds.get(fd)
    except GuestFileError:
        return POLLNVAL
    return f.poll(events | POLLERR | POLLHUP) & (events | POLLERR | POLLHUP | POLLNVAL)


def _wait_fds(proc, fds) -> tuple:
    out = []
    for fd in fds:
        try:
            h = proc.fds.get(fd).wait_fd()
        except GuestFileError:
            continue
        if h is not None:
            out.append(h)
    return tuple(out)


def _timed_wait(proc, timeout: float | None, fds) -> None:
    """Nothing ready: block (forever, or until the timeout) unless the timeout is over."""
    if timeout is not None:
        deadline = deadline_of(proc, timeout)
        if time.monotonic() >= deadline:
            proc.deadline = None
            return
        raise WouldBlock(deadline, _wait_fds(proc, fds))
    raise WouldBlock(None, _wait_fds(proc, fds))


POLLFD = struct.Struct("<ihh")


def _poll(proc, fds: int, nfds: int, timeout: float | None) -> int:
    if nfds > _fd_limit(proc):                      # as Linux: RLIMIT_NOFILE bounds it
        return neg(errno.EINVAL)
    entries = list(POLLFD.iter_unpack(proc.mem.read(fds, 8 * nfds))) if nfds else []
    revents = [_ready(proc, fd, ev & 0xFFFF) if fd >= 0 else 0 for fd, ev, _r in entries]
    ready = sum(1 for r in revents if r)
    if not ready and timeout != 0:
        _timed_wait(proc, timeout, [fd for fd, _e, _r in entries if fd >= 0])
    proc.deadline = None
    for i, rev in enumerate(revents):
        proc.mem.write(fds + 8 * i + 6, struct.pack("<H", rev & 0xFFFF))
    return ready


@syscall(168)
def sys_poll(proc, fds, nfds, timeout, *_):
    ms = s32(timeout)
    return _poll(proc, fds, nfds, None if ms < 0 else ms / 1000)


def _timespec(proc, addr: int, spec) -> float | None:
    if not addr:
        return None
    sec, nsec = spec.unpack(proc.mem.read(addr, spec.size))
    if sec < 0 or not 0 <= nsec < 10**9:
        raise GuestFileError(errno.EINVAL)
    return sec + nsec / 1e9


def _select(proc, nfds: int, rset: int, wset: int, xset: int, timeout: float | None) -> int:
    if nfds < 0:                # (it waited for nothing, forever: a deadlock, not EINVAL)
        return neg(errno.EINVAL)
    # Linux reads no bit past its descriptor table (64 slots, or as many as the highest
    # descriptor needs): a larger nfds is not an error
    nfds = min(nfds, max(64, max(proc.fds.fds, default=0) + 1))
    nbytes = (nfds + 31) // 32 * 4
    sets = []
    for addr in (rset, wset, xset):
        bits = int.from_bytes(proc.mem.read(addr, nbytes), "little") if addr and nbytes else 0
        sets.append(bits)
    want = {}
    for which, bits in enumerate(sets):
        for fd in range(nfds):
            if bits >> fd & 1:
                want.setdefault(fd, [0, 0, 0])[which] = 1
    out = [0, 0, 0]
    count = 0
    for fd, (r, w, x) in want.items():
        events = (READ_EVENTS if r else 0) | (WRITE_EVENTS if w else 0) | (POLLPRI if x else 0)
        rev = _ready(proc, fd, events)
        if rev & POLLNVAL:
            return neg(errno.EBADF)
        for which, mask in ((0, READ_EVENTS | POLLHUP | POLLERR), (1, WRITE_EVENTS | POLLERR),
                            (2, POLLPRI)):
            if (r, w, x)[which] and rev & mask:
                out[which] |= 1 << fd
                count += 1
    if not count and timeout != 0:
        _timed_wait(proc, timeout, list(want))
    proc.deadline = None
    for addr, bits in zip((rset, wset, xset), out):
        if addr and nbytes:
            proc.mem.write(addr, bits.to_bytes(nbytes, "little"))
    return count


@syscall(116)
def sys_sysinfo(proc, info, *_):
    # uptime: the sandbox's, as /proc/uptime gives it (the host's would tell its boot)
    up = uptime.monotonic_ns()          # whole seconds rounded up, as Linux's sysinfo
    data = struct.pack("<l3L6LHH3L", -(-up // 10**9), 0, 0, 0, 1 << 30, 1 << 29, 0, 0,
                       0, 0, 1, 0, 0, 0, 1)       # mem_unit 1: sizes are in bytes
    proc.mem.write(info, data.ljust(64, b"\0"))
    return 0


def seed_random() -> bytes:
    return random.getrandbits(128).to_bytes(16, "little")
