"""pyasm under PyPy compiles a bridge after fewer guard failures than PyPy's default
(asm/pypy_gc.py, ``JIT_PARAMS``). The oracle is PyPy's JIT itself: its compile hook
reports the bridges it compiles for a loop whose branch is taken on one iteration in 50."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from conftest import require_tool

ROOT = Path(__file__).resolve().parent.parent

# 10,000 iterations: the loop is compiled after ~1,000 of them, then its guard on the
# rare branch fails ~180 times: fewer than PyPy's 200 (no bridge), more than pyasm's 100
PROBE = """
import sys, pypyjit
from asm import pypy_gc
if sys.argv[1] == "tuned":
    pypy_gc.tune_jit()
bridges = []
def hook(info):
    if info.type == "bridge":
        bridges.append(info)
pypyjit.set_compile_hook(hook)
def loop(n):
    s = 0
    for i in range(n):
        if i % 50 == 0:
            s += 3
        else:
            s += 1
    return s
loop(10000)
print(len(bridges))
"""


def _bridges(mode: str) -> int:
    pypy = require_tool("pypy3")
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PYTHONPATH": str(ROOT),
           "PYVM_CODE_CACHE": "0"}
    proc = subprocess.run([pypy, "-c", PROBE, mode], capture_output=True, env=env,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")[-2000:]
    return int(proc.stdout)


def test_bridges_come_after_fewer_guard_failures():
    assert _bridges("none") == 0            # (PyPy's default: 200 failures)
    assert _bridges("tuned") == 1
