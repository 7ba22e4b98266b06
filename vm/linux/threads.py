"""Threads: clone with CLONE_VM|CLONE_THREAD, futexes, robust lists, thread exit, the
thread-directed signals (tgkill, tkill), sigtimedwait and the calls that name a thread
(gettid).

The model
---------
A thread is a :class:`~vm.linux.process.Process` (a *task*) of its own: its tid, signal
mask, pending signals, alternate stack, clear_child_tid, robust list and blocking state.
Everything else it shares with the other tasks of its thread group (:class:`ThreadGroup`):
the same objects for memory (Machine, AddressSpace), descriptors (CLONE_FILES), the
sandbox and cwd (CLONE_FS), signal handlers (CLONE_SIGHAND: one dict) and children.
``proc.pid`` is the thread group id (getpid), ``proc.tid`` the task's own id (gettid).
``kernel.procs`` holds the group's leader only; ``kernel.order`` every runnable task.

The tasks of a group share ONE Machine: one memory, one translation cache, nothing to
invalidate across CPUs. Each task's registers (general, segment bases, EIP, flags, the lazy
flags, its GDT TLS entries and its x87 unit) are its *context*; the scheduler loads a
task's context into the Machine when it gives it a turn (:func:`load`) and saves the
previous one. A switch happens only between turns, and a turn ends only between
instructions (a blocking system call, or the kernel's fixed instruction budget), so the
same input gives the same interleaving every run, and LOCKed instructions, xchg and
cmpxchg8b are atomic with respect to the other threads.

A FUTEX_WAIT that sleeps queues a :class:`Waiter` on its group and blocks (the kernel's
WouldBlock: EIP back on the ``int 0x80``). A wake completes the call in the sleeper's
saved context (EAX = 0, EIP after the ``int 0x80``), so a woken thread never re-runs
the wait; a sleeper with a timeout re-runs it when scheduled, which returns ETIMEDOUT
once the deadline has passed. A signal that interrupts the wait leaves its Waiter stale
(the task is no longer BLOCKED on it), and wakes skip stale Waiters.

A thread that calls exit (1) ends alone: its robust futexes are marked OWNER_DIED, its
clear_child_tid word is zeroed and woken (pthread_join waits on it), and it leaves the
run queue (state EXITED). The last thread's exit, exit_group (252) and a fatal signal
end the whole group (:func:`end_group`, called by Kernel.exit).
"""

from __future__ import annotations

import errno
import os
import struct
import time
from typing import List, Optional

from vm.linux import abi, uptime
from vm.linux import signals as S
from vm.linux.limits import nproc_refused
from vm.linux.process import (
    BLOCKED,
    EXITED,
    RUNNING,
    ZOMBIE,
    Process,
    _copy_sandbox,
    find_task,
)
from vm.linux.syscalls import (
    ExecDone,
    ProcessExit,
    WouldBlock,
    deadline_of,
    neg,
    s32,
    syscall,
)
from vm.x86.faults import MemoryFault
from vm.x86.state import BASE, EAX, ESP, FS, GS, SEL

CLONE_VM, CLONE_FS, CLONE_FILES, CLONE_SIGHAND = 0x100, 0x200, 0x400, 0x800
CLONE_THREAD, CLONE_SYSVSEM, CLONE_SETTLS = 0x10000, 0x40000, 0x80000
CLONE_PARENT_SETTID, CLONE_CHILD_CLEARTID, CLONE_CHILD_SETTID = 0x100000, 0x200000, 0x1000000

FUTEX_WAIT, FUTEX_WAKE, FUTEX_FD, FUTEX_REQUEUE, FUTEX_CMP_REQUEUE = 0, 1, 2, 3, 4
FUTEX_WAKE_OP, FUTEX_WAIT_BITSET, FUTEX_WAKE_BITSET = 5, 9, 10
FUTEX_PRIVATE_FLAG, FUTEX_CLOCK_REALTIME = 128, 256
FUTEX_BITSET_MATCH_ANY = 0xFFFFFFFF
FUTEX_WAITERS, FUTEX_OWNER_DIED, FUTEX_TID_MASK = 0x80000000, 0x40000000, 0x3FFFFFFF
ROBUST_LIST_LIMIT = 2048
SI_TKILL = -6
INT80_LENGTH = 2
MASK = 0xFFFFFFFF
_U32 = struct.Struct("<I")
_FUTEX_CALLS = ("futex", "futex_time64")


class ThreadGroup:
    """The tasks of one process that share a Machine, and their futex wait queues."""
    __slots__ = ("leader", "tasks", "loaded", "futex")

    def __init__(self, leader: Process):
        self.leader = leader
        self.tasks: List[Process] = [leader]   # threads that have not exited, oldest first
        self.loaded: Optional[Process] = leader  # whose context the Machine holds
        self.futex: dict = {}                  # (address, private) -> [Waiter], FIFO


class Waiter:
    __slots__ = ("task", "key", "bitset", "deadline")

    def __init__(self, task: Process, key: tuple, bitset: int, deadline: Optional[float]):
        self.task, self.key, self.bitset, self.deadline = task, key, bitset, deadline

    def live(self) -> bool:
        """Still asleep in this wait (not interrupted, not in another call since)."""
        t = self.task
        return t.futex_waiter is self and t.state == BLOCKED and t.blocked_on in _FUTEX_CALLS


def leader(proc: Process) -> Process:
    """The process a task belongs to, as the process table knows it."""
    return proc.group.leader if proc.group is not None else proc


# -- contexts --------------------------------------------------------------------------

def _save(m) -> list:
    cpu = m.cpu
    return [list(cpu.r), cpu.eip, cpu.flags, cpu.lz, m.descriptors, m._fpu, list(cpu.xmm),
            cpu.mxcsr]


def load(task: Process) -> bool:
    """Give the shared Machine ``task``'s registers (saving those it held); False for a
    thread that has exited (it has no turn any more)."""
    if task.state == EXITED:
        return False
    g = task.group
    cur = g.loaded
    if cur is task:
        return True
    m = task.machine
    if cur is not None:
        cur.ctx = _save(m)
    cpu = m.cpu
    r, cpu.eip, cpu.flags, cpu.lz, m.descriptors, fpu, xmm, cpu.mxcsr = task.ctx
    cpu.r[:] = r
    cpu.xmm[:] = xmm                    # the same list: compiled blocks hold it
    m._fpu = fpu
    if fpu is None:
        m._fpu_checked = False          # its own x87 unit, made on first use
    m.on_interrupt = task.kernel.interrupt_hook(task)
    g.loaded = task
    task.ctx = None
    return True


def _fpu_copy(m):
    if m._fpu is None:
        return None
    from vm.x86.fpu import X87
    fpu = X87()
    for f, v in zip(S._FPU_FIELDS, S.fpu_snapshot(m)):
        setattr(fpu, f, v)
    return fpu


def _complete(task: Process, result: int) -> None:
    """Finish ``task``'s blocked system call with ``result``: it continues after it."""
    task.futex_waiter = None
    g = task.group
    if g is not None and g.loaded is not task:
        ctx = task.ctx
        ctx[0][EAX] = result & MASK
        ctx[1] = (ctx[1] + INT80_LENGTH) & MASK
    else:
        cpu = task.machine.cpu
        cpu.r[EAX] = result & MASK
        cpu.eip = (cpu.eip + INT80_LENGTH) & MASK
    task.state = RUNNING
    task.blocked_on = ""
    task.wait_deadline, task.wait_fds = None, ()
    task.kernel.progress = True


# -- clone -----------------------------------------------------------------------------

def clone_thread(proc: Process, flags: int, newsp: int, ptid: int, tls: int,
                 ctid: int) -> int:
    """clone(CLONE_VM|CLONE_SIGHAND|CLONE_THREAD...): a new thread of ``proc``'s process
    that continues after the call with EAX 0 (on ``newsp``). Returns its tid."""
    kernel = proc.kernel
    if not flags & CLONE_SIGHAND or not flags & CLONE_VM:
        return -errno.EINVAL
    if len(kernel.order) >= kernel.max_procs or proc.rlimits and nproc_refused(proc):
        return -errno.EAGAIN                # --max-procs, or the guest's RLIMIT_NPROC
    m = proc.machine
    cpu = m.cpu
    r = list(cpu.r)
    r[EAX] = 0
    if newsp:
        r[ESP] = newsp & MASK
    descriptors = dict(m.descriptors)
    if flags & CLONE_SETTLS:
        entry, base, _limit, _fl = abi.USER_DESC.unpack(proc.mem.read(tls, 16))
        if entry == MASK:
            entry = 12
        if not 12 <= entry <= 14:
            return -errno.EINVAL
        sel = entry << 3 | 3
        descriptors[sel] = base
        for n in (FS, GS):
            if r[SEL + n] == sel:
                r[BASE + n] = base
    g = proc.group
    if g is None:
        g = proc.group = ThreadGroup(proc)
    tid = kernel.new_pid()
    fds = proc.fds if flags & CLONE_FILES else proc.fds.fork()
    sandbox = proc.sandbox if flags & CLONE_FS else _copy_sandbox(proc.sandbox)
    if flags & CLONE_FS:
        sandbox.join()
    t = Process(kernel, proc.pid, proc.ppid, fds, sandbox)
    t.tid, t.group = tid, g
    t.machine, t.aspace, t.image = m, proc.aspace, proc.image
    t.exe_host_path, t.exe_guest_path = proc.exe_host_path, proc.exe_guest_path
    t.argv, t.envp = proc.argv, proc.envp
    t.pgid, t.sid, t.umask = proc.pgid, proc.sid, proc.umask
    t.rlimits = proc.rlimits
    t.sigactions = proc.sigactions                # CLONE_SIGHAND: one table
    t.sigmask = proc.sigmask
    t.children = proc.children                    # any thread may wait for them
    t.comm = proc.comm
    t.exit_signal = 0
    t.ctx = [r, cpu.eip, cpu.flags, cpu.lz, descriptors, _fpu_copy(m), list(cpu.xmm),
             cpu.mxcsr]
    tid_bytes = _U32.pack(tid)
    if flags & CLONE_PARENT_SETTID and ptid:
        proc.mem.write(ptid, tid_bytes)
    if flags & CLONE_CHILD_SETTID and ctid:
        proc.mem.write(ctid, tid_bytes)
    if flags & CLONE_CHILD_CLEARTID:
        t.clear_child_tid = ctid
    g.tasks.append(t)
    kernel.order.append(t)
    m.request_stop()            # a turn begun alone may be long: the new thread's turn soon
    return tid


def before_exec(proc: Process) -> Process:
    """execve in a threaded process: every other thread ends and the caller goes on as
    the process itself (the leader's Process, with the caller's thread state). Returns
    the Process that execs."""
    g = proc.group
    if g is None:
        return proc
    kernel = proc.kernel
    lead = g.leader
    for t in g.tasks:
        if t is not proc:
            t.state = ZOMBIE if t is not lead else EXITED
            t.leave_fs()
            t.fds.drop_opening(id(t))           # its FIFO open ends (MAX_WAITERS slot)
            if t in kernel.order:
                kernel.order.remove(t)
    if lead is not proc:
        lead.sigmask, lead.pending, lead.pending_info = proc.sigmask, proc.pending, \
            proc.pending_info
        lead.altstack = proc.altstack
        lead.machine, lead.state = proc.machine, RUNNING
        order = kernel.order
        order.insert(order.index(proc) if proc in order else len(order), lead)
        if proc in order:
            order.remove(proc)
        proc.state = EXITED
        lead.sandbox, lead.fs_left = proc.sandbox, proc.fs_left     # the caller's view
        proc.fs_left = True
        proc.drop_exe()                         # (the leader takes the new program)
    lead.group = None
    lead.robust_list = (0, 0)
    lead.ctx = None
    lead.futex_waiter = None
    return lead


# -- exit ------------------------------------------------------------------------------

def _robust_exit(task: Process) -> None:
    """Mark the robust futexes ``task`` holds OWNER_DIED and wake one waiter of each."""
    head = task.robust_list[0]
    if not head:
        return
    mem = task.mem

    def release(addr: int) -> None:
        word = _U32.unpack(mem.read(addr, 4))[0]
        if word & FUTEX_TID_MASK != task.tid:
            return
        mem.write(addr, _U32.pack(word & FUTEX_WAITERS | FUTEX_OWNER_DIED))
        if word & FUTEX_WAITERS:
            _wake(task, (addr, False), 1, FUTEX_BITSET_MATCH_ANY)

    try:
        nxt, offset, pending = struct.unpack("<IiI", mem.read(head, 12))
        entry, seen = nxt & ~1, 0
        while entry and entry != head and seen < ROBUST_LIST_LIMIT:
            following = _U32.unpack(mem.read(entry, 4))[0] & ~1
            if entry != pending & ~1:
                release((entry + offset) & MASK)
            entry, seen = following, seen + 1
        if pending & ~1:
            release(((pending & ~1) + offset) & MASK)
    except MemoryFault:
        pass


def exit_thread(task: Process) -> None:
    """``task`` ends alone (exit(2) with other threads running)."""
    kernel = task.kernel
    _robust_exit(task)
    addr = task.clear_child_tid
    if addr:
        try:
            task.mem.write(addr, bytes(4))
            _wake(task, (addr, False), 1, FUTEX_BITSET_MATCH_ANY)
        except MemoryFault:
            pass
    g = task.group
    fpu = task.machine._fpu if g.loaded is task else (task.ctx or [None] * 6)[5]
    if fpu is not None:
        fpu.release()                          # its x87 unit is freed at once
    g.tasks.remove(task)
    if task.pending and g.tasks:               # process-wide signals it did not take
        heir = g.tasks[0]
        heir.pending |= task.pending
        for sig, info in task.pending_info.items():
            heir.pending_info.setdefault(sig, info)
    task.pending = 0
    task.state = EXITED
    task.leave_fs()
    task.fds.drop_opening(id(task))             # its FIFO open ends (MAX_WAITERS slot)
    drop_waiter(task)
    if task in kernel.order:
        kernel.order.remove(task)
    kernel.progress = True


def end_group(kernel, proc: Process) -> Process:
    """The whole thread group of ``proc`` ends (exit_group, a fatal signal, the last
    thread's exit): every thread stops; returns the leader, which Kernel.exit turns
    into the process's zombie."""
    g = proc.group
    lead = g.leader
    for t in g.tasks:
        if t is not lead:
            t.state = ZOMBIE
            t.leave_fs()
            t.futex_waiter = None
            if t in kernel.order:
                kernel.order.remove(t)
    g.tasks = []
    g.futex.clear()
    if lead.state == EXITED:
        lead.state = RUNNING                   # Kernel.exit makes it the zombie
    return lead


class ThreadExit(ExecDone):
    """The calling thread is gone: no return value, nothing more to run in its turn."""


@syscall(1)
def sys_exit(proc, status, *_):
    g = proc.group
    if g is None or len(g.tasks) <= 1:
        raise ProcessExit(status & 0xFF)
    exit_thread(proc)
    raise ThreadExit


# -- ids -------------------------------------------------------------------------------

@syscall(224)
def sys_gettid(proc, *_):
    return proc.tid


@syscall(258)
def sys_set_tid_address(proc, addr, *_):
    proc.clear_child_tid = addr
    return proc.tid


@syscall(311)
def sys_set_robust_list(proc, head, length, *_):
    if length != 12:
        return neg(errno.EINVAL)
    proc.robust_list = (head, length)
    return 0


@syscall(312)
def sys_get_robust_list(proc, pid, head_ptr, len_ptr, *_):
    pid = s32(pid)
    target = proc if pid == 0 else find_task(proc.kernel, pid)
    if target is None:
        return neg(errno.ESRCH)
    head, length = target.robust_list
    proc.mem.write(head_ptr, _U32.pack(head))
    proc.mem.write(len_ptr, _U32.pack(length or 12))
    return 0


@syscall(158)
def sys_sched_yield(proc, *_):
    kernel = proc.kernel
    if len(kernel.order) > 1 and proc.machine is not None:
        proc.machine.request_stop()            # the next task's turn
    return 0


# -- thread-directed signals -------------------------------------------------------------

def signal_target(proc: Process, sig: int) -> Process:
    """The thread that takes a process-directed signal: the first (the leader first)
    that does not block it, else the first."""
    tasks = proc.group.tasks
    if not tasks:
        return proc
    b = S.bit(sig)
    for t in tasks:
        if not t.sigmask & b:
            return t
    for t in tasks:                  # blocked everywhere: a thread in sigwait for it
        if t.state == BLOCKED and t.blocked_on.startswith("rt_sigtimedwait") and \
                getattr(t, "sigwait_set", 0) & b:
            return t
    return tasks[0]


def signal_thread(sender: Process, target: Process, sig: int) -> None:
    kernel = sender.kernel
    if not sig or target.state == ZOMBIE:
        return
    if sig == S.SIGKILL:
        kernel.exit(target, 128 + sig, sig)
        return
    if target.ignores(sig):
        return
    target.pending |= S.bit(sig)
    target.pending_info[sig] = S.siginfo(sig, SI_TKILL, sender.pid, os.getuid())


def _tkill(proc, tgid: Optional[int], tid: int, sig: int) -> int:
    if s32(tid) <= 0 or tgid is not None and s32(tgid) <= 0 or not 0 <= sig <= S.NSIG:
        return neg(errno.EINVAL)
    target = find_task(proc.kernel, tid, tgid)
    if target is None:
        return neg(errno.ESRCH)
    signal_thread(proc, target, sig)
    return 0


@syscall(270)
def sys_tgkill(proc, tgid, tid, sig, *_):
    return _tkill(proc, tgid, tid, sig)


@syscall(238)
def sys_tkill(proc, tid, sig, *_):
    return _tkill(proc, None, tid, sig)


def _sigtimedwait(proc, setp: int, info: int, timeout: int, size: int, ts) -> int:
    if size != 8:
        return neg(errno.EINVAL)
    wanted = struct.unpack("<Q", proc.mem.read(setp, 8))[0] & ~S.UNBLOCKABLE
    ready = proc.pending & wanted
    if ready:
        sig = (ready & -ready).bit_length()
        proc.pending &= ~S.bit(sig)
        data = proc.pending_info.pop(sig, None) or S.siginfo(sig)
        proc.deadline = None
        if info:
            proc.mem.write(info, data)
        return sig
    if timeout:
        sec, nsec = ts.unpack(proc.mem.read(timeout, ts.size))
        if sec < 0 or not 0 <= nsec < 1_000_000_000:
            return neg(errno.EINVAL)
        deadline = deadline_of(proc, sec + nsec / 1e9)
        if time.monotonic() >= deadline:
            proc.deadline = None
            return neg(errno.EAGAIN)
    else:
        deadline = None
    proc.sigwait_set = wanted
    raise WouldBlock(deadline)


@syscall(177)
def sys_rt_sigtimedwait(proc, setp, info, timeout, size, *_):
    return _sigtimedwait(proc, setp, info, timeout, size, abi.TIMESPEC32)


@syscall(421)
def sys_rt_sigtimedwait_time64(proc, setp, info, timeout, size, *_):
    return _sigtimedwait(proc, setp, info, timeout, size, abi.TIMESPEC64)


# -- futex -----------------------------------------------------------------------------

def _queue(proc: Process, key: tuple, create: bool = False) -> Optional[list]:
    """The sleepers on a futex. A private futex (FUTEX_PRIVATE_FLAG) and a shared one at
    the same address are different futexes, as in Linux."""
    g = proc.group
    if g is None:
        return None
    q = g.futex.get(key)
    if q is None and create:
        q = g.futex[key] = []
    return q


def _wake(proc: Process, key: tuple, n: int, bitset: int) -> int:
    q = _queue(proc, key)
    if not q:
        return 0
    woken = 0
    for w in list(q):
        if not w.live():
            q.remove(w)
        elif w.bitset & bitset:
            q.remove(w)
            _complete(w.task, 0)
            woken += 1
            if woken >= n:
                break
    if not q:
        proc.group.futex.pop(key, None)
    return woken


def _requeue(proc: Process, key: tuple, key2: tuple, nwake: int, nmove: int) -> int:
    q = _queue(proc, key)
    if not q:
        return 0
    woken = moved = 0
    for w in list(q):
        if not w.live():
            q.remove(w)
        elif woken < nwake:
            q.remove(w)
            _complete(w.task, 0)
            woken += 1
        elif moved < nmove:
            q.remove(w)
            w.key = key2
            _queue(proc, key2, True).append(w)
            moved += 1
        else:
            break
    if not q:
        proc.group.futex.pop(key, None)
    return woken + moved


def drop_waiter(task: Process) -> None:
    """Take ``task``'s futex wait off its queue once the task has left it (a signal
    ended it, or the task exits): stale waiters were dropped only by a wake of the same
    futex, so a thread waiting on ever new addresses, each wait ended by a signal, grew
    the host's queues without bound (~100 bytes a wait, outside --memory)."""
    w, task.futex_waiter = task.futex_waiter, None
    g = task.group
    if w is None or g is None:
        return
    q = g.futex.get(w.key)
    if q is not None and w in q:
        q.remove(w)
        if not q:
            del g.futex[w.key]


def _read_u32(proc, addr: int) -> int:
    return _U32.unpack(proc.mem.read(addr, 4))[0]


def _deadline(proc, utime: int, ts: struct.Struct, absolute: bool, realtime: bool):
    if not utime:
        return None
    sec, nsec = ts.unpack(proc.mem.read(utime, ts.size))
    if sec < 0 or not 0 <= nsec < 1_000_000_000:
        raise ValueError
    t = sec + nsec / 1e9
    if not absolute:
        return time.monotonic() + t
    now = time.time() if realtime else uptime.uptime()      # (the guest's monotonic)
    return time.monotonic() + (t - now)


def _wait(proc, addr: int, private: bool, val: int, utime: int, ts, absolute: bool,
          realtime: bool, bitset: int) -> int:
    w = proc.futex_waiter
    if w is not None and proc.state == BLOCKED:          # the sleeping call, run again
        if w.deadline is not None and time.monotonic() >= w.deadline:
            proc.futex_waiter = None
            q = _queue(proc, w.key)
            if q and w in q:
                q.remove(w)
            return neg(errno.ETIMEDOUT)
        raise WouldBlock(w.deadline)
    drop_waiter(proc)                       # (a wait a signal ended: stale)
    if addr & 3:
        return neg(errno.EINVAL)
    try:
        deadline = _deadline(proc, utime, ts, absolute, realtime)
    except ValueError:
        return neg(errno.EINVAL)
    if _read_u32(proc, addr) != val & MASK:
        return neg(errno.EAGAIN)
    if deadline is not None and time.monotonic() >= deadline:
        return neg(errno.ETIMEDOUT)
    key = (addr, private)
    w = proc.futex_waiter = Waiter(proc, key, bitset, deadline)
    q = _queue(proc, key, True)
    if q is not None:
        q.append(w)
    raise WouldBlock(deadline)


_WAKE_OPS = (lambda old, arg: arg, lambda old, arg: old + arg, lambda old, arg: old | arg,
             lambda old, arg: old & ~arg, lambda old, arg: old ^ arg)
_WAKE_CMPS = (lambda a, b: a == b, lambda a, b: a != b, lambda a, b: a < b,
              lambda a, b: a <= b, lambda a, b: a > b, lambda a, b: a >= b)


def _sext12(v: int) -> int:
    return v - 0x1000 if v & 0x800 else v


def _wake_op(proc, addr: int, private: bool, n: int, addr2: int, n2: int, code: int) -> int:
    op, cmp = code >> 28 & 7, code >> 24 & 15
    oparg, cmparg = _sext12(code >> 12 & 0xFFF), _sext12(code & 0xFFF)
    if code >> 28 & 8:
        oparg = 1 << (oparg & 31)
    if op >= len(_WAKE_OPS) or cmp >= len(_WAKE_CMPS):
        return neg(errno.ENOSYS)
    if addr2 & 3:
        return neg(errno.EINVAL)
    proc.mem.check_write(addr2, 4)
    old = _read_u32(proc, addr2)
    proc.mem.write(addr2, _U32.pack(_WAKE_OPS[op](old, oparg) & MASK))
    woken = _wake(proc, (addr, private), n, FUTEX_BITSET_MATCH_ANY)
    if _WAKE_CMPS[cmp](s32(old), cmparg):
        woken += _wake(proc, (addr2, private), n2, FUTEX_BITSET_MATCH_ANY)
    return woken


def futex(proc, addr: int, op: int, val: int, utime: int, addr2: int, val3: int,
          ts: struct.Struct) -> int:
    cmd = op & ~(FUTEX_PRIVATE_FLAG | FUTEX_CLOCK_REALTIME)
    realtime = bool(op & FUTEX_CLOCK_REALTIME)
    private = bool(op & FUTEX_PRIVATE_FLAG)
    if realtime and cmd not in (FUTEX_WAIT, FUTEX_WAIT_BITSET):
        return neg(errno.ENOSYS)
    if cmd == FUTEX_WAIT:
        return _wait(proc, addr, private, val, utime, ts, False, realtime,
                     FUTEX_BITSET_MATCH_ANY)
    if cmd == FUTEX_WAIT_BITSET:
        if not val3:
            return neg(errno.EINVAL)
        return _wait(proc, addr, private, val, utime, ts, True, realtime, val3)
    if cmd in (FUTEX_WAKE, FUTEX_WAKE_BITSET):
        bitset = val3 if cmd == FUTEX_WAKE_BITSET else FUTEX_BITSET_MATCH_ANY
        if not bitset:
            return neg(errno.EINVAL)
        if addr & 3:
            return neg(errno.EINVAL)
        return _wake(proc, (addr, private), max(s32(val), 1), bitset)
    if cmd in (FUTEX_REQUEUE, FUTEX_CMP_REQUEUE):
        if s32(val) < 0 or s32(utime) < 0 or addr & 3 or addr2 & 3:
            return neg(errno.EINVAL)
        if cmd == FUTEX_CMP_REQUEUE and _read_u32(proc, addr) != val3 & MASK:
            return neg(errno.EAGAIN)
        return _requeue(proc, (addr, private), (addr2, private), s32(val), s32(utime))
    if cmd == FUTEX_WAKE_OP:
        return _wake_op(proc, addr, private, max(s32(val), 1), addr2, max(s32(utime), 1),
                        val3)
    return neg(errno.ENOSYS)                 # FUTEX_FD, the PI operations


@syscall(240)
def sys_futex(proc, addr, op, val, utime, addr2, val3):
    return futex(proc, addr, op, val, utime, addr2, val3, abi.TIMESPEC32)


@syscall(422)
def sys_futex_time64(proc, addr, op, val, utime, addr2, val3):
    return futex(proc, addr, op, val, utime, addr2, val3, abi.TIMESPEC64)
