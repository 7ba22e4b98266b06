"""Compiled basic blocks kept across runs, like Python's own ``__pycache__``.

Compiling a block's generated source is most of what a short program costs (glibc's
start-up runs some 800 blocks once each). The code object depends only on that source
and the Python version, so it is stored in one SQLite file under the user's cache
directory, keyed by a hash of both, and a later run of the same program (or of another
one sharing code at the same addresses) loads it instead of compiling.

``PYVM_CODE_CACHE=0`` turns it off; any problem with the file (locked, corrupt, read-only,
disk full) quietly falls back to compiling.

A cache entry is code the host Python will run, so it must provably come from this user's
pyvm. Every entry carries an HMAC under a random key kept beside the database (created
with O_EXCL, mode 0600); an entry whose tag does not verify is ignored. The directory must
be a real directory owned by this user and writable by no one else (a shared /tmp
fallback another user made is refused), and no guest ever sees it: the sandbox hides
every path of :func:`cache_dirs` (vm/sandbox.py), so a guest can neither read the
key nor plant entries, by any path, symlink or hard link.
"""

from __future__ import annotations

import atexit
import hashlib
import hmac
import importlib.util
import marshal
import os
import sqlite3
import stat
import sys
import tempfile
from typing import Optional

MAX_ROWS = 200_000          # past this the least recently stored fifth is dropped
FLUSH_EVERY = 2_000         # new blocks written in one transaction


TAG = 32                    # bytes of HMAC-SHA256 before each marshalled code object
KEY_FILE = "key"


class CodeCache:
    def __init__(self, path: str, secret: bytes):
        self.db = sqlite3.connect(path, timeout=2.0, isolation_level=None)
        self.db.execute("CREATE TABLE IF NOT EXISTS blocks "
                        "(key BLOB PRIMARY KEY, code BLOB, stored INTEGER)")
        self.pending: dict = {}
        self.salt = importlib.util.MAGIC_NUMBER
        self.secret = secret

    def _key(self, src: str) -> bytes:
        return hashlib.blake2b(self.salt + src.encode(), digest_size=20).digest()

    def _tag(self, key: bytes, blob: bytes) -> bytes:
        return hmac.digest(self.secret, key + blob, "sha256")

    def get(self, src: str):
        key = self._key(src)
        try:
            row = self.db.execute("SELECT code FROM blocks WHERE key = ?", (key,)).fetchone()
            if not row or not isinstance(row[0], bytes):
                return None
            tag, blob = row[0][:TAG], row[0][TAG:]
            if not hmac.compare_digest(tag, self._tag(key, blob)):
                return None                 # not written by this user's pyvm
            return marshal.loads(blob)
        except (sqlite3.Error, ValueError, EOFError, TypeError):
            return None

    def put(self, src: str, code) -> None:
        key = self._key(src)
        blob = marshal.dumps(code)
        self.pending[key] = self._tag(key, blob) + blob
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
    for folder in cache_dirs():
        try:
            secret = _private_dir_key(folder)
            _cache = CodeCache(os.path.join(
                folder, f"x86-blocks-{sys.implementation.cache_tag}.sqlite3"), secret)
            atexit.register(_cache.flush)
            return _cache
        except (OSError, sqlite3.Error):
            continue
    return None


def cache_dirs() -> list:
    """Where the cache may live, in order of preference (the sandbox hides them all)."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return [os.path.join(base, "pyvm"),
            os.path.join(tempfile.gettempdir(), f"pyvm-{os.getuid()}")]


def _private_dir_key(folder: str) -> bytes:
    """The HMAC key of a cache directory, after checking the directory is this user's
    alone; OSError when it is not (or cannot be made so)."""
    os.makedirs(folder, mode=0o700, exist_ok=True)
    st = os.lstat(folder)
    if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.getuid() or st.st_mode & 0o022:
        raise PermissionError(f"{folder}: not a private directory")
    path = os.path.join(folder, KEY_FILE)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    except FileExistsError:
        return _read_key(path)
    secret = os.urandom(32)
    try:
        os.write(fd, secret)
    finally:
        os.close(fd)
    return secret


def _read_key(path: str) -> bytes:
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or st.st_uid != os.getuid() or \
                st.st_mode & 0o077 or st.st_nlink != 1:
            raise PermissionError(f"{path}: not a private key file")
        secret = os.read(fd, 64)
    finally:
        os.close(fd)
    if len(secret) != 32:
        raise PermissionError(f"{path}: damaged")
    return secret
