"""Dispatch statistics (``PYVM_DISPATCH_STATS=1``): how many times the dispatcher called
a block, of which kind, and how many instructions each kind ran per call, printed to
stderr when the process exits. For finding where the dispatches of a program come from
(issue 14: each costs a call, a lookup and the block's register loads and write-back).

The translation cache (``Translator.cache``) becomes a dict that counts its subscripts:
the CPython dispatch loop looks each block up with ``cache[key]``, and a miss runs what
``Translator.translate`` returns (single steps and traces.py's recordings through blocks
already translated use other lookups and are not counted: the instructions they run
count to the block looked up before them). Each Machine made while the switch is on
(vm/envswitch.py) counts its own dispatches and reports them at exit; off, nothing of
this is imported.
"""

from __future__ import annotations

import atexit
import sys

KINDS = ("loop trace", "straight trace", "loop block", "block", "first tier")


def _kind(meta) -> int:
    if meta.trace:
        return 0 if meta.loop else 1
    if getattr(meta, "tier0", False):
        return 4
    return 2 if meta.loop else 3


class CountingCache(dict):
    """A translation cache that counts ``cache[key]`` per kind of block, with the
    instructions run between one lookup and the next (those of the block looked up)."""

    def __init__(self, steps: list, items: dict):
        super().__init__(items)
        self.st = steps
        self.calls = [0] * len(KINDS)
        self.insns = [0] * len(KINDS)
        self.whole = 0          # straight traces that ran their whole path
        self.prev = None        # (kind, meta, step count) of the block looked up last

    def __getitem__(self, key):
        return self.looked_up(dict.__getitem__(self, key))   # (a miss: the KeyError)

    def looked_up(self, fn):
        """fn is called next (a hit, or the block a miss translated)."""
        self._account()
        meta = fn.meta
        k = _kind(meta)
        self.calls[k] += 1
        self.prev = (k, meta, self.st[0])
        return fn

    def _account(self) -> None:
        if self.prev is not None:
            k, meta, s0 = self.prev
            n = self.st[0] - s0
            self.insns[k] += n
            if k == 1 and n == len(meta.paths[0]):
                self.whole += 1
            self.prev = None

    def report(self, out=None) -> None:
        self._account()
        out = out or sys.stderr
        calls, insns = sum(self.calls), sum(self.insns)
        print(f"pyvm: {calls} dispatches, {insns / max(calls, 1):.1f} instructions each",
              file=out)
        for name, c, n in zip(KINDS, self.calls, self.insns):
            if c:
                extra = f", {self.whole} ran their whole path" if name == "straight trace" else ""
                print(f"pyvm:   {name:14s} {c:10d} ({100 * c / calls:4.1f}%) "
                      f"{n / c:6.1f} instructions each{extra}", file=out)


def install(machine, at_exit: bool = True) -> CountingCache:
    """Count the dispatches of machine's translator from now on (reported when the
    process exits, with ``at_exit``)."""
    tr = machine.tr
    cache = CountingCache(machine.cpu.steps, tr.cache)
    tr.cache = cache
    translate = tr.translate

    def counted(key: int, single: bool = False):
        fn = translate(key, single)
        return fn if single else cache.looked_up(fn)

    tr.translate = counted      # (the block a miss translates runs next)
    if at_exit:
        atexit.register(cache.report)
    return cache
