"""Waiting for descriptors: epoll, eventfd, the signal-mask variants of poll and select
(ppoll, pselect6 and their time64 forms, epoll_pwait) and the old select(82).

A wait that finds nothing ready blocks the way a read of an empty pipe does: WouldBlock,
and the scheduler runs the call again later (deadlock detection included). Readiness is
the ``poll`` of each open file (vm/linux/files.py interface), so pipes, sockets, eventfds
and nested epolls all take part.
"""

from __future__ import annotations

import errno
import struct
import time
import weakref
from typing import Optional

from vm.linux import abi
from vm.linux import signals as S
from vm.linux.files import (
    POLLERR,
    POLLHUP,
    READ_EVENTS,
    WRITE_EVENTS,
    DeviceFile,
    GuestFileError,
    HostFile,
    OpenFile,
    synthetic_stat,
)
from vm.linux.process import BLOCKED
from vm.linux.syscalls import (
    WouldBlock,
    _poll,
    _select,
    _timespec,
    deadline_of,
    neg,
    s32,
    syscall,
)
from vm.x86.faults import MemoryFault

_Q = struct.Struct("<Q")
EPOLL_EVENT = struct.Struct("<IQ")        # packed on x86: events, data (12 bytes)
EPOLL_CTL_ADD, EPOLL_CTL_DEL, EPOLL_CTL_MOD = 1, 2, 3
EPOLLEXCLUSIVE, EPOLLWAKEUP, EPOLLONESHOT, EPOLLET = 1 << 28, 1 << 29, 1 << 30, 1 << 31
EPOLL_MAX_EVENTS = 0x7FFFFFFF // EPOLL_EVENT.size
EPOLL_MAX_WATCHES = 65536                 # per instance: a guest cannot grow it without end
EFD_SEMAPHORE, EFD_NONBLOCK, EFD_CLOEXEC = 1, abi.O_NONBLOCK, abi.O_CLOEXEC
EVENTFD_MAX = (1 << 64) - 2

_anon_ino = [0x5000]


def _anon_stat():
    """fstat of an anonymous inode: mode 0600 and no file type, as the kernel reports."""
    _anon_ino[0] += 1
    st = synthetic_stat(0o600, _anon_ino[0])
    st.st_dev = 0x0E
    return st


# -- eventfd ---------------------------------------------------------------------------

class EventFd(OpenFile):
    """A 64-bit counter: write adds, read takes it (or 1 in semaphore mode)."""
    zero_io_error = errno.EINVAL        # fewer than 8 bytes, 0 included

    def __init__(self, count: int, semaphore: bool):
        self.count = count
        self.semaphore = semaphore
        self.path = "anon_inode:[eventfd]"
        self.generation = 0         # bumped by every read and write (EPOLLET edges)
        self.stat = _anon_stat()

    def read(self, n: int) -> bytes:
        if n < 8:
            raise GuestFileError(errno.EINVAL)
        if not self.count:
            raise GuestFileError(errno.EAGAIN)      # blocks unless O_NONBLOCK
        v = 1 if self.semaphore else self.count
        self.count -= v
        self.generation += 1
        return _Q.pack(v)

    def write(self, data: bytes) -> int:
        if len(data) < 8:
            raise GuestFileError(errno.EINVAL)
        v = _Q.unpack_from(data)[0]
        if v == (1 << 64) - 1:
            raise GuestFileError(errno.EINVAL)
        if self.count + v > EVENTFD_MAX:
            raise GuestFileError(errno.EAGAIN)
        self.count += v
        self.generation += 1
        return 8

    def poll(self, events: int) -> int:
        rev = READ_EVENTS if self.count else 0
        if self.count < EVENTFD_MAX:
            rev |= WRITE_EVENTS
        return rev & events

    def readable_bytes(self) -> int:
        return 8 if self.count else 0

    def fstat(self):
        return self.stat


def _eventfd(proc, initval: int, flags: int) -> int:
    if flags & ~(EFD_SEMAPHORE | EFD_NONBLOCK | EFD_CLOEXEC):
        return neg(errno.EINVAL)
    f = EventFd(initval, bool(flags & EFD_SEMAPHORE))
    f.status_flags = flags & EFD_NONBLOCK
    return proc.fds.install(f, cloexec=bool(flags & EFD_CLOEXEC))


@syscall(323)
def sys_eventfd(proc, initval, *_):
    return _eventfd(proc, initval, 0)


@syscall(328)
def sys_eventfd2(proc, initval, flags, *_):
    return _eventfd(proc, initval, flags)


# -- epoll -----------------------------------------------------------------------------

class _Watch:
    __slots__ = ("fd", "file", "events", "data", "reported", "gen", "disabled")

    def __init__(self, fd: int, f: OpenFile, events: int, data: int):
        self.fd, self.file, self.events, self.data = fd, f, events, data
        self.reported = 0           # EPOLLET: the events reported since they last cleared
        self.gen = 0                # EPOLLET: the file's generation then (new data since?)
        self.disabled = False       # EPOLLONESHOT: reported once, until EPOLL_CTL_MOD

    def ready(self) -> int:
        mask = self.events & 0xFFFF | POLLERR | POLLHUP
        return self.file.poll(mask) & mask


class Epoll(OpenFile):
    """An epoll instance: its interest list, keyed by (descriptor, open file) as the
    kernel keys it; an entry lives until the open file's last descriptor closes."""
    zero_io_error = errno.EINVAL        # no read or write at all (FMODE_CAN_READ)

    def __init__(self):
        self.watches: dict = {}
        self.watchers: weakref.WeakSet = weakref.WeakSet()  # epolls with an entry for this
        self.path = "anon_inode:[eventpoll]"
        self.stat = _anon_stat()

    def live(self) -> list:
        for key in [k for k, w in self.watches.items() if getattr(w.file, "refs", 0) <= 0]:
            del self.watches[key]           # closed everywhere: gone from the set
        return list(self.watches.values())

    def collect(self, limit: int, consume: bool, seen: Optional[dict] = None) -> list:
        """(events, data) of the ready entries, at most ``limit``; ``consume``: a real
        wait (edge-triggered and one-shot entries are used up). A nested epoll's
        readiness is worked out once per call (``seen``): asked again on every path to
        it, W epolls on each of 5 levels, each watching every one below, cost W^4 host
        steps per epoll_wait (20 a level: 0.3 s for one call, natively nothing)."""
        out = []
        if seen is None:
            seen = {}
        for w in self.live():
            if w.disabled:
                continue
            if isinstance(w.file, Epoll):
                ready = seen.get(id(w.file))
                if ready is None:
                    seen[id(w.file)] = False            # (a cycle: not ready through it)
                    ready = seen[id(w.file)] = bool(w.file.collect(1, False, seen))
                rev = READ_EVENTS & w.events if ready else 0
            else:
                rev = w.ready()
            if w.events & EPOLLET:
                gen = getattr(w.file, "generation", 0)
                fresh = rev & ~w.reported or rev and gen != w.gen
                if consume:
                    w.reported, w.gen = rev, gen
                if not fresh:
                    continue
            if not rev:
                continue
            out.append((rev, w.data))
            if consume and w.events & EPOLLONESHOT:
                w.disabled = True
            if len(out) >= limit:
                break
        return out

    def poll(self, events: int) -> int:
        return events & READ_EVENTS if self.collect(1, False) else 0

    def fstat(self):
        return self.stat

    def wait_fds(self) -> tuple:
        out = []
        for w in self.live():
            h = w.file.wait_fd()
            if h is not None:
                out.append(h)
        return tuple(out)


def _epoll_create(proc, flags: int) -> int:
    if flags & ~abi.O_CLOEXEC:
        return neg(errno.EINVAL)
    return proc.fds.install(Epoll(), cloexec=bool(flags & abi.O_CLOEXEC))


@syscall(254)
def sys_epoll_create(proc, size, *_):
    if s32(size) <= 0:
        return neg(errno.EINVAL)
    return _epoll_create(proc, 0)


@syscall(329)
def sys_epoll_create1(proc, flags, *_):
    return _epoll_create(proc, flags)


def _epoll_of(proc, epfd: int) -> Epoll:
    ep = proc.fds.get(epfd)
    if not isinstance(ep, Epoll):
        raise GuestFileError(errno.EINVAL)
    return ep


def _pollable(f: OpenFile) -> bool:
    """Regular files, directories and /dev/null-like devices have no poll: EPERM."""
    if isinstance(f, DeviceFile):
        return False
    if isinstance(f, HostFile):
        import stat as st
        return not f.is_dir and not st.S_ISREG(f.fstat().st_mode)
    return True


@syscall(255)
def sys_epoll_ctl(proc, epfd, op, fd, event, *_):
    ep = _epoll_of(proc, epfd)
    f = proc.fds.get(fd)
    if f is ep:
        return neg(errno.EINVAL)
    if not _pollable(f):
        return neg(errno.EPERM)
    if op not in (EPOLL_CTL_ADD, EPOLL_CTL_DEL, EPOLL_CTL_MOD):
        return neg(errno.EINVAL)
    events = data = 0
    if op != EPOLL_CTL_DEL:
        events, data = EPOLL_EVENT.unpack(proc.mem.read(event, EPOLL_EVENT.size))
    key = (fd, id(f))
    ep.live()
    w = ep.watches.get(key)
    if op == EPOLL_CTL_ADD:
        if w is not None:
            return neg(errno.EEXIST)
        if len(ep.watches) >= EPOLL_MAX_WATCHES:
            return neg(errno.ENOSPC)
        if isinstance(f, Epoll):
            if _too_deep(ep, f):
                return neg(errno.ELOOP)
            f.watchers.add(ep)
        ep.watches[key] = _Watch(fd, f, events, data)
        return 0
    if w is None:
        return neg(errno.ENOENT)
    if op == EPOLL_CTL_DEL:
        del ep.watches[key]
        return 0
    if w.events & EPOLLEXCLUSIVE or events & EPOLLEXCLUSIVE:
        return neg(errno.EINVAL)
    w.events, w.data, w.reported, w.gen, w.disabled = events, data, 0, 0, False
    return 0


EP_MAX_NESTS = 4


def _too_deep(ep: Epoll, f: Epoll) -> bool:
    """Whether ``ep`` watching epoll ``f`` makes a cycle or a chain of more than
    EP_MAX_NESTS + 1 epolls, counting those above ``ep`` and below ``f`` (Linux's
    ep_loop_check: ELOOP). Each epoll is visited once: following every path, a guest's
    lattice of epolls made one epoll_ctl cost exponential host time."""
    below = _depth(f, lambda e: [w.file for w in e.live() if isinstance(w.file, Epoll)],
                   ep, {})
    if below is None or below > EP_MAX_NESTS:
        return True
    above = _depth(ep, _watchers, None, {})
    return above is None or below + 1 + above > EP_MAX_NESTS


def _watchers(e: Epoll) -> list:
    """The epolls with a live entry for ``e`` now."""
    return [p for p in list(e.watchers) if getattr(p, "refs", 0) > 0
            and any(w.file is e for w in p.live())]


def _depth(e: Epoll, nexts, stop: Optional[Epoll], memo: dict) -> Optional[int]:
    """The longest chain of epolls from ``e`` along ``nexts`` (0: none), or None when it
    reaches ``stop`` or goes round a cycle; each epoll is worked out once."""
    if e is stop:
        return None
    key = id(e)
    if key in memo:
        return memo[key]            # (-1 while under way: a cycle)
    memo[key] = -1
    most = 0
    for n in nexts(e):
        d = _depth(n, nexts, stop, memo)
        if d is None or d < 0:
            return None
        most = max(most, d + 1)
        if most > EP_MAX_NESTS + 1:
            break                   # (deep enough to refuse: no Python recursion past it)
    memo[key] = most
    return most


def _epoll_wait(proc, epfd: int, events: int, maxevents: int,
                timeout: Optional[float]) -> int:
    ep = _epoll_of(proc, epfd)
    maxevents = s32(maxevents)
    if not 0 < maxevents <= EPOLL_MAX_EVENTS:
        return neg(errno.EINVAL)
    size = min(maxevents, len(ep.watches) or 1) * EPOLL_EVENT.size
    proc.mem.check_write(events, size)       # EFAULT before any event is used up
    ready = ep.collect(maxevents, True)
    if not ready:
        if timeout is not None:
            deadline = deadline_of(proc, timeout)
            if time.monotonic() >= deadline:
                proc.deadline = None
                return 0
        else:
            deadline = None
        raise WouldBlock(deadline, ep.wait_fds())
    proc.deadline = None
    proc.mem.write(events, b"".join(EPOLL_EVENT.pack(ev, data) for ev, data in ready))
    return len(ready)


def _ms(timeout: int) -> Optional[float]:
    ms = s32(timeout)
    return None if ms < 0 else ms / 1000


@syscall(256)
def sys_epoll_wait(proc, epfd, events, maxevents, timeout, *_):
    return _epoll_wait(proc, epfd, events, maxevents, _ms(timeout))


@syscall(319)
def sys_epoll_pwait(proc, epfd, events, maxevents, timeout, sigmask, sigsetsize):
    return _masked(proc, sigmask, sigsetsize,
                   lambda: _epoll_wait(proc, epfd, events, maxevents, _ms(timeout)))


@syscall(441)
def sys_epoll_pwait2(proc, epfd, events, maxevents, timeout, sigmask, sigsetsize):
    return _masked(proc, sigmask, sigsetsize, lambda: _epoll_wait(
        proc, epfd, events, maxevents, _timespec(proc, timeout, abi.TIMESPEC64)))


# -- the signal mask of ppoll, pselect6 and epoll_pwait ------------------------------------

def _masked(proc, mask_addr: int, size: int, call) -> int:
    """Run a wait with the signal mask at ``mask_addr`` in force; the old mask comes back
    when it returns, or (a handler interrupts it) through the signal frame, which takes
    ``saved_sigmask`` as the mask to restore, as sigsuspend's does."""
    if mask_addr and proc.state != BLOCKED:
        if size != 8:
            return neg(errno.EINVAL)
        new = _Q.unpack(proc.mem.read(mask_addr, 8))[0] & ~S.UNBLOCKABLE
        proc.saved_sigmask, proc.sigmask = proc.sigmask, new
    try:
        result = call()
    except WouldBlock:
        raise
    except BaseException:
        _unmask(proc, mask_addr)
        raise
    _unmask(proc, mask_addr)
    return result


def _unmask(proc, mask_addr: int) -> None:
    if mask_addr and proc.saved_sigmask is not None:
        proc.sigmask, proc.saved_sigmask = proc.saved_sigmask, None


def _timed(proc, addr: int, spec, scale: int, call) -> int:
    """A wait whose timeout buffer gets the time left written back."""
    timeout = None
    if addr:
        sec, frac = spec.unpack(proc.mem.read(addr, spec.size))
        if sec < 0 or not 0 <= frac < 10**9 // scale:
            return neg(errno.EINVAL)
        timeout = sec + frac * scale / 1e9
    deadline = deadline_of(proc, timeout) if timeout is not None else None
    result = call(timeout)
    if deadline is not None and result >= 0:
        ns = max(0, int((deadline - time.monotonic()) * 1e9)) if result else 0
        ns = min(ns, int(timeout * 1e9))
        try:
            proc.mem.write(addr, spec.pack(ns // 10**9, ns % 10**9 // scale))
        except MemoryFault:
            pass
    return result


@syscall(309)
def sys_ppoll(proc, fds, nfds, tsp, sigmask, sigsetsize, *_):
    return _masked(proc, sigmask, sigsetsize, lambda: _timed(
        proc, tsp, abi.TIMESPEC32, 1, lambda t: _poll(proc, fds, nfds, t)))


@syscall(414)
def sys_ppoll_time64(proc, fds, nfds, tsp, sigmask, sigsetsize, *_):
    return _masked(proc, sigmask, sigsetsize, lambda: _timed(
        proc, tsp, abi.TIMESPEC64, 1, lambda t: _poll(proc, fds, nfds, t)))


def _pselect(proc, nfds, rset, wset, xset, tsp, sig, spec) -> int:
    mask_addr = size = 0
    if sig:
        mask_addr, size = struct.unpack("<II", proc.mem.read(sig, 8))
    return _masked(proc, mask_addr, size, lambda: _timed(
        proc, tsp, spec, 1, lambda t: _select(proc, s32(nfds), rset, wset, xset, t)))


@syscall(308)
def sys_pselect6(proc, nfds, rset, wset, xset, tsp, sig):
    return _pselect(proc, nfds, rset, wset, xset, tsp, sig, abi.TIMESPEC32)


@syscall(413)
def sys_pselect6_time64(proc, nfds, rset, wset, xset, tsp, sig):
    return _pselect(proc, nfds, rset, wset, xset, tsp, sig, abi.TIMESPEC64)


@syscall(142, "_newselect")
def sys_newselect(proc, nfds, rset, wset, xset, tvp, *_):
    return _timed(proc, tvp, abi.TIMEVAL32, 1000,
                  lambda t: _select(proc, s32(nfds), rset, wset, xset, t))


@syscall(82)
def sys_select(proc, args, *_):
    """The old i386 select: one pointer to its five arguments."""
    nfds, rset, wset, xset, tvp = struct.unpack("<5I", proc.mem.read(args, 20))
    return sys_newselect(proc, nfds, rset, wset, xset, tvp)

