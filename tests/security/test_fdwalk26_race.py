"""Every call that changes the file system acts on what the sandbox checked, not on a
path: a concurrent actor (a forked guest in another host thread, a second run sharing
the writable directory) that swaps a directory for a symlink to an outside directory
between the lookup and the call must not redirect the call outside.

The race is made deterministic through the Sandbox API: the sandbox's ``lookup`` is
wrapped so that, right after it returns its (correct) answer, the directory ``d`` of
the writable tree is renamed away and replaced by a symlink to ``outside``, which holds
files and directories of the same names. The oracle is the host file system: the
outside tree must be exactly as it was (contents, modes, times, entries), and the guest
gets an error (never a success that wrote somewhere else).

``d`` is swapped either as the last directory of the path (``d/NAME``: the verified
directory open refuses a symlink, ENOTDIR) or as an intermediate one (``d/sub/NAME``:
the directory opened is not the one checked, EAGAIN)."""

from __future__ import annotations

import errno
import os
import socket
import struct
import time
from types import SimpleNamespace

import pytest

from vm.linux import fscalls, sockets, syscalls
from vm.linux.abi import AT_FDCWD
from vm.linux.files import GuestFileError
from vm.sandbox import Sandbox

O_WRONLY, O_CREAT, O_TRUNC = 0o1, 0o100, 0o1000


class Fds:
    def __init__(self):
        self.files: dict = {}
        self.opening: dict = {}         # FdTable's FIFO opens in progress

    def reserve(self, count: int = 1, start: int = 0) -> list:      # (no limit)
        return [3 + len(self.files) + i for i in range(count)]

    def install(self, f, cloexec: bool = False) -> int:
        n = 3 + len(self.files)
        self.files[n] = f
        return n

    def get(self, n: int):
        if n not in self.files:
            raise GuestFileError(errno.EBADF)
        return self.files[n]


class Mem:
    """Guest memory of the fake process: strings and structs at made-up addresses."""

    def __init__(self):
        self.blobs: dict = {}

    def put(self, data: bytes) -> int:
        addr = 0x1000 * (1 + len(self.blobs))
        self.blobs[addr] = data
        return addr

    def read(self, addr: int, n: int) -> bytes:
        return self.blobs[addr][:n]

    def write(self, addr: int, data: bytes) -> None:
        pass

    def check_write(self, addr: int, n: int) -> None:
        pass


class Guest(SimpleNamespace):
    def __init__(self, sb: Sandbox):
        super().__init__(sandbox=sb, umask=0o022, pid=1, fds=Fds(), mem=Mem(),
                         kernel=SimpleNamespace(output_budget=None), rlimits={})

    def s(self, text: str) -> int:
        return self.mem.put(os.fsencode(text) + b"\0")

    def read_cstr(self, addr: int) -> bytes:
        return self.mem.blobs[addr].split(b"\0")[0]

    def call(self, fn, *args) -> int:
        """The guest's result: a negative errno as the syscall layer returns it."""
        try:
            r = fn(self, *args)
        except OSError as e:
            return -e.errno
        return r if r is not None else 0


def _fill(top, tag: str) -> None:
    for d in (top, top / "sub"):
        d.mkdir(parents=True, exist_ok=True)
        (d / "f").write_text(tag)
        (d / "victim").write_text(tag)
        (d / "subdir").mkdir(exist_ok=True)
        (d / "ln").symlink_to(tag)


def _snapshot(top) -> dict:
    got = {}
    for dirpath, dirs, files in os.walk(top):
        for name in dirs + files:
            p = os.path.join(dirpath, name)
            st = os.lstat(p)
            body = open(p, "rb").read() if os.path.isfile(p) else None
            got[os.path.relpath(p, top)] = (st.st_mode, st.st_size, st.st_mtime_ns,
                                            st.st_ctime_ns, st.st_nlink, body)
    return got


@pytest.fixture()
def racy(tmp_path):
    """(guest, arm(): swap d for a symlink after the next lookup of a path in it,
    outside snapshot())."""
    work, outside = tmp_path / "work", tmp_path / "outside"
    _fill(work / "d", "inside")
    _fill(outside, "outside")
    sb = Sandbox(cwd=str(work), hidden=(), protected=())
    guest = Guest(sb)
    real_lookup = sb.lookup

    def arm() -> None:
        def lookup(*args, **kw):
            answer = real_lookup(*args, **kw)
            if args[0].startswith("d/") and not (work / "d").is_symlink():
                os.rename(work / "d", work / "d.old")
                os.symlink(outside, work / "d")
            return answer
        sb.lookup = lookup

    time.sleep(0.02)                # a change made by a redirected call shows in the times
    return guest, arm, lambda: _snapshot(outside)


DEPTHS = [("d/", errno.ENOTDIR), ("d/sub/", errno.EAGAIN)]


def _race(racy, prefix, act):
    guest, arm, outside = racy
    before = outside()
    arm()
    r = act(guest, prefix)
    assert outside() == before, "the call reached the outside tree"
    return r


CALLS = {
    "open O_CREAT|O_TRUNC of an existing file": lambda g, p: g.call(
        syscalls._open, AT_FDCWD, p + "f", O_WRONLY | O_CREAT | O_TRUNC, 0o644),
    "open O_CREAT of a new file": lambda g, p: g.call(
        syscalls._open, AT_FDCWD, p + "new", O_WRONLY | O_CREAT, 0o644),
    "open O_TRUNC": lambda g, p: g.call(syscalls._open, AT_FDCWD, p + "f", O_WRONLY | O_TRUNC, 0),
    "open for writing": lambda g, p: g.call(syscalls._open, AT_FDCWD, p + "f", O_WRONLY, 0),
    "mkdir": lambda g, p: g.call(syscalls.sys_mkdir, g.s(p + "newdir"), 0o755),
    "unlink": lambda g, p: g.call(syscalls.sys_unlink, g.s(p + "victim")),
    "rmdir": lambda g, p: g.call(syscalls.sys_rmdir, g.s(p + "subdir")),
    "rename from": lambda g, p: g.call(syscalls.sys_rename, g.s(p + "victim"), g.s("moved")),
    "rename over": lambda g, p: g.call(syscalls.sys_rename, g.s("keep"), g.s(p + "victim")),
    "rename into": lambda g, p: g.call(syscalls.sys_rename, g.s("keep"), g.s(p + "new")),
    "renameat2 noreplace": lambda g, p: g.call(
        syscalls.sys_renameat2, AT_FDCWD, g.s("keep"), AT_FDCWD, g.s(p + "new"), 1),
    "link": lambda g, p: g.call(fscalls.sys_link, g.s("keep"), g.s(p + "new")),
    "symlink": lambda g, p: g.call(syscalls.sys_symlink, g.s("/etc"), g.s(p + "new")),
    "chmod": lambda g, p: g.call(syscalls.sys_chmod, g.s(p + "f"), 0o600),
    "fchmodat": lambda g, p: g.call(syscalls.sys_fchmodat, AT_FDCWD, g.s(p + "f"), 0o600),
    "chown": lambda g, p: g.call(fscalls.sys_chown32, g.s(p + "f"), os.getuid(), os.getgid()),
    "lchown": lambda g, p: g.call(fscalls.sys_lchown32, g.s(p + "f"), os.getuid(), os.getgid()),
    "utimensat now": lambda g, p: g.call(syscalls.sys_utimensat, AT_FDCWD, g.s(p + "f"), 0, 0),
    "utimensat times": lambda g, p: g.call(
        syscalls.sys_utimensat, AT_FDCWD, g.s(p + "f"), g.mem.put(struct.pack("<4l", 1, 0, 2, 0)),
        0),
    "truncate": lambda g, p: g.call(fscalls.sys_truncate, g.s(p + "f"), 1),
}


@pytest.mark.parametrize("prefix,err", DEPTHS, ids=["last", "intermediate"])
@pytest.mark.parametrize("name", list(CALLS))
def test_a_swapped_directory_redirects_no_change(racy, prefix, err, name):
    guest = racy[0]
    keep = os.path.join(guest.sandbox.writable[0], "keep")
    with open(keep, "w") as f:
        f.write("mine")
    r = _race(racy, prefix, CALLS[name])
    assert r == -err, (name, r)


READS = {
    "stat": lambda g, p: g.call(syscalls.sys_stat64, g.s(p + "f"), g.mem.put(b"")),
    "readlink": lambda g, p: g.call(syscalls.sys_readlink, g.s(p + "ln"), g.mem.put(b""), 64),
    "access": lambda g, p: g.call(syscalls.sys_access, g.s(p + "f"), 4),
}


@pytest.mark.parametrize("prefix,err", DEPTHS, ids=["last", "intermediate"])
@pytest.mark.parametrize("name", list(READS))
def test_a_swapped_directory_shows_nothing_outside(racy, prefix, err, name):
    """Reads by name (stat, readlink, access) through a swapped directory answer with an
    error, not with the outside object's status or link."""
    assert _race(racy, prefix, READS[name]) == -err


@pytest.mark.parametrize("prefix,err", DEPTHS, ids=["last", "intermediate"])
def test_bind_of_a_unix_path_in_a_swapped_directory(racy, prefix, err):
    def act(g, p):
        fd = g.call(sockets.sys_socket, socket.AF_UNIX, socket.SOCK_STREAM, 0)
        addr = struct.pack("<H", socket.AF_UNIX) + os.fsencode(p + "sock") + b"\0"
        return g.call(sockets.sys_bind, fd, g.mem.put(addr), len(addr))
    assert _race(racy, prefix, act) == -err


def test_without_a_race_the_calls_act(racy):
    """The same calls on the unswapped tree do what they say (the race tests' errors are
    the swap's, not a call that never works)."""
    guest, _arm, _outside = racy
    work = guest.sandbox.writable[0]
    with open(os.path.join(work, "keep"), "w") as f:
        f.write("mine")
    assert guest.call(syscalls._open, AT_FDCWD, "d/f", O_WRONLY | O_TRUNC, 0) > 0
    assert os.path.getsize(os.path.join(work, "d/f")) == 0
    assert guest.call(syscalls.sys_mkdir, guest.s("d/newdir"), 0o755) == 0
    assert guest.call(syscalls.sys_unlink, guest.s("d/victim")) == 0
    assert guest.call(syscalls.sys_chmod, guest.s("d/sub/f"), 0o600) == 0
    assert os.stat(os.path.join(work, "d/sub/f")).st_mode & 0o777 == 0o600
    assert guest.call(fscalls.sys_truncate, guest.s("d/sub/victim"), 2) == 0
    assert os.path.getsize(os.path.join(work, "d/sub/victim")) == 2
    assert guest.call(fscalls.sys_link, guest.s("keep"), guest.s("d/k2")) == 0
    assert guest.call(syscalls.sys_rename, guest.s("d/k2"), guest.s("d/sub/k3")) == 0
    assert open(os.path.join(work, "d/sub/k3")).read() == "mine"
    assert sorted(os.listdir(os.path.join(work, "d"))) == ["f", "ln", "newdir", "sub",
                                                          "subdir"]
    for name, call in READS.items():
        assert call(guest, "d/") >= 0, name


@pytest.mark.parametrize("prefix", ["d/", "d/sub/"], ids=["last", "intermediate"])
@pytest.mark.parametrize("flags", [os.O_RDWR | os.O_CREAT | os.O_TRUNC, os.O_RDWR],
                         ids=["create", "open"])
def test_dos_file_calls_in_a_swapped_directory(tmp_path, prefix, flags):
    """The DOS personality's create (int 21h 3Ch: O_CREAT|O_TRUNC) and open for writing
    through the same sandbox: a swapped directory gets a DOS error, and the outside file
    is neither truncated nor written."""
    from vm.dos.kernel import DOSSystem
    from vm.pc.services import DosError
    work, outside = tmp_path / "work", tmp_path / "outside"
    _fill(work / "d", "inside")
    _fill(outside, "outside")
    dos = DOSSystem.__new__(DOSSystem)
    dos.sandbox = Sandbox(root=str(work), cwd=str(work), hidden=(), protected=())
    dos.handles = [None] * 8
    real = dos.sandbox.lookup

    def lookup(*args, **kw):
        answer = real(*args, **kw)
        if args[0] == "/" + prefix + "f" and not (work / "d").is_symlink():
            os.rename(work / "d", work / "d.old")
            os.symlink(outside, work / "d")
        return answer
    dos.sandbox.lookup = lookup
    before = _snapshot(outside)
    with pytest.raises(DosError):
        h = dos.open_file(os.fsencode(prefix + "f"), flags, True, True)
        dos.handles[h].write(b"PWNED")
    assert _snapshot(outside) == before
