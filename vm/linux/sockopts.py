"""SOL_SOCKET options of an AF_UNIX socket, as Linux 6.x answers them.

The table comes from a native probe of every name 0..80 on stream and datagram sockets
(set with a 4- and an 8-byte value, got with 4 and 16 bytes; tests/security/
redteam31_mend.c). Values are recorded and given back; apart from the timeouts (kept by
sockets.py) none changes how a socket behaves. Only the names below are kept, so a guest
cannot grow a socket's record without bound by naming options.
"""

from __future__ import annotations

import errno
import itertools
import struct

from vm.linux.cbpf import program_ok
from vm.linux.files import GuestFileError

_I = struct.Struct("<i")
_II = struct.Struct("<ii")


def _host_hz() -> int:
    """The host kernel's jiffies per second (timeouts and SO_LINGER are kept in jiffies):
    a 1-microsecond receive timeout on a host socket reads back as one jiffy. 250 (a
    common CONFIG_HZ) when the host will not say."""
    import socket
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, struct.pack("@ll", 0, 1))
            sec, usec = struct.unpack("@ll", s.getsockopt(socket.SOL_SOCKET,
                                                          socket.SO_RCVTIMEO, 16))
    except (OSError, AttributeError, struct.error):
        return 250
    return round(1_000_000 / usec) if sec == 0 and 0 < usec <= 1_000_000 // 24 else 250


_HZ: list = []


def hz() -> int:
    """Jiffies per second (timeouts, SO_LINGER), asked of the host at the first use:
    the socket module is not imported by a run that never sets a timeout."""
    if not _HZ:
        _HZ.append(_host_hz())
    return _HZ[0]
SO_LINGER, SO_BINDTODEVICE, SO_ATTACH_FILTER = 13, 25, 26
# int options stored as a bool, and those stored as given (name -> default)
_BOOLS = frozenset({1, 2, 5, 6, 9, 10, 11, 16, 34, 40, 41, 43, 44, 45, 69, 75, 76})
_RAW = {12: 0, 36: 0, 42: -1, 46: 0, 49: -1, 62: 0, 72: 0}
# names a set accepts and ignores (SO_BSDCOMPAT, SO_CNX_ADVICE); names only read
_IGNORED = frozenset({14, 53})
_READ_ONLY = {14: 0, 15: 0, 19: 1, 38: 0, 48: 0x40, 56: 0, 60: 0, 73: 0, 4: 0}
_SET_ERRORS = {27: errno.ENOENT, 50: errno.EINVAL, 52: errno.EINVAL, 68: errno.EINVAL,
               60: errno.EOPNOTSUPP, 73: errno.EOPNOTSUPP, 74: errno.EOPNOTSUPP,
               80: errno.EBADF}
_GET_ERRORS = {74: errno.EOPNOTSUPP}
# SO_TIMESTAMP(NS)_OLD/_NEW: name -> (nanoseconds, new)
_STAMPS = {29: (False, False), 35: (True, False), 63: (False, True), 64: (True, True)}
_TSTAMPING = (37, 65)                      # SO_TIMESTAMPING_OLD/_NEW: one flags word
_BUFS = {7: 4608, 8: 2304, 32: 4608, 33: 2304}   # SOCK_MIN_SNDBUF / SOCK_MIN_RCVBUF
SOCK_BUF = 212992                          # net.core.wmem_default / rmem_default
_COOKIES = itertools.count(1)              # SO_COOKIE: given on first ask


def _sysctl(name: str, default: int) -> int:
    try:
        with open(f"/proc/sys/net/core/{name}") as f:
            return int(f.read())
    except (OSError, ValueError):
        return default


_BUF_MAX: dict = {}                         # net.core.wmem_max / rmem_max, read at first use


def _buf_max(name: int) -> int:
    if not _BUF_MAX:
        _BUF_MAX.update({7: _sysctl("wmem_max", 212992), 8: _sysctl("rmem_max", 212992)})
    return _BUF_MAX[name]


def set_option(s, name: int, val: int, length: int, read) -> None:
    """setsockopt(SOL_SOCKET, name) after Linux's common checks (length >= 4, the int
    ``val`` read); ``read(n)`` reads the first n bytes of the value (``read(n, addr)``
    guest memory elsewhere). GuestFileError for
    a refusal (ENOPROTOOPT for a name Linux does not know on AF_UNIX)."""
    opts = s.options
    if name in _BOOLS:
        opts[name] = int(val != 0)
    elif name in _RAW:
        if name in (46, 62) and val < 0 or name == 72 and val & ~3:
            raise GuestFileError(errno.EINVAL)
        opts[name] = val
    elif name in _BUFS:               # doubled (skb overhead), the unforced ones capped
        if name in (7, 8):
            val = min(val & 0xFFFFFFFF, _buf_max(name))
        key = 7 if name in (7, 32) else 8
        opts[key] = max(min(max(val, 0), 0x3FFFFFFF) * 2, _BUFS[name])
    elif name == 18:                  # SO_RCVLOWAT: 0 means 1, < 0 no limit
        opts[name] = 0x7FFFFFFF if val < 0 else val or 1
    elif name in _STAMPS:
        new = _STAMPS[name][1] if val else opts.get("stamp", (None, False))[1]
        opts["stamp"] = (_STAMPS[name] if val else None, new)
    elif name in _TSTAMPING:
        flags = _II.unpack(read(8))[0] if length == 8 else val
        if flags & ~0x7FFFF or flags & 1 << 12 and not flags & 1 << 11 or \
                flags & 1 << 16 and not flags & 1 << 7:
            raise GuestFileError(errno.EINVAL)
        if flags & 1 << 15:           # SOF_TIMESTAMPING_BIND_PHC: no clock to bind
            raise GuestFileError(errno.EOPNOTSUPP)
        opts[37] = flags & 0xFFFFFFFF
        opts["stamp"] = (opts.get("stamp", (None, False))[0], name == 65)
    elif name == SO_LINGER:
        if length < 8:
            raise GuestFileError(errno.EINVAL)
        onoff, secs = _II.unpack(read(8))
        if secs < 0:                  # (unsigned long) of it: MAX_SCHEDULE_TIMEOUT jiffies
            secs = _I.unpack(struct.pack("<I", (2**63 - 1) // hz() & 0xFFFFFFFF))[0]
        opts[name] = (int(onoff != 0), secs if onoff else opts.get(name, (0, 0))[1])
    elif name == 47:                  # SO_MAX_PACING_RATE: an unsigned long
        rate = val & 0xFFFFFFFF
        rate = 2**64 - 1 if rate == 0xFFFFFFFF else rate
        opts[name] = struct.unpack("<Q", read(8))[0] if length >= 8 else rate
    elif name == 61:                  # SO_TXTIME: struct sock_txtime
        if length != 8:
            raise GuestFileError(errno.EINVAL)
        clock, flags = _II.unpack(read(8))
        if flags & ~3 or clock not in (0, 1, 11):
            raise GuestFileError(errno.EINVAL)
        opts[name] = (clock, flags)
    elif name == 70:                  # SO_BUSY_POLL_BUDGET: a u16, not read back
        if not 0 <= val <= 0xFFFF:
            raise GuestFileError(errno.EINVAL)
    elif name in (SO_ATTACH_FILTER, 51):   # a struct sock_fprog (32-bit: 8 bytes)
        if length != 8:
            raise GuestFileError(errno.EINVAL)
        count, where = struct.unpack("<HxxI", read(8))
        if not 0 < count <= 4096 or not where:
            raise GuestFileError(errno.EINVAL)
        raw = read(8 * count, where)  # the whole program: EFAULT if unreadable
        if not program_ok(raw):       # Linux's checks (bpf_check_classic)
            raise GuestFileError(errno.EINVAL)
        if name == 51:                # SO_REUSEPORT on AF_UNIX: nothing to attach to
            raise GuestFileError(errno.EINVAL)
        opts[name] = count            # checked as Linux does; it filters nothing
    elif name == 27:                  # SO_DETACH_FILTER
        if opts.pop(SO_ATTACH_FILTER, None) is None:
            raise GuestFileError(errno.ENOENT)
    elif name == 15:                  # SO_REUSEPORT: only inet sockets may have it
        if val:
            raise GuestFileError(errno.EOPNOTSUPP)
    elif name in _SET_ERRORS:
        raise GuestFileError(_SET_ERRORS[name])
    elif name not in _IGNORED:
        raise GuestFileError(errno.ENOPROTOOPT)


def set_device(s, length: int, read) -> None:
    """SO_BINDTODEVICE: a name of up to 15 bytes; "" unbinds, only "lo" exists here."""
    if length < 0:
        raise GuestFileError(errno.EINVAL)
    dev = read(min(length, 15)).split(b"\0", 1)[0] if length else b""
    if dev and dev != b"lo":
        raise GuestFileError(errno.ENODEV)
    s.options[SO_BINDTODEVICE] = dev


def get_option(s, name: int, have: int) -> bytes:
    """getsockopt(SOL_SOCKET, name) into ``have`` bytes: the value's bytes (the caller
    gives back at most ``have`` of them) or GuestFileError."""
    opts = s.options
    if name in _BOOLS or name in _RAW:
        return _I.pack(opts.get(name, _RAW.get(name, 0)))
    if name in (7, 8):
        return _I.pack(opts.get(name, SOCK_BUF))
    if name == 18:
        return _I.pack(opts.get(name, 1))
    if name in _STAMPS:
        kind, new = opts.get("stamp", (None, False))
        return _I.pack(int(kind is not None and (kind[0], new) == _STAMPS[name]))
    if name in _TSTAMPING:
        return _II.pack(opts.get(37, 0), 0)
    if name == SO_LINGER:
        onoff, secs = opts.get(name, (0, 0))
        return _II.pack(onoff, secs)
    if name == 47:
        rate = opts.get(name, 2**64 - 1)
        return struct.pack("<Q", rate) if have >= 8 else struct.pack("<I", min(rate, 2**32 - 1))
    if name == 61:
        return _II.pack(*opts.get(name, (0, 0)))
    if name == SO_BINDTODEVICE:
        dev = opts.get(name, b"")
        if dev and have < 16:          # Linux asks room for IFNAMSIZ once bound
            raise GuestFileError(errno.EINVAL)
        return dev + b"\0" if dev else b""
    if name == SO_ATTACH_FILTER:      # SO_GET_FILTER: no filter shown
        return b""
    if name == 55:                    # SO_MEMINFO: nine u32, the buffer sizes filled
        rcv, snd = get_option(s, 8, 4), get_option(s, 7, 4)
        return bytes(4) + rcv + bytes(4) + snd + bytes(20)
    if name == 57:                    # SO_COOKIE: a u64 number, fixed on first ask
        if have < 8:
            raise GuestFileError(errno.EINVAL)
        if 57 not in opts:
            opts[57] = next(_COOKIES)
        return struct.pack("<Q", opts[57])
    if name == 71:                    # SO_NETNS_COOKIE: exactly a u64; the one namespace
        if have != 8:
            raise GuestFileError(errno.EINVAL)
        return struct.pack("<Q", 1)
    if name in (59, 77):              # SO_PEERGROUPS / SO_PEERPIDFD
        if not s.connected or name == 77:
            raise GuestFileError(errno.ENODATA)
        return b""                    # no supplementary groups
    if name in _READ_ONLY:
        return _I.pack(_READ_ONLY[name])
    raise GuestFileError(_GET_ERRORS.get(name, errno.ENOPROTOOPT))
