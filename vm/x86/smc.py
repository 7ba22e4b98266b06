"""Self-modifying code inside the running block: the next instruction sees the write.

A P6 or later CPU notices a store into an instruction it has already fetched and fetches
it again, so a write takes effect at the very next instruction even without a jump (a
486's 32-byte prefetch queue did not; our blocks are hundreds of bytes long). Blocks
already leave at a followed jump or a back edge when code they translated was written
(their ``ALIVE`` cell, emit.py); straight-line code after the store is this module's.

Nothing on the fast path: a write to a page holding translated code already takes the
slow path, whose :meth:`Translator.invalidate` finds the blocks the write kills. When one
of them is the block running now (:func:`stop_running`: the innermost block frame, found
from the stack), the storing instruction completes as it is, and a local trace function
on that frame raises :class:`CodeChanged` when the block reaches any other of its
instructions. Whoever handles it first (``Translator.unwind_exc``: the dispatcher) unwinds
it there from the block's frame as it would a fault (the state at that instruction's start, nothing of it run), ``Machine.run`` resumes, and the next
block is translated from the new bytes. So every write is done exactly once, also by a
helper (``rep movs``, x87 stores, system calls) that reports its write after making it,
and an instruction that writes its own bytes runs as fetched (the change shows next
time). A single-instruction block has no other instruction: nothing is traced. A fault
later in the storing instruction is unwound as always (the trace function stands aside).

The block made where it stops, and from then on the block at the stopped one's start,
end before the bytes written (``Translator.fence``, ``fences``): code that stores just
ahead of itself would otherwise be stopped, and as long a block made again, at every
instruction (O(n^2); random bytes run as a .COM) or two or three blocks every pass of a
loop that patches its body.

The trace function is the host's (``sys.settrace``; CPython and PyPy raise an exception
from it in the traced frame, at the line it was called for, and turn tracing off) and is
on only from the write to the block's next instruction or its return; a tracer that was
already on (a debugger, coverage) is chained and put back.
"""

from __future__ import annotations

import sys
from bisect import bisect_right
from typing import Callable, Iterable, Optional


class CodeChanged(Exception):
    """Raised in a block before its instruction ``k`` (an index into its meta's
    ``insns``) because code of the block was written; ``prev``: the tracer to put back."""

    def __init__(self, k: int, prev: Optional[Callable]):
        super().__init__("code of the running block was written")
        self.k, self.prev = k, prev

    def resume(self) -> None:
        """After the unwind: the tracer that was on before (raising turned tracing off)."""
        if self.prev is not None and sys.gettrace() is None:
            sys.settrace(self.prev)


class _StopBefore:
    """The local trace function of the running block after a write into its code."""

    def __init__(self, meta, line: int, prev: Optional[Callable], local: Optional[Callable]):
        im = meta.insns[max(bisect_right(meta.lines, line) - 1, 0)]
        self.meta, self.cur, self.last = meta, (im.idx, im.ip), line
        self.prev, self.local = prev, local

    def __call__(self, frame, event: str, arg):
        if self.local is not None:
            self.local = self.local(frame, event, arg)
        if event == "exception":    # a fault later in the storing instruction: the
            self.meta = None        # dispatcher unwinds it (unwind_exc), to be left alone
        elif event == "line" and self.meta is not None:
            line = frame.f_lineno
            lines, insns = self.meta.lines, self.meta.insns
            # the instructions that start after the line run last (all of them after a
            # back edge) up to this one: the first of them ran no code yet (one that
            # emitted none, or whose first line is blank, shares a line with the next)
            lo = bisect_right(lines, self.last) if line > self.last else 0
            for k in range(lo, bisect_right(lines, line)):
                im = insns[k]
                if (im.idx, im.ip) != self.cur:
                    raise CodeChanged(k, self.prev)
            self.last = line
        elif event == "return":
            sys.settrace(self.prev)
        return self


def _calls(prev: Optional[Callable]) -> Callable:
    """The global trace function meanwhile: no tracing of the frames called (or the
    tracer that was on before decides). A block called means the traced one returned
    unseen or a helper runs guest code: tracing goes back to what it was (never left on
    for the rest of the run; at worst that block runs on as it was translated)."""
    def trace(frame, event, arg):
        if frame.f_code.co_name == "_blk":
            sys.settrace(prev)
        return prev(frame, event, arg) if prev is not None else None
    return trace


def stop_running(blocks: dict, dead: Iterable[int]) -> Optional[int]:
    """The guest wrote code of the blocks ``dead`` (ids in ``blocks``, the translator's):
    if one of them is running, stop it before its next instruction (see the module
    docstring); the key of the running block if it is (already) to stop."""
    f = sys._getframe(1)
    while f is not None and f.f_code.co_name != "_blk":
        f = f.f_back
    if f is None:
        return None
    meta = f.f_locals.get("META")
    if isinstance(f.f_trace, _StopBefore):
        return getattr(meta, "key", None)
    # (the block by its metadata, blocks[bid][5]: a code object is shared by blocks of
    # the same source)
    if meta is not None and (meta.n > 1 or meta.loop) and \
            any(blocks[bid][5] is meta for bid in dead):
        prev = sys.gettrace()
        f.f_trace = _StopBefore(meta, f.f_lineno, prev, f.f_trace)
        sys.settrace(_calls(prev))
        return meta.key
    return None
