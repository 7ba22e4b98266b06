"""The code cache across a fork (vm/x86/codecache.py ``CodeCache.reopen``), as the saver
vm/startup.py forks after the guest's exit does it: the child closes every descriptor it
inherited, opens a connection of its own and writes. Oracle: SQLite itself (a new
connection in the parent reads what the child wrote, and the file passes SQLite's
integrity check).

Each case runs in a fresh Python (this file as a script): a test process that has run
guests may be too large to fork under the kernel's overcommit heuristic."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

SECRET = bytes(range(32))
ROOT = Path(__file__).resolve().parent.parent


def _close_inherited() -> None:
    """What save_in_background's child does first: only 0-2 stay open."""
    for fd in [int(x) for x in os.listdir("/proc/self/fd")]:
        if fd > 2:
            try:
                os.close(fd)
            except OSError:
                pass


def _in_child(cache, src: str) -> int:
    """Fork; the child reopens the cache, stores src's code and exits with 0 (3 when
    reopen refused). The child's exit status."""
    pid = os.fork()
    if pid == 0:
        status = 1
        try:
            _close_inherited()
            try:
                cache.reopen()
            except RuntimeError:
                status = 3
            else:
                cache.put(src, compile(src, "<child>", "exec"))
                cache.flush()
                status = 0
        finally:
            os._exit(status)
    return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])


def _value(cache, src: str, name: str):
    code = cache.get(src)
    if code is None:
        return None
    ns: dict = {}
    exec(code, ns)
    return ns[name]


def _case(mode: str, path: str) -> None:
    """One case, in this process: asserts, and prints "ok" at the end."""
    from vm.x86.codecache import CodeCache
    cache = CodeCache(path, SECRET)
    cache.put("x = 1", compile("x = 1", "<parent>", "exec"))
    cache.flush()
    assert cache.get("x = 1") is not None      # (a query read to its end before the fork)
    if mode == "plain":
        assert _in_child(cache, "y = 2") == 0
        fresh = CodeCache(path, SECRET)
        assert _value(fresh, "x = 1", "x") == 1 and _value(fresh, "y = 2", "y") == 2
        # the parent's own connection still works after the child is gone
        cache.put("z = 3", compile("z = 3", "<parent>", "exec"))
        cache.flush()
        assert _value(CodeCache(path, SECRET), "z = 3", "z") == 3
    else:
        cache.db.execute("BEGIN IMMEDIATE")     # (as a flush whose ROLLBACK failed)
        try:
            status = _in_child(cache, "y = 2")
        finally:
            cache.db.execute("ROLLBACK")
        assert status == 3, status
        fresh = CodeCache(path, SECRET)
        assert _value(fresh, "y = 2", "y") is None and _value(fresh, "x = 1", "x") == 1
    print("ok")


def _run(mode: str, tmp_path) -> None:
    path = str(tmp_path / "blocks.sqlite3")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYVM_CODE_CACHE": "0"}
    proc = subprocess.run([sys.executable, __file__, mode, path], capture_output=True,
                          text=True, env=env, timeout=120)
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stderr[-2000:]
    assert sqlite3.connect(path).execute("PRAGMA integrity_check").fetchone() == ("ok",)


def test_a_forked_saver_writes_through_a_connection_of_its_own(tmp_path):
    _run("plain", tmp_path)


def test_a_saver_forked_inside_a_transaction_saves_nothing(tmp_path):
    _run("transaction", tmp_path)


if __name__ == "__main__":
    _case(sys.argv[1], sys.argv[2])
