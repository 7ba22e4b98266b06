"""A DOS personality for .COM programs: the PSP, int 20h and the int 21h console, file,
time and vector services.

Handles 0-2 are the console (reads come from stdin; writes to 0 and 1 go to stdout, to
2 to stderr); 3 (AUX) and 4 (PRN) are null devices, so files start at handle 5 as on
DOS; there are 20 handles. File names are host paths under the directory pyvm was
started in (a drive letter and a leading backslash both mean that directory; ``..``
cannot leave it), looked up without regard to case. Failures set CF and put the DOS
error code in AX. Character input functions map the host's line end to Enter (CR),
handle reads pass bytes unchanged; output is never translated.
"""

from __future__ import annotations

import errno
import os
import stat
import time
from typing import Optional

from vm.diskquota import hole, name_removed, new_inode, take_all
from vm.pc.bios import BIOS
from vm.pc.console import CR, Console
from vm.pc.services import (
    DosError,
    ServiceTable,
    quote,
    read_asciz,
    read_bytes,
    set_flag,
    write_bytes,
)
from vm.sandbox import Sandbox
from vm.x86 import flags as F
from vm.x86.faults import MachineExit

TERMINATE = ServiceTable(0x20, "DOS")
DOS = ServiceTable(0x21, "DOS")
TABLES = (TERMINATE, DOS)

MAX_HANDLES = 20
MEMORY_TOP = 0xA000                 # the paragraph after conventional memory
DOS_VERSION = (5, 0)
CURRENT_DRIVE = 2                   # C:
LAST_DRIVE = 5                      # A: .. E:, DOS 5's default LASTDRIVE
DEVICES = {"CON", "NUL", "AUX", "PRN", "CLOCK$", "COM1", "COM2", "COM3", "COM4",
           "LPT1", "LPT2", "LPT3"}

# host errno -> DOS error code
ERRNO_TO_DOS = {errno.ENOENT: 2, errno.ENOTDIR: 3, errno.EMFILE: 4, errno.ENFILE: 4,
                errno.EACCES: 5, errno.EPERM: 5, errno.EISDIR: 5, errno.EROFS: 5,
                errno.EEXIST: 5, errno.ENAMETOOLONG: 3, errno.EBADF: 6, errno.EINVAL: 0x19}


def dos_error(e: OSError, default: int = 5) -> DosError:
    return DosError(ERRNO_TO_DOS.get(e.errno, default))


# ---- handles -------------------------------------------------------------------------------

class ConsoleHandle:
    """CON: reads stdin; writes go to ``put`` (the BIOS teletype, which keeps the
    cursor in step) or to a host stream (stderr)."""
    device = True

    def __init__(self, console: Optional[Console], put=None, stream=None):
        self.console, self.put, self.stream = console, put, stream

    def read(self, n: int) -> bytes:
        return self.console.read(n)

    def write(self, data: bytes) -> int:
        if self.put is not None:
            self.put(data)
        else:
            self.console.write(data, self.stream)
        return len(data)

    def seek(self, pos: int, whence: int) -> int:
        return 0

    def truncate(self) -> None:
        pass

    def close(self) -> None:
        pass


class NullHandle(ConsoleHandle):
    """NUL (and the printer and serial devices): swallows writes, reads nothing."""

    def __init__(self):
        super().__init__(None)

    def read(self, n: int) -> bytes:
        return b""

    def write(self, data: bytes) -> int:
        return len(data)


class FileHandle:
    """A host file opened with os.open. ``budget`` (--max-output): the bytes written and
    the growth a truncation makes draw on it, so that a program cannot fill the disk;
    past it a write is short (a full disk, to DOS) and the budget stops the run."""
    device = False

    def __init__(self, fd: int, readable: bool, writable: bool, budget=None):
        self.fd, self.readable, self.writable = fd, readable, writable
        self.budget = budget if budget is not None and budget.limit is not None else None

    def read(self, n: int) -> bytes:
        if not self.readable:
            raise DosError(5)
        try:
            return os.read(self.fd, n)
        except OSError as e:
            raise dos_error(e) from None

    def write(self, data: bytes) -> int:
        if not self.writable:
            raise DosError(5)
        if self.budget is not None:     # (a hole left past the end counts: diskquota)
            if not take_all(self.budget, hole(self.fd)):
                return 0
            data = data[:self.budget.take(len(data))]
            if not data:
                return 0
        try:
            return os.write(self.fd, data)
        except OSError as e:
            raise dos_error(e) from None

    def seek(self, pos: int, whence: int) -> int:
        try:
            return os.lseek(self.fd, pos, whence)
        except OSError as e:
            raise dos_error(e, 0x19) from None

    def truncate(self) -> None:
        if not self.writable:
            raise DosError(5)
        try:
            here = os.lseek(self.fd, 0, os.SEEK_CUR)
            grow = here - os.fstat(self.fd).st_size
            if self.budget is not None and grow > 0 and self.budget.take(grow) < grow:
                raise DosError(5)       # (the budget stops the run)
            os.ftruncate(self.fd, here)
        except OSError as e:
            raise dos_error(e) from None

    def close(self) -> None:
        os.close(self.fd)


# ---- the personality -----------------------------------------------------------------------

class DOSSystem:
    """The DOS of one machine: its handles, DTA and the program's PSP."""

    def __init__(self, machine, console: Console, bios: BIOS, psp: int,
                 root: Optional[str] = None, budget=None):
        self.m = machine
        self.budget = budget            # --max-output: file writes draw on it too
        self.console = console
        self.bios = bios
        self.psp = psp
        # drive C: is the start directory, through the one sandbox every personality uses:
        # no '..', symlink or hard link leads a DOS program outside it
        self.sandbox = Sandbox(root=root or os.getcwd(), cwd=root or os.getcwd())
        self.root = self.sandbox.root
        self.dta = (psp, 0x80)
        self.env = 0
        self.blocks = {psp: MEMORY_TOP - psp}      # segment -> paragraphs (int 21h 48h-4Ah)
        self.break_check = 0
        self.drive = CURRENT_DRIVE
        con = ConsoleHandle(console, self.put)
        self.handles: list = [con, con, ConsoleHandle(console, stream=console.stderr),
                              NullHandle(), NullHandle()] + [None] * (MAX_HANDLES - 5)

    def put(self, data: bytes) -> None:
        """Console output (stdout), through the BIOS so its cursor follows."""
        self.bios.put(data, 0)

    def close_all(self) -> None:
        for h in self.handles:
            if isinstance(h, FileHandle):
                try:
                    h.close()
                except OSError:
                    pass

    # -- handles -----------------------------------------------------------------------------
    def handle(self, n: int):
        h = self.handles[n] if 0 <= n < MAX_HANDLES else None
        if h is None:
            raise DosError(6)
        return h

    def new_handle(self, h) -> int:
        for n, slot in enumerate(self.handles):
            if slot is None:
                self.handles[n] = h
                return n
        if isinstance(h, FileHandle):
            h.close()
        raise DosError(4)

    # -- file names --------------------------------------------------------------------------
    def host_path(self, raw: bytes) -> str:
        """Map a DOS file name to a host path under the root (DosError 3 if it leaves
        the root or names a directory that is not there). Each component is matched
        without regard to case, then the sandbox resolves the whole name."""
        name = raw.decode("latin-1").replace("\\", "/")
        if len(name) >= 2 and name[1] == ":":
            name = name[2:]
        parts = [p for p in name.split("/") if p not in ("", ".")]
        if not parts:
            raise DosError(3)
        guest: list = []
        for k, part in enumerate(parts):
            if part == "..":
                if not guest:
                    raise DosError(3)
                guest.pop()
                continue
            try:
                here = self.sandbox.resolve("/" + "/".join(guest))
            except OSError:
                raise DosError(3) from None
            guest.append(_find_name(here, part))
            if k < len(parts) - 1 and not os.path.isdir(os.path.join(here, guest[-1])):
                raise DosError(3)
        try:
            return self.sandbox.resolve("/" + "/".join(guest))
        except OSError as e:
            raise dos_error(e) from None

    def device(self, raw: bytes):
        """The device a name opens (CON, NUL...), or None for a file."""
        base = raw.decode("latin-1").replace("\\", "/").rsplit("/", 1)[-1]
        if len(base) >= 2 and base[1] == ":":
            base = base[2:]
        base = base.split(".", 1)[0].upper().rstrip(":")
        if base not in DEVICES:
            return None
        return ConsoleHandle(self.console, self.put) if base == "CON" else NullHandle()

    def open_file(self, raw: bytes, flags: int, readable: bool, writable: bool) -> int:
        dev = self.device(raw)
        if dev is not None:
            return self.new_handle(dev)
        if None in self.handles:
            path = self.host_path(raw)
            if os.path.isdir(path):
                raise DosError(5)
            try:
                exists = os.path.lexists(path)
                if writable or flags & os.O_CREAT:
                    self.sandbox.check_write(path)
                    if exists:
                        self.sandbox.check_inode(os.lstat(path))
                if flags & os.O_CREAT and not exists:   # a new inode: --max-output's
                    with new_inode(self.budget) as room:
                        if not room:
                            raise DosError(5)   # (the name quota: the run goes on)
                        fd = self._open_host(path, flags)
                else:
                    fd = self._open_host(path, flags)
            except OSError as e:
                raise dos_error(e) from None
            return self.new_handle(FileHandle(fd, readable, writable, self.budget))
        raise DosError(4)

    def _open_host(self, path: str, flags: int) -> int:
        """Open a checked host path by name in its verified directory (Sandbox.open),
        truncated only once verified (a directory swapped for a symlink meanwhile
        redirects nothing)."""
        trunc = flags & os.O_TRUNC
        fd = self.sandbox.open(path, flags & ~os.O_TRUNC | os.O_NOCTTY, 0o666, path)
        try:
            st = os.fstat(fd)
            if trunc and stat.S_ISREG(st.st_mode):
                self.sandbox.check_inode(st)
                os.ftruncate(fd, 0)
        except OSError:
            os.close(fd)
            raise
        return fd


def _find_name(directory: str, name: str) -> str:
    """The entry of ``directory`` that ``name`` means: as typed, or else the first one
    equal to it without regard to case."""
    if os.path.lexists(os.path.join(directory, name)):
        return name
    try:
        entries = os.listdir(directory)
    except OSError:
        return name
    folded = name.casefold()
    for entry in sorted(entries):
        if entry.casefold() == folded:
            return entry
    return name


# ---- the PSP -------------------------------------------------------------------------------

def command_tail(args: tuple) -> bytes:
    """The PSP's command tail text for the guest arguments (ValueError if too long)."""
    text = "".join(" " + a for a in args).encode("latin-1", "replace")
    if len(text) > 126:
        raise ValueError(f"the command line is {len(text)} characters; DOS allows 126")
    return text


def build_psp(psp: int, env: int, tail: bytes) -> bytes:
    """The 256-byte program segment prefix of a .COM program at segment ``psp``."""
    p = bytearray(256)
    p[0:2] = b"\xcd\x20"                                # int 20h: ret from the program
    p[2:4] = MEMORY_TOP.to_bytes(2, "little")
    p[0x16:0x18] = psp.to_bytes(2, "little")            # parent: itself (a shell)
    p[0x18:0x2C] = bytes([1, 1, 1, 0, 2]) + b"\xff" * 15    # job file table
    p[0x2C:0x2E] = env.to_bytes(2, "little")
    p[0x32:0x34] = MAX_HANDLES.to_bytes(2, "little")
    p[0x34:0x38] = (0x18).to_bytes(2, "little") + psp.to_bytes(2, "little")
    p[0x50:0x53] = b"\xcd\x21\xcb"                      # int 21h; retf: the DOS entry
    p[0x5C + 1:0x5C + 12] = b" " * 11                   # two empty FCBs
    p[0x6C + 1:0x6C + 12] = b" " * 11
    p[0x80] = len(tail)
    p[0x81:0x81 + len(tail)] = tail
    p[0x81 + len(tail)] = CR
    return bytes(p)


def build_environment(program: str) -> bytes:
    """The environment block: variables, an empty string, a count and the program."""
    name = "C:\\" + os.path.basename(program).upper()
    return (b"COMSPEC=C:\\COMMAND.COM\0PATH=C:\\\0\0" + b"\x01\x00" +
            name.encode("latin-1", "replace") + b"\0")


# ---- int 20h, int 21h: termination --------------------------------------------------------

@TERMINATE.service(None, "terminate")
def terminate(dos: DOSSystem, m) -> None:
    raise MachineExit(0)


@DOS.service(0x00, "terminate")
def terminate_program(dos: DOSSystem, m) -> None:
    raise MachineExit(0)


@DOS.service(0x4C, "exit", "al")
def exit_program(dos: DOSSystem, m) -> None:
    raise MachineExit(m.reg("al"))


# ---- console -------------------------------------------------------------------------------

def _key(dos: DOSSystem, m, echo: bool) -> str:
    k = dos.console.read_key()
    if k is None:
        k = 0x1A                    # end of input reads as Ctrl-Z, DOS's end-of-file
    elif echo and dos.console.echo:
        dos.put(bytes([k]))
    m.set_reg("al", k)
    return quote(bytes([k]))


@DOS.service(0x01, "read_char_echo", "", "al")
def read_char_echo(dos: DOSSystem, m) -> str:
    return _key(dos, m, True)


@DOS.service(0x07, "read_char_raw", "", "al")
def read_char_raw(dos: DOSSystem, m) -> str:
    return _key(dos, m, False)


@DOS.service(0x08, "read_char", "", "al")
def read_char(dos: DOSSystem, m) -> str:
    return _key(dos, m, False)


@DOS.service(0x02, "write_char", "dl", "al")
def write_char(dos: DOSSystem, m) -> str:
    data = bytes([m.reg("dl")])
    dos.put(data)
    m.set_reg("al", data[0])
    return quote(data)


@DOS.service(0x06, "direct_console_io", "dl", "al zf")
def direct_console_io(dos: DOSSystem, m) -> str:
    dl = m.reg("dl")
    if dl != 0xFF:
        return write_char(dos, m)
    k = dos.console.peek_key()
    if k is not None:
        dos.console.read_key()
        m.set_reg("al", k)
    else:
        m.set_reg("al", 0)
    set_flag(m, F.ZF, k is None)
    return quote(bytes([k])) if k is not None else "no key"


@DOS.service(0x09, "write_string", "ds:dx", "al")
def write_string(dos: DOSSystem, m) -> str:
    dx = m.reg("dx")
    data = read_bytes(m, "ds", dx, 0x10000 - dx if dx else 0x10000)
    end = data.find(b"$")
    data = data[:end] if end >= 0 else data
    dos.put(data)
    m.set_reg("al", 0x24)
    return quote(data)


@DOS.service(0x0A, "read_line", "ds:dx")
def read_line(dos: DOSSystem, m) -> str:
    dx = m.reg("dx")
    room = read_bytes(m, "ds", dx, 1)[0]
    if room == 0:
        return ""
    line, _ = dos.console.read_line(room - 1)
    if dos.console.echo:
        dos.put(line + b"\r")
    write_bytes(m, "ds", dx + 1, bytes([len(line)]) + line + b"\r")
    return quote(line)


@DOS.service(0x0B, "input_status", "", "al")
def input_status(dos: DOSSystem, m) -> None:
    m.set_reg("al", 0xFF if dos.console.peek_key() is not None else 0)


@DOS.service(0x0C, "flush_and_read", "al")
def flush_and_read(dos: DOSSystem, m) -> Optional[str]:
    """Typed-ahead input is the program's input here, so nothing is flushed."""
    fn = {0x01: read_char_echo, 0x06: direct_console_io, 0x07: read_char_raw,
          0x08: read_char, 0x0A: read_line}.get(m.reg("al"))
    return fn(dos, m) if fn is not None else None


# ---- drives, vectors, version, time ---------------------------------------------------------

@DOS.service(0x0E, "select_drive", "dl", "al")
def select_drive(dos: DOSSystem, m) -> None:
    if m.reg("dl") == CURRENT_DRIVE:
        dos.drive = CURRENT_DRIVE       # C: is the only drive there is
    m.set_reg("al", LAST_DRIVE)


@DOS.service(0x19, "current_drive", "", "al")
def current_drive(dos: DOSSystem, m) -> None:
    m.set_reg("al", dos.drive)


@DOS.service(0x1A, "set_dta", "ds:dx")
def set_dta(dos: DOSSystem, m) -> None:
    dos.dta = (m.reg("ds"), m.reg("dx"))


@DOS.service(0x2F, "get_dta", "", "es:bx")
def get_dta(dos: DOSSystem, m) -> None:
    m.set_reg("es", dos.dta[0])
    m.set_reg("bx", dos.dta[1])


@DOS.service(0x25, "set_vector", "al ds:dx")
def set_vector(dos: DOSSystem, m) -> None:
    entry = m.reg("al") * 4 + m.cpu.idt_base
    m.write(entry, m.reg("dx").to_bytes(2, "little") + m.reg("ds").to_bytes(2, "little"))


@DOS.service(0x35, "get_vector", "al", "es:bx")
def get_vector(dos: DOSSystem, m) -> None:
    entry = m.reg("al") * 4 + m.cpu.idt_base
    m.set_reg("bx", m.mem.r16(entry))
    m.set_reg("es", m.mem.r16(entry + 2))


@DOS.service(0x2A, "get_date", "", "cx dh dl al")
def get_date(dos: DOSSystem, m) -> None:
    t = time.localtime()
    m.set_reg("cx", t.tm_year)
    m.set_reg("dx", t.tm_mon << 8 | t.tm_mday)
    m.set_reg("al", (t.tm_wday + 1) % 7)        # DOS counts from Sunday


@DOS.service(0x2C, "get_time", "", "ch cl dh dl")
def get_time(dos: DOSSystem, m) -> None:
    now = time.time()
    t = time.localtime(now)
    m.set_reg("cx", t.tm_hour << 8 | t.tm_min)
    m.set_reg("dx", t.tm_sec << 8 | int(now * 100) % 100)


@DOS.service(0x30, "get_version", "al", "al ah bx cx")
def get_version(dos: DOSSystem, m) -> None:
    major, minor = DOS_VERSION
    m.set_reg("ax", minor << 8 | major)
    m.set_reg("bx", 0)
    m.set_reg("cx", 0)


@DOS.service(0x33, "ctrl_break", "al dl", "dl")
def ctrl_break(dos: DOSSystem, m) -> None:
    al = m.reg("al")
    if al == 0:
        m.set_reg("dl", dos.break_check)
    elif al == 1:
        dos.break_check = m.reg("dl") & 1
    elif al == 5:
        m.set_reg("dl", 3)              # booted from C:


# ---- memory: the program owns all conventional memory until it resizes its block ---------

def _room(dos: DOSSystem, seg: int) -> int:
    """Paragraphs from seg to the next block or the end of memory."""
    return min([s for s in dos.blocks if s > seg] + [MEMORY_TOP]) - seg


@DOS.service(0x48, "allocate", "bx", "ax bx cf", carry=True)
def allocate(dos: DOSSystem, m) -> None:
    want = m.reg("bx")
    starts = [dos.psp] + [seg + n for seg, n in sorted(dos.blocks.items())]
    best = 0
    for start in starts:            # first fit, in the gaps after each block
        if start in dos.blocks or start >= MEMORY_TOP:
            continue
        gap = _room(dos, start)
        if gap >= want:
            dos.blocks[start] = want
            m.set_reg("ax", start)
            return
        best = max(best, gap)
    m.set_reg("bx", best)
    raise DosError(8)


@DOS.service(0x49, "free", "es", "cf", carry=True)
def free(dos: DOSSystem, m) -> None:
    seg = m.reg("es")
    if seg == dos.env:
        return
    if dos.blocks.pop(seg, None) is None:
        raise DosError(9)


@DOS.service(0x4A, "resize", "es bx", "bx cf", carry=True)
def resize(dos: DOSSystem, m) -> None:
    seg, want = m.reg("es"), m.reg("bx")
    if seg not in dos.blocks:
        raise DosError(9)
    room = _room(dos, seg)
    if want > room:
        m.set_reg("bx", room)
        raise DosError(8)
    dos.blocks[seg] = want


@DOS.service(0x51, "get_psp_51", "", "bx")
def get_psp_51(dos: DOSSystem, m) -> None:
    m.set_reg("bx", dos.psp)


@DOS.service(0x62, "get_psp", "", "bx")
def get_psp(dos: DOSSystem, m) -> None:
    m.set_reg("bx", dos.psp)


# ---- files ---------------------------------------------------------------------------------

def _name(m) -> bytes:
    return read_asciz(m, "ds", m.reg("dx"))


@DOS.service(0x3C, "create", "cx ds:dx", "ax cf", carry=True)
def create(dos: DOSSystem, m) -> str:
    name = _name(m)
    m.set_reg("ax", dos.open_file(name, os.O_RDWR | os.O_CREAT | os.O_TRUNC, True, True))
    return quote(name)


@DOS.service(0x3D, "open", "al ds:dx", "ax cf", carry=True)
def open_(dos: DOSSystem, m) -> str:
    name = _name(m)
    access = m.reg("al") & 7
    if access > 2:
        raise DosError(0x0C)
    flags = (os.O_RDONLY, os.O_WRONLY, os.O_RDWR)[access]
    m.set_reg("ax", dos.open_file(name, flags, access != 1, access != 0))
    return quote(name)


@DOS.service(0x3E, "close", "bx", "cf", carry=True)
def close(dos: DOSSystem, m) -> None:
    n = m.reg("bx")
    h = dos.handle(n)
    dos.handles[n] = None
    if isinstance(h, FileHandle):
        try:
            h.close()
        except OSError as e:
            raise dos_error(e) from None


@DOS.service(0x3F, "read", "bx cx ds:dx", "ax cf", carry=True)
def read(dos: DOSSystem, m) -> str:
    h = dos.handle(m.reg("bx"))
    data = h.read(m.reg("cx"))
    write_bytes(m, "ds", m.reg("dx"), data)
    m.set_reg("ax", len(data))
    return quote(data)


@DOS.service(0x40, "write", "bx cx ds:dx", "ax cf", carry=True)
def write(dos: DOSSystem, m) -> str:
    h = dos.handle(m.reg("bx"))
    count = m.reg("cx")
    if count == 0:                  # DOS: a zero-length write truncates the file here
        h.truncate()
        m.set_reg("ax", 0)
        return "truncate"
    data = read_bytes(m, "ds", m.reg("dx"), count)
    m.set_reg("ax", h.write(data))
    return quote(data)


@DOS.service(0x41, "delete", "ds:dx", "ax cf", carry=True)
def delete(dos: DOSSystem, m) -> str:
    name = _name(m)
    if dos.device(name) is not None:
        raise DosError(5)
    path = dos.host_path(name)
    if os.path.isdir(path):
        raise DosError(5)
    try:
        dos.sandbox.check_write(path)
        with dos.sandbox.parent(path) as (d, entry):
            os.unlink(entry, dir_fd=d)
    except OSError as e:
        raise dos_error(e) from None
    name_removed(dos.budget)
    return quote(name)


@DOS.service(0x42, "seek", "bx al cx dx", "dx ax cf", carry=True)
def seek(dos: DOSSystem, m) -> None:
    whence = m.reg("al")
    if whence > 2:
        raise DosError(1)
    h = dos.handle(m.reg("bx"))
    offset = m.reg("cx") << 16 | m.reg("dx")
    if whence and offset & 0x80000000:              # from here or the end: signed
        offset -= 1 << 32
    if h.device:
        pos = 0
    else:
        base = 0 if whence == 0 else h.seek(0, os.SEEK_CUR if whence == 1 else os.SEEK_END)
        if base + offset < 0:
            raise DosError(0x19)
        pos = h.seek(base + offset, os.SEEK_SET)
    m.set_reg("dx", pos >> 16 & 0xFFFF)
    m.set_reg("ax", pos & 0xFFFF)


@DOS.service(0x44, "ioctl", "al bx", "dx ax cf", carry=True)
def ioctl(dos: DOSSystem, m) -> None:
    if m.reg("al") != 0:
        raise DosError(1)
    h = dos.handle(m.reg("bx"))
    if isinstance(h, NullHandle):
        info = 0x8084
    elif h.device:
        info = 0x80D3               # CON: a device, console input and output
    else:
        info = CURRENT_DRIVE
    m.set_reg("dx", info)
    m.set_reg("ax", info)


@DOS.service(0x47, "get_directory", "dl ds:si", "ax cf", carry=True)
def get_directory(dos: DOSSystem, m) -> None:
    dl = m.reg("dl")
    if dl not in (0, CURRENT_DRIVE + 1):
        raise DosError(0x0F)
    write_bytes(m, "ds", m.reg("si"), b"\0")        # always the root
    m.set_reg("ax", 0x0100)

