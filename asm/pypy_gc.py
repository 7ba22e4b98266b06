"""pyasm under PyPy: a 16 MB GC nursery on huge pages, and where the JIT stops inlining.

pyasm makes millions of short-lived objects in one pass, and PyPy sizes its GC nursery
from the cache size /proc/cpuinfo reports (formats/pypy_gc.py): 1 MB on a host that
reports 512 KB or less, 240 MB on virtual machines that report 480 MB. pyasm re-executes
itself once with a 16 MB nursery and glibc's transparent huge pages for malloc
(``glibc.malloc.hugetlb=1``): PyPy's GC takes the nursery and the old generation's arenas
from malloc, and the ~200 MB a 100,000-line run grows to were ~45,000 page faults of
4 KiB; with 2 MiB pages ~8,000-14,000. glibc only asks for them (madvise) where the
kernel's THP mode is ``madvise`` (the usual default); under ``always`` every process gets
them already, under ``never`` none does, and there the nursery's size alone is the gain.

With huge pages a 16 MB nursery is best (fewer minor collections, no longer paid in
faults): on the 100,000-line benchmark 0.647 -> 0.570 s of CPU against PyPy's 240 MB
(medians of 7 interleaved runs; 4 MB 0.595, 8 MB 0.582, 32 MB 0.587, 64 MB 0.612). Without
huge pages (``glibc.malloc.hugetlb=0``) 16 MB is still ahead of the 4 MB pyasm had before:
0.678 -> 0.654 s; a 240 MB nursery cost ~0.25 s against 2-4 MB (fresh pages and cache
misses).

Where PyPy chose 1 MB (a 512 KB cache reported) the same re-execution pays from a few
thousand lines on (CPU medians of interleaved runs, PyPy's 1 MB -> re-executed; the
re-execution itself costs ~0.037 s): 5,000 lines (78 KB) 0.322 -> 0.305 s, 20,000 lines
0.458 -> 0.420, 100,000 lines 0.681 -> 0.610, 300,000 lines 1.114 -> 0.975; but 2,000
lines (31 KB) 0.223 -> 0.234 and 10 lines 0.090 -> 0.113. So a nursery PyPy
chose up to 16 MB is kept when no file the command line names is at least
:data:`_SMALL_SOURCE` bytes (see :func:`_largest_input`).

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

import os
import sys

from formats.pypy_gc import reexec_with_nursery

NURSERY = "16MB"                # (best with huge pages; ahead of 4 MB without them too)
TUNABLES = "glibc.malloc.hugetlb=1"     # (glibc >= 2.35; an older one ignores it)
_LARGEST = 16 << 20             # PyPy's own choice up to this is kept for a small source
_SMALL_SOURCE = 48 << 10        # (bytes: ~3,000 of the benchmark's lines, the break-even)
_OUTPUTS = ("-o", "-l", "-MF", "-MD", "-Z")  # (options whose next argument is a file pyasm writes)

# pypyjit.set_param's string for pyasm (the other parameters keep PyPy's defaults)
JIT_PARAMS = "trace_eagerness=100,threshold=600,function_threshold=800"
# PyPy's optimisations but "unroll" (set apart: a PyPy that names them otherwise keeps its own)
JIT_OPTS = "enable_opts=intbounds:rewrite:virtualize:string:earlyforce:pure:heap"

# (module, function or Class.method) never inlined into a trace
_CALLED = (("asm.shapes", "lookup"), ("asm.assembler", "Assembler._insn"))


def tune_gc(cmdline: str = "/proc/self/cmdline") -> None:
    """(PyPy) Re-execute once with a :data:`NURSERY` nursery and huge pages
    (:data:`TUNABLES`), unless PyPy chose a nursery up to 16 MB and the source is small;
    call it first thing."""
    if sys.implementation.name != "pypy":
        return
    keep = _LARGEST if _largest_input(sys.argv[1:]) < _SMALL_SOURCE else 0
    reexec_with_nursery(NURSERY, "PYASM_PYPY_GC_SET", keep, cmdline, TUNABLES)


def _largest_input(args: list) -> int:
    """The size in bytes of the largest file the command line names (not an option, nor
    the file an output option names): the source, as far as it can be told before the
    command line is parsed (its %includes are not seen)."""
    largest = 0
    for before, arg in zip([""] + args, args):
        if arg[:1] != "-" and before not in _OUTPUTS:
            try:
                largest = max(largest, os.stat(arg).st_size)
            except (OSError, ValueError):
                pass
    return largest


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
