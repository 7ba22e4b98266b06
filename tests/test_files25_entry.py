"""pyvm's three entry points (the ``pyvm`` console script, vm/launch.py; ``python -m
vm.cli``; ``python -m vm.linux``) share one start and exit (vm/startup.py run_entry):
the program's status and output are the native run's, pyvm's own statuses are the
documented ones (1: cannot run it, 2: usage), and each leaves its code cache saved.

Oracles: the native run of a static gcc -m32 program; the cache's SQLite file."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from cache_rows import cache_rows
from conftest import require_tool

ROOT = Path(__file__).resolve().parent.parent
SOURCE = r"""
#include <stdio.h>
int main(int argc, char **argv) {
    printf("%d:%s\n", argc, argc > 1 ? argv[1] : "-");
    return 40 + argc;
}
"""
ENTRIES = {"pyvm": ["-c", "import sys; sys.argv[0] = 'pyvm'\n"
                          "from vm.launch import script; script()"],
           "vm.cli": ["-m", "vm.cli"], "vm.linux": ["-m", "vm.linux"]}


@pytest.fixture(scope="module")
def program(tmp_path_factory):
    gcc = require_tool("gcc")
    d = tmp_path_factory.mktemp("entry")
    exe = d / "prog"
    (d / "prog.c").write_text(SOURCE)
    r = subprocess.run([gcc, "-m32", "-static", "-O1", "-o", str(exe), str(d / "prog.c")],
                       capture_output=True)
    if r.returncode:
        pytest.fail(f"gcc -m32 -static failed: {r.stderr.decode()[-300:]}")
    return exe


def _run(entry: str, home, *args) -> subprocess.CompletedProcess:
    env = {**os.environ, "XDG_CACHE_HOME": str(home), "PYVM_CODE_CACHE": "1",
           "PYVM_TIER0_LIBRARY": "0", "PYTHONPATH": str(ROOT)}
    env.pop("PYVM_BACKGROUND_SAVE", None)
    return subprocess.run([sys.executable, *ENTRIES[entry], *map(str, args)], env=env,
                          capture_output=True, timeout=120, cwd=home)


def _rows(home) -> int:
    return cache_rows(home / "pyvm")


@pytest.mark.parametrize("entry", sorted(ENTRIES))
def test_status_output_and_saving(entry, program, tmp_path):
    native = subprocess.run([str(program), "x"], capture_output=True)
    assert (native.returncode, native.stdout) == (42, b"2:x\n")
    r = _run(entry, tmp_path, program, "x")
    assert (r.returncode, r.stdout, r.stderr) == (native.returncode, native.stdout, b"")
    assert _rows(tmp_path) > 10


@pytest.mark.parametrize("entry", sorted(ENTRIES))
def test_pyvms_own_statuses(entry, tmp_path):
    missing = _run(entry, tmp_path, tmp_path / "missing")
    assert missing.returncode == 1 and b"No such file" in missing.stderr
    assert _run(entry, tmp_path).returncode == 2                # (no program)
    assert _run(entry, tmp_path, "--no-such-option", "x").returncode == 2
