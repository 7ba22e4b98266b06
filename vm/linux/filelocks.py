"""flock(2): advisory whole-file locks between the guest's open files.

The locks live in the kernel, not on the host (a guest never locks a host file for
other host programs): a table per file (its device and inode) of the open file
descriptions that hold a shared or an exclusive lock. As on Linux a lock belongs to the
open file description, so dup'ed and inherited descriptors share it, and it goes away
when the last descriptor of that description closes. A conflicting lock request waits
(the scheduler retries it; deadlock detection applies) unless LOCK_NB is given.
"""

from __future__ import annotations

import errno

from vm.linux.syscalls import WouldBlock, neg, syscall

LOCK_SH, LOCK_EX, LOCK_NB, LOCK_UN = 1, 2, 4, 8


def _table(kernel) -> dict:
    table = getattr(kernel, "flocks", None)
    if table is None:
        table = kernel.flocks = {}
    return table


def _holders(table: dict, key: tuple) -> dict:
    """Holders of the lock on ``key``: open file -> LOCK_SH or LOCK_EX (closed ones
    dropped: their last descriptor is gone)."""
    holders = table.get(key, {})
    for f in [f for f in holders if getattr(f, "refs", 0) <= 0]:
        del holders[f]
    return holders


@syscall(143)
def sys_flock(proc, fd, op, *_):
    f = proc.fds.get(fd)
    kind = op & ~LOCK_NB
    if kind not in (LOCK_SH, LOCK_EX, LOCK_UN):
        return neg(errno.EINVAL)
    st = f.fstat()
    key = (st.st_dev, st.st_ino)
    table = _table(proc.kernel)
    holders = _holders(table, key)
    if kind == LOCK_UN:
        holders.pop(f, None)
    else:
        others = [mode for g, mode in holders.items() if g is not f]
        if others and (kind == LOCK_EX or LOCK_EX in others):
            if op & LOCK_NB:
                return neg(errno.EWOULDBLOCK)
            holders.pop(f, None)        # a conversion gives up the old lock first
            raise WouldBlock
        holders[f] = kind
    if holders:
        table[key] = holders
    else:
        table.pop(key, None)
    return 0
