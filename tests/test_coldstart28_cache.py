"""A code cache opened on a new file writes nothing until its first flush (which a run
leaves to its forked saver, vm/startup.py): creating the table on opening was a commit,
whose fsyncs (journal, directory, database) were up to 25 ms of a first run's wall time.
Oracles: the file system (the file stays empty, no journal appears) and SQLite itself (a
separate connection reads what the flush wrote)."""

from __future__ import annotations

import os
import sqlite3

from vm.x86.codecache import CodeCache

SECRET = bytes(range(32))


def _journal(path: str) -> bool:
    return os.path.exists(path + "-journal")


def test_opening_a_new_file_writes_nothing(tmp_path):
    path = str(tmp_path / "blocks.sqlite3")
    cache = CodeCache(path, SECRET)
    assert cache.get("x = 1") is None
    assert cache.get_warm(b"\0" * 17) is None
    assert os.path.getsize(path) == 0 and not _journal(path)


def test_the_first_flush_makes_the_table(tmp_path):
    path = str(tmp_path / "blocks.sqlite3")
    cache = CodeCache(path, SECRET)
    cache.put("x = 1", compile("x = 1", "<test>", "exec"))
    cache.flush()
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT COUNT(*) FROM blocks").fetchone()[0] == 1
    ns: dict = {}
    exec(CodeCache(path, SECRET).get("x = 1"), ns)
    assert ns["x"] == 1
    assert cache.get("x = 1") is not None      # (and the cache that wrote it reads it)


def test_a_table_made_by_another_process_is_seen_after_look(tmp_path):
    """A run opening the cache while an earlier run's saver writes it waits for the
    saver (codecache._wait_for_saving), then looks again: it must find what was saved."""
    path = str(tmp_path / "blocks.sqlite3")
    early = CodeCache(path, SECRET)
    writer = CodeCache(path, SECRET)
    writer.put("y = 2", compile("y = 2", "<test>", "exec"))
    writer.flush()
    assert early.get("y = 2") is None
    early.look()
    assert early.get("y = 2") is not None


def test_a_cache_that_cannot_be_looked_at_is_not_used(tmp_path, monkeypatch):
    """An earlier run's saver still inside its write transaction once this run has
    waited for it (codecache._wait_for_saving: SAVE_WAIT, then SQLite's busy timeout):
    the run goes without a cache, on every call of code_cache(), and registers no exit
    flush of a cache it could not open. Oracle: SQLite's own lock (another connection
    holding BEGIN EXCLUSIVE makes the cache's look() fail with 'database is locked')."""
    from vm.x86 import codecache
    folder = tmp_path / "pyvm"
    holder = []

    def saver_still_writing(cache):
        db = sqlite3.connect(cache.path, isolation_level=None)
        db.execute("BEGIN EXCLUSIVE")
        holder.append(db)

    flushes = []
    monkeypatch.setenv("PYVM_CODE_CACHE", "1")
    monkeypatch.setattr(codecache, "cache_dirs", lambda: [str(folder)])
    monkeypatch.setattr(codecache, "_wait_for_saving", saver_still_writing)
    monkeypatch.setattr(codecache, "_cache", None)
    monkeypatch.setattr(codecache, "_opened", False)
    monkeypatch.setattr(codecache.atexit, "register", flushes.append)
    try:
        assert codecache.code_cache() is None
        assert codecache.code_cache() is None
        assert codecache._cache is None and flushes == []
    finally:
        for db in holder:
            db.rollback()
            db.close()
