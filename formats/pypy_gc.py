"""PyPy's GC nursery for a tool's process, chosen by the tool: PyPy reads its size
(``PYPY_GC_NURSERY``) at start-up only, so a tool re-executes itself once with it.

PyPy sizes the nursery (where new objects are made) from the cache size it reads in
/proc/cpuinfo, half of it: 1 MB on some machines, 240 MB on virtual machines that report
a 480 MB cache. pyvm wants a large one (it makes gigabytes of short-lived objects while
translating: vm/x86/pypy_tuning.py), pyasm 16 MB (a huge nursery costs it fresh pages
and cache misses, a tiny one minor collections: asm/pypy_gc.py). Nothing happens
elsewhere (CPython), when the user set the variable (their choice), or without /proc; in
the re-executed process the variable is removed again, so that it reaches no child (a
guest's environment is the host's).

A tool may also ask for glibc's malloc tunables in the same re-execution (``tunables``,
read by glibc at start-up only, as ``GLIBC_TUNABLES``): pyasm asks for transparent huge
pages (``glibc.malloc.hugetlb=1``), as PyPy's GC takes its memory from malloc and each
fresh 4 KiB page is a page fault (asm/pypy_gc.py). glibc then madvises its memory, which
matters where the kernel's THP mode is ``madvise``; under ``always`` a process gets huge
pages anyway, under ``never`` not at all. A user's own ``GLIBC_TUNABLES`` is left as it
is (nothing added), and ours is removed again in the re-executed process.

The first call in a process decides; a later one does nothing (pyasm's ``python -m
asm.cli`` calls it twice, and the re-executed process's second call, its mark gone,
would otherwise re-execute once more where ``keep_up_to`` does not stop it).
"""

from __future__ import annotations

import os
import sys

VARIABLE = "PYPY_GC_NURSERY"
TUNABLES = "GLIBC_TUNABLES"
_OURS = "tunables"          # the mark's value when the tunables are ours (else "1")
_decided: list = []         # (non-empty once a call in this process decided)


def nursery_bytes() -> int:
    """The nursery this PyPy runs with (gc.get_stats() formats it: '240.0MB')."""
    import gc
    text = str(gc.get_stats().nursery_size)
    for unit, scale in (("GB", 1 << 30), ("MB", 1 << 20), ("KB", 1 << 10)):
        if text.endswith(unit):
            return int(float(text[:-2]) * scale)
    return int(float(text))


def reexec_with_nursery(size: str, mark: str, keep_up_to: int = 0,
                        cmdline: str = "/proc/self/cmdline", tunables: str = "") -> None:
    """(PyPy) Re-execute this process, with the same command line, once with a nursery
    of ``size`` (``"64MB"``); unless PyPy's own is at most ``keep_up_to`` bytes. Call it
    first thing (nothing read or written yet). ``mark``: the variable that tells the
    re-executed process the nursery variable is ours. ``tunables``: glibc's
    (``GLIBC_TUNABLES``) for the re-executed process, unless the user set their own."""
    if _decided:
        # a later call reads PyPy's statistics as before this guard (pyasm's second call
        # comes right before its gc.disable(): a run not re-executed stays as it was)
        try:
            nursery_bytes()
        except (AttributeError, ValueError):    # (as the first call: a PyPy without it)
            pass
        return
    if sys.implementation.name != "pypy" or sys.argv[:1] in (["-"], [""], []):
        return          # (a program read from stdin or given by no file: not again)
    _decided.append(True)
    env = os.environ
    was = env.pop(mark, None)
    if was is not None:
        env.pop(VARIABLE, None)
        if was == _OURS:
            env.pop(TUNABLES, None)
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
    ours = bool(tunables) and TUNABLES not in env
    env[VARIABLE] = size
    env[mark] = _OURS if ours else "1"
    if ours:
        env[TUNABLES] = tunables
    try:
        os.execv(sys.executable, argv)
    except OSError:
        env.pop(VARIABLE, None)
        env.pop(mark, None)
        if ours:
            env.pop(TUNABLES, None)
