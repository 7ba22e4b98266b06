"""i386 Linux ABI constants and structure layouts (declared once, packed with struct)."""

from __future__ import annotations

import errno as _errno
import os
import stat
import struct

# struct stat64 (asm/stat.h, i386): 96 bytes
STAT64 = struct.Struct("<Q4xIIIIIQ4xqIQIIIIIIQ")
# struct statx: 256 bytes
STATX_HEAD = struct.Struct("<IIQIIIHxxQQQQ")
STATX_TS = struct.Struct("<qIi")
STATX_DEV = struct.Struct("<IIII")
STATX_SIZE = 256
STATX_BASIC_STATS = 0x7FF
# struct linux_dirent64 header
DIRENT64 = struct.Struct("<QqHB")
TIMESPEC32 = struct.Struct("<ii")
TIMESPEC64 = struct.Struct("<qq")
TIMEVAL32 = struct.Struct("<ii")
IOVEC = struct.Struct("<II")
RLIMIT64 = struct.Struct("<QQ")
RLIMIT32 = struct.Struct("<II")
WINSIZE = struct.Struct("<HHHH")
SIGACTION = struct.Struct("<IIIQ")     # handler, flags, restorer, mask
USER_DESC = struct.Struct("<IIII")     # entry_number, base_addr, limit, flags
UTSNAME_FIELD = 65

AT_FDCWD = -100
AT_SYMLINK_NOFOLLOW = 0x100
AT_REMOVEDIR = 0x200
AT_EMPTY_PATH = 0x1000

# open flags (i386 values equal the host's x86_64 ones except O_LARGEFILE)
O_ACCMODE = 3
O_CREAT, O_EXCL, O_NOCTTY, O_TRUNC, O_APPEND = 0o100, 0o200, 0o400, 0o1000, 0o2000
O_NONBLOCK, O_DIRECTORY, O_NOFOLLOW, O_CLOEXEC = 0o4000, 0o200000, 0o400000, 0o2000000
O_LARGEFILE = 0o100000

PROT_READ, PROT_WRITE, PROT_EXEC = 1, 2, 4
MAP_SHARED, MAP_PRIVATE, MAP_FIXED, MAP_ANONYMOUS = 1, 2, 0x10, 0x20
MAP_FIXED_NOREPLACE = 0x100000
MAP_GROWSDOWN = 0x100

F_DUPFD, F_GETFD, F_SETFD, F_GETFL, F_SETFL = 0, 1, 2, 3, 4
F_GETLK, F_SETLK, F_SETLKW, F_DUPFD_CLOEXEC = 5, 6, 7, 1030
FD_CLOEXEC = 1

TCGETS, TCSETS, TIOCGWINSZ, FIONREAD, TIOCGPGRP = 0x5401, 0x5402, 0x5413, 0x541B, 0x540F

SIGNALS = {1: "SIGHUP", 2: "SIGINT", 3: "SIGQUIT", 4: "SIGILL", 5: "SIGTRAP", 6: "SIGABRT",
           7: "SIGBUS", 8: "SIGFPE", 9: "SIGKILL", 10: "SIGUSR1", 11: "SIGSEGV",
           12: "SIGUSR2", 13: "SIGPIPE", 14: "SIGALRM", 15: "SIGTERM", 17: "SIGCHLD"}
SIG_DFL, SIG_IGN = 0, 1
# signals whose default action is to ignore them
DEFAULT_IGNORE = {17, 23, 28}     # SIGCHLD, SIGURG, SIGWINCH

PAGE = 4096


def neg(err: int) -> int:
    """A system call's error return value."""
    return -err


def errno_of(e: OSError) -> int:
    return e.errno if e.errno else _errno.EIO


def _dev(st_dev: int) -> int:
    return st_dev & 0xFFFFFFFFFFFFFFFF


def pack_stat64(st: os.stat_result) -> bytes:
    return STAT64.pack(
        _dev(st.st_dev), st.st_ino & 0xFFFFFFFF, st.st_mode, st.st_nlink & 0xFFFFFFFF,
        st.st_uid & 0xFFFFFFFF, st.st_gid & 0xFFFFFFFF, _dev(getattr(st, "st_rdev", 0)),
        st.st_size, getattr(st, "st_blksize", 4096) & 0xFFFFFFFF, getattr(st, "st_blocks", 0),
        int(st.st_atime) & 0xFFFFFFFF, st.st_atime_ns % 10**9,
        int(st.st_mtime) & 0xFFFFFFFF, st.st_mtime_ns % 10**9,
        int(st.st_ctime) & 0xFFFFFFFF, st.st_ctime_ns % 10**9,
        st.st_ino & 0xFFFFFFFFFFFFFFFF)


def pack_statx(st: os.stat_result) -> bytes:
    out = bytearray(STATX_SIZE)
    STATX_HEAD.pack_into(out, 0, STATX_BASIC_STATS, getattr(st, "st_blksize", 4096), 0,
                         st.st_nlink, st.st_uid, st.st_gid, st.st_mode & 0xFFFF,
                         st.st_ino & 0xFFFFFFFFFFFFFFFF, st.st_size, getattr(st, "st_blocks", 0),
                         0)
    for off, ns in ((64, st.st_atime_ns), (80, st.st_ctime_ns), (96, st.st_ctime_ns),
                    (112, st.st_mtime_ns)):
        STATX_TS.pack_into(out, off, ns // 10**9, ns % 10**9, 0)
    rdev = getattr(st, "st_rdev", 0)
    STATX_DEV.pack_into(out, 128, os.major(rdev), os.minor(rdev), os.major(st.st_dev),
                        os.minor(st.st_dev))
    return bytes(out)


def dirent_type(mode: int) -> int:
    if stat.S_ISDIR(mode):
        return 4
    if stat.S_ISREG(mode):
        return 8
    if stat.S_ISLNK(mode):
        return 10
    if stat.S_ISCHR(mode):
        return 2
    if stat.S_ISBLK(mode):
        return 6
    if stat.S_ISFIFO(mode):
        return 1
    if stat.S_ISSOCK(mode):
        return 12
    return 0


def pack_dirent64(ino: int, off: int, dtype: int, name: bytes) -> bytes:
    reclen = (DIRENT64.size + len(name) + 1 + 7) & ~7
    rec = DIRENT64.pack(ino & 0xFFFFFFFFFFFFFFFF, off, reclen, dtype) + name + b"\0"
    return rec + bytes(reclen - len(rec))


PARENT_PID = 1                   # its parent, and every orphan's: an init outside the guest
