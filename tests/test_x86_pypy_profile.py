"""``PYVM_PYPY_PROFILE=1`` (vm/x86/pypy_tuning.py): under PyPy a run prints one line at
exit saying where its time went besides guest code (translating, trace sampling, PyPy's
JIT, the GC), and the guest's own output and status are the native run's. Elsewhere
(CPython) the switch does nothing. (PYPYLOG=jit-summary gives nothing for a pyvm run:
PyPy drops PYPYLOG before the nursery re-exec, and the summary is written by a shutdown
pyvm's exit skips; so this line is how a run's JIT time is seen.)"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import require_tool

ROOT = Path(__file__).resolve().parent.parent

HELLO = r"""
#include <stdio.h>
#include <string.h>
int main(void) {
    char buf[64];
    unsigned h = 5381;
    for (int i = 0; i < 20000; i++) {       /* a loop hot enough for the JIT */
        snprintf(buf, sizeof buf, "k%d", i);
        for (char *p = buf; *p; p++) h = h * 33 + (unsigned char)*p;
    }
    printf("hash %u len %zu\n", h, strlen(buf));
    return 7;
}
"""

LINE = re.compile(r"^pyvm-pypy: [0-9.]+ s CPU: (.*)$", re.M)


@pytest.fixture(scope="module")
def program(tmp_path_factory) -> tuple:
    """(the executable, its native run)."""
    gcc = require_tool("gcc")
    tmp = tmp_path_factory.mktemp("pypyprof")
    src, exe = tmp / "hello.c", tmp / "hello"
    src.write_text(HELLO)
    subprocess.run([gcc, "-m32", "-static", "-O2", "-o", str(exe), str(src)], check=True)
    return exe, subprocess.run([str(exe)], capture_output=True, timeout=30)


def _pyvm(python: str, exe: Path, profile: bool) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(ROOT), PYVM_CODE_CACHE="0")
    env.pop("PYVM_PYPY_PROFILE", None)
    if profile:
        env["PYVM_PYPY_PROFILE"] = "1"
    return subprocess.run([python, "-m", "vm.linux", str(exe)], capture_output=True,
                          env=env, timeout=600, text=True)


def test_profile_line_under_pypy(program):
    exe, native = program
    assert native.returncode == 7 and native.stdout.startswith(b"hash ")
    run = _pyvm(require_tool("pypy3"), exe, True)
    assert (run.returncode, run.stdout.encode()) == (native.returncode, native.stdout)
    lines = LINE.findall(run.stderr)
    assert len(lines) == 1, run.stderr
    fields = lines[0]
    calls = re.search(r"translate [0-9.]+ s \((\d+) calls\)", fields)
    assert calls and int(calls.group(1)) > 100, fields
    jit = re.search(r"JIT tracing [0-9.]+ s \+ backend [0-9.]+ s wall \((\d+) loops, "
                    r"(\d+) bridges, (\d+) too long\)", fields)
    assert jit and int(jit.group(1)) > 0, fields      # the loop above was compiled
    assert re.search(r"GC [0-9.]+ s", fields), fields


def test_no_line_without_the_switch_or_under_cpython(program):
    exe, native = program
    for python, profile in ((require_tool("pypy3"), False), (sys.executable, True)):
        run = _pyvm(python, exe, profile)
        assert (run.returncode, run.stdout.encode()) == (native.returncode, native.stdout)
        assert "pyvm-pypy:" not in run.stderr, (python, run.stderr)
