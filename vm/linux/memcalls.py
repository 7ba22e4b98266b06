"""Advice about pages and questions about them: madvise, mincore, mlock and munlock; and
personality(2), whose READ_IMPLIES_EXEC makes every readable mapping made after it
executable (AddressSpace.implied).

Every mapped page of a guest is resident (the host pages behind the Machine's memory
are its business), so mincore reports 1 for each. MADV_DONTNEED (and MADV_FREE, which
may act the same) drops private pages: they read as zero afterwards, as a private
anonymous mapping does on Linux; shared file pages are left to their file.
"""

from __future__ import annotations

import errno

from vm.linux.addrspace import PAGE, page_up
from vm.linux.process import READ_IMPLIES_EXEC
from vm.linux.syscalls import neg, syscall

MADV_NORMAL, MADV_RANDOM, MADV_SEQUENTIAL, MADV_WILLNEED, MADV_DONTNEED = 0, 1, 2, 3, 4
MADV_FREE, MADV_REMOVE, MADV_DONTFORK, MADV_DOFORK = 8, 9, 10, 11
MADV_MERGEABLE, MADV_UNMERGEABLE, MADV_HUGEPAGE, MADV_NOHUGEPAGE = 12, 13, 14, 15
MADV_DONTDUMP, MADV_DODUMP, MADV_WIPEONFORK, MADV_KEEPONFORK = 16, 17, 18, 19
MADV_COLD, MADV_PAGEOUT, MADV_POPULATE_READ, MADV_POPULATE_WRITE = 20, 21, 22, 23
MADV_HWPOISON = 100
MLOCK_ONFAULT = 1
_ACCEPTED = {MADV_NORMAL, MADV_RANDOM, MADV_SEQUENTIAL, MADV_WILLNEED, MADV_DONTFORK,
             MADV_DOFORK, MADV_MERGEABLE, MADV_UNMERGEABLE, MADV_HUGEPAGE, MADV_NOHUGEPAGE,
             MADV_DONTDUMP, MADV_DODUMP, MADV_WIPEONFORK, MADV_KEEPONFORK, MADV_COLD,
             MADV_PAGEOUT, MADV_POPULATE_READ, MADV_POPULATE_WRITE}
_DROP = {MADV_DONTNEED, MADV_FREE}


def _range(proc, addr: int, length: int):
    """[start, end) of a page-aligned request, or a negative errno."""
    if addr & (PAGE - 1) or length > 0xFFFFFFFF - PAGE:
        return neg(errno.EINVAL)
    end = addr + page_up(length)
    if end > proc.machine.mem.size:
        return neg(errno.ENOMEM)
    return addr, end


@syscall(219)
def sys_madvise(proc, addr, length, advice, *_):
    r = _range(proc, addr, length)
    if isinstance(r, int):
        return r
    start, end = r
    if advice not in _ACCEPTED and advice not in _DROP and advice != MADV_REMOVE:
        return neg(errno.EINVAL)
    if start == end:
        return 0
    asp = proc.aspace
    if not asp.is_mapped(start, end):
        return neg(errno.ENOMEM)
    if advice == MADV_REMOVE:
        return neg(errno.EINVAL)               # only for shared memory and tmpfs
    if advice in _DROP:
        if advice == MADV_DONTNEED and asp.shared_in(start, end):
            return 0                           # a shared file's pages stay the file's
        if not asp.is_mapped(start, end, writable=True):
            return 0                           # read-only: what it holds comes back
        proc.machine.mem.zero(start, end)      # refilled with zeros on the next touch
    return 0


@syscall(218)
def sys_mincore(proc, addr, length, vec, *_):
    r = _range(proc, addr, length)
    if isinstance(r, int):
        return r
    start, end = r
    if start == end:
        return 0
    if not proc.aspace.is_mapped(start, end):
        return neg(errno.ENOMEM)
    n = (end - start) // PAGE
    proc.mem.check_write(vec, n)
    proc.mem.write(vec, b"\x01" * n)
    return 0


def _lock(proc, addr: int, length: int) -> int:
    """mlock/munlock: every page is resident already, so only Linux's checks remain: an
    unaligned start rounds down, and any page of the range unmapped (above the top of
    memory too: a 64-bit kernel does not wrap the end) is ENOMEM."""
    start, end = addr & ~(PAGE - 1), page_up(addr + length)
    if start == end:
        return 0
    if end > proc.machine.mem.size or not proc.aspace.is_mapped(start, end):
        return neg(errno.ENOMEM)
    return 0


@syscall(150)
def sys_mlock(proc, addr, length, *_):
    return _lock(proc, addr, length)


@syscall(151)
def sys_munlock(proc, addr, length, *_):
    return _lock(proc, addr, length)


@syscall(376)
def sys_mlock2(proc, addr, length, flags, *_):
    return neg(errno.EINVAL) if flags & ~MLOCK_ONFAULT else _lock(proc, addr, length)


@syscall(136)
def sys_personality(proc, persona, *_):
    """The old personality; 0xffffffff only asks. Any value is taken, as Linux does."""
    old = proc.persona
    if persona != 0xFFFFFFFF:
        proc.persona = persona
        if proc.aspace is not None:
            proc.aspace.read_implies_exec = bool(persona & READ_IMPLIES_EXEC)
    return old
