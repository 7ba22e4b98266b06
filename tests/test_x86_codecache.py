"""Compiled blocks cached across runs (vm/x86/codecache.py): a second run loads them and
behaves the same; the cache can be turned off; a damaged cache file is not fatal."""

from __future__ import annotations

import os
import subprocess
import sys

from cache_rows import cache_rows
from test_x86_cpu_flat import HELLO, program


def run(path, cache_home, **env):
    return subprocess.run([sys.executable, "-m", "vm.cli", str(path)], capture_output=True,
                          timeout=60, env={**os.environ, "XDG_CACHE_HOME": str(cache_home),
                                           **env})


def db_rows(cache_home) -> int:
    files = list((cache_home / "pyvm").glob("x86-blocks-*.sqlite3"))
    assert len(files) <= 1, files
    return cache_rows(cache_home / "pyvm")


def test_second_run_uses_the_stored_blocks(tmp_path):
    path = program(tmp_path, HELLO)
    first = run(path, tmp_path / "cache")
    rows = db_rows(tmp_path / "cache")
    second = run(path, tmp_path / "cache")
    assert first.stdout == second.stdout == b"Hello, world!\n"
    assert first.returncode == second.returncode == 0
    assert rows > 0 and db_rows(tmp_path / "cache") == rows      # nothing new to store


def test_cache_off_and_damaged_cache(tmp_path):
    path = program(tmp_path, HELLO)
    r = run(path, tmp_path / "off", PYVM_CODE_CACHE="0")
    assert r.stdout == b"Hello, world!\n" and not (tmp_path / "off" / "pyvm").exists()
    bad = tmp_path / "bad" / "pyvm"
    bad.mkdir(parents=True)
    tag = sys.implementation.cache_tag
    (bad / f"x86-blocks-{tag}.sqlite3").write_bytes(b"not a database" * 100)
    r = run(path, tmp_path / "bad")
    assert r.returncode == 0 and r.stdout == b"Hello, world!\n", r.stderr
    assert b"Traceback" not in r.stderr
