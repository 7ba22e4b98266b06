"""pyasm under PyPy: a GC nursery of a few megabytes.

PyPy sizes its nursery (where new objects are made) from the cache size it reads in
/proc/cpuinfo, half of it; where that reports a huge cache (some virtual machines say
480 MB) the nursery is hundreds of megabytes, and pyasm, which makes millions of
short-lived objects in one pass, pays for every fresh page of it (system time) and for
the cache misses: on the 100,000-line benchmark source a 240 MB nursery cost ~0.25 s
of CPU against 2-4 MB. PyPy reads the size (``PYPY_GC_NURSERY``) at start-up only, so
:func:`tune_gc` re-executes the process once with it, as ``vm/x86/pypy_tuning.py`` does
for pyvm (which wants a larger one). It does nothing elsewhere (CPython), when the user
set the variable, or when PyPy's own nursery is small already.
"""

from __future__ import annotations

import os
import sys

NURSERY = "4MB"                 # (2-8 MB measured alike; 16 MB and up slower)
_LARGEST = 16 << 20             # PyPy's own choice up to this is kept (no re-execution)
_VARIABLE = "PYPY_GC_NURSERY"
_MARK = "PYASM_PYPY_GC_SET"     # in the re-executed process: the variable is ours


def _nursery_bytes() -> int:
    """The nursery size this PyPy runs with (gc.get_stats() formats it: '240.0MB')."""
    import gc
    text = str(gc.get_stats().nursery_size)
    for unit, scale in (("GB", 1 << 30), ("MB", 1 << 20), ("KB", 1 << 10)):
        if text.endswith(unit):
            return int(float(text[:-2]) * scale)
    return int(float(text))


def tune_gc(cmdline: str = "/proc/self/cmdline") -> None:
    """(PyPy) Re-execute this process with the same command line and a
    :data:`NURSERY`-sized nursery when PyPy chose one over 16 MB; call it first thing
    (nothing read or written yet). In the re-executed process the variable is removed
    again (pyasm's children, if any, see the user's environment)."""
    if sys.implementation.name != "pypy":
        return
    env = os.environ
    if env.pop(_MARK, None) is not None:
        env.pop(_VARIABLE, None)
        return
    if _VARIABLE in env:
        return
    try:
        if _nursery_bytes() <= _LARGEST:
            return
        with open(cmdline, "rb") as f:
            argv = f.read().split(b"\0")[:-1]
    except (OSError, ValueError, AttributeError):
        return
    if not argv or not sys.executable:
        return
    env[_VARIABLE] = NURSERY
    env[_MARK] = "1"
    try:
        os.execv(sys.executable, argv)
    except OSError:
        env.pop(_VARIABLE, None)
        env.pop(_MARK, None)
