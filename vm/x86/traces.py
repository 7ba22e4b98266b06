"""Superblocks along hot paths ("traces"), found by sampling.

Real code is short basic blocks joined by conditional branches, calls and returns: each
block returns the next key to the dispatcher, reloads the registers it uses and writes
back the ones it changed. Every ``SAMPLE`` instructions the dispatcher hands the current
key to :func:`sample`, which runs the next blocks as the dispatcher would and records
the path they took: each block's instructions (its metadata lists them) and the key it
returned. When the path comes back to where it started (or to a block start further
on, within MAX_BLOCK instructions), that loop is translated as one block
(``Translator.translate_trace``) in place of the block at its start: conditional
branches follow the direction the recorded run took, indirect jumps, calls and returns
the target it took, each behind a guard that leaves the block (the state written back,
the step count exact) when the run goes the other way, and the path's return to its
start is a ``while`` loop. A start sampled twice without a loop gets a straight trace up
to the next trace or MAX_BLOCK instructions. The path only steers: every branch of a
trace is guarded, so a path that is not what the code does next time (a block that left
in its middle) only costs a side exit. Everything else is as for any block: precise
faults, invalidation of written code (a trace leaves at its next branch once a write
dropped it), breakpoints, step limits (at most MAX_BLOCK instructions per iteration).

Samples that find nothing new space the next ones out (up to BACKOFF times). Only flat
32-bit code is traced; tracing, single-stepping and runs near their step limit never
sample.
"""

from __future__ import annotations

from vm.x86.emit import MAX_BLOCK

try:
    # PyPy: blocks run opaquely here too, as in Machine._dispatch (inlined into this loop,
    # every block would add a bridge to its JIT-compiled code)
    from pypyjit import residual_call as _opaque_call
except ImportError:
    _opaque_call = None

# instructions between samples (times Translator.trace_backoff): real programs' hot code is
# spread over hundreds of blocks, and a sample every 5,000 finds 2-4x the traces of one
# every 20,000 (the first sample still comes after 80,000: hello world never records)
SAMPLE = 5_000
RECORD = 2 * MAX_BLOCK  # instructions recorded per sample (then on to a block's start)
BACKOFF = 16            # samples finding nothing space the next ones out up to this times


def _ips(meta) -> list:
    """The keys of a block's instructions, in order (flat mode: their addresses)."""
    ips = meta.__dict__.get("ips")
    if ips is None:
        ips, last = [], -1
        for im in meta.insns:
            if im.idx != last:
                ips.append(im.ip)
                last = im.idx
        meta.ips = ips
    return ips


def sample(tr, key: int, top: int, margin: list) -> int:
    """Run and record blocks from key (while the step count stays within top) and
    install a trace when the path shows one; returns the key to continue at."""
    cpu = tr.cpu
    cache = tr.cache
    fn = cache.get(key)
    if cpu.real or cpu.pm or tr.stops or fn is not None and fn.meta.trace:
        tr.trace_backoff = min(tr.trace_backoff * 2, BACKOFF)
        return key
    st = cpu.steps
    lim = tr.lim
    path: list = []
    starts: list = []           # (index in path, key) of each block run
    head = key
    while st[0] <= top and margin[0] >= 0 and lim[0] and len(path) < RECORD:
        fn = cache.get(key)
        if fn is None:
            fn = tr.translate(key)
        meta = fn.meta
        if meta.trace or meta.loop:
            break               # a trace or a loop block takes over from here
        starts.append((len(path), key))
        path.extend(_ips(meta))
        key = fn() if _opaque_call is None else _opaque_call(fn)
        if key == head:
            path.append(key)
            break
    trace = choose(tr, path, starts)
    if trace is not None:
        tr.translate_trace(trace[0], trace)
        tr.trace_backoff = 1
    else:
        tr.trace_backoff = min(tr.trace_backoff * 2, BACKOFF)
    return key


def choose(tr, path: list, starts: list):
    """The path to make a trace of: from its start back to it (a loop), else from the
    first block start that it comes back to, else, once the start was sampled before,
    the most whole blocks from the start that fit in MAX_BLOCK instructions; None when
    none is worth it."""
    if not path:
        return None
    head = path[0]
    if len(path) > 1 and path[-1] == head and len(path) <= MAX_BLOCK + 1:
        return path
    first: dict = {}        # else a loop further on, at the start of a block
    for i, k in starts:
        j = first.get(k)
        if j is not None and i - j <= MAX_BLOCK:
            return path[j:i + 1]
        first[k] = i
    tried = tr.trace_tries
    n = tried.get(head, 0) + 1
    tried[head] = n
    if n < 2:
        return None
    # whole blocks only, so that it ends where a block starts (not in the middle of one,
    # which would make a block there), and two or more of them
    ends = [i for i, _ in starts[2:] if i <= MAX_BLOCK]
    if len(starts) >= 2 and len(path) <= MAX_BLOCK:
        ends.append(len(path))
    return path[:ends[-1]] if ends else None
