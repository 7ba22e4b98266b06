"""What a guest's changes to the host file system cost against ``--max-output``
(vm.options.OutputBudget), for Linux and DOS programs alike: the budget bounds the disk
a run may fill, as a quota does.

- New names are counted apart from bytes: a run may make one (a file, directory,
  symlink, socket node or hard link) per ``NAME_COST`` bytes of its limit, and at least
  ``MIN_NAMES`` (a name it removes gives its room back); past that the call fails with
  EDQUOT, as under an inode quota, and the run goes on. Without it a mkdir or creat loop fills the host's inode table under any
  ``--max-output``; with it what a run leaves takes at most its limit in data, and as
  much again in inodes and directory blocks (a directory's block is 4 KiB on ext4), plus
  ``MIN_NAMES`` blocks. The bytes themselves stay exact: a file written to the limit
  holds the limit, as under RLIMIT_FSIZE.
- A file's size counts, not the blocks the host happened to allocate: every byte
  written, what a truncation adds, and the hole a write past the end leaves (``hole``),
  as RLIMIT_FSIZE counts a size. So a seek past the end and a 1-byte write cost as
  much as the truncation to the same size; a sparse file's apparent size is what the
  host's tools (cp, tar, backups) see.
"""

from __future__ import annotations

import fcntl
import os
import stat
from contextlib import contextmanager
from typing import Iterator

NAME_COST = 4096
MIN_NAMES = 64


def take_all(budget, n: int) -> bool:
    """Take ``n`` bytes of the budget (None or no limit: always), all or nothing: a
    refusal takes none and stops the run (OutputBudget.take)."""
    if budget is None or budget.limit is None or n <= 0:
        return True
    got = budget.take(n)
    if got < n:
        budget.used -= got
        return False
    return True


def names_allowed(budget) -> int:
    """How many new names a run under ``budget`` may make (--max-output set)."""
    return max(MIN_NAMES, budget.limit // NAME_COST)


@contextmanager
def new_inode(budget) -> Iterator[bool]:
    """Around the creation of a name: yields whether the run may still make one (the
    caller fails with EDQUOT when not); a creation that raises is not counted. The
    count is kept on the run's OutputBudget, which every process of the run shares."""
    if budget is None or budget.limit is None:
        yield True
        return
    made = getattr(budget, "names_made", 0)
    if made >= names_allowed(budget):
        yield False
        return
    budget.names_made = made + 1
    try:
        yield True
    except BaseException:
        budget.names_made -= 1
        raise


def name_removed(budget) -> None:
    """A name was removed: the quota counts the names a run holds, as an inode quota
    counts live inodes (a loop making and removing a temporary file never runs out)."""
    if budget is not None and budget.limit is not None:
        budget.names_made = getattr(budget, "names_made", 0) - 1


def hole(fd: int, offset: int = -1) -> int:
    """The hole a write at ``offset`` (-1: the descriptor's position) leaves between the
    end of the file of ``fd`` and its data (0 when it starts within the file, and for
    anything but a regular file: a FIFO, a terminal or a device has no holes, and
    a FIFO has no position: lseek would fail with ESPIPE)."""
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):
        return 0
    if offset < 0:
        offset = os.lseek(fd, 0, os.SEEK_CUR)
    return max(0, offset - st.st_size)


def appends(fd: int) -> bool:
    """Whether the host descriptor ``fd`` writes at the end (O_APPEND): the host's own
    mode decides where a write lands, so it decides whether a hole is charged."""
    return bool(fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_APPEND)


def set_append(fd: int, on: bool) -> None:
    """Make the host descriptor ``fd``'s append mode follow a guest's F_SETFL."""
    flags = fcntl.fcntl(fd, fcntl.F_GETFL)
    new = flags | os.O_APPEND if on else flags & ~os.O_APPEND
    if new != flags:
        fcntl.fcntl(fd, fcntl.F_SETFL, new)
