"""pyasm under PyPy re-executes itself once with a 16 MB GC nursery and glibc's
transparent huge pages for malloc (``GLIBC_TUNABLES=glibc.malloc.hugetlb=1``,
asm/pypy_gc.py and formats/pypy_gc.py), as PyPy's GC takes its nursery and arenas from
malloc, whatever nursery PyPy picked from the host's cache size. The oracles: PyPy's own
GC statistics (the nursery the re-executed process got), its environment (nothing of
ours reaches a child; a user's own ``GLIBC_TUNABLES`` is kept and nothing is added to
it), the number of times the process started, and the kernel: the ``AnonHugePages`` of
/proc/self/smaps_rollup, asserted where the kernel's THP mode for 2 MiB pages is
``madvise`` (glibc only madvises; under ``always`` every process gets them, under
``never`` none does).

PyPy's own nursery choice is faked in the probe (``formats.pypy_gc.nursery_bytes``), so
that the decision for a small-cache host (1 MB), a 32 MB-cache one (16 MB) and a big
virtual machine (240 MB) is checked on any host; a small source keeps a nursery PyPy
chose up to 16 MB (the re-execution would cost more than it gains)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from conftest import IN_CI, require_tool

from asm import pypy_gc

ROOT = Path(__file__).resolve().parent.parent
THP = Path("/sys/kernel/mm/transparent_hugepage")

PROBE = """
import gc, json, os, sys
with open(sys.argv[1], "a") as f:
    f.write("start\\n")                             # (one line per execution)
if sys.argv[2] == "pyasm":
    from formats import pypy_gc as common
    common.nursery_bytes = lambda: int(sys.argv[3])   # (PyPy's choice on such a host)
    from asm import pypy_gc
    pypy_gc.tune_gc()                               # (sys.argv[4:]: the "source")
    pypy_gc.tune_gc()                               # (python -m asm.cli calls it twice)
else:
    from formats.pypy_gc import reexec_with_nursery
    reexec_with_nursery(sys.argv[3], "TEST_PYPY31_MARK", 0, "/proc/self/cmdline",
                        sys.argv[4])
keep = [bytearray(1 << 20) for _ in range(64)]      # (malloc'ed: 64 MiB)
keep += [[i] * 8 for i in range(200000)]            # (GC objects: through the nursery)
huge = None
try:
    with open("/proc/self/smaps_rollup") as f:
        for line in f:
            if line.startswith("AnonHugePages:"):
                huge = int(line.split()[1])
except OSError:
    pass
with open(sys.argv[1]) as f:
    starts = len(f.readlines())
print(json.dumps({"nursery": gc.get_stats().nursery_size, "huge_kb": huge,
                  "starts": starts, "env": {k: v for k, v in os.environ.items()
                                            if "GC" in k or k == "GLIBC_TUNABLES"}}))
"""


def _mode(path: Path) -> str:
    try:
        text = path.read_text()
    except OSError:
        return ""
    return text[text.find("[") + 1:text.find("]")]


def thp_mode() -> str:
    """The kernel's mode for 2 MiB anonymous pages: the size's own setting (Linux 6.8+)
    unless it is 'inherit', else the global one; '' without either file."""
    own = _mode(THP / "hugepages-2048kB" / "enabled")
    return own if own and own != "inherit" else _mode(THP / "enabled")


def _glibc_has_hugetlb() -> bool:
    """glibc.malloc.hugetlb came with glibc 2.35 (an older one ignores it)."""
    try:
        name, version = os.confstr("CS_GNU_LIBC_VERSION").split()
    except (ValueError, OSError, AttributeError):
        return False
    return name == "glibc" and tuple(map(int, version.split(".")[:2])) >= (2, 35)


def _source(tmp_path: Path, size: int) -> str:
    path = tmp_path / f"src-{size}.asm"
    path.write_bytes(b"nop\n" * (size // 4))
    return str(path)


def _probe(tmp_path: Path, *args: str, **env: str) -> dict:
    pypy = require_tool("pypy3")
    full = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PYTHONPATH": str(ROOT), **env}
    starts = tmp_path / f"starts-{len(list(tmp_path.iterdir()))}"
    proc = subprocess.run([pypy, "-c", PROBE, str(starts), *args], capture_output=True,
                          env=full, timeout=120)
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")[-2000:]
    got = json.loads(proc.stdout)
    if got["huge_kb"] is None:
        if IN_CI:
            pytest.fail("no AnonHugePages in /proc/self/smaps_rollup under CI")
        pytest.skip("no /proc/self/smaps_rollup here")
    return got


def _huge_pages_expected(want: bool, got: dict) -> None:
    """Asserted where glibc's madvise decides (THP madvise mode, glibc >= 2.35)."""
    if thp_mode() != "madvise" or not _glibc_has_hugetlb():
        return
    if want:
        assert got["huge_kb"] >= 2048, got          # (at least one 2 MiB page)
    else:
        assert got["huge_kb"] == 0, got


def test_thp_mode_reading(tmp_path):
    assert thp_mode() in ("always", "madvise", "never", "")


@pytest.mark.parametrize("own", [1 << 20, 16 << 20, 240 << 20])
def test_pyasm_reexecutes_once_whatever_pypy_chose(tmp_path, own):
    """A small-cache host (1 MB), a 32 MB-cache one (16 MB) and a big virtual machine
    (240 MB) all get the 16 MB nursery and huge pages for a large source, in one
    re-execution even with two calls, and nothing of it is left in the environment."""
    got = _probe(tmp_path, "pyasm", str(own), "-o", _source(tmp_path, 8),
                 _source(tmp_path, pypy_gc._SMALL_SOURCE))
    assert (got["nursery"], got["starts"], got["env"]) == (
        f"{float(pypy_gc.NURSERY[:-2]):.1f}MB", 2, {})
    _huge_pages_expected(True, got)


@pytest.mark.parametrize("own, starts", [(1 << 20, 1), (16 << 20, 1), (240 << 20, 2)])
def test_small_source_keeps_a_small_nursery(tmp_path, own, starts):
    """Below _SMALL_SOURCE bytes (and a large output file named by -o does not count)
    a nursery PyPy chose up to 16 MB is kept; a huge one is still replaced."""
    got = _probe(tmp_path, "pyasm", str(own), _source(tmp_path, pypy_gc._SMALL_SOURCE - 4),
                 "-o", _source(tmp_path, 1 << 20))
    assert (got["starts"], got["env"]) == (starts, {})
    if starts == 2:
        assert got["nursery"] == f"{float(pypy_gc.NURSERY[:-2]):.1f}MB"


def test_user_tunables_kept_as_they_are(tmp_path):
    mine = "glibc.malloc.tcache_count=7"
    got = _probe(tmp_path, "pyasm", str(1 << 20), _source(tmp_path, 1 << 20),
                 GLIBC_TUNABLES=mine)
    assert (got["nursery"], got["starts"], got["env"]) == (
        "16.0MB", 2, {"GLIBC_TUNABLES": mine})
    _huge_pages_expected(False, got)


def test_user_nursery_kept_no_reexecution(tmp_path):
    got = _probe(tmp_path, "pyasm", str(1 << 20), _source(tmp_path, 1 << 20),
                 PYPY_GC_NURSERY="2MB")
    assert (got["nursery"], got["starts"], got["env"]) == (
        "2.0MB", 1, {"PYPY_GC_NURSERY": "2MB"})


@pytest.mark.parametrize("tunables", ["", "glibc.malloc.hugetlb=1"])
def test_reexec_with_nursery_tunables_or_none(tmp_path, tunables):
    """formats.pypy_gc directly (keep_up_to=0: always): huge pages only with the
    tunable (the control run without it has none under madvise)."""
    got = _probe(tmp_path, "direct", "8MB", tunables)
    assert (got["nursery"], got["starts"], got["env"]) == ("8.0MB", 2, {})
    _huge_pages_expected(bool(tunables), got)
