"""Compiled basic blocks kept across runs, like Python's own ``__pycache__``.

Compiling a block's generated source is most of what a short program costs (glibc's
start-up runs some 800 blocks once each). The code object depends only on that source
and the Python version, so it is stored in one SQLite file under the user's cache
directory, keyed by a hash of both, and a later run of the same program (or of another
one sharing code at the same addresses) loads it instead of compiling.

In flat 32-bit mode blocks are also stored by address (``get_warm``/``put_warm``, see
``warmblocks.py``) with the guest bytes they came from, so a warm run skips decoding and
building as well; those keys include a :func:`fingerprint` of the translator's own files.

``PYVM_CODE_CACHE=0`` turns it off; any problem with the file (locked, corrupt, read-only,
disk full) quietly falls back to compiling.

A cache entry is code the host Python will run, so it must provably come from this user's
pyvm. Every entry carries a MAC (keyed BLAKE2b-256, as pyvm's other caches:
asm/cachefile.py) under a random key kept beside the database (created with O_EXCL,
mode 0600); an entry whose tag does not verify is ignored. The directory must
be a real directory owned by this user and writable by no one else (a shared /tmp
fallback another user made is refused), and no guest ever sees it: the sandbox hides
every path of :func:`cache_dirs` (vm/sandbox.py), so a guest can neither read the
key nor plant entries, by any path, symlink or hard link.
"""

from __future__ import annotations

import atexit
import gc
import importlib.util
import marshal
import os
import sqlite3
import stat
import sys
import time
from typing import Optional

# (_blake2b: BLAKE2b without hashlib, whose import loads OpenSSL: ~3 ms of every run)
from asm.cachefile import (  # noqa: F401  (KEY_FILE, cache_dirs re-exported: sandbox, vdso)
    KEY_FILE,
    _blake2b,
    cache_dirs,
    compare_digest,
)
from asm.cachefile import private_dir_key as _private_dir_key
from asm.cachefile import read_key as _read_key  # noqa: F401
from formats.envswitch import caches_on

MAX_ROWS = 200_000          # past this the least recently stored fifth is dropped
# ... and past this many bytes of code the least recently stored, down to four fifths of
# it: a row can be a run's record of up to 4 MiB (vm/x86/tier0.py MAX_RECORD), one per
# distinct program, and a guest can exec ever new programs
MAX_BYTES = 256 << 20
FLUSH_EVERY = 2_000         # new blocks written in one transaction


# a run whose first this many lookups by address all miss is one of a program not run
# before: it stops looking (each lookup is a query) and only stores
COLD_MISSES = 64
TAG = 32                    # bytes of the MAC before each marshalled code object
_CREATE = "CREATE TABLE IF NOT EXISTS blocks (key BLOB PRIMARY KEY, code BLOB, stored INTEGER)"


class CodeCache:
    def __init__(self, path: str, secret: bytes):
        self.path = path
        self.db = sqlite3.connect(path, timeout=2.0, isolation_level=None)
        self.ready = False
        self.look()
        self.pending: dict = {}
        self.salt = importlib.util.MAGIC_NUMBER
        self.secret = secret
        self.warm_hits = self.warm_misses = 0
        self.warm_keys: set = set()         # pending entries that are by address
        self.carried: dict = {}             # entries read inside another (preload)

    def look(self) -> None:
        """Whether the file has its table yet (``ready``). A new file gets it in its
        first flush's transaction (in a forked saver, vm/startup.py), not on opening:
        that was a commit, whose fsyncs were up to 25 ms of a first run's wall time.
        Until then every lookup is a miss, without a query."""
        self.ready = self.db.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'blocks'"
        ).fetchone() is not None

    def _key(self, src: str) -> bytes:
        return _blake2b(self.salt + src.encode(), digest_size=20).digest()

    def _tag(self, key: bytes, blob: bytes) -> bytes:
        return _blake2b(key + blob, digest_size=TAG, key=self.secret,
                        person=b"pyvm-x86-blocks").digest()

    def get(self, src: str):
        if not self.ready:
            return None
        key = self._key(src)
        try:
            row = self.db.execute("SELECT code FROM blocks WHERE key = ?", (key,)).fetchone()
            if not row or not isinstance(row[0], bytes):
                return None
            tag, blob = row[0][:TAG], row[0][TAG:]
            if not compare_digest(tag, self._tag(key, blob)):
                return None                 # not written by this user's pyvm
            return marshal.loads(blob)
        except (sqlite3.Error, ValueError, EOFError, TypeError):
            return None

    def _warm_key(self, wkey: bytes) -> bytes:
        # the identity itself (no hash to compute: PyPy's cost 70 us); a trace's long
        # path is hashed. Never 20 bytes long, so never a source key (_key)
        ident = b"warm" + self.salt + fingerprint() + wkey
        if len(ident) > 96:
            return b"warm" + _blake2b(ident, digest_size=32).digest()
        return ident

    def get_warm(self, wkey: bytes, always: bool = False):
        """A block entry stored by :meth:`put_warm` (vm/x86/warmblocks.py), or None.
        ``always``: asked even in a run that stopped asking (an entry to add to)."""
        key = self._warm_key(wkey)
        entry = self.carried.pop(key, None)
        if entry is not None:
            self.warm_hits += 1
            return entry
        if not self.warm_hits and self.warm_misses >= COLD_MISSES and not always:
            return None                     # a program not seen before: stop asking
        blob = self.pending.get(key)
        try:
            if blob is None:
                if not self.ready:
                    self.warm_misses += 1
                    return None
                row = self.db.execute("SELECT code FROM blocks WHERE key = ?",
                                      (key,)).fetchone()
                if not row or not isinstance(row[0], bytes):
                    self.warm_misses += 1
                    return None
                blob = row[0]
                self.warm_hits += 1
            tag, body = blob[:TAG], blob[TAG:]
            if not compare_digest(tag, self._tag(key, body)):
                return None                 # not written by this user's pyvm
            entry = _loads(body)
        except (sqlite3.Error, ValueError, EOFError, TypeError):
            return None
        return entry if isinstance(entry, tuple) else None

    def preload(self, pairs) -> None:
        """(wkey, entry) pairs that came inside an entry already verified (a run's
        record, vm/x86/tier0.py): :meth:`get_warm` returns them without a query."""
        for wkey, entry in pairs:
            if type(wkey) is bytes and type(entry) is tuple:
                self.carried[self._warm_key(wkey)] = entry

    def put_warm(self, wkey: bytes, entry: tuple) -> None:
        try:
            blob = marshal.dumps(entry)
        except ValueError:                  # an object marshal cannot store
            return
        key = self._warm_key(wkey)
        self.pending[key] = self._tag(key, blob) + blob
        self.warm_keys.add(key)
        if len(self.pending) >= FLUSH_EVERY:
            self.flush()

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
        warm, self.warm_keys = self.warm_keys, set()
        if warm and _fingerprint is not None and _stat_files() != _fingerprint:
            # pyvm's files changed while this run translated: what it made by address
            # may come from the old code or the new, so keep none of it
            rows = {k: v for k, v in rows.items() if k not in warm}
            if not rows:
                return
        try:
            db = self.db
            db.execute("BEGIN")
            if not self.ready:
                db.execute(_CREATE)
            n = db.execute("SELECT COALESCE(MAX(stored), 0) FROM blocks").fetchone()[0]
            db.executemany("INSERT OR REPLACE INTO blocks VALUES (?, ?, ?)",
                           [(k, v, n + 1) for k, v in rows.items()])
            count = db.execute("SELECT COUNT(*) FROM blocks").fetchone()[0]
            if count > MAX_ROWS:
                cut = db.execute("SELECT stored FROM blocks ORDER BY stored "
                                 "LIMIT 1 OFFSET ?", (MAX_ROWS // 5,)).fetchone()[0]
                db.execute("DELETE FROM blocks WHERE stored < ?", (cut,))
            _cap_bytes(db, n + 1)
            db.execute("COMMIT")
            self.ready = True
        except sqlite3.Error:
            try:
                self.db.execute("ROLLBACK")
            except sqlite3.Error:
                pass

    def close(self) -> None:
        """Close the connection (a cache this process will not use)."""
        try:
            self.db.close()
        except sqlite3.Error:
            pass

    def lock_path(self) -> str:
        """The file a run saving in the background (vm/startup.py) holds locked until
        the cache has all it saves; a run opening the cache waits for it first."""
        return os.path.splitext(self.path)[0] + ".lock"

    def reopen(self) -> None:
        """A new connection, in a process forked to save (vm/startup.py
        save_in_background; SQLite's connections must not cross a fork), which has
        closed the files it inherited.

        The inherited connection is kept and never used or closed: closing it would
        close its file's number, the new connection's file now perhaps, and a close of
        any descriptor of the database drops the process's POSIX locks on it (SQLite's
        locks). SQLite keeps one lock record per file per process, which the new
        connection shares with the inherited one: it must say "unlocked", as is true
        in the child (fork passes no POSIX lock on). It does when the parent held no
        lock at the fork: autocommit mode, every query here read to its end (its
        statement reset), flush's transaction committed or rolled back. A parent still
        in a transaction (a failed ROLLBACK) would pass on a record of locks the child
        does not hold, and the child could write unlocked: RuntimeError, nothing saved."""
        if self.db.in_transaction:
            raise RuntimeError("the code cache crossed a fork inside a transaction")
        self.inherited = self.db
        self.db = sqlite3.connect(self.path, timeout=2.0, isolation_level=None)


SAVE_WAIT = 5.0         # seconds a run waits at most for an earlier run's saving


def _cap_bytes(db: sqlite3.Connection, current: int) -> None:
    """Past MAX_BYTES of code, drop the least recently stored rows (whole flushes, by
    ``stored``) down to four fifths of it; never the flush ``current`` being made."""
    total = db.execute("SELECT COALESCE(SUM(LENGTH(code)), 0) FROM blocks").fetchone()[0]
    if total <= MAX_BYTES:
        return
    # the newest flush whose rows, with every newer one's, are past four fifths (summed
    # here: a window function needs SQLite 3.25, and older ones fail the whole flush)
    newer = 0
    for stored, size in db.execute("SELECT stored, SUM(LENGTH(code)) FROM blocks WHERE "
                                   "code IS NOT NULL GROUP BY stored ORDER BY stored "
                                   "DESC").fetchall():     # (a NULL row weighs nothing)
        newer += size
        if newer > MAX_BYTES * 4 // 5:
            db.execute("DELETE FROM blocks WHERE stored <= ? AND stored < ?",
                       (stored, current))
            return


def lock_saving(cache: CodeCache, exclusive: bool, wait: float = SAVE_WAIT) -> Optional[int]:
    """The cache's lock file, opened and locked (exclusive: to save after exit; shared:
    to wait while an earlier run saves), or None: no lock file (shared), not a regular
    file, or still held after ``wait`` seconds (0: tried once; a stuck saver never
    stalls a run)."""
    try:
        import fcntl
        flags = os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC | \
            (os.O_RDWR | os.O_CREAT if exclusive else os.O_RDONLY)
        fd = os.open(cache.lock_path(), flags, 0o600)
    except (ImportError, OSError):
        return None
    try:
        if stat.S_ISREG(os.fstat(fd).st_mode):
            mode = (fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH) | fcntl.LOCK_NB
            deadline = time.monotonic() + wait
            while True:
                try:
                    fcntl.flock(fd, mode)
                    return fd
                except BlockingIOError:
                    if time.monotonic() >= deadline:
                        break
                    time.sleep(0.002)
    except OSError:
        pass
    os.close(fd)
    return None


def _wait_for_saving(cache: CodeCache) -> None:
    """Wait while an earlier run saves to this cache after its exit (it holds the lock
    file): else this run would find it without what that run made."""
    fd = lock_saving(cache, exclusive=False)
    if fd is not None:
        os.close(fd)


def _loads(blob: bytes):
    """marshal.loads with the cyclic collector paused: a run's record (tier0.py) is
    tens of thousands of objects, and collector passes while they are made doubled
    the cost of reading it (nothing made here can be garbage)."""
    if not gc.isenabled():
        return marshal.loads(blob)
    gc.disable()
    try:
        return marshal.loads(blob)
    finally:
        gc.enable()


_cache: Optional[CodeCache] = None
_opened = False


def code_cache() -> Optional[CodeCache]:
    """The process's cache, opened on first use; None when off or unusable."""
    global _cache, _opened
    if _opened:
        return _cache
    _opened = True
    if not caches_on():
        return None
    for folder in cache_dirs():
        cache = None
        try:
            secret = _private_dir_key(folder)
            cache = CodeCache(os.path.join(
                folder, f"x86-blocks-{sys.implementation.cache_tag}.sqlite3"), secret)
            _wait_for_saving(cache)
            cache.look()                    # (the saver may have made the table)
        except (OSError, sqlite3.Error):
            # (e.g. a saver still writing past SAVE_WAIT and the busy timeout: this run
            # goes without a cache, not with one it could not look at)
            if cache is not None:
                cache.close()
            continue
        _cache = cache
        atexit.register(cache.flush)
        return cache
    return None


_fingerprint: Optional[bytes] = None


def fingerprint() -> bytes:
    """Which translator made an entry: the size and time of every file of the code
    generator and the decoder (as Python validates a .pyc against its source), taken
    once, when this module is imported (right after the translator's own modules)."""
    global _fingerprint
    if _fingerprint is None:
        _fingerprint = _stat_files()
    return _fingerprint


def _stat_files() -> bytes:
    import asm.x86
    h = _blake2b(digest_size=16)
    for folder in (os.path.dirname(__file__), os.path.dirname(asm.x86.__file__)):
        with os.scandir(folder) as it:
            for e in sorted(it, key=lambda e: e.name):
                if e.name.endswith((".py", ".tab")):
                    st = e.stat()
                    h.update(f"{e.name}:{st.st_size}:{st.st_mtime_ns};".encode())
    return h.digest()


if caches_on():
    fingerprint()


