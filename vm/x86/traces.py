"""Superblocks along hot paths ("traces"), found by sampling.

Real code is short basic blocks joined by conditional branches, calls and returns: each
block returns the next key to the dispatcher, reloads the registers it uses and writes
back the ones it changed. Every ``SAMPLE`` instructions the dispatcher hands the current
key to :func:`sample`, which runs the next blocks as the dispatcher would and records
the path they took: each block's instructions (its metadata lists them) and the key it
returned. When the path comes back to where it started (or to a block start further
on, within MAX_LOOP instructions), that loop is translated as one block
(``Translator.translate_trace``) in place of the block at its start: conditional
branches follow the direction the recorded run took, indirect jumps, calls and returns
the target it took, each behind a guard that leaves the block (the state written back,
the step count exact) when the run goes the other way, and the path's return to its
start is a ``while`` loop. A recording runs on through the straight traces it meets
(the instructions one ran are the first of its path: a side exit counts them), so that
a loop through them is still found (a loop that comes back to where it was sampled
without a branch, where its block was cut, starts after its first branch instead).
Without a loop, the first block start of the recording that an earlier recording went
through too (it is hot) and that two or more whole blocks fit after gets a straight
trace of whole blocks, up to MAX_BLOCK instructions. The path only steers: every
branch of a trace is guarded, so a path that is not what the code does next time (a
block that left in its middle) only costs a side exit. Everything else is as for any
block: precise faults, invalidation of written code (a trace leaves at its next branch
once a write dropped it), breakpoints, step limits (at most MAX_LOOP instructions per
iteration; one longer than MAX_BLOCK checks on entry that a whole iteration fits before
the limit).

A loop trace grows into a tree (``tracebuilder.py``): a sample at its start records the
path one iteration takes now through the plain blocks (``Translator.base_block``), and
a sample where the run left it records the way back to its start, joined to its paths
at the first branch that can go there; a path found twice is added (up to MAX_PATHS),
with the paths found once since the last translation, and the trace is translated
again with the other paths inline as arms of the first. A
switch in a loop, or a loop body with an if/else, then runs in one Python function.

Samples that find nothing new space the next ones out (up to BACKOFF times), and the
interval is jittered (Machine._dispatch) so that a program's own period (an interpreter
running the same bytecode) does not make every sample land at the same point. Only flat
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
# instructions of one loop trace's iteration, any path: past MAX_BLOCK a trace entered
# nearer its step limit than that runs its plain block instead (Translator.translate_trace)
# (sha256's round loop is two blocks of 56 instructions)
MAX_LOOP = RECORD
BACKOFF = 16            # samples finding nothing space the next ones out up to this times
MAX_PATHS = 16          # paths of one loop trace (each new one translates it again; an
                        # interpreter's switch in a loop is one path per case)


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
    install a trace when the path shows one, or give a loop trace the run reached
    another path; returns the key to continue at."""
    cpu = tr.cpu
    if cpu.real or cpu.pm or tr.stops:
        tr.trace_backoff = min(tr.trace_backoff * 2, BACKOFF)
        return key
    fn = tr.cache.get(key)
    if fn is None or not fn.meta.trace:
        path, starts, key, reached = _record(tr, key, top, margin, False)
        # a way back into a loop trace first: choose would make a straight trace of it
        # (one that ends at the loop's start), and the loop's arm runs it without a
        # dispatch
        if reached is not None and path and _join(tr, reached, path):
            tr.trace_backoff = 1
            return key
        # a run on its way into a loop trace: the loop's next path first (a straight
        # trace inside the loop would stop the samples that find them), and a straight
        # trace only from where it was sampled
        loop = reached is not None and reached.meta.loop
        if loop:
            grown, key = _grow(tr, key, reached, top, margin)
            if grown:
                tr.trace_backoff = 1
                return key
        trace = choose(tr, path, starts, reached is None)
        if trace is not None:
            tr.translate_trace(trace[0], trace)
            tr.trace_backoff = 1
            return key
        fn = None if loop else reached
    grown = False
    if fn is not None:
        grown, key = _grow(tr, key, fn, top, margin)
    tr.trace_backoff = 1 if grown else min(tr.trace_backoff * 2, BACKOFF)
    return key


def _record(tr, key: int, top: int, margin: list, plain: bool) -> tuple:
    """Run blocks from key until the run comes back to key or RECORD instructions;
    with ``plain``, through the plain blocks at traces' starts (Translator.base_block),
    else up to the first loop trace, through the straight traces (the part of its path
    one ran: a side exit leaves after its first n instructions, n its step count).
    (path, [(index in path, key) of each block], the key to continue at, the trace
    the run stopped before (or at) or None)."""
    cpu = tr.cpu
    cache = tr.cache
    st = cpu.steps
    lim = tr.lim
    path: list = []
    starts: list = []           # (index in path, key) of each block run
    head = key
    reached = None
    while st[0] <= top and margin[0] >= 0 and lim[0] and len(path) < RECORD:
        fn = cache.get(key)
        if fn is None:
            fn = tr.translate(key)
        meta = fn.meta
        if meta.trace and plain:
            fn = tr.base_block(key)
            meta = fn.meta
        if meta.loop or meta.trace and (plain or len(meta.paths) != 1):
            # a loop trace or a loop block takes over from here
            reached = fn if meta.trace else None
            break
        starts.append((len(path), key))
        ips = meta.paths[0] if meta.trace else _ips(meta)
        s0 = st[0]
        key = fn() if _opaque_call is None else _opaque_call(fn)
        if meta.trace:
            # (a straight trace that left its path leaves where the recording goes on:
            # stopping here, a loop through its side exit was never found and straight
            # traces inside the loop kept its tree from growing)
            n = st[0] - s0
            if n > len(ips):            # (not along its path: nothing to record)
                del starts[-1]
                reached = fn
                break
            ips = ips[:n]
        path.extend(ips)
        if key == head:
            path.append(key)
            break
    return path, starts, key, reached


def _join(tr, fn, path: list) -> bool:
    """The run left the loop trace fn at a branch (to path[0], where the sample found
    it) and came back to its start along path: the trace takes that way as one more
    path, from the first branch on its paths that can go there. True when it did."""
    meta = fn.meta
    paths = getattr(meta, "paths", None)
    head = meta.key
    if not paths or len(paths) >= MAX_PATHS or not meta.loop:
        return False
    k = path[0]
    tail = path + [head]
    for p in paths:
        for i in range(min(len(p) - 1, MAX_LOOP + 1 - len(tail))):
            if p[i + 1] != k and _goes(tr, p[i], k):
                new = p[:i + 1] + tail
                if new not in paths:
                    _add(tr, head, paths, new)
                    return True
    return False


def _goes(tr, key: int, to: int) -> bool:
    """Whether the instruction at key (flat mode) can branch to ``to``."""
    seen = tr.trace_branches.get(key)
    if seen is None:
        try:
            insn = tr.fetch(key, key)[0]
        except Exception:       # (not decodable now: no path through it)
            return False
        m, form = insn.form.mnemonic, insn.form.operands
        if m.startswith("ret") or m in ("jmp", "call") and form and form[0].startswith("rm"):
            seen = True         # an indirect branch: anywhere
        elif form and form[0].startswith("rel"):
            seen = (insn.operands[0].value & 0xFFFFFFFF, key + insn.length)
        else:
            seen = ()
        tr.trace_branches[key] = seen
    return seen is True or to in seen


def _grow(tr, key: int, fn, top: int, margin: list) -> tuple:
    """A loop trace at key: record the path one iteration takes now through the plain
    blocks and, when it is new and comes back to key, translate the trace again with
    it as one more (tracebuilder.py). (whether it did, the key to continue at)."""
    paths = getattr(fn.meta, "paths", None)
    if not paths or len(paths) >= MAX_PATHS or not fn.meta.loop:
        return False, key
    path, _, nxt, _ = _record(tr, key, top, margin, True)
    if len(path) < 2 or path[-1] != key or len(path) > MAX_LOOP + 1 or path in paths:
        return False, nxt
    _add(tr, key, paths, path)
    return True, nxt


def _add(tr, head: int, paths: list, new: list) -> None:
    """Translate the loop trace at head again with the path new too, the second time
    a sample finds it (a path seen once may be rare, and each translation costs as
    much as all the trace's paths), and with the other paths samples found once there
    since it was last translated: a tree grows by several paths a translation (an
    interpreter's switch: interp's trace was translated 12 times for its 13 paths)."""
    seen = tr.trace_seen
    k = (head, tuple(new))
    if k not in seen:
        if len(seen) > 4096:
            seen.clear()
        seen.add(k)
        return
    seen.discard(k)
    more = [k for k in seen if k[0] == head]
    grown = [*paths, new]
    for k in more:
        seen.discard(k)
        p = list(k[1])
        if len(grown) < MAX_PATHS and p not in grown:
            grown.append(p)
    tr.translate_trace(head, tuple(grown))


def _jmp(tr, key: int) -> bool:
    """Whether the instruction at key is a jmp (not a call or ret: a loop through a
    call or a return is left as sampled; from a direct target inside it, expr's
    recursive descent ran 30% more dispatches)."""
    try:
        return tr.fetch(key, key)[0].form.mnemonic == "jmp"
    except Exception:       # (not decodable now)
        return False


def _closed(tr, loop: list) -> list:
    """A loop path that comes back to its start by a branch: as recorded, or turned
    to start after its first branch. (A loop longer than a block, MAX_BLOCK, is cut
    into blocks: one starts where the cut falls, in the straight code, and the path
    from there comes back to it without a branch, which a trace cannot close: it was a
    straight trace, cut to MAX_BLOCK instructions. sha256's round loop.) A loop closed
    by an indirect jmp starts at its path's first direct branch target: an
    interpreter's dispatch loop at the join of its cases, wherever the sample landed
    (in a case, its trace was entered only when the dispatch chose that case: interp's
    dispatches 28k or 241k by the guest's environment size)."""
    if _goes(tr, loop[-2], loop[0]):
        if tr.trace_branches.get(loop[-2]) is not True or not _jmp(tr, loop[-2]):
            return loop
        # closed by an indirect jump (an interpreter's dispatch): from the first
        # direct branch's target instead, where its cases join, not in one of them
        for i in range(1, len(loop) - 1):
            _goes(tr, loop[i - 1], loop[i])
            b = tr.trace_branches.get(loop[i - 1])
            if b and b is not True and b[0] == loop[i]:
                return loop[i:-1] + loop[:i + 1]
        return loop
    for i in range(1, len(loop) - 1):
        if _goes(tr, loop[i - 1], loop[i]):
            return loop[i:-1] + loop[:i + 1]
    return loop


def choose(tr, path: list, starts: list, anywhere: bool = True):
    """The path to make a trace of: from its start back to it (a loop), else from the
    first block start that it comes back to, else from the first block start an earlier
    recording went through too (with not ``anywhere``: the start, once sampled before)
    from which two or more whole blocks fit in MAX_BLOCK instructions, the most that
    fit; None when none is worth it."""
    if not path:
        return None
    head = path[0]
    if len(path) > 1 and path[-1] == head and len(path) <= MAX_LOOP + 1:
        return _closed(tr, path)
    first: dict = {}        # else a loop further on, at the start of a block
    for i, k in starts:
        j = first.get(k)
        if j is not None and i - j <= MAX_LOOP:
            return _closed(tr, path[j:i + 1])
        first[k] = i
    # every block start the run went through counts as sampled (a hot region's blocks
    # are found in a few samples, not only the one each landed at); the first one
    # sampled before that starts two or more whole blocks within MAX_BLOCK instructions
    # (whole, so that the trace ends where a block starts, not in the middle of one,
    # which would make a block there) starts the trace
    tried = tr.trace_tries
    cache = tr.cache
    out = None
    for s, (i0, k) in enumerate(starts):
        n = tried.get(k, 0) + 1
        tried[k] = n
        if n >= 2 and out is None and len(starts) - s >= 2 and \
                not getattr(getattr(cache.get(k), "meta", None), "trace", False):
            ends = [i - i0 for i, _ in starts[s + 2:] if i - i0 <= MAX_BLOCK]
            if len(path) - i0 <= MAX_BLOCK:
                ends.append(len(path) - i0)
            if ends:
                out = path[i0:i0 + ends[-1]]
        if not anywhere:
            break
    return out
