"""AF_UNIX sockets between guest processes: socketpair, socket/bind/listen/accept/connect,
send*/recv* (with SCM_RIGHTS), shutdown and the socket options programs ask about,
through socketcall (102) and the direct i386 numbers (359-373).

There is no host network: other families are EAFNOSUPPORT. A socket bound to a path
makes a socket node on the host (inside the writable trees only, through the sandbox),
which nothing on the host listens on; connecting to a path finds the guest socket bound
to that inode (kernel-wide table), else ECONNREFUSED. Abstract names (a leading NUL)
live in the same table.

Data never leaves pyvm: a connection is two message queues in memory. Stream sockets
read across messages, datagram and seqpacket sockets one message at a time. A call that
cannot go on (nothing to read, the peer's queue full, no connection to accept) fails
with EAGAIN, which blocks unless the socket or the call is non-blocking, as pipes do.
"""

from __future__ import annotations

import errno
import os
import stat
import struct
import time
from collections import deque
from typing import Optional

from vm.diskquota import new_inode
from vm.linux import abi
from vm.linux.files import (
    POLLERR,
    POLLHUP,
    READ_EVENTS,
    WRITE_EVENTS,
    GuestFileError,
    HostStream,
    OpenFile,
    charge,
    synthetic_stat,
)
from vm.linux.process import RLIMIT_NOFILE
from vm.linux.sockopts import (
    SO_BINDTODEVICE,
    SOCK_BUF,
    get_option,
    hz,
    set_device,
    set_option,
)
from vm.linux.syscalls import (
    WRITE_MAX,
    WouldBlock,
    _signal_self,
    deadline_of,
    neg,
    s32,
    syscall,
    write_all,
)
from vm.sandbox import link_nofollow

AF_UNSPEC, AF_UNIX = 0, 1
SOCK_STREAM, SOCK_DGRAM, SOCK_SEQPACKET = 1, 2, 5
SOCK_NONBLOCK, SOCK_CLOEXEC = abi.O_NONBLOCK, abi.O_CLOEXEC
MSG_OOB, MSG_PEEK, MSG_CTRUNC, MSG_TRUNC, MSG_DONTWAIT = 1, 2, 8, 0x20, 0x40
MSG_EOR, MSG_WAITALL, MSG_NOSIGNAL, MSG_CMSG_CLOEXEC = 0x80, 0x100, 0x4000, 0x40000000
SOL_SOCKET, SCM_RIGHTS, SCM_CREDENTIALS = 1, 1, 2
SO_REUSEADDR, SO_TYPE, SO_ERROR, SO_SNDBUF, SO_RCVBUF = 2, 3, 4, 7, 8
SO_PASSCRED, SO_PEERCRED, SO_ACCEPTCONN, SO_PROTOCOL, SO_DOMAIN = 16, 17, 30, 38, 39
SO_PEERNAME = 28
SHUT_RD, SHUT_WR = 1, 2                   # bits of how + 1
POLLRDHUP = 0x2000
SO_RCVTIMEO, SO_SNDTIMEO, SO_RCVTIMEO_NEW, SO_SNDTIMEO_NEW = 20, 21, 66, 67
# option -> (the timeout it sets, its struct timeval): 32-bit fields, or time64's
_TIMEOUTS = {SO_RCVTIMEO: (SO_RCVTIMEO, struct.Struct("<ii")),
             SO_SNDTIMEO: (SO_SNDTIMEO, struct.Struct("<ii")),
             SO_RCVTIMEO_NEW: (SO_RCVTIMEO, struct.Struct("<qq")),
             SO_SNDTIMEO_NEW: (SO_SNDTIMEO, struct.Struct("<qq"))}
MAX_DGRAMS = 512                           # net.unix.max_dgram_qlen
MAX_FDS = 253                              # SCM_MAX_FD
SKB_STRUCT, SKB_SHINFO = 256, 320          # sizeof(struct sk_buff), of skb_shared_info
SKB_MAX_HEAD = 4096 - SKB_SHINFO           # a stream skb's linear part: one page
SUN_PATH = 108
MSGHDR = struct.Struct("<IIIIIIi")         # name namelen iov iovlen control controllen flags
CMSGHDR = struct.Struct("<Iii")
UCRED = struct.Struct("<iII")
_I = struct.Struct("<i")


def truesize(n: int, stream: bool) -> int:
    """What Linux charges a queued message of ``n`` bytes against the sender's buffer (an
    skb's truesize: the sk_buff, then the data and its shared info in a power-of-two
    slab; a stream message past one page keeps the rest in page fragments at their
    size). The cost, not the data alone, bounds a queue: 278 one-byte messages fill
    SOCK_BUF, as natively, where counting bytes let 212992 in, each with SCM_RIGHTS
    descriptors (about 2 KiB of host memory per message)."""
    if stream and n > SKB_MAX_HEAD:
        return truesize(SKB_MAX_HEAD, stream) + n - SKB_MAX_HEAD
    need, slab = ((n + 63) & ~63) + SKB_SHINFO, 512
    while slab < need:
        slab <<= 1
    return slab + SKB_STRUCT


class Message:
    __slots__ = ("data", "fds", "sender", "creds", "cost", "charged")

    def __init__(self, data: bytes, fds: list, sender: bytes, creds: tuple, stream: bool):
        self.data, self.fds, self.sender, self.creds = data, fds, sender, creds
        self.cost = truesize(len(data), stream)
        self.charged = 0                   # what it took from the run's memory budget


def _release(files: list) -> None:
    """Drop the in-flight references of descriptors that were never received."""
    for f in files:
        f.refs -= 1
        if f.refs <= 0 and not isinstance(f, HostStream):
            f.close()


class Socket(OpenFile):
    _next_ino = 0x7000

    def __init__(self, kernel, kind: int, creds: tuple):
        self.kernel = kernel
        self.kind = kind
        self.creds = creds                 # (pid, uid, gid) of its creator: SO_PEERCRED
        self.name = b""                    # bound address (sun_path bytes), b"": none
        self.key = None                    # its entry in the kernel's name table
        self.peer: Optional[Socket] = None
        self.peer_creds = (0, 0xFFFFFFFF, 0xFFFFFFFF)
        self.connected = False
        self.listening = False
        self.backlog: deque = deque()
        self.max_backlog = 0
        self.rx: deque = deque()
        self.rx_bytes = 0
        self.rx_cost = 0                   # the queued messages' truesize
        self.generation = 0                # bumped as data comes and goes (EPOLLET edges)
        self.shut = 0                      # SHUT_RD / SHUT_WR bits (ours or the peer's)
        self.closed = False
        self.options: dict = {}
        self.timeouts: dict = {}           # SO_RCVTIMEO/SO_SNDTIMEO -> (sec, usec)
        self.path = "socket:"
        Socket._next_ino += 1
        self.stat = synthetic_stat(stat.S_IFSOCK | 0o777, Socket._next_ino)
        self.stat.st_dev = 0x08

    @property
    def stream(self) -> bool:
        return self.kind == SOCK_STREAM

    @property
    def connection(self) -> bool:
        return self.kind in (SOCK_STREAM, SOCK_SEQPACKET)

    # -- queues -------------------------------------------------------------------------
    def room(self) -> bool:
        return self.rx_cost < SOCK_BUF and len(self.rx) < (
            MAX_DGRAMS if not self.stream else 1 << 20)

    def push(self, msg: Message) -> None:
        """Queue ``msg``, its descriptors in flight (kernel.unix_inflight: Linux refuses
        more, ETOOMANYREFS, past the sender's RLIMIT_NOFILE, so queues cannot keep files
        open beyond what descriptor tables could; a guest is never exempt)."""
        self.rx.append(msg)
        self.rx_bytes += len(msg.data)
        self.rx_cost += msg.cost
        self.generation += 1
        self._flight(msg.fds, 1)
        for f in msg.fds:
            f.refs += 1                    # in flight: kept open until received

    def pop(self) -> Message:
        """Take the first message off the queue (push undone)."""
        msg = self.rx.popleft()
        self.rx_bytes -= len(msg.data)
        self.rx_cost -= msg.cost
        charge(self.kernel.memory_budget, -msg.charged)
        self._flight(msg.fds, -1)
        return msg

    def _flight(self, fds: list, step: int) -> None:
        """Count ``fds`` into (step 1) or out of (-1) flight."""
        kernel = self.kernel
        kernel.unix_inflight += step * len(fds)
        counts = kernel.inflight_files
        for f in fds:
            left = counts.get(f, 0) + step
            if left:
                counts[f] = left
            else:
                del counts[f]

    def send(self, data: bytes, fds: list, target: Optional[Socket], nosignal: bool,
             proc) -> int:
        if self.connection:
            if self.listening or not self.connected and self.peer is None:
                raise GuestFileError(errno.ENOTCONN if not self.connected else errno.EPIPE)
            peer = self.peer
            if self.shut & SHUT_WR or peer is None or peer.closed or peer.shut & SHUT_RD:
                if not nosignal:
                    _signal_self(proc, 13)          # SIGPIPE, and EPIPE
                raise GuestFileError(errno.EPIPE)
        else:
            peer = target or self.peer
            if peer is None:
                raise GuestFileError(errno.ENOTCONN if target is None else errno.ECONNREFUSED)
            if peer.closed:
                raise GuestFileError(errno.ECONNREFUSED)
            if self.shut & SHUT_WR:
                raise GuestFileError(errno.EPIPE)
            if peer.peer is not None and peer.peer is not self:
                raise GuestFileError(errno.EPERM)   # connected elsewhere
            if len(data) > SOCK_BUF:
                raise GuestFileError(errno.EMSGSIZE)
        if not peer.room():
            raise GuestFileError(errno.EAGAIN)
        if self.stream:
            data = data[:max(SOCK_BUF - peer.rx_bytes, 1)]
        msg = Message(data, fds, self.name, self.creds, self.stream)
        # refused before anything is taken, as Linux refuses before queueing
        if fds and self.kernel.unix_inflight > proc.rlimit(RLIMIT_NOFILE)[0]:
            collect(self.kernel)
            if self.kernel.unix_inflight > proc.rlimit(RLIMIT_NOFILE)[0]:
                raise GuestFileError(errno.ETOOMANYREFS)
        if charge(self.kernel.memory_budget, msg.cost):
            msg.charged = msg.cost
        elif peer.rx or len(data) > SKB_MAX_HEAD and not self.stream:
            raise GuestFileError(errno.EAGAIN)      # the run's memory is used up
        else:           # an empty queue still takes a page, so that a reader progresses
            msg = Message(data[:SKB_MAX_HEAD], fds, self.name, self.creds, self.stream)
            data = msg.data
        peer.push(msg)
        return len(data)

    def recv(self, n: int, flags: int) -> tuple:
        """(data, fds, sender, full length of the first message) or EAGAIN/EOF."""
        if self.listening:
            raise GuestFileError(errno.EINVAL)
        if not self.rx:
            if self.shut & SHUT_RD or self.connection and self.connected and (
                    self.peer is None or self.peer.closed):
                return b"", [], b"", 0      # end of file
            if self.connection and not self.connected:
                raise GuestFileError(errno.EINVAL if self.kind == SOCK_STREAM
                                     else errno.ENOTCONN)
            raise GuestFileError(errno.EAGAIN)
        peek = bool(flags & MSG_PEEK)
        if not self.stream:
            msg = self.rx[0] if peek else self.pop()
            return msg.data[:n], (msg.fds if not peek else []), msg.sender, len(msg.data)
        if flags & MSG_WAITALL and not peek and self.rx_bytes < min(n, SOCK_BUF) and \
                not flags & MSG_DONTWAIT and not self.status_flags & abi.O_NONBLOCK and \
                not (self.shut & SHUT_RD or self.peer is None or self.peer.closed):
            raise GuestFileError(errno.EAGAIN)      # all of it, or as much as fits
        out = bytearray()
        fds: list = []
        sender = self.rx[0].sender
        for msg in list(self.rx):
            if len(out) >= n or msg.fds and out:
                break
            take = msg.data[:n - len(out)]
            out += take
            if not peek:
                if len(take) == len(msg.data):
                    fds = self.pop().fds
                else:
                    msg.data = msg.data[len(take):]
                    self.rx_bytes -= len(take)
                    self._flight(msg.fds, -1)
                    fds, msg.fds = msg.fds, []
            if fds:
                break
        return bytes(out), fds, sender, len(out)

    def next_length(self, n: int) -> int:
        """How many bytes a recv of ``n`` would take now (recv's stops, nothing taken)."""
        if not self.rx:
            return 0
        if not self.stream:
            return min(n, len(self.rx[0].data))
        got = 0
        for msg in self.rx:
            if got >= n or msg.fds and got:
                break
            got += min(len(msg.data), n - got)
            if msg.fds:
                break
        return got

    def whole_messages(self, n: int) -> int:
        """The bytes of the queued stream messages that fit whole in the first ``n``."""
        got = 0
        for msg in self.rx:
            if got + len(msg.data) > n:
                break
            got += len(msg.data)
            if msg.fds:
                break
        return got

    def queues(self) -> list:
        """The receive queues this socket owns: its own, and its pending connections'."""
        return [self.rx, *(pending.rx for pending in self.backlog)]

    def dropped(self) -> None:
        if self.kernel.unix_inflight:
            collect(self.kernel)

    # -- the open-file interface ----------------------------------------------------------
    def read(self, n: int) -> bytes:
        data, fds, _sender, _full = self.recv(n, 0)
        _release(fds)
        return data

    def write(self, data: bytes) -> int:
        return self.send(data, [], None, True, None)    # write(2): EPIPE raises SIGPIPE

    def readable_bytes(self) -> int:
        return self.rx_bytes if self.stream else len(self.rx[0].data) if self.rx else 0

    def poll(self, events: int) -> int:
        rev = 0
        if self.listening:
            return events & READ_EVENTS if self.backlog else 0
        peer = self.peer
        gone = self.connected and (peer is None or peer.closed)
        if self.rx or self.shut & SHUT_RD or gone:
            rev |= READ_EVENTS
        if self.shut & SHUT_RD or gone:
            rev |= POLLRDHUP
        if self.shut == SHUT_RD | SHUT_WR or gone or \
                self.connection and not self.connected:
            rev |= POLLHUP
        writable = not self.connection or self.connected
        if writable and (peer is None or peer.closed or peer.room()):
            rev |= WRITE_EVENTS
        return rev & (events | POLLHUP | POLLERR)

    def fstat(self):
        return self.stat

    def close(self) -> None:
        self.closed = True
        if self.key is not None and self.kernel_names().get(self.key) is self:
            del self.kernel_names()[self.key]
        while self.backlog:
            pending = self.backlog.popleft()
            pending.close()
        while self.rx:
            _release(self.pop().fds)
        peer = self.peer
        if peer is not None and self.connection:
            peer.shut |= SHUT_RD | SHUT_WR
        self.peer = None        # (a pair refers to each other: freed at once, no cycle)

    def kernel_names(self) -> dict:
        return names(self.kernel)


def collect(kernel) -> None:
    """Linux's unix_gc: free sockets that no descriptor table reaches, only queues of
    other such sockets (a socket sent into its own queue, then closed). They would hold
    their queues' budget and descriptors in flight for the rest of the run."""
    counts = kernel.inflight_files
    cand = {f for f, n in counts.items() if isinstance(f, Socket) and f.refs == n}
    if not cand:
        return
    inner: dict = {}                    # references held in the candidates' own queues
    for c in cand:
        for q in c.queues():
            for msg in q:
                for f in msg.fds:
                    if f in cand:
                        inner[f] = inner.get(f, 0) + 1
    reached = {c for c in cand if counts[c] > inner.get(c, 0)}
    stack = list(reached)
    while stack:                        # what a reachable socket's queues hold is reachable
        for q in stack.pop().queues():
            for msg in q:
                for f in msg.fds:
                    if f in cand and f not in reached:
                        reached.add(f)
                        stack.append(f)
    files: list = []
    for g in cand - reached:
        for pending in (g, *g.backlog):
            while pending.rx:
                files += pending.pop().fds
    _release(files)


def names(kernel) -> dict:
    """The kernel's table of bound AF_UNIX addresses: (dev, ino) or abstract name."""
    table = getattr(kernel, "unix_names", None)
    if table is None:
        table = kernel.unix_names = {}
    return table


def _creds(proc) -> tuple:
    return (proc.pid, os.getuid(), os.getgid())


def _socket_of(proc, fd: int) -> Socket:
    f = proc.fds.get(fd)
    if not isinstance(f, Socket):
        raise GuestFileError(errno.ENOTSOCK)
    return f


def _new(proc, family: int, kind: int) -> Socket:
    if family != AF_UNIX:
        raise GuestFileError(errno.EAFNOSUPPORT)       # no host network
    base = kind & 0xF
    if kind & ~(0xF | SOCK_NONBLOCK | SOCK_CLOEXEC):
        raise GuestFileError(errno.EINVAL)
    if base not in (SOCK_STREAM, SOCK_DGRAM, SOCK_SEQPACKET):
        raise GuestFileError(errno.ESOCKTNOSUPPORT)
    s = Socket(proc.kernel, base, _creds(proc))
    s.status_flags = kind & SOCK_NONBLOCK
    return s


def sys_socket(proc, family, kind, protocol, *_):
    if protocol not in (0, AF_UNIX) and family == AF_UNIX:
        return neg(errno.EPROTONOSUPPORT)
    s = _new(proc, family, kind)
    return proc.fds.install(s, cloexec=bool(kind & SOCK_CLOEXEC))


def sys_socketpair(proc, family, kind, protocol, sv, *_):
    if family == AF_UNIX and protocol not in (0, AF_UNIX):
        return neg(errno.EPROTONOSUPPORT)
    a, b = _new(proc, family, kind), _new(proc, family, kind)
    na, nb = proc.fds.reserve(2)            # EMFILE before either end is installed
    proc.mem.check_write(sv, 8)
    a.peer, b.peer = b, a
    a.connected = b.connected = True
    a.peer_creds = b.peer_creds = _creds(proc)
    cloexec = bool(kind & SOCK_CLOEXEC)
    fa = proc.fds.install(a, na, cloexec=cloexec)
    fb = proc.fds.install(b, nb, cloexec=cloexec)
    proc.mem.write(sv, struct.pack("<ii", fa, fb))
    return 0


# -- addresses -------------------------------------------------------------------------

def _read_addr(proc, addr: int, length: int) -> bytes:
    """sun_path of a sockaddr_un (with its leading NUL when abstract)."""
    length = s32(length)
    if length < 2 or length > 2 + SUN_PATH:
        raise GuestFileError(errno.EINVAL)
    raw = proc.mem.read(addr, length)
    family = struct.unpack_from("<H", raw)[0]
    if family != AF_UNIX:
        raise GuestFileError(errno.EINVAL if family != AF_UNSPEC else errno.EAFNOSUPPORT)
    path = raw[2:]
    if path[:1] == b"\0":
        return path                             # abstract: every byte counts
    end = path.find(b"\0")
    return path if end < 0 else path[:end]


def _key(proc, name: bytes, create: bool = False):
    """The table key of an address: ("@", name) or the bound node's (dev, ino)."""
    if name[:1] == b"\0":
        return ("@", name)
    host = proc.sandbox.resolve(os.fsdecode(name))
    if create:
        return host
    with proc.sandbox.parent(host) as (d, entry):
        st = os.stat(entry, dir_fd=d, follow_symlinks=False)
    if not stat.S_ISSOCK(st.st_mode):
        raise GuestFileError(errno.ECONNREFUSED)
    return (st.st_dev, st.st_ino)


def _make_node(sandbox, host: str) -> tuple:
    """Create the socket node of a bind on the host (nothing listens on it), in the
    verified directory (Sandbox.parent: bound through its descriptor, never a path that
    a directory swapped for a symlink could redirect)."""
    import socket as host_socket  # (here: ~4 ms of every start, for a rare call)
    s = host_socket.socket(host_socket.AF_UNIX, host_socket.SOCK_STREAM)
    try:
        with sandbox.parent(host) as (d, name):
            where = b"/proc/self/fd/%d/" % d
            if len(where) + len(os.fsencode(name)) < SUN_PATH:
                s.bind(where + os.fsencode(name))
            else:                   # too long after that prefix: bound under a short
                _bind_long(s, d, where, name)   # name, then linked to its own
            st = os.stat(name, dir_fd=d, follow_symlinks=False)
    finally:
        s.close()
    return (st.st_dev, st.st_ino)


def _bind_long(s, d: int, where: bytes, name: str) -> None:
    """Bind ``s`` as ``name`` in directory ``d`` when the /proc/self/fd path would pass
    sun_path (a name the guest's own path fits, as natively): a short temporary name
    first, then a hard link (EEXIST: the name was taken meanwhile, EADDRINUSE)."""
    tmp = f".pyvm-bind-{os.getpid()}-{id(s):x}"
    s.bind(where + tmp.encode())
    try:
        link_nofollow(tmp, name, d, d)
    except FileExistsError:
        raise GuestFileError(errno.EADDRINUSE) from None
    finally:
        os.unlink(tmp, dir_fd=d)


def _addr_bytes(name: bytes) -> bytes:
    """The sockaddr_un of a bound name (an unbound socket's: the family alone)."""
    if name[:1] == b"\0":
        return struct.pack("<H", AF_UNIX) + name
    return struct.pack("<H", AF_UNIX) + name + (b"\0" if name else b"")


def _write_addr(proc, addr: int, lenp: int, name: bytes, unnamed: int = 2) -> None:
    """Store a sockaddr_un and its length; an unbound socket's is the family alone
    (``unnamed`` bytes: recvfrom reports none at all)."""
    if not addr:
        return
    have = s32(struct.unpack("<I", proc.mem.read(lenp, 4))[0])
    if have < 0:
        raise GuestFileError(errno.EINVAL)
    if not name and not unnamed:
        proc.mem.write(lenp, struct.pack("<I", 0))
        return
    if name[:1] == b"\0":
        raw = struct.pack("<H", AF_UNIX) + name
    else:
        raw = struct.pack("<H", AF_UNIX) + name + (b"\0" if name else b"")
    if raw:
        proc.mem.write(addr, raw[:have])
    proc.mem.write(lenp, struct.pack("<I", len(raw)))


def sys_bind(proc, fd, addr, length, *_):
    s = _socket_of(proc, fd)
    name = _read_addr(proc, addr, length)
    table = names(proc.kernel)
    if not name:                                # autobind: an abstract name of 5 hex digits
        if s.name:
            return neg(errno.EINVAL)
        n = next((i for i in range(1, 1 << 20) if ("@", b"\0%05x" % i) not in table), None)
        if n is None:
            return neg(errno.ENOSPC)
        name = b"\0%05x" % n
    if name[:1] == b"\0":
        key = ("@", name)
        if s.name:
            return neg(errno.EINVAL)
        if key in table:
            return neg(errno.EADDRINUSE)
    else:
        host = _key(proc, name, create=True)
        if os.path.lexists(host):               # the node first, as Linux 6 does
            return neg(errno.EADDRINUSE)
        if s.name:
            return neg(errno.EINVAL)
        proc.sandbox.check_write(host)
        with new_inode(proc.kernel.output_budget) as room:   # (vm/diskquota.py)
            if not room:
                return neg(errno.EDQUOT)
            key = _make_node(proc.sandbox, host)
    table[key] = s
    s.name, s.key = name, key
    return 0


def sys_listen(proc, fd, backlog, *_):
    s = _socket_of(proc, fd)
    if not s.connection or s.connected:
        return neg(errno.EOPNOTSUPP if not s.connection else errno.EINVAL)
    if not s.name:
        return neg(errno.EINVAL)
    s.listening = True
    s.max_backlog = min(max(s32(backlog), 0), 4096)
    return 0


def _find(proc, name: bytes, kind: int) -> Socket:
    """The socket bound to ``name``, of type ``kind`` as Linux's unix_find_other: an
    abstract name of another type is not found (ECONNREFUSED), a path is EPROTOTYPE.
    (A datagram sent to a listening stream socket was queued where nothing reads it,
    with the descriptors it carried, until the listener closed.)"""
    try:
        key = _key(proc, name)
    except FileNotFoundError:
        raise GuestFileError(errno.ENOENT) from None
    target = names(proc.kernel).get(key)
    if target is None or target.closed or target.kind != kind and name[:1] == b"\0":
        raise GuestFileError(errno.ECONNREFUSED)
    if target.kind != kind:
        raise GuestFileError(errno.EPROTOTYPE)
    return target


def sys_connect(proc, fd, addr, length, *_):
    s = _socket_of(proc, fd)
    raw_family = struct.unpack("<H", proc.mem.read(addr, 2))[0] if s32(length) >= 2 else -1
    if not s.connection and raw_family == AF_UNSPEC:
        s.peer = None                            # dissolve a datagram association
        return 0
    name = _read_addr(proc, addr, length)
    target = _find(proc, name, s.kind)
    if not s.connection:
        s.peer = target
        return 0
    if s.connected:
        return neg(errno.EISCONN)
    if s.listening:
        return neg(errno.EINVAL)
    if not target.listening:
        return neg(errno.ECONNREFUSED)
    if len(target.backlog) > target.max_backlog:
        if _blocking(s, 0):
            raise WouldBlock                     # until the server accepts one
        return neg(errno.EAGAIN)
    server = Socket(proc.kernel, s.kind, target.creds)
    server.name, server.peer, server.connected = target.name, s, True
    server.peer_creds = _creds(proc)
    s.peer, s.connected, s.peer_creds = server, True, target.creds
    target.backlog.append(server)
    return 0


def sys_accept4(proc, fd, addr, lenp, flags, *_):
    s = _socket_of(proc, fd)
    if flags & ~(SOCK_NONBLOCK | SOCK_CLOEXEC):
        return neg(errno.EINVAL)
    [new] = proc.fds.reserve()              # as Linux: EMFILE leaves the backlog queued
    if not s.listening:
        return neg(errno.EINVAL if s.connection else errno.EOPNOTSUPP)
    if not s.backlog:
        if _blocking(s, 0):
            raise WouldBlock
        return neg(errno.EAGAIN)
    if addr:
        proc.mem.check_write(lenp, 4)
    conn = s.backlog.popleft()
    conn.status_flags = flags & SOCK_NONBLOCK
    proc.fds.install(conn, new, cloexec=bool(flags & SOCK_CLOEXEC))
    peer = conn.peer
    _write_addr(proc, addr, lenp, peer.name if peer is not None else b"")
    return new


def sys_accept(proc, fd, addr, lenp, *_):
    return sys_accept4(proc, fd, addr, lenp, 0)


def sys_getsockname(proc, fd, addr, lenp, *_):
    s = _socket_of(proc, fd)
    _write_addr(proc, addr, lenp, s.name)
    return 0


def sys_getpeername(proc, fd, addr, lenp, *_):
    s = _socket_of(proc, fd)
    if s.peer is None or s.connection and not s.connected:
        return neg(errno.ENOTCONN)
    _write_addr(proc, addr, lenp, s.peer.name)
    return 0


def sys_shutdown(proc, fd, how, *_):
    s = _socket_of(proc, fd)
    if how > 2:
        return neg(errno.EINVAL)
    if s.connection and not s.connected:
        return neg(errno.ENOTCONN)
    bits = how + 1
    s.shut |= bits
    peer = s.peer
    if peer is not None and s.connection:
        if bits & SHUT_WR:
            peer.shut |= SHUT_RD
        if bits & SHUT_RD:
            peer.shut |= SHUT_WR
    return 0


# -- options ---------------------------------------------------------------------------

def sys_getsockopt(proc, fd, level, name, val, lenp, *_):
    s = _socket_of(proc, fd)
    have = s32(struct.unpack("<I", proc.mem.read(lenp, 4))[0])
    if have < 0:
        return neg(errno.EINVAL)
    if level != SOL_SOCKET:
        return neg(errno.EOPNOTSUPP)
    if name == SO_PEERCRED:
        raw = UCRED.pack(*(s.peer_creds if s.connected else (0, 0xFFFFFFFF, 0xFFFFFFFF)))
    elif name in _TIMEOUTS:
        which, layout = _TIMEOUTS[name]
        sec, usec = s.timeouts.get(which, (0, 0))
        if usec == 1:                            # the "no wait at all" mark: 0 jiffies
            sec = usec = 0
        raw = layout.pack(*_wrap(layout, sec, usec))
    elif name == SO_PEERNAME:                    # the peer's address, the buffer no longer
        if s.peer is None or s.connection and not s.connected:
            return neg(errno.ENOTCONN)
        raw = _addr_bytes(s.peer.name)
        if len(raw) < have:
            return neg(errno.EINVAL)
    else:
        fixed = {SO_TYPE: s.kind, SO_ERROR: 0, SO_DOMAIN: AF_UNIX,
                 SO_ACCEPTCONN: int(s.listening)}.get(name)
        try:
            raw = _I.pack(fixed) if fixed is not None else get_option(s, name, have)
        except GuestFileError as e:
            return neg(e.errno)
    proc.mem.write(val, raw[:have])
    proc.mem.write(lenp, struct.pack("<I", min(have, len(raw))))
    return 0


def sys_setsockopt(proc, fd, level, name, val, length, *_):
    s = _socket_of(proc, fd)
    if level != SOL_SOCKET:
        return neg(errno.EOPNOTSUPP)
    if name == SO_BINDTODEVICE:                # as Linux: before the length check
        try:
            set_device(s, s32(length), lambda n: proc.mem.read(val, n))
        except GuestFileError as e:
            return neg(e.errno)
        return 0
    if s32(length) < 4:                        # Linux's checks for every other name
        return neg(errno.EINVAL)
    head = proc.mem.read(val, 4)
    if name in _TIMEOUTS:                      # struct timeval (old or 64-bit)
        which, layout = _TIMEOUTS[name]
        if s32(length) < layout.size:
            return neg(errno.EINVAL)
        sec, usec = layout.unpack(proc.mem.read(val, layout.size))
        if not 0 <= usec < 1_000_000:
            return neg(errno.EDOM)
        s.timeouts[which] = _jiffies(sec, usec)
        return 0
    # only the names Linux knows are recorded (every name a guest gave grew a dict per
    # socket without bound: host memory outside --memory)
    try:
        set_option(s, name, _I.unpack(head)[0], s32(length),
                   lambda n, at=None: proc.mem.read(val if at is None else at, n))
    except GuestFileError as e:
        return neg(e.errno)
    return 0


def _jiffies(sec: int, usec: int) -> tuple:
    """A timeout as Linux keeps it: whole jiffies, usec rounded up; < 0 s: no wait at
    all (1 usec, a mark a rounded value never has); 0 or past the jiffy count: none."""
    if sec < 0:
        return (0, 1)
    HZ = hz()
    if sec >= (2**63 - 1) // HZ - 1:
        return (0, 0)
    ticks = sec * HZ + -(-usec // (1_000_000 // HZ))
    return divmod(ticks, HZ)[0], ticks % HZ * (1_000_000 // HZ)


def _wrap(layout: struct.Struct, sec: int, usec: int) -> tuple:
    """(sec, usec) as a struct timeval of ``layout``'s field width (32-bit: wrapped)."""
    if layout.size == 8:
        sec = (sec + 2**31) % 2**32 - 2**31
    return sec, usec


# -- data ------------------------------------------------------------------------------

def _iov(proc, iov: int, iovcnt: int) -> list:
    if iovcnt > 1024:
        raise GuestFileError(errno.EMSGSIZE)
    return [abi.IOVEC.unpack(proc.mem.read(iov + 8 * i, 8)) for i in range(iovcnt)]


def _blocking(s: Socket, flags: int) -> bool:
    return not flags & MSG_DONTWAIT and not s.status_flags & abi.O_NONBLOCK


def _rights(proc, control: int, length: int) -> list:
    """The open files an SCM_RIGHTS control message passes (EBADF for a bad one)."""
    files: list = []
    pos = 0
    length = min(length, 1 << 16)
    raw = proc.mem.read(control, length) if length else b""
    while pos + CMSGHDR.size <= length:
        clen, level, kind = CMSGHDR.unpack_from(raw, pos)
        if clen < CMSGHDR.size or pos + clen > length:
            raise GuestFileError(errno.EINVAL)
        if level == SOL_SOCKET and kind == SCM_RIGHTS:
            count = (clen - CMSGHDR.size) // 4
            if len(files) + count > MAX_FDS:
                raise GuestFileError(errno.EINVAL)
            for i in range(count):
                files.append(proc.fds.get(_I.unpack_from(raw, pos + 12 + 4 * i)[0]))
        elif level != SOL_SOCKET or kind != SCM_CREDENTIALS:
            raise GuestFileError(errno.EINVAL)
        pos += (clen + 3) & ~3
    return files


def _deadline(proc, s: Socket, which: int) -> Optional[float]:
    """The end of a blocking call's wait under SO_RCVTIMEO/SO_SNDTIMEO (None: no limit)."""
    sec, usec = s.timeouts.get(which, (0, 0))
    return deadline_of(proc, sec + usec / 1e6) if sec or usec else None


def _timed_out(proc, deadline: Optional[float]) -> bool:
    if deadline is not None and time.monotonic() >= deadline:
        proc.deadline = None
        return True
    return False


def _send(proc, fd: int, data: bytes, flags: int, dest: bytes = b"",
          files: tuple = ()) -> int:
    s = _socket_of(proc, fd)
    target = _find(proc, dest, s.kind) if dest and not s.connection else None
    if dest and s.connection:                # (Linux: a seqpacket one ignores it)
        if s.kind == SOCK_SEQPACKET and not s.connected:
            return neg(errno.ENOTCONN)
        if s.kind == SOCK_STREAM:
            return neg(errno.EISCONN if s.connected else errno.EOPNOTSUPP)
    nosignal = bool(flags & MSG_NOSIGNAL)
    blocking = _blocking(s, flags)
    deadline = _deadline(proc, s, SO_SNDTIMEO) if blocking else None
    try:
        if s.stream and not files:          # blocks until every byte is queued
            return write_all(proc, s, data,
                             lambda chunk: s.send(chunk, [], target, nosignal, proc),
                             blocking, deadline)
        return s.send(data, list(files), target, nosignal, proc)
    except GuestFileError as e:
        if e.errno == errno.EAGAIN and blocking and not _timed_out(proc, deadline):
            raise WouldBlock(deadline) from None
        raise


def sys_sendto(proc, fd, buf, length, flags, addr, addrlen):
    data = proc.mem.read(buf, min(length, WRITE_MAX))
    dest = _read_addr(proc, addr, addrlen) if addr else b""
    return _send(proc, fd, data, flags, dest)


def sys_send(proc, fd, buf, length, flags, *_):
    return sys_sendto(proc, fd, buf, length, flags, 0, 0)


def sys_sendmsg(proc, fd, msg, flags, *_):
    name, namelen, iov, iovlen, control, controllen, _f = \
        MSGHDR.unpack(proc.mem.read(msg, MSGHDR.size))
    data = bytearray()
    for base, n in _iov(proc, iov, iovlen):
        data += proc.mem.read(base, min(n, WRITE_MAX - len(data)))
    dest = _read_addr(proc, name, namelen) if name and namelen else b""
    files = _rights(proc, control, controllen) if control and controllen else []
    return _send(proc, fd, bytes(data), flags, dest, tuple(files))


def _recv(proc, s: Socket, n: int, flags: int) -> tuple:
    try:
        return s.recv(n, flags)
    except GuestFileError as e:
        if e.errno == errno.EAGAIN and _blocking(s, flags):
            deadline = _deadline(proc, s, SO_RCVTIMEO)
            if not _timed_out(proc, deadline):
                raise WouldBlock(deadline) from None
        raise


def _check_buffers(proc, s: Socket, vecs: list, n: int, flags: int) -> int:
    """How many of ``n`` bytes the recv takes: EFAULT before anything is taken when the
    bytes a recv would store do not fit where the guest points: a stream keeps its data
    (and descriptors) queued, a datagram is dropped with its descriptors closed, as
    Linux's recvmsg. (Taken first, the data was lost and the descriptors in flight never
    released: a pipe end sent that way was never closed.) As Linux, the bytes before the
    fault are stored all the same, and a stream whose fault lies in a later message
    gives the whole messages before it (unix_stream_read_generic: EFAULT only when
    nothing was copied)."""
    want, pos = s.next_length(n), 0
    for i, (base, size) in enumerate(vecs):
        if pos >= want:
            return n
        try:
            proc.mem.check_write(base, min(size, want - pos))
        except proc.memory_errors:
            data = s.recv(want, MSG_PEEK)[0]
            at = 0
            for earlier, room in vecs[:i]:      # checked: whole
                proc.mem.write(earlier, data[at:at + room])
                at += room
            stored = at + _write_prefix(proc, base, data[at:want])
            whole = s.whole_messages(stored) if s.stream else 0
            if whole:
                return whole
            if not s.stream and not flags & MSG_PEEK:
                _release(s.pop().fds)
            raise
        pos += size
    return n


def _write_prefix(proc, base: int, data: bytes) -> int:
    """Store ``data`` at ``base`` up to its first unwritable page; the bytes stored."""
    done = 0
    while done < len(data):
        step = min(len(data) - done, abi.PAGE - (base + done) % abi.PAGE)
        try:
            proc.mem.check_write(base + done, step)
        except proc.memory_errors:
            break
        proc.mem.write(base + done, data[done:done + step])
        done += step
    return done


def _fd_slots(proc, control: int, want: int) -> int:
    """How many of ``want`` descriptor numbers Linux's scm_detach_fds stores in a control
    buffer: it installs them one by one and stops at the first unwritable slot (the
    header is written last; if it cannot be, none)."""
    for k in range(want, -1, -1):
        try:
            proc.mem.check_write(control, CMSGHDR.size + 4 * k)
            return k
        except proc.memory_errors:
            pass
    return 0


def sys_recvfrom(proc, fd, buf, length, flags, addr, lenp):
    s = _socket_of(proc, fd)
    length = min(length, 1 << 20)
    length = _check_buffers(proc, s, [(buf, length)], length, flags)
    data, files, sender, full = _recv(proc, s, length, flags)
    _release(files)
    proc.mem.write(buf, data)
    if addr:
        _write_addr(proc, addr, lenp, sender, unnamed=0)
    return full if flags & MSG_TRUNC and not s.stream else len(data)


def sys_recv(proc, fd, buf, length, flags, *_):
    return sys_recvfrom(proc, fd, buf, length, flags, 0, 0)


def sys_recvmsg(proc, fd, msg, flags, *_):
    s = _socket_of(proc, fd)
    name, namelen, iov, iovlen, control, controllen, _f = \
        MSGHDR.unpack(proc.mem.read(msg, MSGHDR.size))
    proc.mem.check_write(msg, MSGHDR.size)
    vecs = _iov(proc, iov, iovlen)
    total = min(sum(n for _b, n in vecs), 1 << 20)
    total = _check_buffers(proc, s, vecs, total, flags)
    data, files, sender, full = _recv(proc, s, total, flags)
    pos = 0
    for base, n in vecs:
        if pos >= len(data):
            break
        proc.mem.write(base, data[pos:pos + n])
        pos += n
    out_flags = MSG_TRUNC if not s.stream and full > len(data) else 0
    used = 0
    if files:
        room = (controllen - CMSGHDR.size) // 4 if control else 0
        # as many as it can write (a control buffer running into an unmapped page)
        room = _fd_slots(proc, control, min(room, len(files))) if room > 0 else 0
        # as Linux's scm_detach_fds: the descriptors that fit in the buffer and under
        # the limit are installed, the others dropped with MSG_CTRUNC (the data stays read)
        numbers = proc.fds.free_numbers(max(min(room, len(files)), 0))
        take = files[:len(numbers)]
        if take:
            cloexec = bool(flags & MSG_CMSG_CLOEXEC)
            fds = [proc.fds.install(f, fd, cloexec=cloexec) for f, fd in zip(take, numbers)]
            clen = CMSGHDR.size + 4 * len(fds)
            proc.mem.write(control, CMSGHDR.pack(clen, SOL_SOCKET, SCM_RIGHTS) +
                           struct.pack(f"<{len(fds)}i", *fds))
            used = (clen + 3) & ~3
        if len(take) < len(files):
            out_flags |= MSG_CTRUNC
        _release(files)
    # the sender's address last, as Linux's ___sys_recvmsg: an unwritable msg_name is
    # EFAULT with the message taken and its descriptors installed (before, they were
    # neither installed nor released: a pipe end sent that way stayed open for the run)
    if name and namelen:
        raw = b""
        if sender:
            raw = struct.pack("<H", AF_UNIX) + sender + (b"\0" if sender[:1] != b"\0"
                                                          else b"")
            proc.mem.write(name, raw[:namelen])
        namelen = len(raw)
    proc.mem.write(msg + 4, struct.pack("<I", namelen if name else 0))
    proc.mem.write(msg + 20, struct.pack("<Ii", min(used, controllen), out_flags))
    return full if flags & MSG_TRUNC and not s.stream else len(data)


MMSGHDR_SIZE = MSGHDR.size + 4         # struct mmsghdr: a msghdr and its msg_len
UIO_MAXIOV = 1024                      # most messages one sendmmsg/recvmmsg takes
MSG_WAITFORONE = 0x10000


def sys_sendmmsg(proc, fd, mmsg, vlen, flags, *_):
    """sendmsg per message, each's count in its msg_len; an error after some messages
    went is their count (Linux's __sys_sendmmsg). The descriptor is judged first."""
    _socket_of(proc, fd)
    sent = 0
    for i in range(min(vlen, UIO_MAXIOV)):
        hdr = mmsg + MMSGHDR_SIZE * i
        try:
            n = sys_sendmsg(proc, fd, hdr, flags)
        except (GuestFileError, WouldBlock):
            if sent:
                return sent
            raise
        if n < 0:
            return sent or n
        proc.mem.write(hdr + MSGHDR.size, struct.pack("<I", n))
        sent += 1
    return sent


def sys_recvmmsg(proc, fd, mmsg, vlen, flags, timeout, *_):
    """recvmsg per message, each's count in its msg_len, as Linux's do_recvmmsg: it
    waits for ``vlen`` messages (MSG_WAITFORONE: for the first only), and the timeout
    (a time32 timespec) is checked after each message, never during a wait (Linux's
    documented bug); what is left of it is written back. While it waits for a later
    message the count so far is kept in ``proc.partial`` (a signal returns it)."""
    end = None
    if timeout:                                 # EFAULT first, as Linux's get_timespec
        sec, nsec = struct.unpack("<ii", proc.mem.read(timeout, 8))
        if sec < 0 or not 0 <= nsec < 1_000_000_000:
            return neg(errno.EINVAL)
    _socket_of(proc, fd)
    got = 0
    key = ("recvmmsg", fd, mmsg, vlen, flags, timeout)
    if proc.partial is not None and proc.partial[0] == key and proc.state == "blocked":
        got, end = proc.partial[1], proc.partial[2]
    elif timeout:
        end = time.monotonic() + sec + nsec / 1e9
    proc.partial = None
    n = 0
    while got < min(vlen, UIO_MAXIOV):
        hdr = mmsg + MMSGHDR_SIZE * got
        waitforone = MSG_DONTWAIT if got and flags & MSG_WAITFORONE else 0
        try:
            n = sys_recvmsg(proc, fd, hdr, (flags & ~MSG_WAITFORONE) | waitforone)
        except WouldBlock:
            if got:                             # waiting for one more
                proc.partial = (key, got, end)
            raise
        except GuestFileError:
            if got:
                break
            raise
        if n < 0:
            if got:
                break
            return n
        proc.mem.write(hdr + MSGHDR.size, struct.pack("<I", n))
        got += 1
        proc.deadline = None                    # (SO_RCVTIMEO times each message's wait)
        if end is not None and time.monotonic() >= end:
            break
    if end is not None and got:
        left = max(0.0, end - time.monotonic())
        sec = int(left)
        proc.mem.write(timeout, struct.pack("<ii", sec, int((left - sec) * 1e9)))
    return got


# -- the two ways in: direct numbers and socketcall --------------------------------------

CALLS = {
    1: (sys_socket, 3), 2: (sys_bind, 3), 3: (sys_connect, 3), 4: (sys_listen, 2),
    5: (sys_accept, 3), 6: (sys_getsockname, 3), 7: (sys_getpeername, 3),
    8: (sys_socketpair, 4), 9: (sys_send, 4), 10: (sys_recv, 4), 11: (sys_sendto, 6),
    12: (sys_recvfrom, 6), 13: (sys_shutdown, 2), 14: (sys_setsockopt, 5),
    15: (sys_getsockopt, 5), 16: (sys_sendmsg, 3), 17: (sys_recvmsg, 3),
    18: (sys_accept4, 4), 19: (sys_recvmmsg, 5), 20: (sys_sendmmsg, 4),
}
DIRECT = {359: 1, 360: 8, 361: 2, 362: 3, 363: 4, 364: 18, 365: 15, 366: 14, 367: 6,
          368: 7, 369: 11, 370: 16, 371: 12, 372: 17, 373: 13, 337: 19, 345: 20}


@syscall(102)
def sys_socketcall(proc, call, args, *_):
    entry = CALLS.get(call)
    if entry is None:
        return neg(errno.EINVAL)
    fn, argc = entry
    values = struct.unpack(f"<{argc}I", proc.mem.read(args, 4 * argc))
    return fn(proc, *values, *([0] * (6 - argc)))


for _nr, _call in DIRECT.items():
    _fn = CALLS[_call][0]
    syscall(_nr, _fn.__name__.removeprefix("sys_"))(_fn)

