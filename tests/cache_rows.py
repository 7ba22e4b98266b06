"""Reading the code cache (vm/x86/codecache.py) after a pyvm run as the next run would:
a run leaves its saving to a forked process (vm/startup.py save_in_background) that holds
the cache's lock file until the database has all it saves, so a reader first waits for
that lock (shared), or it may find the file absent or without this run's entries."""

from __future__ import annotations

import fcntl
import os
import sqlite3
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator


@contextmanager
def saved_cache(folder: Path) -> Iterator[Path]:
    """The blocks database in ``folder`` (a ``.../pyvm`` cache directory), once the
    saving of every run before has ended (held while the caller reads it)."""
    lock = next(folder.glob("x86-blocks-*.lock"), None)
    fd = None if lock is None else os.open(lock, os.O_RDONLY)
    try:
        if fd is not None:
            fcntl.flock(fd, fcntl.LOCK_SH)
        yield next(folder.glob("x86-blocks-*.sqlite3"))
    finally:
        if fd is not None:
            os.close(fd)


def cache_rows(folder: Path) -> int:
    """How many blocks the cache in ``folder`` holds, its saving done."""
    with saved_cache(folder) as db, sqlite3.connect(db) as c:
        # (a cache nothing was ever saved to has no table yet: vm/x86/codecache.py look)
        if not c.execute("SELECT 1 FROM sqlite_master WHERE name = 'blocks'").fetchone():
            return 0
        return c.execute("SELECT COUNT(*) FROM blocks").fetchone()[0]
