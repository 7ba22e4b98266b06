"""pyasm under PyPy re-executes itself once with a small GC nursery when PyPy chose a
huge one (asm/pypy_gc.py). The oracle is PyPy's own GC statistics
(``gc.get_stats().nursery_size``): the nursery the run got, against the one PyPy picks
by itself (the control run)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from conftest import require_tool

from asm import pypy_gc

ROOT = Path(__file__).resolve().parent.parent

PROBE = """
import gc, json, os, sys
from asm.pypy_gc import tune_gc
tune_gc(*sys.argv[1:2])
print(json.dumps({"nursery": gc.get_stats().nursery_size, "argv": sys.argv[1:],
                  "env": {k: v for k, v in os.environ.items() if "GC" in k}}))
"""


def _probe(*args: str, **env: str) -> dict:
    pypy = require_tool("pypy3")
    full = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PYTHONPATH": str(ROOT), **env}
    proc = subprocess.run([pypy, "-c", PROBE, *args], capture_output=True, env=full,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")[-2000:]
    return json.loads(proc.stdout)


def _megabytes(text: str) -> float:
    assert text.endswith("MB"), text
    return float(text[:-2])


def test_small_nursery_when_pypy_chose_a_huge_one():
    control = _probe("/nonexistent/cmdline")         # (no re-execution: PyPy's own size)
    assert control["env"] == {}
    got = _probe("/proc/self/cmdline", "two words", "x")
    if _megabytes(control["nursery"]) > 16:
        want = f"{_megabytes(pypy_gc.NURSERY):.1f}MB"
    else:
        want = control["nursery"]                   # (a small one is kept)
    # the same command line, and no variable left behind
    assert got == {"nursery": want, "argv": ["/proc/self/cmdline", "two words", "x"],
                   "env": {}}


def test_user_setting_kept():
    """Even a large one (the user's choice)."""
    assert _probe("/proc/self/cmdline", PYPY_GC_NURSERY="64MB") == {
        "nursery": "64.0MB", "argv": ["/proc/self/cmdline"],
        "env": {"PYPY_GC_NURSERY": "64MB"}}


def test_nothing_under_cpython():
    before = dict(os.environ)
    pypy_gc.tune_gc()               # (this process runs on, unchanged)
    assert dict(os.environ) == before
