"""pyasm under PyPy: a GC nursery of a few megabytes.

pyasm makes millions of short-lived objects in one pass; where PyPy picks a nursery of
hundreds of megabytes (formats/pypy_gc.py) it pays for every fresh page of it (system
time) and for the cache misses: on the 100,000-line benchmark source a 240 MB nursery
cost ~0.25 s of CPU against 2-4 MB. A nursery PyPy chose up to 16 MB is kept.
"""

from __future__ import annotations

from formats.pypy_gc import reexec_with_nursery

NURSERY = "4MB"                 # (2-8 MB measured alike; 16 MB and up slower)
_LARGEST = 16 << 20             # PyPy's own choice up to this is kept (no re-execution)


def tune_gc(cmdline: str = "/proc/self/cmdline") -> None:
    """(PyPy) Re-execute once with a :data:`NURSERY` nursery when PyPy chose one over
    16 MB; call it first thing."""
    reexec_with_nursery(NURSERY, "PYASM_PYPY_GC_SET", _LARGEST, cmdline)
