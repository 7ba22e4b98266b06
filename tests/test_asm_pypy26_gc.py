"""pyasm under PyPy re-executes itself once with a small GC nursery when PyPy chose a
huge one (asm/pypy_gc.py). The oracle is PyPy's own GC statistics
(``gc.get_stats().nursery_size``): the nursery the run got, against the one PyPy picks
by itself (the control run)."""

from __future__ import annotations

import os

from test_x86_pypy_gc import probe_tune_gc

from asm import pypy_gc


def _probe(*args: str, **env: str) -> dict:
    return probe_tune_gc("asm.pypy_gc", *args, **env)


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
