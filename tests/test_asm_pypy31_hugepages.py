"""pyasm under PyPy re-executes itself with glibc's transparent huge pages for malloc
(``GLIBC_TUNABLES=glibc.malloc.hugetlb=1``, asm/pypy_gc.py and formats/pypy_gc.py), as
PyPy's GC takes its nursery and arenas from malloc. The oracle is the kernel: the
``AnonHugePages`` it reports in /proc/self/smaps_rollup for the re-executed process
(none without the tunable, as the host's THP mode is ``madvise``), and the environment
the process is left with (nothing of ours reaches a child; a user's own
``GLIBC_TUNABLES`` is kept and nothing is added to it)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from conftest import require_tool

ROOT = Path(__file__).resolve().parent.parent

PROBE = """
import gc, json, os, sys
from asm import pypy_gc
pypy_gc.tune_gc(sys.argv[1])
keep = [bytearray(1 << 20) for _ in range(64)]      # (malloc'ed: 64 MiB)
keep += [[i] * 8 for i in range(200000)]            # (GC objects: through the nursery)
huge = 0
with open("/proc/self/smaps_rollup") as f:
    for line in f:
        if line.startswith("AnonHugePages:"):
            huge = int(line.split()[1])
print(json.dumps({"nursery": gc.get_stats().nursery_size, "huge_kb": huge,
                  "env": {k: v for k, v in os.environ.items()
                          if "GC" in k or k == "GLIBC_TUNABLES"}}))
"""


def _thp_mode() -> str:
    try:
        text = Path("/sys/kernel/mm/transparent_hugepage/enabled").read_text()
    except OSError:
        return ""
    return text[text.find("[") + 1:text.find("]")]


def _probe(cmdline: str, **env: str) -> dict:
    pypy = require_tool("pypy3")
    full = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PYTHONPATH": str(ROOT), **env}
    proc = subprocess.run([pypy, "-c", PROBE, cmdline], capture_output=True, env=full,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")[-2000:]
    return json.loads(proc.stdout)


@pytest.fixture(scope="module")
def control() -> dict:
    """No re-execution (no /proc path given): PyPy's own nursery, glibc's defaults."""
    if _thp_mode() != "madvise":
        pytest.skip("the host's transparent huge pages are not in madvise mode")
    got = _probe("/nonexistent/cmdline")
    if float(got["nursery"][:-2]) <= 16:
        pytest.skip("PyPy picks a small nursery here: pyasm does not re-execute")
    assert got["huge_kb"] == 0 and got["env"] == {}
    return got


def test_reexecuted_with_huge_pages_and_nothing_left_behind(control):
    got = _probe("/proc/self/cmdline")
    assert got["nursery"] == "16.0MB"
    assert got["huge_kb"] >= 2048, got          # (at least one 2 MiB page)
    assert got["env"] == {}


def test_user_tunables_kept_as_they_are(control):
    mine = "glibc.malloc.tcache_count=7"
    got = _probe("/proc/self/cmdline", GLIBC_TUNABLES=mine)
    assert got["nursery"] == "16.0MB"
    assert got["huge_kb"] == 0, got
    assert got["env"] == {"GLIBC_TUNABLES": mine}
