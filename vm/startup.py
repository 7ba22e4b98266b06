"""Process-wide settings of pyvm's own console entry points (not of library callers)."""

from __future__ import annotations

import atexit
import gc


def quiet_gc() -> None:
    """Fewer cyclic-collector passes: the objects made while starting (modules, the
    decoder's tables) are never scanned again, and young objects are collected after
    100,000 allocations instead of 700. A short run makes tens of thousands of small
    objects (instances, metadata, tuples), most of them kept: the default passes over
    them and over the start-up heap were ~10% of a warm glibc hello world, and with
    10,000 still 12 ms of a cold one (under 1 ms now). Also turns the collector back on where
    ``python -m vm.linux`` turned it off while pyvm's modules were imported."""
    if hasattr(gc, "freeze") and hasattr(gc, "set_threshold"):     # (not PyPy's collector)
        gc.freeze()
        gc.set_threshold(100_000, 10, 10)
        # and at exit: the interpreter's shutdown passes over every object left were 3%
        # of a cold hello world. pyvm's own clean-up is explicit (files closed, the code
        # cache committed), and a cycle's finalizer has nothing left to do when the
        # process ends
        atexit.register(gc.freeze)
    gc.enable()
