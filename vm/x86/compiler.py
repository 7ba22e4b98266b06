"""The block compiler: decoded instructions -> one Python function per basic block.

A block is translated once per key (EIP in flat mode, ``cs << 16 | ip`` in real mode)
from the shared decoder's output. Each instruction family (``semantics.py``,
``system.py``) emits Python source through a :class:`Builder`, which

- keeps registers in local variables in SSA form (``eax0`` loaded at entry, ``eax1``...
  after each write): flag operands are captured by name without copies, and the state at
  the start of every instruction is still in the locals when something faults;
- tracks the lazy flags statically (``cmp eax, ebx`` + ``jb`` compiles to
  ``eax0 < ebx0``; a flag nobody reads is never computed);
- writes back only the registers that changed, once, at the block's exit.

A branch back to the block's own start turns the block into a ``while`` loop (translated
a second time knowing that), so a hot loop runs inside one Python function; unconditional
direct jumps and calls are followed into the same block. A fault inside a block is made
precise from its frame in the traceback (blocks have no ``except`` clause: whoever first
handles the exception calls ``Translator.unwind_exc``): the line number names the
instruction and the per-instruction metadata says which locals held the registers and
flags there.

Writes to pages holding translated code (``Memory.wf``) take a slow path that drops the
blocks overlapping the write. As on a P6 or later CPU, written code runs from the very next
instruction: a write into the running block's code stops it before its next instruction,
unwound as for a fault (``smc.py``); so does a flush. In real and protected mode a block
also leaves when its ``ALIVE`` cell was cleared meanwhile: a loop block that stores
re-checks it on each back edge and a followed jump after a store does. Single-stepping
(tracing, debugging, the last instructions before a step limit) uses the same generators
with one instruction per block.

A hot path through several blocks becomes one block too (``translate_trace``, chosen by
``traces.py``): the Builder follows a recorded path of keys across conditional
branches, indirect jumps, calls and returns, each behind a guard that leaves the block.

Before any of this, a start that has not run often runs in the first tier
(``tier0.py``): one instruction from a template shared by its shape, no compiling;
``translate`` makes the real block once the start has run ``tier0.HOT`` times. Flat-mode
instructions are decoded once per address while their bytes stay the same (``fetch``):
the first tier, the block and the traces through it share the decoding.
"""

from __future__ import annotations

import re
import struct
import sys
import weakref
from bisect import bisect_right
from types import CodeType, FunctionType, ModuleType
from typing import Callable, Optional, Sequence

from asm.x86.decoder import MAX_LEN, DecodeError, Insn, Truncated, decode
from formats.envswitch import env_switch
from vm.x86 import flags as F
from vm.x86 import semantics as _semantics  # noqa: F401  (registers the families)
from vm.x86 import sse as _sse  # noqa: F401  (SSE/SSE2 families; after the string ones)
from vm.x86 import traces, warmblocks
from vm.x86.codecache import code_cache
from vm.x86.debugregs import code_break
from vm.x86.emit import MAX_BLOCK, SEMANTICS, BlockMeta, Builder
from vm.x86.faults import GP, UD, CPUException, MemoryFault, Unsupported
from vm.x86.maskfold import fold as fold_masks
from vm.x86.memory import PAGE_SHIFT, WF_CODE
from vm.x86.smc import CodeChanged, stop_running
from vm.x86.state import SLOT_NAMES, CPUState
from vm.x86.tier0 import Tier0
from vm.x86.tracebuilder import TraceBuilder
from vm.x86.warmblocks import warm_key

_SLO = re.compile(r"SLO(?!\w)")   # (a literal first: searched fast)
_LZ = re.compile(r"\blz[orab]\b")
_PATH_END = (1 << 64) - 1   # between the paths of a trace in its warm-cache key

# Translated code is host memory, and a guest can make code without end (a JIT, or a
# program that writes a new block and runs it, forever): every cache keyed by guest
# addresses or bytes (blocks, decoded instructions, the first tier's instances and
# templates, trace state) grows with it. Each translator counts what it adds, in estimated
# host bytes (``used``); when all the translators of this process together hold more than
# CODE_BUDGET, the largest are flushed whole, as QEMU flushes its code buffer when it is
# full. Real programs stay far below it (a busybox applet, a glibc program: ~2-15 MB).
CODE_BUDGET = 128 << 20
CHECK_EVERY = 1 << 20       # a translator's growth between two looks at the total
COST_CALL = 1024            # a translate(): a first-tier instance, its records (tier0.py)
COST_INSN = 768             # a decoded instruction kept (fetch)
COST_BLOCK = 512            # a block installed (watch) ...
COST_RANGE = 256            # ... and each of its byte ranges (about one per instruction)
COST_TEMPLATE = 6144        # a first-tier template (its function, its lines' parts)
_translators: weakref.WeakSet = weakref.WeakSet()


def _widened(span: Optional[tuple], lo: int, hi: int) -> tuple:
    """The bytes [lo, hi) and ``span`` (None: none) as one range (a fence: smc.py)."""
    return (lo, hi) if span is None else (min(span[0], lo), max(span[1], hi))


def _reads_lz(b: Builder) -> bool:
    """Whether a block's code, or the flags a fault in it reports (their expressions
    are evaluated in its locals), uses the flags it started with: an update that was
    dropped later does not need them loaded."""
    text = "\n".join([text for _, text in b.lines] + b.exit_lines)
    # (substrings first: a search for the pattern at every position of every line was
    # half of _source's cost; ``cpu.lz`` is in most blocks)
    return ("lzo" in text or "lzr" in text or "lza" in text or "lzb" in text) and \
        _LZ.search(text) is not None or \
        any("lz" in x and _LZ.search(x) for im in b.meta.insns if im.flags for x in im.flags)


# PyPy: blocks run with globals of their own (Translator.block_globals)
_PYPY = sys.implementation.name == "pypy"


class Translator:
    """Translation cache for one CPU and its memory."""

    def __init__(self, machine):
        self.machine = machine
        self.cpu: CPUState = machine.cpu
        self.mem = machine.mem
        self.cache: dict = {}
        self.cache1: dict = {}
        # id -> (key, single, ranges, alive, fn, meta, source); key -1: a page guard of
        # the first tier's replayed instances (tier0.py), in no dispatch cache
        self.blocks: dict = {}
        self.page_blocks: dict = {}     # page -> set of ids
        self.nextid = 0
        self.decoded: dict = {}         # flat mode: address -> its instruction (fetch)
        self.lim = [1 << 62]
        self.slow_keys: set = set()     # blocks built with slow paths inline (emit.SlowPath)
        self.trace_tries: dict = {}     # key -> traces built there (traces.py)
        self.trace_base: dict = {}      # a trace's key -> the plain block there (traces.py)
        self.trace_branches: dict = {}  # key -> where the branch there goes (traces._goes)
        self.trace_seen: set = set()    # (key, path) a sample found once (traces._add)
        # traces.py: the sampling interval's multiplier; the first sample comes late (a
        # short run never pays for recording and building a trace)
        self.trace_backoff = traces.BACKOFF
        # debugger breakpoints (linear addresses, vm/debug): a block ends before one and
        # a block starting at one raises stop_exc unless stop_skip[0] is that address
        self.stops: set = set()
        self.stop_skip = [-1]
        self.stop_exc: Optional[type] = None
        # loads and stores compile as the slow path, which reports every access: while
        # data breakpoints are armed (vm/x86/debugregs.py) or memory read hooks are
        # (vm/x86/hooks.py); `watchers` holds which of the two (set_watching)
        self.watching = False
        self.watchers: frozenset = frozenset()
        # memory write hooks are armed (vm/x86/hooks.py): a store into a hooked page runs
        # the embedder's callback mid-block, which may map, unmap or hook pages, so a
        # loop's checks are not run once before it (emit.py Builder._pure_loop); hooks.py
        # flushes when this changes
        self.write_hooks = False
        # (sys) the guest's instruction breakpoints (DR0-DR3, linear): as `stops`, a
        # block ends before one, and one starting there calls debugregs.code_break
        self.dr_stops: frozenset = frozenset()
        # the bytes written ahead by the block stopped for it (smc.py): the next block
        # translated, and the block at the stopped one's start from now on, end before
        # them, or code that writes just ahead of itself would be stopped, and a block
        # as long translated again, at every instruction (or at every pass of a loop)
        self.fence: Optional[tuple] = None
        self.fences: dict = {}          # key -> (lo, hi)
        self.mem.code_written = self.invalidate
        cpu = self.cpu
        # (PyPy: a module's dict, whose globals the JIT folds while its keys stay put:
        # the first tier's templates run with it; blocks: block_globals)
        self.ns = ModuleType("pyvm_blocks").__dict__ if _PYPY else {}
        self.ns.update({
            "cpu": cpu, "r": cpu.r, "mem": self.mem.data, "wf": self.mem.wf,
            "rf": self.mem.rf, "READ": self.mem.read_value,
            "ST": cpu.steps, "LIM": self.lim, "STORE": self.mem.store,
            "U16": struct.Struct("<H").unpack_from, "U32": struct.Struct("<I").unpack_from,
            "P16": struct.Struct("<H").pack_into, "P32": struct.Struct("<I").pack_into,
            "PAR": F.PARITY, "ARITH": F.arith, "UNWIND": self.unwind, "M": machine,
            "META": None, "ALIVE": None,
            # protected mode (paging.MMU, bound when the CPU enters it)
            "SEG": None, "PRD": None, "PRL": None, "PWR": None, "PWL": None,
            "RS": None, "RU": None, "WS": None, "WU": None, "SLO": None, "SHI": None,
            "WOK": None,
        })
        # a block's parameters: the objects it uses (local names are faster than
        # globals), its defaults (from ns, META and ALIVE its own: warmblocks.defaults)
        self.params = ("cpu", "r", "mem", "wf", "rf", "READ", "ST", "LIM", "STORE", "U16",
                       "U32", "P16", "P32", "PAR", "ARITH", "META", "ALIVE", "SEG", "PRD",
                       "PRL", "PWR", "PWL", "RS", "RU", "WS", "WU", "SLO", "SHI", "WOK",
                       "MV")
        # PyPy: the translator's objects are constants of the block's own globals (a
        # block's entry loads no defaults, and U32/P32's format checks fold away)
        if _PYPY:
            self.params = ("META", "ALIVE")
        self._globs: dict = {}          # PyPy: block_globals' dicts, by what they hold
        # (memory as words, emit.py's stack accesses: bound up front so that a warm
        # block, which takes it as a parameter, finds it: warmblocks.defaults)
        if self.mem.mv32 is not None:
            self.ns["MV"] = self.mem.mv32
        # the first tier (tier0.py): a start runs from shared templates until it is hot
        self.tier0 = Tier0(self) if env_switch("PYVM_TIER0", True) else None
        # the estimated host bytes of the translations made since the last flush, and
        # when to compare all translators' with CODE_BUDGET next (_spent)
        self.used = 0
        self.check_at = CHECK_EVERY
        _translators.add(self)

    def glob(self, obj, name: Optional[str] = None) -> str:
        name = name or getattr(obj, "__name__", None) or "g"
        prev = self.ns.get(name, obj)
        if prev is not obj:
            # (a bound method is a new object at each lookup: the same method of the same
            # object is the same global, kept as it is, or the namespace would grow by
            # one per block, and blocks' globals differ: block_globals)
            if hasattr(obj, "__self__") and type(prev) is type(obj) and prev == obj:
                return name
            name = f"{name}_{id(obj):x}"
        self.ns[name] = obj
        return name

    def block_globals(self, code: CodeType) -> dict:
        """The globals of a block function made of ``code``: the namespace (CPython);
        under PyPy a module's dict holding the namespace's objects ``code`` names, never
        written after. The JIT folds a module dict's globals to constants until a key is
        added, which throws away every compiled loop reading one: the namespace gains a
        name per x87 instruction translated (system.py) and per helper first used, and
        the first tier adds and drops names while building a template (with blocks
        reading the namespace itself, printf's run compiled 768 loops, not 372, and
        took 19% longer). Blocks naming the same
        objects share one dict (it is built as the block is installed, from the
        namespace then, as its parameters are on CPython)."""
        ns = self.ns
        if not _PYPY:
            return ns
        names = [n for n in code.co_names if n in ns]
        key = tuple((n, id(ns[n])) for n in names)
        g = self._globs.get(key)
        if g is None:
            g = self._globs[key] = ModuleType("pyvm_block").__dict__
            for n in names:
                g[n] = ns[n]
        return g

    def bind_mmu(self, mmu) -> None:
        """Protected mode: the memory helpers compiled blocks call (paging.MMU)."""
        ns = self.ns
        ns["SEG"], ns["PRD"], ns["PWR"] = mmu.seg, mmu.rd, mmu.wr
        ns["PRL"], ns["PWL"] = mmu.read, mmu.write
        ns["RS"], ns["RU"], ns["WS"], ns["WU"] = mmu.rs, mmu.ru, mmu.ws, mmu.wu
        segs = self.cpu.segs
        ns["SLO"], ns["SHI"], ns["WOK"] = segs.lo, segs.hi, segs.wok

    def set_watching(self, who: str, on: bool) -> bool:
        """``who`` ("dr" or "hooks") needs every load and store on the slow path, or no
        longer does; True when that changed ``watching`` (the caller flushes)."""
        self.watchers = self.watchers | {who} if on else self.watchers - {who}
        was, self.watching = self.watching, bool(self.watchers)
        return was != self.watching

    def flags_changed(self) -> None:
        """The embedder changed page permissions (Machine.map), perhaps from a hook
        callback in the middle of a block: the running block, whose checks saw the old
        flags, stops before its next instruction (smc.py), as for a flush."""
        if self.blocks:
            stop_running(self.blocks, self.blocks)

    def flush(self) -> None:
        """Forget every translation (the running block, if any, stops before its next
        instruction, as for a write over its code: flat-mode blocks check no ALIVE)."""
        if self.blocks:
            stop_running(self.blocks, self.blocks)
        for info in self.blocks.values():
            info[3][0] = 0
        self.cache.clear()
        self.cache1.clear()
        self._globs.clear()
        self.trace_base.clear()
        self.trace_branches.clear()
        self.trace_seen.clear()
        self.trace_tries.clear()
        self.fences.clear()
        self.decoded.clear()
        self.blocks.clear()
        self.slow_keys.clear()          # (what they say of blocks gone: made anew)
        if self.tier0 is not None:
            self.tier0.sync()           # (a name rebound in ns: the templates' copy)
        wf = self.mem.wf
        for p in self.page_blocks:
            if p < len(wf):
                wf[p] &= ~WF_CODE
        self.page_blocks.clear()

    def reclaim(self) -> None:
        """Flush, and drop the rest of what translating kept: the first tier's instances
        and templates (some are made per guest constant: tier0.py), the decoded
        instructions x87 blocks name as globals (one per instruction: system.py). Between
        blocks only (translate, or another translator's)."""
        self.flush()
        if self.tier0 is not None:
            self.tier0.forget()
        ns = self.ns
        for name in [n for n, v in ns.items() if type(v) is Insn]:
            del ns[name]
        # (a plain flush leaves ``used`` as it is: what it does not drop stays counted)
        self.used = 0
        self.check_at = CHECK_EVERY

    def _spent(self) -> None:
        """This translator's translations grew by CHECK_EVERY since the last look: while
        all translators of this process together hold more than CODE_BUDGET, reclaim
        the largest's."""
        live = sorted(_translators, key=lambda t: t.used, reverse=True)
        total = sum(t.used for t in live)
        for t in live:
            if total <= CODE_BUDGET:
                break
            total -= t.used
            t.reclaim()
        self.check_at = self.used + CHECK_EVERY

    # -- translation -------------------------------------------------------------------------
    def linear(self, key: int) -> int:
        if self.cpu.real:
            return (key >> 16 << 4) + (key & 0xFFFF)
        if self.cpu.pm:
            return (self.cpu.ctxs[key >> 32][0] + (key & 0xFFFFFFFF)) & 0xFFFFFFFF
        return key

    def fetch_pm(self, key: int, ip: int) -> tuple:
        """Protected mode: decode at CS:ip through the segment limit and the page
        tables: (insn, linear, physical ranges of its bytes). A fault on the first byte
        raises; one further on truncates the window (the decoder then says so)."""
        base, limit, big, cpl = self.cpu.ctxs[key >> 32][:4]
        mmu = self.cpu.mmu
        window = bytearray()
        ranges: list = []
        err = None
        data = self.mem.data
        for k in range(MAX_LEN):
            off = (ip + k) & (0xFFFFFFFF if big else 0xFFFF)
            if off > limit:
                err = CPUException(GP, "code segment limit exceeded", 0)
                break
            lin = (base + off) & 0xFFFFFFFF
            try:
                p = mmu.phys(lin, False, cpl == 3)
            except CPUException as e:
                err = e
                break
            window.append(data[p] if p < len(data) else 0xFF)
            if ranges and ranges[-1][1] == p:
                ranges[-1][1] = p + 1
            else:
                ranges.append([p, p + 1])
        if not window:
            raise err
        try:
            insn = decode(bytes(window), 0, 32 if big else 16, ip)
        except Truncated:
            if err is not None:
                raise err from None
            raise
        n = insn.length
        out = []
        for lo, hi in ranges:
            if n <= 0:
                break
            out.append((lo, min(hi, lo + n)))
            n -= hi - lo
        return insn, (base + ip) & 0xFFFFFFFF, out

    def fetch(self, key: int, ip: int) -> tuple:
        """Decode the instruction at ip of the block's code segment: (insn, linear)."""
        data = self.mem.data
        if self.cpu.real:
            base = key >> 16 << 4
            lin = base + ip
            if ip > 0x10000 - 15:     # the instruction may wrap around the segment
                window = bytes(data[base + ((ip + i) & 0xFFFF)] for i in range(15))
                return decode(window, 0, 16, ip), lin
            return decode(data, lin, 16, ip), lin
        if ip >= len(data):
            raise MemoryFault(ip, False)
        # flat mode: an instruction the first tier, a block or a trace decoded here
        # before, while its bytes are the same (decoding reads them and nothing else)
        insn = self.decoded.get(ip)
        if insn is None or data[ip:ip + insn.length] != insn.raw:
            insn = self.decoded[ip] = decode(data, ip, 32, ip)
            self.used += COST_INSN
        if self.mem.guarded:            # executing an unmapped or no-execute page faults
            self.mem.check_fetch(ip, insn.length)
        return insn, ip

    def translate(self, key: int, single: bool = False) -> Callable:
        if self.used >= self.check_at:
            self._spent()               # (may flush: what it made is made again)
        self.used += COST_CALL
        fences = [f for f in (self.fence, self.fences.get(key)) if f is not None]
        self.fence = None               # (for this translation only)
        t0 = self.tier0
        if t0 is not None and not single and key not in t0.hot and t0.usable():
            n = len(t0.templates)
            fn = t0.instance(key)       # a start not run often yet (tier0.py)
            self.used += COST_TEMPLATE * (len(t0.templates) - n)
            if fn is not None:
                return fn
        wkey = warm_key(self, key, single)
        if wkey is not None:            # a warm run: the block as an earlier run made it
            fn = warmblocks.load(self, wkey, key, single)
            if fn is not None:
                return fn
        b = self._build(key, single, False, fences=fences)
        if b.loop:
            b = self._build(key, single, True, b.entry_needed, b.written, fences=fences)
        return self._install(b, key, single, wkey)

    def translate_trace(self, key: int, path) -> Callable:
        """A superblock at key along a recorded path of keys (traces.py), or along
        several (a tuple of such lists, the first the main path: tracebuilder.py):
        installed in place of the block at key. The block it replaces is kept as the
        start's plain block (``base_block``)."""
        paths = list(path) if isinstance(path, tuple) else [path]
        flat = [k for p in paths for k in (*p, _PATH_END)][:-1]
        wkey = warm_key(self, key, False, flat)
        old = self.cache.get(key)
        fn = self._load_warm(wkey, key, False) if wkey is not None else None
        first = None
        if fn is None:
            # the first pass says what the paths need (flags at the start, registers a
            # loop carries, helpers): for one more path, the trace's so far and the new
            # path's own (they only add up); a loop whose needs can be told beforehand
            # is built in one pass
            prev = getattr(old.meta, "first", None) if old is not None else None
            had = len(old.meta.paths) if prev is not None else 0
            partial = prev is not None and 0 < had < len(paths) and \
                old.meta.paths == paths[:had]
            b = self._guessed_loop(key, paths, prev if partial else None)
            if b is not None:
                first = (b.entry_needed, frozenset(b.written), b.has_helper, True)
            else:
                if partial:
                    b = self._build(key, False, False, path=paths[had:])
                    first = (prev[0] or b.entry_needed, prev[1] | b.written,
                             prev[2] or b.has_helper, prev[3] or b.loop)
                else:
                    b = self._build(key, False, False, path=paths)
                    first = (b.entry_needed, frozenset(b.written), b.has_helper, b.loop)
                if first[3]:
                    b = self._build(key, False, True, first[0], first[1], path=paths,
                                    any_helper=first[2])
                elif partial:
                    b = self._build(key, False, False, path=paths)
            b = self._fit_limit(b, key, paths)
            fn = self._install(b, key, False, wkey)
        else:
            self.cache[key] = fn
        fn.meta.trace = True
        fn.meta.paths = paths
        fn.meta.first = first
        if old is not None and old is not fn:
            if old.meta.trace:              # a trace with fewer paths: gone
                bid = getattr(old.meta, "bid", None)
                if bid is not None and bid in self.blocks:
                    self._drop(bid)
            elif not getattr(old.meta, "tier0", False) and not old.meta.single:
                self.trace_base[key] = old
        return fn

    def _fit_limit(self, b: Builder, key: int, paths: list) -> Builder:
        """A trace longer than MAX_BLOCK instructions, the most a block may run where
        it is called (the step limit's margin): a loop's iteration (traces.MAX_LOOP)
        runs its plain block instead when the limit is nearer than that (an iteration
        fits after it: ``lim``, compiler._source); a straight one is cut (rare: a loop
        path that did not close)."""
        n = max(b.ninsn, b.span)
        if n <= MAX_BLOCK:
            return b
        if b.loop_mode:
            b.pre_lines.insert(0, f"if lim < {-n}: return M.tr.base_block({key:#x})()")
            return b
        return self._build(key, False, False, path=[paths[0][:MAX_BLOCK]])

    def _guessed_loop(self, key: int, paths: list, prev: Optional[tuple]) -> Optional[Builder]:
        """A loop trace built in one pass, without the first (about a third of a loop
        trace's cost): what its paths need (flags at the start, the registers the loop
        carries, helpers) guessed from the trace it grows (``prev``, its first) or from
        the plain blocks a new path ran through (their ``needs``), kept when the loop
        pass finds that its paths need exactly that (else None: the two passes)."""
        if prev is not None:
            if not prev[3]:
                return None
            guess = prev[:3]
        elif len(paths) == 1 and len(paths[0]) > 1 and paths[0][-1] == key:
            guess = self._path_needs(paths[0])
            if guess is None:
                return None
        else:
            return None
        for _ in range(2):      # (a miss: once more with what the pass found)
            b = self._build(key, False, True, guess[0], guess[1], path=paths,
                            any_helper=guess[2])
            if not b.loop:
                return None
            found = (b.entry_needed, frozenset(b.written), b.has_helper)
            if found == guess:
                return b
            guess = found
        return None

    def _path_needs(self, path: list) -> Optional[tuple]:
        """(flags at the start, registers written, a helper) of the plain blocks that
        run path[:-1] one after another (the first's flags: a later block's come from
        the path before it), or None where no such block is known."""
        cache, base = self.cache, self.trace_base
        i, n = 0, len(path) - 1
        lz = None
        written: set = set()
        helper = False
        while i < n:
            fn = base.get(path[i]) or cache.get(path[i])
            meta = getattr(fn, "meta", None)
            needs = getattr(meta, "needs", None)
            if needs is None:
                return None
            ips = traces._ips(meta)
            if path[i:i + len(ips)] != ips:
                return None
            if lz is None:
                lz = needs[0]
            written |= needs[1]
            helper = helper or needs[2]
            i += len(ips)
        return (lz, written, helper) if i == n else None

    def _load_warm(self, wkey: bytes, key: int, single: bool) -> Optional[Callable]:
        """warmblocks.load, noting the block's id in its meta (as _install does)."""
        fn = warmblocks.load(self, wkey, key, single)
        if fn is not None and self.blocks.get(self.nextid - 1, (None,) * 5)[4] is fn:
            fn.meta.bid = self.nextid - 1
        return fn

    def base_block(self, key: int) -> Callable:
        """The plain block at a trace's start (traces.py records new paths through it)."""
        fn = self.trace_base.get(key)
        if fn is None:
            wkey = warm_key(self, key, False)
            trace = self.cache.get(key)
            fn = self._load_warm(wkey, key, False) if wkey is not None else None
            if fn is not None:          # (load installs it at key: the trace stays)
                if trace is not None:
                    self.cache[key] = trace
                else:
                    del self.cache[key]
            if fn is None:
                b = self._build(key, False, False)
                if b.loop:
                    b = self._build(key, False, True, b.entry_needed, b.written)
                fn = self._install(b, key, False, wkey, keep=False)
            self.trace_base[key] = fn
        return fn

    def _build(self, key: int, single: bool, loop_mode: bool,
               lz_needed: bool = False, carried: frozenset = frozenset(),
               path: Optional[list] = None, any_helper: bool = False,
               fences: Sequence = ()) -> Builder:
        """Translate the block at key; ``path``: a trace's paths (traces.py); ``fences``:
        bytes (lo, hi) no instruction after the first may overlap."""
        if path is not None:
            b = TraceBuilder(self, key, loop_mode, lz_needed, carried, path, any_helper)
        else:
            b = Builder(self, key, single, loop_mode, lz_needed, carried)
        self._walk(b, key & 0xFFFF if self.cpu.real else key & 0xFFFFFFFF, fences)
        return b

    def _walk(self, b: Builder, ip: int, fences: Sequence = ()) -> None:
        """Translate instructions from ip into b until the block ends (a trace's arms,
        tracebuilder.py, walk from where they part from the main path)."""
        key = b.key0
        single = b.single
        path = b.path
        pm = self.cpu.pm
        cbits = self.cpu.bits
        while True:
            lin = (key >> 16 << 4) + ip if self.cpu.real else ip
            phys = None
            try:
                if pm:
                    lin = self.linear(key & ~0xFFFFFFFF | ip)
                    insn, lin, phys = self.fetch_pm(key, ip)
                else:
                    insn, lin = self.fetch(key, ip)
            except (DecodeError, CPUException) as e:
                if b.ninsn:             # fault when (if) execution gets there
                    b.end_jump(ip)
                    break
                if pm and not isinstance(e, DecodeError):
                    # protected mode: a page fault or limit violation on fetch is
                    # raised now, not compiled in (a handler may map the page without
                    # an INVLPG: the CPU caches no not-present entry)
                    raise
                # the bytes that could have made an instruction: writing any of them
                # drops this translation, so code stored there later runs
                b.ranges.append((lin, lin + MAX_LEN))
                b.begin(None, ip, ip, lin)
                if isinstance(e, Truncated) and not self.cpu.real and not pm:
                    b.emit(f"raise {b.glob(MemoryFault)}({lin + e.length:#x}, False)")
                elif isinstance(e, MemoryFault):
                    b.emit(f"raise {b.glob(MemoryFault)}({e.address:#x}, False, 1, "
                           f"{bool(getattr(e, 'fetch', False))})")
                else:
                    b.raise_exc(UD, str(e))
                b.end_dynamic("0")
                break
            nip = ip + insn.length
            if cbits == 16:
                nip &= 0xFFFF
            stop = self.stops and lin in self.stops
            dr_stop = self.dr_stops and lin in self.dr_stops
            if (stop or dr_stop) and b.ninsn:
                b.end_jump(ip)
                break
            if fences and b.ninsn and any(        # (physical under paging)
                    lo < fhi and flo < hi for flo, fhi in fences for lo, hi in
                    (phys if phys is not None else ((lin, lin + insn.length),))):
                b.end_jump(ip)
                break
            if phys is not None:
                b.ranges.extend(phys)
            else:
                b.ranges.append((lin, lin + insn.length))
            b.begin(insn, ip, nip, lin)
            if stop:
                b.may_fault()
                b.emit(f"if {b.glob(self.stop_skip, 'STOP_SKIP')}[0] != {lin:#x}:\n"
                       f"    raise {b.glob(self.stop_exc, 'STOP_EXC')}({lin:#x})")
            if dr_stop:         # a fault-class #DB unless EFLAGS.RF spares it
                b.may_fault()
                b.emit(f"{b.glob(code_break, 'DR_BREAK')}(cpu, {lin:#x})")
            b.follow = None
            gen = SEMANTICS.get(insn.form.mnemonic)
            if insn.lock and not insn.form.lockable(insn.operands):
                b.raise_exc(UD, "lock prefix on an instruction that cannot be locked")
                b.end_dynamic("0")
            elif gen is None:
                b.emit(f"raise {b.glob(Unsupported)}("
                       f"{('instruction not implemented: ' + insn.form.mnemonic)!r})")
                b.end_dynamic("0")
            else:
                gen(b, insn)
            if b.ended:
                break
            ip = b.follow if b.follow is not None else nip
            if path is not None:        # a trace ends where its path does
                if b.trace_next() != b.key_of(ip):
                    b.end_jump(ip)
                    break
                b.pos += 1
            elif b.ninsn >= (1 if single else MAX_BLOCK):
                b.end_jump(ip)
                break

    def _install(self, b: Builder, key: int, single: bool,
                 wkey: Optional[bytes] = None, keep: bool = True) -> Callable:
        src, header = self._source(b)
        meta = b.meta
        meta.key, meta.loop, meta.single, meta.n = key, b.loop, single, b.ninsn
        if b.path is None and not single:   # (what a loop trace needs: _path_needs)
            meta.needs = (b.entry_needed, frozenset(b.written), b.has_helper)
        first = meta.insns[0].insn if meta.insns else None
        meta.trapless = first is not None and first.form.mnemonic in (
            "int", "int3", "into", "int1", "icebp")
        for m in meta.insns:
            m.line += header
        meta.lines = [m.line for m in meta.insns]
        alive = [1]
        ns = self.ns
        # kept by address when it can be (warmblocks), else by source
        cache = code_cache() if wkey is None else None
        code = cache.get(src) if cache is not None else None
        if code is None:
            code = compile(src, f"<x86 block {key:#x}>", "exec")
            if cache is not None:
                cache.put(src, code)
        if _PYPY:
            scratch: dict = {}
            exec(code, scratch)
            fcode = scratch["_blk"].__code__
            fn = FunctionType(fcode, self.block_globals(fcode), "_blk")
        else:
            exec(code, ns)
            fn = ns["_blk"]
        self.used += 2 * len(src)      # (the source kept, its code object)
        fn.__defaults__ = warmblocks.defaults(fn.__code__, ns, meta, alive)
        fn.meta = meta
        bid = self.nextid
        self.nextid += 1
        self.blocks[bid] = (key, single, b.ranges, alive, fn, meta, src)
        meta.bid = bid
        if keep:
            (self.cache1 if single else self.cache)[key] = fn
        self.watch(bid, b.ranges)
        if wkey is not None:
            warmblocks.store(self, wkey, b, fn, meta)
        return fn

    def watch(self, bid: int, ranges) -> None:
        """Block ``bid`` dies when a write lands on its bytes ``ranges`` ([lo, hi)): note it
        on their pages, from 3 bytes before (a dword store starting there reaches lo), and
        mark those pages as holding code (the memory write paths check that flag)."""
        self.used += COST_BLOCK + COST_RANGE * len(ranges)
        wf = self.mem.wf
        page_blocks = self.page_blocks
        for lo, hi in ranges:
            for p in range(max(lo - 3, 0) >> PAGE_SHIFT, ((hi - 1) >> PAGE_SHIFT) + 1):
                s = page_blocks.get(p)
                if s is None:
                    s = page_blocks[p] = set()
                s.add(bid)
                if p < len(wf):
                    wf[p] |= WF_CODE

    def _source(self, b: Builder, params: Optional[str] = None) -> tuple:
        """The block's Python source and the line number of its first body line. With
        ``params`` (tier0.py's templates) those are its only parameters, the
        translator's objects are globals and there is no ``try``: the caller unwinds a
        fault from the traceback (shorter source compiles faster)."""
        out = ["def _blk():"]           # the header, filled in below
        for slot in sorted(b.entry_used):
            out.append(f"    {SLOT_NAMES[slot]}0 = r[{slot}]")
        if b.lz_track or b.lz_used and _reads_lz(b):
            out.append("    lzo, lzr, lza, lzb = cpu.lz")
        if b.loop_mode:
            out.append("    c = 0")
            # (a trace's arms may run more instructions per iteration than its main path)
            out.append(f"    lim = LIM[0] - ST[0] - {2 * max(b.ninsn, getattr(b, 'span', 0))}")
            out.extend("    " + text for text in b.pre_lines)    # (checks: emit.py _hoist)
        ind = 1
        if b.loop_mode:
            out.append("    while True:")
            ind = 2
        # line numbers are 1-based: body line i is line header + i
        header = len(out) + 1
        # (loops and traces, the hot code: 32-bit sums without their mask, maskfold.py)
        lines = b.lines if params is not None else \
            fold_masks(b.lines, b.loop_mode or b.path is not None)
        for depth, text in lines:
            out.append("    " * (ind + depth) + text)
        for text in b.loop_tail:
            out.append("    " * ind + text)
        for text in b.exit_lines:
            out.append("    " + text)
        # (no try/except: a fault is unwound by the dispatcher from the block's frame in
        # the traceback, unwind_exc; a guard cost 5% of every compile())
        body = "\n".join(out) + "\n"
        if params is None:
            # the translator's objects the body names: a substring test (a regex over
            # the body, its every name a string, cost a sixth of compile()); a longer
            # name containing one (STORE: ST) makes an unused parameter, harmless, but
            # for SLOW, in most flat blocks; only names bound now (MV is unbound without
            # mem.mv32: a default of None would be a TypeError at the call). META
            # always: unwind_exc finds the block's metadata in its frame's locals
            params = [p for p in self.params if p == "META" or p in body and p in self.ns]
            if "SLO" in params and _SLO.search(body) is None:
                params.remove("SLO")
            params = ", ".join(params)
        # (no default values in the text: _install sets them, and each one costs
        # compile() as much as a short statement)
        return f"def _blk({params}):" + body[11:], header

    # -- invalidation ------------------------------------------------------------------------
    def invalidate(self, start: int, end: int) -> None:
        """The guest wrote [start, end): drop the translations of those bytes."""
        dead = set()
        for p in range(max(start - 3, 0) >> PAGE_SHIFT, ((end - 1) >> PAGE_SHIFT) + 1):
            for bid in self.page_blocks.get(p, ()):
                for lo, hi in self.blocks[bid][2]:
                    if lo < end and start < hi:
                        dead.add(bid)
                        break
        # the running block, if it is one: stopped before its next insn, and the block
        # made where it stops not to reach the bytes
        key = stop_running(self.blocks, dead) if dead else None
        if key is not None:
            self.fence = _widened(self.fence, start, end)
            self.fences[key] = _widened(self.fences.get(key), start, end)
        for bid in dead:
            self._drop(bid)

    def _drop(self, bid: int) -> None:
        key, single, ranges, alive, fn = self.blocks.pop(bid)[:5]
        alive[0] = 0
        cache = self.cache1 if single else self.cache
        if cache.get(key) is fn:
            del cache[key]
        if self.trace_base.get(key) is fn:
            del self.trace_base[key]
        wf = self.mem.wf
        for lo, hi in ranges:
            for p in range(max(lo - 3, 0) >> PAGE_SHIFT, ((hi - 1) >> PAGE_SHIFT) + 1):
                s = self.page_blocks.get(p)
                if s is not None:
                    s.discard(bid)
                    if not s:
                        del self.page_blocks[p]
                        if p < len(wf):
                            wf[p] &= ~WF_CODE

    # -- precise exceptions ------------------------------------------------------------------
    def unwind_exc(self, exc: BaseException) -> None:
        """A block raised ``exc`` (blocks have no except clause: _source): put the state
        at the instruction that raised into the CPU (unwind), from the outermost block
        frame in its traceback. Called wherever an exception out of a block is first
        handled (the dispatcher, the tracer, a data breakpoint's step), perhaps twice
        (the second finds the traceback entry it unwound noted); nothing for one raised
        outside any block (a first-tier instance unwinds its own template's frame)."""
        tb = exc.__traceback__
        while tb is not None:
            code = tb.tb_frame.f_code
            if code.co_name == "_blk" and "META" in code.co_varnames:
                if getattr(exc, "unwound", None) is tb:
                    return
                loc = tb.tb_frame.f_locals
                meta = loc.get("META")
                if isinstance(meta, BlockMeta):
                    self.unwind(meta, loc, exc, tb.tb_lineno)
                    exc.unwound = tb        # (machine._forget_frames drops it)
                    return
            tb = tb.tb_next

    def unwind(self, meta: BlockMeta, loc: dict, exc: Optional[BaseException] = None,
               line: Optional[int] = None) -> tuple:
        """Put the state at the start of the instruction that raised (``exc``, default:
        the one being handled; after it, for a completed one) into the CPU, from the
        block's locals ``loc`` (unwind_exc; tier0.py). ``line``: where in the block
        (default: the traceback's first entry). Returns () (from when blocks called it
        as their except clause's type, which then matched nothing: ``UNWIND``)."""
        if exc is None:
            exc = sys.exc_info()[1]
        if line is None:
            tb = exc.__traceback__
            line = tb.tb_lineno if tb is not None else 0
        k = max(bisect_right(meta.lines, line) - 1, 0)
        if isinstance(exc, CodeChanged):    # (before an instruction sharing the line)
            k = exc.k
        im = meta.insns[k]
        cpu = self.cpu
        r = cpu.r
        for slot, name in im.regs:
            if name in loc:
                r[slot] = loc[name]
            elif not name.isidentifier():   # an expression over the locals (emit.REG_EXPRS)
                try:
                    r[slot] = eval(name, self.ns, loc)
                except Exception:
                    pass
        if im.flags is not None and (im.flags[0] != "lzo" or "lzo" in loc):
            try:
                cpu.lz = tuple(eval(x, self.ns, loc) for x in im.flags)
            except Exception:       # not computed yet on this path: cpu.lz is current
                pass
        done = bool(getattr(exc, "completed", False))
        cpu.eip = im.nip if done else im.ip
        if getattr(exc, "committed", False):      # a task switch went through
            cpu.eip = exc.eip
        cpu.steps[0] += loc.get("c", 0) + im.idx + done
        exc.insn = im.insn
        exc.lin = im.lin
        return ()
