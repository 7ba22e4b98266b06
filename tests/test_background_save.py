"""``python -m vm.linux`` leaves the code cache's saving to a forked process after the
guest has exited (vm/startup.py save_in_background): the exit status and output are the
native run's, and a run opening the cache waits while the lock file is held.

Oracles: the native run of a static gcc -m32 program (output, exit status); the cache's
SQLite file read directly (what the second run found)."""

from __future__ import annotations

import fcntl
import os
import subprocess
import sys
import time

import pytest
from cache_rows import cache_rows
from conftest import require_tool

SOURCE = r"""
#include <stdio.h>
int main(int argc, char **argv) {
    printf("hello from %s, %d args\n", argc > 1 ? argv[1] : "nobody", argc);
    return 3 + argc;
}
"""


@pytest.fixture(scope="module")
def hello(tmp_path_factory):
    gcc = require_tool("gcc")
    d = tmp_path_factory.mktemp("bgsave")
    exe = d / "hello"
    (d / "hello.c").write_text(SOURCE)
    r = subprocess.run([gcc, "-m32", "-static", "-O1", "-o", str(exe), str(d / "hello.c")],
                       capture_output=True)
    if r.returncode:
        pytest.fail(f"gcc -m32 -static failed: {r.stderr.decode()[-300:]}")
    return exe


def _env(home, **extra) -> dict:
    # (no template library: what is saved then depends on this test's runs alone)
    env = {**os.environ, "XDG_CACHE_HOME": str(home), "PYVM_CODE_CACHE": "1",
           "PYVM_TIER0_LIBRARY": "0"}
    env.pop("PYVM_BACKGROUND_SAVE", None)
    env.update(extra)
    return env


def _pyvm(exe, home, *args, **extra):
    # (--seed: the same AT_RANDOM bytes each run, so each run takes the same paths)
    return subprocess.run([sys.executable, "-m", "vm.linux", "--seed", "1", str(exe), *args],
                          capture_output=True, timeout=120, env=_env(home, **extra))


def _files(home) -> tuple:
    folder = home / "pyvm"
    db = next(folder.glob("x86-blocks-*.sqlite3"))
    return db, db.with_suffix(".lock")


def _rows(home) -> int:
    return cache_rows(home / "pyvm")


def test_output_and_status_are_the_native_runs_and_the_next_run_finds_it_all(hello,
                                                                             tmp_path):
    native = subprocess.run([str(hello), "x"], capture_output=True)
    first = _pyvm(hello, tmp_path, "x")
    assert (first.returncode, first.stdout) == (native.returncode, native.stdout) == \
        (5, b"hello from x, 2 args\n"), first.stderr
    assert first.stderr == b""
    rows = _rows(tmp_path)
    assert rows > 10
    second = _pyvm(hello, tmp_path, "x")
    assert (second.returncode, second.stdout, second.stderr) == \
        (native.returncode, native.stdout, b"")
    assert _rows(tmp_path) == rows      # (nothing new: the first run's saving was whole)
    # the same with the saving in the run itself
    sync = tmp_path / "sync"
    third = _pyvm(hello, sync, "x", PYVM_BACKGROUND_SAVE="0")
    assert (third.returncode, third.stdout) == (native.returncode, native.stdout)
    # (not compared with ``rows``: under load a run may make a block or two more or less)
    saved = _rows(sync)
    assert saved > 10
    fourth = _pyvm(hello, sync, "x", PYVM_BACKGROUND_SAVE="0")
    assert (fourth.returncode, fourth.stdout) == (native.returncode, native.stdout)
    assert _rows(sync) == saved


def test_a_run_waits_while_an_earlier_one_saves(hello, tmp_path):
    first = _pyvm(hello, tmp_path)
    assert first.returncode == 4
    db, lock = _files(tmp_path)
    rows = _rows(tmp_path)
    with open(lock, "rb") as f:
        fcntl.flock(f, fcntl.LOCK_EX)   # (as a saving run holds it)
        p = subprocess.Popen([sys.executable, "-m", "vm.linux", "--seed", "1", str(hello)],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             env=_env(tmp_path))
        time.sleep(1.5)
        assert p.poll() is None         # waiting to open the cache
    out, err = p.communicate(timeout=120)
    assert (p.returncode, out, err) == (4, b"hello from nobody, 1 args\n", b"")
    assert _rows(tmp_path) == rows
