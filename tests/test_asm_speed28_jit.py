"""pyasm under PyPy compiles a bridge after fewer guard failures than PyPy's default
(asm/pypy_gc.py, ``JIT_PARAMS``). The oracle is PyPy's JIT itself: its compile hook
reports the bridges it compiles for a loop whose branch is taken on one iteration in 50."""

from __future__ import annotations

from pypy_probe import run_pypy

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
    return int(run_pypy(PROBE, mode, clean_env=True, timeout=120))


def test_bridges_come_after_fewer_guard_failures():
    assert _bridges("none") == 0            # (PyPy's default: 200 failures)
    assert _bridges("tuned") == 1
