"""Process-wide settings of pyvm's own console entry points (not of library callers)."""

from __future__ import annotations

import gc


def quiet_gc() -> None:
    """Fewer cyclic-collector passes: the objects made while starting (modules, the
    decoder's tables) are never scanned again, and young objects are collected after
    10,000 allocations instead of 700. A short run makes tens of thousands of small
    objects (instances, metadata, tuples): the default passes over them and over the
    start-up heap were ~10% of a warm glibc hello world."""
    if hasattr(gc, "freeze") and hasattr(gc, "set_threshold"):     # (not PyPy's collector)
        gc.freeze()
        gc.set_threshold(10_000, 10, 10)
