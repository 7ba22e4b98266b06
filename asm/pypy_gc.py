"""pyasm under PyPy: a GC nursery of a few megabytes, and where the JIT stops inlining.

pyasm makes millions of short-lived objects in one pass; where PyPy picks a nursery of
hundreds of megabytes (formats/pypy_gc.py) it pays for every fresh page of it (system
time) and for the cache misses: on the 100,000-line benchmark source a 240 MB nursery
cost ~0.25 s of CPU against 2-4 MB. A nursery PyPy chose up to 16 MB is kept.

The re-executed process also gets glibc's transparent huge pages for malloc
(``glibc.malloc.hugetlb=1``): PyPy's GC takes the nursery and the old generation's arenas
from malloc, and the ~200 MB a 100,000-line run grows to were ~40,000 page faults of
4 KiB (0.06 s of system time); with 2 MiB pages ~7,000. The nursery is then best at
16 MB (fewer minor collections, no longer paid in faults): the 100,000-line benchmark
0.647 -> 0.570 s of CPU (medians of 7 interleaved runs; 4 MB with huge pages 0.595,
8 MB 0.582, 32 MB 0.587, 64 MB 0.612).

Pass 1 is one loop over the lines with a branch per kind of line; PyPy's JIT compiles a
bridge for each, and by default inlines the callees into every bridge that calls them.
The few callees in :data:`_CALLED` (the line-shape lookup, the instruction path) sit
under many such bridges: compiled once as functions of their own (:func:`tune_jit`)
instead, the JIT has less to trace and the program is JIT-compiled sooner.

Each such branch is first a guard of a trace that fails; PyPy compiles a bridge for it
after :data:`JIT_PARAMS`' number of failures (200 by default). Lines of a kind not seen
yet keep failing the guards of the line loop for the whole of pass 1, interpreted until
their bridge comes: with 100 they come sooner (callgrind, `python -m asm.cli`: the
20,000-line benchmark source 3.03 G instructions -> 2.90 G; at 100,000 lines no change).

A third of a 100,000-line run is the JIT tracing and compiling (PYPYLOG=jit-summary), and
most of what it compiles runs a few thousand times: without the loop-unrolling
optimisation (a loop's peeled first iteration, "unroll" of ``enable_opts``) it compiles
less for about the same code (the 100,000-line benchmark 0.727 -> 0.714 s of CPU, median
of 9 interleaved runs; 10,000 and 300,000 lines and the %rep/%assign case unchanged).

Most of pass 1's loops and functions run a few thousand times: compiled sooner than PyPy's
defaults say (a loop after 1039 iterations, a function after 1619 calls), at 600 and 800,
the 100,000-line benchmark takes 1-2% less CPU (0.663 -> 0.650 s and 0.656 -> 0.647 s,
medians of 9 interleaved runs), 20,000 and 300,000 lines and the %rep/%assign case the
same or slightly less (400/600 or 600/600 compile more for no gain).
"""

from __future__ import annotations

import sys

from formats.pypy_gc import reexec_with_nursery

NURSERY = "16MB"                # (with huge pages; without them 2-8 MB were best)
TUNABLES = "glibc.malloc.hugetlb=1"     # (glibc >= 2.35; an older one ignores it)
_LARGEST = 16 << 20             # PyPy's own choice up to this is kept (no re-execution)

# pypyjit.set_param's string for pyasm (the other parameters keep PyPy's defaults)
JIT_PARAMS = "trace_eagerness=100,threshold=600,function_threshold=800"
# PyPy's optimisations but "unroll" (set apart: a PyPy that names them otherwise keeps its own)
JIT_OPTS = "enable_opts=intbounds:rewrite:virtualize:string:earlyforce:pure:heap"

# (module, function or Class.method) never inlined into a trace
_CALLED = (("asm.shapes", "lookup"), ("asm.assembler", "Assembler._insn"))


def tune_gc(cmdline: str = "/proc/self/cmdline") -> None:
    """(PyPy) Re-execute once with a :data:`NURSERY` nursery and huge pages
    (:data:`TUNABLES`) when PyPy chose a nursery over 16 MB; call it first thing."""
    reexec_with_nursery(NURSERY, "PYASM_PYPY_GC_SET", _LARGEST, cmdline, TUNABLES)


def not_inlined() -> list:
    """The code objects of :data:`_CALLED`."""
    import importlib
    codes = []
    for module, name in _CALLED:
        obj = importlib.import_module(module)
        for part in name.split("."):
            obj = getattr(obj, part)
        codes.append(obj.__code__)
    return codes


def tune_jit() -> None:
    """(PyPy) The JIT's parameters for pyasm (:data:`JIT_PARAMS`), and the functions of
    :data:`_CALLED` become calls in the JIT's traces, compiled as functions of their own
    (nothing happens elsewhere)."""
    if sys.implementation.name != "pypy":
        return
    try:
        import pypyjit
    except ImportError:         # (a PyPy without its JIT)
        return
    pypyjit.set_param(JIT_PARAMS)
    try:
        pypyjit.set_param(JIT_OPTS)
    except ValueError:          # (an optimisation this PyPy does not have)
        pass
    for code in not_inlined():
        # the green key of a function's start: (next instruction 0, not profiled, code)
        pypyjit.dont_trace_here(0, False, code)
