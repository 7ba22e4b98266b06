"""PyPy's JIT settings for the emulator, and translation with the JIT held off.

Under PyPy the dispatcher (``Machine._dispatch``) calls each block opaquely, so that a
block is JIT-compiled as its own function once it has run ``function_threshold`` times.
Translating is different: the decoder, the block builder and the first tier's template
maker run once per new instruction, ten thousand times in a typical program, along
ever-new paths. Left to the JIT, about half of what it traces in such a run is that code
(bridges of the decoder's and the builder's branches), at milliseconds per trace, and the
program is over before the machine code pays back (qsort: translating took 2.0 s of
CPU with the JIT on, 1.1 s with it held off). So :func:`cold` runs a translation (or a
trace sample, which translates) with every JIT counter stopped (nothing new is traced;
machine code already compiled still runs) and as an opaque call, so that a trace being
recorded around it does not inline it either. A front end's start-up (from
:func:`tune_gc` to the first translation: imports, argument parsing, loading the program)
runs with high thresholds (:data:`STARTING`), as it too runs once.

PyPy's garbage collector makes new objects in a *nursery* sized from the cache size
the CPU reports (1 MB to hundreds) and copies out the survivors when it fills. A run
makes gigabytes of short-lived objects while translating and interpreting its blocks
(printf: 7,600 minor collections, a tenth of the run), so :func:`tune_gc` (called by ``python -m vm.linux`` and the ``pyvm``
script) re-executes the process once with a larger nursery (:data:`NURSERY`); PyPy reads
it only at start-up.

Where a PyPy run's time goes: ``PYVM_PYPY_PROFILE=1`` prints one line on stderr at exit
(:class:`Profile`): CPU time in translating and in trace sampling (both held off, see
above), PyPy's JIT tracing and backend time with the loops and bridges it compiled, and
the GC's time. (``PYPYLOG=jit-summary:FILE`` writes nothing for a pyvm run: PyPy removes
PYPYLOG from the environment, so the process :func:`tune_gc` re-executes logs nothing,
and the summary is written by PyPy's own shutdown, which vm/startup.py's exit_now skips.
Set ``PYPY_GC_NURSERY`` yourself and end the run by SystemExit to get it:
``pypy3 -m vm.bench.jitlog PROGRAM ARGS`` does, and weighs the compiled code by how often
it ran.)

Elsewhere (CPython) the module does nothing and :data:`ACTIVE` is False.
"""

from __future__ import annotations

import sys
import time
from typing import Any, Callable, Optional, TextIO

from formats.envswitch import env_switch
from formats.pypy_gc import reexec_with_nursery

# only under PyPy: elsewhere `python -m` would import any `pypyjit` in the start
# directory (a guest's writable tree) as this module
if sys.implementation.name == "pypy":
    try:
        import pypyjit
    except ImportError:
        pypyjit = None
else:
    pypyjit = None

ACTIVE = pypyjit is not None

# while guest code runs: a block is compiled on its own once called this often (PyPy's
# default, 1619, would leave most blocks of a real program in the interpreter)
RUNNING: dict = {"threshold": 1039, "function_threshold": 300, "trace_eagerness": 200}
# while translating: a threshold <= 0 never fires, so no loop, function or bridge is
# traced from there
TRANSLATING: dict = {"threshold": -1, "function_threshold": -1, "trace_eagerness": -1}
# a front end's start-up, from tune_gc to the first translation: imports, argument parsing,
# loading the program run once, and the JIT traced their loops (a glibc hello world: sre's
# parser on the patterns compiled at import, importlib's path walks; 30% of the JIT's
# operations, 3.4% of the run's instructions). Not held off entirely: a machine that
# never translates (B32, V16) still gets its interpreter loop compiled.
STARTING: dict = {"threshold": 20000, "function_threshold": 20000, "trace_eagerness": 20000}

_depth = [0]                    # cold() calls in progress (a translation may nest)

# PyPy's GC settings for a run (read at start-up only): a 64 MB nursery took 4-19% off
# each real program's CPU time (printf 9.9 -> 8.1 s: 7,600 minor collections -> ~110;
# 16-128 MB measured alike)
NURSERY = "64MB"
_MARK = "PYVM_PYPY_GC_SET"      # (in the re-executed process: the nursery variable is ours)


def configure(**params: int) -> None:
    """Change the JIT parameters guest code runs with (and apply them now unless a
    translation is in progress); e.g. tests use tiny thresholds."""
    RUNNING.update(params)
    if ACTIVE and not _depth[0]:
        pypyjit.set_param(**RUNNING)


def _cold(fn: Callable, *args: Any) -> Any:
    """``fn(*args)`` with the JIT held off, called opaquely (PyPy); a plain call
    elsewhere."""
    if not ACTIVE:
        return fn(*args)
    d = _depth
    if not d[0]:
        # held off before the opaque call, not inside it: a function entered with the
        # counters running counts that entry, and once it was entered often enough the
        # JIT traced it with the whole translation inlined (a wrapper doing the holding
        # was so compiled, some 1,000 operations of translate() and tier0.instance,
        # and every later translation entered that code and left it at a failing guard)
        pypyjit.set_param(**TRANSLATING)
    d[0] += 1
    try:
        return pypyjit.residual_call(fn, *args)
    finally:
        d[0] -= 1
        if not d[0]:
            pypyjit.set_param(**RUNNING)


class Profile:
    """CPU seconds and calls of the outermost :func:`cold` calls by function name, and
    at exit one line on stderr (PYVM_PYPY_PROFILE; a forked guest process prints its
    own): what a run spends besides running guest code."""

    def __init__(self) -> None:
        self.seconds: dict = {}
        self.calls: dict = {}

    def cold(self, fn: Callable, *args: Any) -> Any:
        if _depth[0]:               # (nested: counted in the outer call)
            return _cold(fn, *args)
        t0 = time.process_time()
        try:
            return _cold(fn, *args)
        finally:
            name = getattr(fn, "__name__", "?")
            self.seconds[name] = self.seconds.get(name, 0.0) + time.process_time() - t0
            self.calls[name] = self.calls.get(name, 0) + 1

    def line(self) -> str:
        """'pyvm-pypy: 1.86 s CPU: translate 0.64 s (11429 calls), ...'."""
        parts = [f"{name} {sec:.2f} s ({self.calls[name]} calls)"
                 for name, sec in sorted(self.seconds.items(), key=lambda kv: -kv[1])]
        if ACTIVE:     # (False only where a CPython test makes a Profile itself)
            # (PyPy's JIT times are wall clock: on a loaded machine they exceed CPU time)
            snap = pypyjit.get_stats_snapshot()
            t, c = snap.counter_times, snap.counters
            parts.append(f"JIT tracing {t.get('TRACING', 0):.2f} s + backend "
                         f"{t.get('BACKEND', 0):.2f} s wall ({c.get('TOTAL_COMPILED_LOOPS', 0)} "
                         f"loops, {c.get('TOTAL_COMPILED_BRIDGES', 0)} bridges, "
                         f"{c.get('ABORT_TOO_LONG', 0)} too long)")
            import gc
            gc_ms = getattr(gc.get_stats(), "total_gc_time", None)
            if gc_ms is not None:
                parts.append(f"GC {gc_ms / 1000:.2f} s")
        return f"pyvm-pypy: {time.process_time():.2f} s CPU: " + ", ".join(parts)

    def report(self, err: Optional[TextIO] = None) -> None:
        print(self.line(), file=err or sys.stderr)


PROFILE = Profile() if ACTIVE and env_switch("PYVM_PYPY_PROFILE") else None
if PROFILE is not None:
    import atexit
    atexit.register(PROFILE.report)
    cold = PROFILE.cold
else:
    cold = _cold


def translating() -> bool:
    """Whether a :func:`cold` call is in progress."""
    return _depth[0] > 0


def tune_gc(cmdline: str = "/proc/self/cmdline") -> None:
    """(PyPy) Re-execute this process once with a :data:`NURSERY` nursery
    (formats/pypy_gc.py); call it before anything else happens."""
    reexec_with_nursery(NURSERY, _MARK, cmdline=cmdline)
    if ACTIVE and not _depth[0]:
        pypyjit.set_param(**STARTING)     # (until the first translation: cold)


if ACTIVE:
    pypyjit.set_param(**RUNNING)
