"""PyPy's GC nursery for a tool's process, chosen by the tool: PyPy reads its size
(``PYPY_GC_NURSERY``) at start-up only, so a tool re-executes itself once with it.

PyPy sizes the nursery (where new objects are made) from the cache size it reads in
/proc/cpuinfo, half of it: 1 MB on some machines, 240 MB on virtual machines that report
a 480 MB cache. pyvm wants a large one (it makes gigabytes of short-lived objects while
translating: vm/x86/pypy_tuning.py), pyasm a small one (a huge nursery costs it fresh
pages and cache misses: asm/pypy_gc.py). Nothing happens elsewhere (CPython), when the
user set the variable (their choice), or without /proc; in the re-executed process the
variable is removed again, so that it reaches no child (a guest's environment is the
host's).
"""

from __future__ import annotations

import os
import sys

VARIABLE = "PYPY_GC_NURSERY"


def nursery_bytes() -> int:
    """The nursery this PyPy runs with (gc.get_stats() formats it: '240.0MB')."""
    import gc
    text = str(gc.get_stats().nursery_size)
    for unit, scale in (("GB", 1 << 30), ("MB", 1 << 20), ("KB", 1 << 10)):
        if text.endswith(unit):
            return int(float(text[:-2]) * scale)
    return int(float(text))


def reexec_with_nursery(size: str, mark: str, keep_up_to: int = 0,
                        cmdline: str = "/proc/self/cmdline") -> None:
    """(PyPy) Re-execute this process, with the same command line, once with a nursery
    of ``size`` (``"64MB"``); unless PyPy's own is at most ``keep_up_to`` bytes. Call it
    first thing (nothing read or written yet). ``mark``: the variable that tells the
    re-executed process the nursery variable is ours."""
    if sys.implementation.name != "pypy" or sys.argv[:1] in (["-"], [""], []):
        return          # (a program read from stdin or given by no file: not again)
    env = os.environ
    if env.pop(mark, None) is not None:
        env.pop(VARIABLE, None)
        return
    if VARIABLE in env:
        return
    try:
        if keep_up_to and nursery_bytes() <= keep_up_to:
            return
        with open(cmdline, "rb") as f:
            argv = f.read().split(b"\0")[:-1]
    except (OSError, ValueError, AttributeError):
        return
    if not argv or not sys.executable:
        return
    env[VARIABLE] = size
    env[mark] = "1"
    try:
        os.execv(sys.executable, argv)
    except OSError:
        env.pop(VARIABLE, None)
        env.pop(mark, None)
