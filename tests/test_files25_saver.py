"""The code cache's forked saver (vm/startup.py save_in_background) when another run's
saver holds the cache's lock, as in parallel ``make -j`` runs: the exiting runs do not
wait for it (they exit at once with the native run's output and status), their savers
save once the lock is free, and a saver past its time limit leaves without saving.

Oracles: the native run of a static gcc -m32 program (output, exit status); the
kernel's own accounting of the savers (this harness is their subreaper, so it reaps
them and sees when each ended); SQLite's integrity check and row count of the cache.

Each case runs in a fresh Python (this file as a script) that becomes the subreaper."""

from __future__ import annotations

import ctypes
import fcntl
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import require_tool

ROOT = Path(__file__).resolve().parent.parent
SOURCE = r"""
#include <stdio.h>
int main(void) {
    puts("ready");
    fflush(stdout);
    getchar();
    puts("bye");
    return 7;
}
"""
# ``python -m vm.linux`` with the saver's limit set first (argv[1], seconds)
# (and the wait for a held lock at exit long, as it was before the change: 60 s, so that
# the exit times below tell the two apart however loaded the machine is)
RUNNER = ("import runpy, sys\nimport vm.startup, vm.x86.codecache\n"
          "vm.startup.SAVE_LIMIT = float(sys.argv.pop(1))\n"
          "vm.x86.codecache.SAVE_WAIT = 60.0\n"
          "runpy.run_module('vm.linux', run_name='__main__', alter_sys=True)\n")
PR_SET_CHILD_SUBREAPER = 36


@pytest.fixture(scope="module")
def program(tmp_path_factory):
    gcc = require_tool("gcc")
    d = tmp_path_factory.mktemp("saver")
    exe = d / "ready"
    (d / "ready.c").write_text(SOURCE)
    r = subprocess.run([gcc, "-m32", "-static", "-O1", "-o", str(exe), str(d / "ready.c")],
                       capture_output=True)
    if r.returncode:
        pytest.fail(f"gcc -m32 -static failed: {r.stderr.decode()[-300:]}")
    return exe


def _harness(home: str, exe: str, runs: int, limit: float, free_lock: bool) -> dict:
    """Start ``runs`` pyvm runs; once each guest is ready, lock the cache as a saver
    would and let the guests exit; time each run's exit; then (``free_lock``) unlock;
    reap the savers, timing them."""
    signal.alarm(60)                        # (a saver that never ends fails the test)
    assert ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0
    folder = os.path.join(home, "pyvm")
    os.makedirs(folder, mode=0o700)
    lock_path = os.path.join(folder, f"x86-blocks-{sys.implementation.cache_tag}.lock")
    env = {**os.environ, "XDG_CACHE_HOME": home, "PYVM_CODE_CACHE": "1",
           "PYVM_TIER0_LIBRARY": "0", "PYTHONPATH": str(ROOT)}
    env.pop("PYVM_BACKGROUND_SAVE", None)
    procs = [subprocess.Popen([sys.executable, "-c", RUNNER, str(limit), "--seed", "1", exe],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env)
             for _ in range(runs)]
    for p in procs:
        assert p.stdout.readline() == b"ready\n"
    lock = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
    fcntl.flock(lock, fcntl.LOCK_EX)        # (as another run's saver holds it)
    start = time.monotonic()
    for p in procs:
        p.stdin.write(b"\n")
        p.stdin.close()
    out = {"runs": []}
    for p in procs:
        rest = p.stdout.read()
        p.wait(timeout=120)
        out["runs"].append([p.returncode, rest.decode(), time.monotonic() - start])
    exited = time.monotonic()
    if free_lock:
        os.close(lock)
    savers = []
    while True:
        try:
            os.waitpid(-1, 0)
        except ChildProcessError:
            break
        savers.append(time.monotonic() - exited)
    out["savers"] = savers
    if not free_lock:
        os.close(lock)
    out["files"] = sorted(os.listdir(folder))
    return out


def _case(tmp_path, exe, runs: int, limit: float, free_lock: bool) -> tuple:
    home = str(tmp_path / "home")
    r = subprocess.run([sys.executable, __file__, home, str(exe), str(runs), str(limit),
                        str(int(free_lock))], capture_output=True, text=True, timeout=300,
                       env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert r.returncode == 0, r.stderr[-2000:]
    result = json.loads(r.stdout)
    db = next((tmp_path / "home" / "pyvm").glob("x86-blocks-*.sqlite3"))
    with sqlite3.connect(db) as c:
        assert c.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        # (a cache nothing was ever saved to has no table yet: vm/x86/codecache.py look)
        rows = c.execute("SELECT COUNT(*) FROM blocks").fetchone()[0] if c.execute(
            "SELECT 1 FROM sqlite_master WHERE name = 'blocks'").fetchone() else 0
    return result, rows


def _native(exe) -> tuple:
    r = subprocess.run([str(exe)], input=b"\n", capture_output=True)
    return r.returncode, r.stdout.decode()


def test_parallel_runs_exit_at_once_while_a_saver_holds_the_lock(program, tmp_path):
    result, rows = _case(tmp_path, program, runs=2, limit=60.0, free_lock=True)
    status, output = _native(program)
    assert (status, output) == (7, "ready\nbye\n")
    for code, rest, seconds in result["runs"]:
        assert (code, "ready\n" + rest) == (status, output)
        assert seconds < 20.0, result      # (it waited for the lock before)
    assert len(result["savers"]) == 2, result
    assert rows > 10                        # the savers saved once the lock was free


def test_a_saver_past_its_limit_leaves_without_saving(program, tmp_path):
    result, rows = _case(tmp_path, program, runs=1, limit=1.5, free_lock=False)
    [(code, rest, seconds)] = result["runs"]
    assert (code, rest) == (7, "bye\n") and seconds < 20.0, result
    [saver] = result["savers"]
    assert 1.0 < saver < 10.0, result       # its limit, not the lock's release
    assert rows == 0
    # (no temporary file or journal left behind)
    assert [f for f in result["files"] if f.startswith(".") or "journal" in f] == []


if __name__ == "__main__":
    print(json.dumps(_harness(sys.argv[1], sys.argv[2], int(sys.argv[3]),
                              float(sys.argv[4]), sys.argv[5] == "1")))
