"""Compiled basic blocks kept across runs, like Python's own ``__pycache__``.

Compiling a block's generated source is most of what a short program costs (glibc's
start-up runs some 800 blocks once each). The code object depends only on that source
and the Python version, so it is stored in one SQLite file under the user's cache
directory, keyed by a hash of both, and a later run of the same program (or of another
one sharing code at the same addresses) loads it instead of compiling.

``PYVM_CODE_CACHE=0`` turns it off; any problem with the file (locked, corrupt, read-only,
disk full) quietly falls back to compiling.
"""

from __future__ import annotations

import atexit
import hashlib
import importlib.util
import marshal
import os
import sqlite3
import sys
import tempfile
from typing import Optional

MAX_ROWS = 200_000          # past this the least recently stored fifth is dropped
FLUSH_EVERY = 2_000         # new blocks written in one transaction


class CodeCache:
    def __init__(self, path: str):
        self.db = sqlite3.connect(path, timeout=2.0, isolation_level=None)
        self.db.execute("CREATE TABLE IF NOT EXISTS blocks "
                        "(key BLOB PRIMARY KEY, code BLOB, stored INTEGER)")
        self.pending: dict = {}
        self.salt = importlib.util.MAGIC_NUMBER

    def _key(self, src: str) -> bytes:
        return hashlib.blake2b(self.salt + src.encode(), digest_size=20).digest()

    def get(self, src: str):
        key = self._key(src)
        try:
            row = self.db.execute("SELECT code FROM blocks WHERE key = ?", (key,)).fetchone()
            return marshal.loads(row[0]) if row else None
        except (sqlite3.Error, ValueError, EOFError, TypeError):
            return None

    def put(self, src: str, code) -> None:
        self.pending[self._key(src)] = marshal.dumps(code)
        if len(self.pending) >= FLUSH_EVERY:
            self.flush()

    def flush(self) -> None:
        if not self.pending:
            return
        rows, self.pending = self.pending, {}
        try:
            db = self.db
            db.execute("BEGIN")
            n = db.execute("SELECT COALESCE(MAX(stored), 0) FROM blocks").fetchone()[0]
            db.executemany("INSERT OR REPLACE INTO blocks VALUES (?, ?, ?)",
                           [(k, v, n + 1) for k, v in rows.items()])
            count = db.execute("SELECT COUNT(*) FROM blocks").fetchone()[0]
            if count > MAX_ROWS:
                cut = db.execute("SELECT stored FROM blocks ORDER BY stored "
                                 "LIMIT 1 OFFSET ?", (MAX_ROWS // 5,)).fetchone()[0]
                db.execute("DELETE FROM blocks WHERE stored < ?", (cut,))
            db.execute("COMMIT")
        except sqlite3.Error:
            try:
                self.db.execute("ROLLBACK")
            except sqlite3.Error:
                pass


_cache: Optional[CodeCache] = None
_opened = False


def code_cache() -> Optional[CodeCache]:
    """The process's cache, opened on first use; None when off or unusable."""
    global _cache, _opened
    if _opened:
        return _cache
    _opened = True
    if os.environ.get("PYVM_CODE_CACHE", "1") == "0" or \
            sys.implementation.name != "cpython":
        return None
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    for folder in (os.path.join(base, "pyvm"),
                   os.path.join(tempfile.gettempdir(), f"pyvm-{os.getuid()}")):
        try:
            os.makedirs(folder, exist_ok=True)
            _cache = CodeCache(os.path.join(
                folder, f"x86-blocks-{sys.implementation.cache_tag}.sqlite3"))
            atexit.register(_cache.flush)
            return _cache
        except (OSError, sqlite3.Error):
            continue
    return None
