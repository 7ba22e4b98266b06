"""Generating the Python source of one basic block: the :class:`Builder` that instruction
families (``semantics.py``, ``system.py``, ``fpu.py``) emit through, the operand and
metadata types it hands them, and the registry that maps each mnemonic to its family.
The block compiler (``compiler.py``) drives it; see that module for the design.
"""

from __future__ import annotations

import re
from itertools import compress
from typing import Optional

from asm.x86.decoder import Insn
from asm.x86.operands import Imm, Mem, Reg
from vm.x86 import flags as F
from vm.x86.faults import AC, GP, CPUException
from vm.x86.state import BASE, CS, DS, EBP, ESP, FS, GS, NSLOTS, SEL, SLOT_NAMES, SS

# #AC: the alignment an operand of n bytes needs (SDM vol. 3, 6.15 "Alignment Check
# Exception": word 2, doubleword 4, quadword and 80-bit extended real 8; 16-byte SSE
# operands are not checked here)
ALIGN_MASK = {2: 1, 4: 3, 8: 7, 10: 7}
MAX_BLOCK = 48          # instructions per block (the step-limit margin relies on it)
MAX_FOLLOW = 6          # direct jumps/calls followed into one block
# A loop's tail leaves at the step limit and at a stop a hook requested meanwhile
# (Machine.request_stop clears LIM[0]; ``lim`` is its copy from the loop's entry: without
# LIM[0] a loop asked to stop ran to its end). Loop blocks and loop traces alike.
STOP_TEST = "if c > lim or not LIM[0]:"

GPR_SLOT: dict = {}
for _i, _n in enumerate(("eax", "ecx", "edx", "ebx", "esp", "ebp", "esi", "edi")):
    GPR_SLOT[_n] = (_i, 4, False)
    GPR_SLOT[_n[1:]] = (_i, 2, False)
for _i, _n in enumerate(("al", "cl", "dl", "bl")):
    GPR_SLOT[_n] = (_i, 1, False)
for _i, _n in enumerate(("ah", "ch", "dh", "bh")):
    GPR_SLOT[_n] = (_i, 1, True)
SEG_NUM = {"es": 0, "cs": 1, "ss": 2, "ds": 3, "fs": 4, "gs": 5}


class ParamSlot(int):
    """A register slot that is a parameter of a first-tier template (tier0.py): a
    register the template reads and writes as ``r[_r0]``, whichever one an instance
    names. Its value (NSLOTS + k) indexes the builder's per-slot lists past the real
    slots, so no code that names a real register can mean it; formatted it is the
    parameter's name, and arithmetic on it (a value no source may hold) is refused."""
    __slots__ = ()

    def __format__(self, spec: str) -> str:
        if spec:
            raise ValueError(f"format {spec!r} of a register parameter")
        return f"_r{int(self) - NSLOTS}"

    def __str__(self) -> str:
        return self.__format__("")

    __repr__ = __str__

    def _refuse(self, *args):
        raise ValueError("arithmetic on a register parameter")

    __add__ = __radd__ = __sub__ = __rsub__ = __mul__ = __rmul__ = __and__ = __rand__ = \
        __or__ = __ror__ = __xor__ = __rxor__ = __lshift__ = __rshift__ = __neg__ = _refuse


# a template's register parameters: their slots, their versions' names (three letters,
# as a 32-bit register's: Builder._bound), and their operand names by size
# (name + "d", "w", "l", "h") that a template's instruction carries instead of the
# registers it stands for (no semantics code names one: GPR_SLOT alone knows them)
PARAM_SLOTS = tuple(ParamSlot(NSLOTS + k) for k in range(4))
PARAM_NAMES = ("gpa", "gpb", "gpc", "gpd")
SLOT_NAMES_P = SLOT_NAMES + PARAM_NAMES
for _s, _n in zip(PARAM_SLOTS, PARAM_NAMES):
    GPR_SLOT[f"_{_n}d"] = (_s, 4, False)
    GPR_SLOT[f"_{_n}w"] = (_s, 2, False)
    GPR_SLOT[f"_{_n}l"] = (_s, 1, False)
    GPR_SLOT[f"_{_n}h"] = (_s, 1, True)

MASK = {1: 0xFF, 2: 0xFFFF, 4: 0xFFFFFFFF}
# names a register version may stand for without a copy: temporaries (m2, t7) and
# versions after the first (eax3), never the entry names (eax0: loop heads rebind them)
_ALIAS = re.compile(r"[a-z_]+[1-9][0-9]*")
_ENTRY_NAMES = tuple(f"{n}0" for n in SLOT_NAMES)
_ENTRY_SET = frozenset(_ENTRY_NAMES + tuple(f"{n}0" for n in PARAM_NAMES))
_ENTRY_SLOT = {n: s for s, n in enumerate(_ENTRY_NAMES)}   # (Builder._hoistable)
# a string instruction's step (system.py), and the code that changes EFLAGS.DF
# (semantics.py: CLD, STD, POPF): Builder._hoist_df
_DF_STEP = re.compile(r"st[0-9]+ = \(-[0-9] if cpu\.flags & 0x400 else [0-9]\)")
_DF_WRITE = re.compile(r"cpu\.flags [&|]?=")
# Builder.bind reuses a name for arithmetic over register versions and temporaries only
# (not lz*: a loop rebinds them; not calls, indexing or attributes: state that changes)
_PURE_NAME = re.compile(r"\b(?!lz)[a-z_]+[0-9]+\b|\b0x[0-9a-f]+\b|\b[0-9]+\b")
_PURE_NAME_ONLY = re.compile(r"\b[a-z_]+[0-9]+\b")
# Translator.unwind evaluates fault records' register entries that are expressions
# (compiler.py): the bindings of register versions only those records read can go
# (Builder._drop_dead)
REG_EXPRS = True
# a block's failed stack check unwinds to its instruction (SlowPath) and the block is
# made again with the slow paths inline, instead of holding them from the start
UNWIND_SLOW = True
_IMPURE = re.compile(r"[^-+*&|^~<>() ]")
# a byte or word written into a 32-bit register: the rest of the old value, or'ed
_MERGE = re.compile(r"& 0xffff(?:ff00|00ff|0000) \|")
SIGN = {1: 0x80, 2: 0x8000, 4: 0x80000000}
# flat mode: a 32-bit address "name +/- constant" (Builder._affine)
_AFFINE = re.compile(r"\(([a-z_]+[0-9]+) ([-+]) (0x[0-9a-f]+|[0-9]+)\) & 0xffffffff")
STACK_REACH = 0x800     # offsets a check tests from its base's own page
FAR_REACH = 0x100000    # offsets beyond: a check per 2 KiB window, tested from its low end
                        # (a big frame's locals, [ebp-0x1028]; a structure's far fields)
STACK_SPAN = 0x400      # bytes one check may cover (a block's stack footprint)
HEAP_USES = 2           # accesses through another base that pay for its check (two
                        # plain word loads ~2x1120 Ir, a check ~700 and two MV ~2x530)
# a 32-bit register version's name (its value is below 2**32: Builder._bound)
_GPR3 = frozenset(("eax", "ecx", "edx", "ebx", "esp", "ebp", "esi", "edi", *PARAM_NAMES))
_WORD = re.compile(r"[A-Za-z_][A-Za-z_0-9]*")
# calls generated code makes that write no guest memory (anything else forgets what the
# stack checks know was stored: Builder._forget)
_PURE_CALLS = ("U32", "U16", "READ", "ARITH", "int", "len", "CPUException")
# a call of anything else (one search: it runs for most lines once a check knows a value)
_IMPURE_CALL = re.compile(rf"(?<![A-Za-z_0-9])(?!(?:{'|'.join(_PURE_CALLS)})\()"
                          r"[A-Za-z_][A-Za-z_0-9]*\(")


def _once(text: str, name: str) -> bool:
    """Whether name occurs in text exactly once as a whole word (str.find: a regular
    expression per name, or one for every name, is several times slower)."""
    n = len(name)
    end = len(text)
    seen = False
    i = text.find(name)
    while i >= 0:
        j = i + n
        if (i == 0 or not (text[i - 1].isalnum() or text[i - 1] == "_")) and \
                (j == end or not (text[j].isalnum() or text[j] == "_")):
            if seen:
                return False
            seen = True
        i = text.find(name, j)
    return seen


def _register_value(e: str) -> bool:
    """Whether e is a constant a 32-bit register can hold."""
    c = const(e)
    return c is not None and 0 <= c <= 0xFFFFFFFF


def _affine_text(base: str, off: int, masked: bool = True) -> str:
    """The expression for base + off (32 bits; not masked: the plain sum)."""
    if not off:
        return base
    return f"({base} {'+' if off > 0 else '-'} {abs(off):#x}){' & 0xffffffff' * masked}"


def _affine_item(v) -> str:
    """A value of Builder._writeback's as text where it stands whole (a right-hand side,
    a tuple item, an argument): a (base, offset) pair masked, without the parentheses
    an operand would need (compile() costs by the token)."""
    if isinstance(v, str):
        return v
    base, off = v
    if not off:
        return base
    return f"{base} {'+' if off > 0 else '-'} {abs(off):#x} & 0xffffffff"


# Builder._writeback's slot for the lazy flags
LZ = -1


def _live_stores(fast: list) -> list:
    """The direct accesses of a merged run (Builder._merge_accesses) without the stores
    a later one in the run overwrites before any load: a call's pushed return address
    that the callee's push replaces (a PIC thunk's). Only these direct forms, which
    cannot fault: the slow accesses keep every store, each one's fault its own."""
    dead = _overwritten(fast)
    return [x for k, x in enumerate(fast) if k not in dead]


# a value that may read memory or do more than compute: a call, a load, a statement
_READS = re.compile(r"\w\(|MV\[|mem\[|;")


def _overwritten(fast: list) -> set:
    """The positions in fast (direct stack accesses, which cannot fault) of the word
    stores a later one overwrites with no load, call or other statement between."""
    dead: set = set()
    over: set = set()       # the words stored after this point, no load between them
    for k in range(len(fast) - 1, -1, -1):
        x = fast[k]
        target, eq, value = x.partition(" = ")
        if not eq or not target.startswith(("MV[", "mem[")) or _READS.search(value):
            over.clear()    # a load (t = ...) or another form: earlier stores may be read
        elif target in over:
            dead.add(k)
        elif target.startswith("MV["):
            over.add(target)
    return dead


class SlowPath(Exception):
    """A failed page check of a block built to leave by unwinding (Builder.unwinds):
    the dispatcher puts the state at the start of the instruction, as for a fault,
    notes the block's key in Translator.slow_keys (built with its slow paths inline
    from then on), drops the block and goes on (Machine.run)."""


def slow_path() -> bool:
    """Called by the check line of a block without inline slow paths: it failed."""
    raise SlowPath()


class _Check:
    """One page check of a block (Builder._stack_ref): its line, the offsets it covers
    from its base, its names (the verdict, the base as a word index), and its accesses
    (line, their plain form)."""
    __slots__ = ("line", "lo", "hi", "sk", "sq", "base", "words", "stores", "uses", "known")

    def __init__(self, line: int, lo: int, hi: int, sk: str, sq: str, base: str):
        self.line, self.lo, self.hi, self.sk, self.sq, self.base = line, lo, hi, sk, sq, base
        self.words = self.stores = False
        self.uses: list = []
        self.known: dict = {}   # offset -> (size, value) stored or loaded there (forwarding)
STALE = "<stale>"
ENTRY = "entry"     # flags as the block (or loop iteration) started
INCPU = "incpu"     # flushed to cpu.lz before a helper call


class Lazy:
    """Compile-time flag state: ``op`` (see flags.py) and Python expressions over SSA
    names, which never change, so they can be evaluated at any later point. ``res`` None
    means "not computed yet" for CMP/TEST (derived from a and b when needed)."""
    __slots__ = ("op", "res", "a", "b", "pending", "cf", "keep")

    def __init__(self, op: int, res: Optional[str], a: str = "0", b: str = "0"):
        self.op, self.res, self.a, self.b = op, res, a, b
        self.pending = False        # res is an expression not computed yet
        self.cf: Optional[str] = None   # pending: an expression for CF alone (BT, shifts)
        # pending, CF alone changed (Builder.set_cf): the state before as (an op
        # expression without the CF, res, a, b), saved as flags.KEEP_CF tuples
        self.keep: Optional[tuple] = None


class InsnMeta:
    """Where one instruction's starting state lives (for precise exceptions)."""
    __slots__ = ("line", "idx", "ip", "nip", "regs", "flags", "insn", "lin")

    def __init__(self, line, idx, ip, nip, regs, flags, insn, lin):
        self.line, self.idx, self.ip, self.nip = line, idx, ip, nip
        self.regs, self.flags, self.insn, self.lin = regs, flags, insn, lin


class BlockMeta:
    trace = False           # a superblock along a recorded path (traces.py)

    def __init__(self):
        self.insns: list = []       # InsnMeta, in line order (several per instruction)
        self.lines: list = []
        self.key = 0
        self.loop = False
        self.single = False
        self.n = 0
        self.trapless = False   # INT n & co.: no single-step trap after them


def negate(cond: str) -> str:
    """`not cond`, without stacking negations."""
    if cond.startswith("not (") and cond.endswith(")"):
        inner = cond[5:-1]
        depth = 0
        for ch in inner:
            depth += (ch == "(") - (ch == ")")
            if depth < 0:
                break
        else:
            return inner
    return f"not ({cond})"


def const(e: str) -> Optional[int]:
    """The value of a constant expression string, else None."""
    if not e or not (e[0].isdigit() or e[0] == "-"):
        return None         # (a name: int() raising is slow)
    try:
        return int(e, 0)
    except (ValueError, TypeError):
        return None


class Operand:
    """Read/write access to one decoded operand inside a Builder."""
    __slots__ = ("b", "kind", "size", "slot", "high", "ea", "value", "_cached")

    def __init__(self, b: Builder, kind: str, size: int, slot: int = 0, high: bool = False,
                 ea: str = "", value: int = 0):
        self.b, self.kind, self.size, self.slot, self.high = b, kind, size, slot, high
        self.ea, self.value = ea, value
        self._cached = None

    @property
    def is_mem(self) -> bool:
        return self.kind == "mem"

    @property
    def is_reg(self) -> bool:
        return self.kind == "reg"

    @property
    def is_imm(self) -> bool:
        return self.kind == "imm"

    def read(self) -> str:
        """An expression for the value, masked to the operand size (memory is read once
        per instruction and bound to a temporary)."""
        if self.kind == "imm":
            return f"{self.value & MASK[self.size]:#x}"
        if self.kind == "reg":
            return self.b.read_reg(self.slot, self.size, self.high)
        if self._cached is None:
            self._cached = v = self.b.load(self.ea, self.size)
            if v.isidentifier() and self.size in MASK:
                self.b.hi[v] = MASK[self.size]
        return self._cached

    def write(self, expr: str) -> str:
        """Store a value already masked to the operand size; returns a name (or
        constant) holding that value."""
        if self.kind == "reg":
            if self.size == 4:
                return self.b.set(self.slot, expr)
            v = self.b.bind(expr)
            self.b.write_reg(self.slot, self.size, self.high, v)
            return v
        if self.kind == "mem":
            v = self.b.bind(expr)
            self.b.store(self.ea, self.size, v)
            return v
        raise AssertionError("write to an immediate")

    def same_as(self, other: Operand) -> bool:
        return self.kind == "reg" == other.kind and self.slot == other.slot and \
            self.size == other.size and self.high == other.high


class Builder:
    """Emits the Python source of one block."""

    def __init__(self, tr, key: int, single: bool, loop_mode: bool,
                 lz_needed: bool = False, carried: frozenset = frozenset()):
        self.tr = tr
        self.real = tr.cpu.real
        self.cbits = tr.cpu.bits
        self.key0 = key
        self.single = single
        self.loop_mode = loop_mode      # second pass of a block known to loop
        # loop mode: the flags at the loop head are kept in lzo.. (something reads them,
        # or may fault, before the body sets the flags)
        self.lz_track = loop_mode and lz_needed
        self.entry_needed = False
        self.lz_used = False            # lzo.. are read: load them from cpu.lz at entry
        self.idx = 0
        self._eas: dict = {}
        self._lin = 0
        self.csk = key & ~0xFFFF if self.real else 0
        self.cs_sel = key >> 16 if self.real else 0
        self.cs_base = (key >> 16) << 4 if self.real else 0
        # protected mode: the key's context says CPL and the stack's size (protected.py)
        self.pm = tr.cpu.pm
        if self.pm:
            ctx = tr.cpu.ctxs[key >> 32]
            self.csk = key >> 32 << 32
            self.cpl, self.ss_big, self.v86 = ctx[3], ctx[4], ctx[5]
            # a code segment limit below 4 GiB - 1: near branches check their target
            self.cs_limit = ctx[1] if ctx[1] < 0xFFFFFFFF else None
            self.ac = ctx[6]            # alignment checks (CPL 3, CR0.AM, EFLAGS.AC)
            self._segof: dict = {}
        self.lines: list = []           # (depth, text)
        self.depth = 0
        self.ver: list = [None] * NSLOTS
        self.nver = [0] * NSLOTS
        self.slots = range(NSLOTS)     # every slot (a template's register parameters too)
        self.entry_used: set = set()
        self.dirty: set = set()
        self.ntmp = 0
        self._cse: dict = {}            # pure expression -> the name bound to it
        self._mark_ver: Optional[tuple] = None      # _mark's last register versions
        self._mark_regs: tuple = ()
        self.fl = ENTRY
        self.meta = BlockMeta()
        self.ended = False
        self.loop = False
        self.exit_lines: list = []
        self.loop_tail: list = []
        self.pre_lines: list = []       # loop mode: lines before the loop (_hoist)
        # ALIVE[0] (the block's cell, cleared when code it translated is written) changes
        # only in a store or a helper call: a followed jump or the back edge checks it
        # only when one came since the last check. has_store: one came (set by the store
        # sites and call(), cleared by a check); has_helper: a helper call anywhere.
        # Flat mode checks none: every drop of a block there (a write over its code,
        # Translator.flush) stops the running one before its next instruction (smc.py);
        # real and protected mode keep the checks (their helpers flush, e.g. CR writes)
        self.has_store = False
        self.alive_checks = self.real or self.pm
        self.has_helper = False
        self.ninsn = 0
        self.ranges: list = []
        self.visited: set = set()
        self.insn: Optional[Insn] = None
        self.ip = self.nip = 0
        self.follow: Optional[int] = None
        self.followed = 0
        self.returns: list = []         # return addresses of the calls followed so far
        self.written: set = set()       # slots the block writes (anywhere)
        # loop mode: the slots the body writes; from the second iteration on, a side exit
        # taken before the body writes one again must store the value the loop carried
        self.carried = carried
        # a trace (traces.py): the keys a recorded run went through, one per instruction
        # (path[0] is key); branches follow it behind guards that leave the block
        self.path: Optional[list] = None
        self.pos = 0
        # flat mode: stack accesses (addresses "esp/ebp version + constant") check their
        # page once per block instead of once per access (_stack_check)
        mem = tr.mem
        self.stk = not self.real and not self.pm and not single and not tr.watching
        # a failed stack check leaves the block as a fault does (SlowPath) instead of
        # taking slow paths written inline: shorter source and fast paths
        self.unwinds = self.stk and UNWIND_SLOW and key not in tr.slow_keys
        self.mv = mem.mv32 if self.stk else None
        self.aff: dict = {}             # name -> (base name, offset): name = base + offset
        self.stkbase: set = {"esp0", "ebp0"}    # names that are ESP or EBP versions
        self._chk: dict = {}            # base -> its check (live until a helper call)
        self._chks: list = []           # every check, patched when the block ends
        self._affline: dict = {}        # affine name -> the line binding it (_drop_dead)
        self._knows = False             # some check knows a value it stored (forwarding)
        # names whose value is known to be at most a bound below 2**32 - 1 (byte and word
        # loads, shifted and masked values): masks they cannot reach are left out
        self.hi: dict = {}
        # register versions written through a byte or word register: name -> (size, the
        # name or constant written there), which a read of that register is
        self.low: dict = {}

    # -- emission ----------------------------------------------------------------------------
    def emit(self, text: str) -> None:
        """Add source lines; 4-space indentation inside text is relative."""
        if self._knows and "(" in text and _IMPURE_CALL.search(text) is not None:
            self._forget()
        if "\n" not in text and text[:1] != " ":     # (most lines: one, not indented)
            self.lines.append((self.depth, text))
            return
        for line in text.split("\n"):
            stripped = line.lstrip(" ")
            self.lines.append((self.depth + (len(line) - len(stripped)) // 4, stripped))

    def tmp(self, prefix: str = "t") -> str:
        self.ntmp += 1
        return f"{prefix}{self.ntmp}"

    def bind(self, expr: str, prefix: str = "t") -> str:
        """A name (or constant) holding expr's value; the same arithmetic on the same
        names bound earlier in straight-line code is that name again."""
        if expr.isidentifier() or const(expr) is not None:
            return expr
        expr, bound = self._narrow(expr)
        if expr.isidentifier() or expr[0].isdigit() and const(expr) is not None:
            return expr
        pure = self.depth == 0 and not _IMPURE.search(_PURE_NAME.sub("", expr))
        ref = None
        if pure:
            if self.stk:
                ref = self._affine(expr)
                if ref is not None:
                    expr = _affine_text(*ref)
                    if not ref[1]:
                        return expr
            t = self._cse.get(expr)
            if t is not None:
                return t
        t = self.tmp(prefix)
        if bound is not None:
            self.hi[t] = bound
        if ref is not None:
            self._affline[t] = len(self.lines)
        self.emit(f"{t} = {expr}")
        if pure:
            self._cse[expr] = t
            if ref is not None:
                self.aff[t] = ref
        return t

    def _bound(self, e: str) -> Optional[int]:
        """The largest value name or constant e can hold, if known (a 32-bit register
        version: 2**32 - 1)."""
        b = self.hi.get(e)
        if b is not None:
            return b
        if e[0].isdigit():
            return const(e)
        if e[:3] in _GPR3 and e[3:].isdigit():
            return 0xFFFFFFFF
        return None

    def _narrow(self, expr: str) -> tuple:
        """(expr, its bound or None): a 32-bit sum of terms (name, constant, name *
        constant) whose bounds add up below 2**32 without its mask (a mask costs as
        much as the add: the constant is a two-digit int to CPython), and the bound of
        a shift or an AND (an AND that cannot change its operand left out). String
        tests only: this runs for most expressions a block binds."""
        if expr.endswith(" & 0xffffffff"):
            if expr[0] != "(" or expr[-14] != ")":
                return expr, None
            inner = expr[1:-14]
            if "(" in inner:
                return expr, None
            total = 0
            exact = self.stk    # every term a constant: the sum itself (flat blocks)
            for term in inner.split(" + "):
                name, star, k = term.partition(" * ")
                b = self._bound(name)
                if b is None:
                    return expr, None
                exact = exact and name[0].isdigit()
                if star:
                    kk = const(k)
                    if kk is None or kk < 0:
                        return expr, None
                    b *= kk
                total += b
            if exact:       # (a PIC base: the return address a followed thunk loaded)
                total &= 0xFFFFFFFF
                return f"{total:#x}", total
            if total > 0xFFFFFFFF:
                return expr, None
            return inner, total
        e = expr[1:-1] if expr[0] == "(" and expr[-1] == ")" else expr
        x, op, k = e.partition(" >> ")
        if op:
            if k.isdigit() and x.isidentifier():
                b = self._bound(x)
                if b is not None:
                    return expr, b >> int(k)
            return expr, None
        x, op, k = e.partition(" & ")
        if op and x.isidentifier() and k[:1].isdigit():
            c = const(k)
            if c is None or c < 0:
                return expr, None
            b = self._bound(x)
            if b is None:
                return expr, c
            if b <= c and not c & (c + 1):
                return x, b             # (an AND with low ones it cannot pass)
            return expr, min(b, c)
        return expr, None

    def _affine(self, expr: str) -> Optional[tuple]:
        """Flat mode: (base, offset) when expr is ``(name +/- c) & 0xffffffff`` and name
        is base + an offset the block knows (or is itself the base). Bindings are
        written over the base (_affine_text): a chain of pushes computes each ESP
        version from the first, not from the one before."""
        if expr[0] != "(" or not expr.endswith(") & 0xffffffff"):
            return None
        m = _AFFINE.fullmatch(expr)
        if m is None:
            return None
        src, sign, c = m.groups()
        base, off = self.aff.get(src, (src, 0))
        c = int(c, 16) if c[1:2] == "x" else int(c)
        if c >= 0x80000000:         # (a displacement -d is added as 2**32 - d)
            c -= 0x100000000
        return base, off + c if sign == "+" else off - c

    def glob(self, obj, name: Optional[str] = None) -> str:
        """Make a Python object visible to the generated code; returns its name."""
        return self.tr.glob(obj, name)

    # -- registers (state slots) -------------------------------------------------------------
    def get(self, slot: int) -> str:
        if self.real and slot == SEL + CS:
            return str(self.cs_sel)
        if self.real and slot == BASE + CS:
            return str(self.cs_base)
        v = self.ver[slot]
        if v is None:
            v = f"{SLOT_NAMES_P[slot]}0"
            self.ver[slot] = v
            self.entry_used.add(slot)
        elif v is STALE:
            v = self._newname(slot)
            self.emit(f"{v} = r[{slot}]")
            self.ver[slot] = v
            if slot == ESP or slot == EBP:
                self.stkbase.add(v)
        return v

    def _newname(self, slot: int) -> str:
        self.nver[slot] += 1
        return f"{SLOT_NAMES_P[slot]}{self.nver[slot]}"

    def set(self, slot: int, expr: str) -> str:
        expr, bound = self._narrow(expr)
        ref = self._affine(expr) if self.stk and self.depth == 0 else None
        if ref is not None:
            expr = _affine_text(*ref)
        if self.depth == 0 and not expr.startswith("lz") and (
                _ALIAS.fullmatch(expr) or not self.loop_mode and expr in _ENTRY_SET or
                self.stk and expr[0].isdigit() and _register_value(expr)):
            # a temporary or a later version, bound once: no copy (nor an entry name
            # outside a loop, where nothing rebinds it); in flat blocks a constant is
            # its own version (the code using it folds: PIC thunks' return addresses)
            name = expr
        else:
            name = self._newname(slot)
            if bound is not None:
                self.hi[name] = bound
            if ref is not None or self.stk and self.depth == 0 and _MERGE.search(expr) \
                    and not _IMPURE.search(_PURE_NAME.sub("", expr)):
                # (a byte or word merged into a register that nothing reads, e.g.
                # SETcc's, which MOVZX then overwrites: _drop_dead)
                self._affline[name] = len(self.lines)
            self.emit(f"{name} = {expr}")
            if self.stk and self.depth == 0:
                aff = self.aff
                if ref is not None:
                    aff[name] = ref
                elif expr in aff:
                    aff[name] = aff[expr]
                elif expr in self.stkbase:
                    aff[name] = (expr, 0)
        if self.stk and (slot == ESP or slot == EBP):
            self.stkbase.add(name)
        self.ver[slot] = name
        self.dirty.add(slot)
        self.written.add(slot)
        return name

    def read_reg(self, slot: int, size: int, high: bool = False) -> str:
        v = self.get(slot)
        if size == 4:
            return v
        if high:
            return f"({v} >> 8 & 0xff)"
        b = self.hi.get(v)
        if b is not None and b <= MASK[size]:
            return v            # (a byte or word value already)
        lw = self.low.get(v)
        if lw is not None and lw[0] == size:
            return lw[1]        # (mov al, [x] ... cmp al, y)
        return f"({v} & {MASK[size]:#x})"

    def write_reg(self, slot: int, size: int, high: bool, expr: str) -> str:
        if size == 4:
            return self.set(slot, expr)
        old = self.get(slot)
        plain = expr.isidentifier() or const(expr) is not None
        if not plain:
            expr = f"({expr})"
        if high:
            return self.set(slot, f"{old} & 0xffff00ff | {expr} << 8")
        keep = 0xFFFFFFFF & ~MASK[size]
        name = self.set(slot, f"{old} & {keep:#x} | {expr}")
        if plain:
            self.low[name] = (size, expr)
        return name

    def reg(self, name: str) -> str:
        slot, size, high = GPR_SLOT[name]
        return self.read_reg(slot, size, high)

    def set_reg(self, name: str, expr: str) -> str:
        slot, size, high = GPR_SLOT[name]
        return self.write_reg(slot, size, high, expr)

    def set_seg(self, n: int, sel: str) -> None:
        """Real mode: load segment register n with a selector value (base = sel * 16)."""
        sel = self.bind(sel)
        self.set(SEL + n, sel)
        self.set(BASE + n, f"{sel} << 4")

    # -- memory ------------------------------------------------------------------------------
    def seg_base(self, seg: int) -> Optional[str]:
        """Expression for a segment's base; None when it is 0 by construction."""
        if not self.real and not self.pm and seg not in (FS, GS):
            return None
        return self.get(BASE + seg)

    def offset(self, m: Mem) -> str:
        """The effective address (offset within the segment) of a memory operand."""
        asize = self.insn.asize
        amask = 0xFFFF if asize == 16 else 0xFFFFFFFF
        terms = []
        for name, mult in m.regs:
            v = self.get(GPR_SLOT[name][0])
            terms.append(v if mult == 1 else f"{v} * {mult}")
        disp = m.disp & amask
        if not terms:
            return f"{disp:#x}"
        if len(terms) == 1 and not disp and asize == 32 and m.regs[0][1] == 1:
            return terms[0]
        if not disp:
            tail = ""
        elif type(disp) is int and disp >= 0x80000000:
            # a negative displacement subtracted: the sum stays a one-digit int to
            # CPython where adding 2**32 - d made a two-digit one (~10% of the line)
            tail = f" - {0x100000000 - disp:#x}"
        else:
            tail = f" + {disp:#x}"
        return self.bind(f"({' + '.join(terms)}{tail}) & {amask:#x}", "o")

    def default_seg(self, m: Mem) -> int:
        if m.seg:
            return SEG_NUM[m.seg]
        if m.regs and not (m.nosplit and self.insn.asize == 32) and \
                m.regs[0][0] in ("bp", "ebp", "esp"):
            return SS
        return DS

    def linear(self, seg: int, off: str) -> str:
        """Linear address of seg:off (off already masked to the address size)."""
        if self.pm:
            return self.pm_linear(seg, off, 1)
        base = self.seg_base(seg)
        if base is None:
            return off
        if self.real:
            cb, co = const(base), const(off)
            if cb is not None and co is not None:
                return f"{cb + co:#x}"
            return self.bind(f"{base} + {off}", "a")
        return self.bind(f"({base} + {off}) & 0xffffffff", "a")

    def ea(self, m: Mem, nbytes: int = 1, align: Optional[int] = None) -> str:
        """Linear address of a memory operand of nbytes (real mode: an operand that
        runs past offset 0xFFFF faults, #SS for the stack segment, else #GP). `align`:
        the alignment #AC wants when it is not the operand's size (far pointers)."""
        seg = self.default_seg(m)
        off = self.offset(m)
        if self.pm:
            return self.pm_linear(seg, off, nbytes, align)
        if self.real and nbytes > 1:
            self.limit_check(off, nbytes, seg)
        return self.linear(seg, off)

    def pm_linear(self, seg: int, off: str, nbytes: int, align: Optional[int] = None) -> str:
        """Protected mode: the segment checks (null, limit) and the linear address; loads
        and stores through it check the segment's type (protected.py, paging.py), and
        with alignment checking on, its alignment (#AC(0))."""
        self.may_fault()
        a = self.tmp("a")
        base = self.get(BASE + seg)
        end = off if nbytes == 1 else f"{off} + {nbytes - 1}"
        self.emit(f"{a} = ({base} + {off}) & 0xffffffff if SLO[{seg}] <= {off} and "
                  f"{end} <= SHI[{seg}] else SEG({seg}, {off}, {nbytes})")
        self._segof[a] = seg
        if self.ac:
            mask = ALIGN_MASK.get(nbytes, 0) if align is None else align - 1
            if mask:
                self.raise_if(f"{a} & {mask}", AC, "alignment check")
        return a

    def limit_check(self, off: str, nbytes: int, seg: int) -> None:
        """Real mode: fault when [off, off + nbytes) leaves the 64 KiB segment."""
        c = const(off)
        top = 0x10000 - nbytes
        if c is not None and c <= top:
            return
        vec = 12 if seg == SS else 13
        self.raise_if(f"{off} > {top:#x}", vec, "segment limit exceeded")

    # -- page checks per base ----------------------------------------------------------------
    def _stack_ref(self, addr: str, size: int, store: bool) -> Optional[tuple]:
        """Flat mode: (check, base, offset) when addr is a name (a register version, a
        loaded pointer...) plus a small constant: the stack's ESP/EBP-relative accesses
        and a structure's fields through one pointer. The block checks once, where it
        first uses the base (a line patched when the block ends, _patch_checks), that
        the pages every such access touches (one page inline, two through
        Memory.span_ok) are readable, without a flag in ``wf`` (code, read-only,
        watched) if one of them stores, and, for word accesses, that the base is
        aligned; the accesses then index memory directly, and take the plain path
        (each access checks its own page) when the check failed. A helper call may
        change page flags: accesses after one check again. Stores through a check are
        forwarded to later loads of the same bytes through it (Check.known) until
        something else may have written memory (_forget)."""
        ref = self.aff.get(addr)
        if ref is None:
            if not addr.isidentifier():
                return None
            ref = (addr, 0)
        base, off = ref
        if -STACK_REACH <= off <= STACK_REACH:
            where = base
        elif -FAR_REACH <= off <= FAR_REACH:
            where = (base, off >> 11)
        else:
            return None
        chk = self._check_at(where, base, off, size)
        if chk is None:
            return None
        lo, hi = min(chk.lo, off), max(chk.hi, off + size)
        if hi - lo > STACK_SPAN and isinstance(where, str):
            # a big frame: its locals far from what the check covers (the arguments,
            # the saved registers) get a check of their own, per KiB of offsets
            chk = self._check_at((base, off >> 10, 0), base, off, size)
            if chk is None:
                return None
            lo, hi = min(chk.lo, off), max(chk.hi, off + size)
        if hi - lo > STACK_SPAN:
            return None
        chk.lo, chk.hi = lo, hi
        chk.stores |= store
        return chk, base, off

    def _check_at(self, where, base: str, off: int, size: int) -> Optional[_Check]:
        """The check of ``where`` (_stack_ref's key), made here if there is none yet
        (not inside a conditional: None)."""
        chk = self._chk.get(where)
        if chk is None:
            if self.depth:
                return None
            chk = _Check(len(self.lines), off, off + size, self.tmp("sk"), self.tmp("sq"), base)
            self.emit("pass")           # the check, once its reach is known
            self._chk[where] = chk
            self._chks.append(chk)
        return chk

    def _stack_fast(self, chk: _Check, base: str, off: int, size: int,
                    value: Optional[str] = None) -> str:
        """The direct load of base + off (the check passed), or store of value there."""
        if size == 4 and self.mv is not None and not off & 3:
            chk.words = True
            self.glob(self.mv, "MV")
            k = off >> 2
            e = f"MV[{chk.sq}{f' + {k}' if k > 0 else f' - {-k}' if k else ''}]"
            return e if value is None else f"{e} = {value}"
        a = base if not off else f"{base} + {off}" if off > 0 else f"{base} - {-off}"
        if size == 1:
            return f"mem[{a}]" if value is None else f"mem[{a}] = {value}"
        if value is None:
            return f"{'U16' if size == 2 else 'U32'}(mem, {a})[0]"
        return f"{'P16' if size == 2 else 'P32'}(mem, {a}, {value})"

    def _stack_addr(self, addr: str, base: str, off: int, whole: bool = False) -> str:
        """The address for the slow path, over the base (addr's binding dies when only
        slow paths used it: _drop_dead); ``whole``: for an argument (no parentheses)."""
        if whole:
            return _affine_item((base, off))
        if not off:
            return base
        return f"(({base} {'+' if off > 0 else '-'} {abs(off):#x}) & 0xffffffff)"

    def _patch_checks(self) -> None:
        """The block is complete: write each check's line (a check used by one access
        only costs more than it saves: that access goes back to its plain form), and
        drop the address bindings only the slow paths used. In a loop with no helper
        call, a check whose base the loop never writes runs once, before the loop
        (_hoistable)."""
        lines = self.lines
        hoist: dict = {}        # base -> the checks through it made before the loop
        direct: list = []       # the checks that leave the block when they fail
        for c in self._chks:
            d = lines[c.line][0]
            if len(c.uses) < (2 if c.base in self.stkbase else HEAP_USES):
                lines[c.line] = (d, "pass")
                for idx, plain in c.uses:
                    for j, text in enumerate(plain):
                        lines[idx + j] = (lines[idx + j][0], text)
                continue
            self.glob(self.tr.mem.span_ok, "SPAN")
            if self._hoistable(c):
                hoist.setdefault(c.base, []).append(c)
                continue
            lines[c.line] = (d, self._check_text(c))
            if self.unwinds:
                self._direct_uses(c)
                direct.append(c)
        kept = [c.line for c in self._chks if lines[c.line][1] != "pass"]
        for group in hoist.values():
            kept.extend(c.line for c in group)
            for c in group:
                lines[c.line] = (lines[c.line][0], "pass")
            self._hoist(group)
        self._chks = []
        self._hoist_df()
        self._drop_dead()
        self._blank_nops()
        for c in direct:
            self._drop_overwritten(c)
        if kept:
            self._merge_accesses(min(kept))

    def _direct_uses(self, c: _Check) -> None:
        """Check c leaves the block when it fails (``or SLOW()``): its accesses keep
        only their direct form. The lines stay (fault records hold line numbers)."""
        self.glob(slow_path, "SLOW")
        lines = self.lines
        d, text = lines[c.line]
        sk = c.sk
        head, sep, rest = text.rpartition(f"{sk} = ")
        verdict, semi, tail = rest.partition("; ")
        lines[c.line] = (d, f"{head}{sep}{verdict} or SLOW(){semi}{tail}")
        test, cond = f"if {sk}:", f" if {sk} else "
        for idx, _ in c.uses:
            dd, text = lines[idx]
            if text == test:
                # a store: "if sk:" direct, "else:" slow, or direct, "elif": slow, "else:" plain
                n = 6 if lines[idx + 2][1].startswith("elif ") else 4
                lines[idx:idx + n] = [(dd, lines[idx + 1][1])] + [(dd, "")] * (n - 1)
            elif cond in text:
                t, _, rest = text.partition(" = ")
                lines[idx] = (dd, f"{t} = {rest.partition(cond)[0]}")

    def _drop_overwritten(self, c: _Check) -> None:
        """The direct accesses of check c (_direct_uses) in a run with only empty lines
        between lose the stores a later one overwrites before any load (_overwritten: a
        call's return address the callee's push replaces). Nothing between can leave
        the block, c having passed for all of them; when c fails the block is made
        again with every slow store, each one's fault its own (_merge_accesses)."""
        lines = self.lines
        run: list = []
        for idx in sorted({idx for idx, _ in c.uses}) + [-1]:
            if run and (idx < 0 or lines[idx][0] != lines[run[-1]][0] or
                        any(text for _, text in lines[run[-1] + 1:idx])):
                if len(run) > 1:
                    for k in _overwritten([lines[i][1] for i in run]):
                        lines[run[k]] = (lines[run[k]][0], "")
                run = []
            if idx >= 0:
                if ":=" in lines[idx][1]:   # (a binding a later line may read)
                    run = []
                else:
                    run.append(idx)

    def _hoist_df(self) -> None:
        """A loop with no helper call and no CLD/STD/POPF: its string instructions'
        steps (EFLAGS.DF's sign) are read once, before the loop."""
        if not self._pure_loop():
            return
        lines = self.lines
        found = [i for i, (_, text) in enumerate(lines) if _DF_STEP.fullmatch(text)]
        if not found or any(_DF_WRITE.search(text) for _, text in lines):
            return
        for i in found:
            self.pre_lines.append(lines[i][1])
            lines[i] = (lines[i][0], "pass")

    def _pure_loop(self) -> bool:
        """A loop in which nothing may flag a page or change EFLAGS.DF behind its back:
        no helper call, and no write hook armed (a store into a hooked page runs the
        embedder's callback, which may map, unmap or hook pages: Translator.write_hooks).
        Every other store only ever clears a flag, when it drops the translations of code
        it wrote over."""
        return self.loop_mode and not self.has_helper and \
            not getattr(self, "any_helper", False) and not self.tr.write_hooks

    def _hoistable(self, c: _Check) -> bool:
        """Whether check c can run once before the loop instead of once per pass: its
        base is an entry register the loop never writes, in a _pure_loop."""
        if not self._pure_loop():
            return False
        slot = _ENTRY_SLOT.get(c.base)
        return slot is not None and slot not in self.written and slot not in self.carried

    def _hoist(self, group: list) -> None:
        """The checks through one loop-invariant base, as one check over all their
        accesses (two when they lie too far apart), in the lines before the loop;
        ``pre_lines``. Unlike a check in the loop, which its first access follows, it
        must not raise for a base past the memory (rf is indexed by its page)."""
        lo, hi = min(c.lo for c in group), max(c.hi for c in group)
        if hi - lo > STACK_SPAN or not (-STACK_REACH <= lo and hi <= STACK_REACH + 16):
            for c in group:
                self.pre_lines.append(self._check_text(c, True))
            return
        u = group[0]
        u.lo, u.hi = lo, hi
        u.words = any(c.words for c in group)
        u.stores = any(c.stores for c in group)
        self.pre_lines.append(self._check_text(u, True))
        for c in group[1:]:
            self.pre_lines.append(f"{c.sk} = {u.sk}" + (f"; {c.sq} = {u.sq}" if c.words else ""))

    def _check_text(self, c: _Check, safe: bool = False) -> str:
        """The line of check c (_stack_ref); ``safe``: false, not an IndexError, for a
        base past the memory (a hoisted check: no access follows it to fault)."""
        b = c.base
        align = f"not {b} & 3 and " if c.words else ""
        inside = f"{b} < {self.tr.mem.size:#x} and " if safe else ""
        # one page (most of the time), else every page of the span (a helper)
        lo = f"{b} + {c.lo}" if c.lo > 0 else f"{b} - {-c.lo}" if c.lo else b
        if -STACK_REACH <= c.lo and c.hi <= STACK_REACH + 16:
            # a stack address (0xbf...) is a two-digit int to CPython, and each
            # operation on one costs about three on a one-digit int: the base is
            # shifted and masked once, the rest works on the results (< 2 ** 30)
            least, most = max(-c.lo, 0), min(0x1000 - c.hi, 0xFFF)
            if c.words:
                sl, page = c.sk + "l", f"{c.sq} >> 10"
                head = f"{c.sq} = {b} >> 2; {sl} = {b} & 0xfff; "
                align = f"not {sl} & 3 and "
            else:
                sl, page, head = f"{b} & 0xfff", f"{b} >> 12", ""
            p = c.sk + "p"
            flags = f"(rf[{p} := {page}] or wf[{p}])" if c.stores else f"rf[{page}]"
            inpage = f"{least} <= {sl}" if most == 0xFFF else \
                f"{least} <= {sl} <= {most}" if least else f"{sl} <= {most}"
            return (f"{head}{c.sk} = {align}({inpage} and {inside}not {flags} or "
                    f"SPAN({lo}, {b} + {c.hi}, {c.stores}))")
        # far from the base: the page of the span's low end, which holds the whole span.
        # Below the base, it must not be below 0 (the word indexes would wrap); past the
        # memory rf raises (the near form's does for its base), and every access of the
        # span faults anyway. Above it, it must be inside the memory: past 4 GiB the
        # accesses wrap (0xfffff000 + 0x1010 is 0x10), and the slow path masks them.
        # (One comparison either way: a base is never negative.)
        a, p = c.sk + "a", c.sk + "p"
        size = f"{self.tr.mem.size:#x}"
        bound = f"{a} < {size}" if c.lo > 0 else f"0 <= {a}"
        inside = f"{a} < {size} and " if safe and c.lo <= 0 else ""
        flags = f"(rf[{p} := {a} >> 12] or wf[{p}])" if c.stores else f"rf[{a} >> 12]"
        text = (f"{a} = {lo}; {c.sk} = {align}({bound} and ({a} & 0xfff) <= "
                f"{0x1000 - (c.hi - c.lo)} and {inside}not {flags} or "
                f"SPAN({a}, {b} + {c.hi}, {c.stores}))")
        if c.words:
            text += f"; {c.sq} = {b} >> 2"
        return text

    def _blank_nops(self) -> None:
        """Empty the lines that do nothing (a check or binding that became ``pass``, a
        store's ``if 0: pass`` / ``elif``): CPython keeps a NOP for each line of its own.
        The lines stay (fault records hold line numbers); a ``pass`` stays where it is
        the only statement of its suite."""
        lines = self.lines
        n = len(lines)
        for i in range(n):
            d, text = lines[i]
            if text == "if 0:" and i + 2 < n and lines[i + 1] == (d + 1, "pass") and \
                    lines[i + 2][0] == d and lines[i + 2][1].startswith("elif "):
                lines[i] = lines[i + 1] = (d, "")
                lines[i + 2] = (d, lines[i + 2][1][2:])
                continue
            if text != "pass":
                continue
            j = i - 1
            while j >= 0 and not lines[j][1]:
                j -= 1
            if j >= 0 and lines[j][0] >= d and not lines[j][1].endswith(":"):
                lines[i] = (d, "")          # a statement of this suite precedes it
                continue
            k = i + 1
            while k < n and not lines[k][1]:
                k += 1
            if k < n and lines[k][0] == d:
                lines[i] = (d, "")          # one follows it

    def _merge_accesses(self, i: int) -> None:
        """A run of stack accesses through one check with only empty lines between (a
        push or pop chain, a call's arguments) tests the verdict once, not once per
        access: ``if not sk:`` then each slow access on a line of its own instruction
        (fault records hold line numbers), then ``else:`` and the direct accesses,
        which cannot fault, on one line (no signal is taken inside it: no call). From
        line i (the first check's) on."""
        lines = self.lines
        n = len(lines)
        while i < n:
            d, head = lines[i]
            if head.startswith("if sk") and head.endswith(":"):
                sk = head[3:-1]
            elif " if sk" in head:
                sk = head.partition(" if ")[2].partition(" else ")[0]
            else:
                i += 1
                continue
            run = self._access_run(i, d, sk) if sk.startswith("sk") else []
            # the test needs a line before the first slow access, ``else:`` one after
            # the last: a store's own, or an empty one beside a load
            while run and run[0][1] is None and (run[0][0] == 0 or lines[run[0][0] - 1][1]):
                del run[0]
            while run and run[-1][1] is None and (run[-1][0] + 1 >= n or
                                                  lines[run[-1][0] + 1][1]):
                del run[-1]
            if len(run) < 2:
                i += 1
                continue
            fast = []
            for p, direct in run:
                if direct is None:      # a load: "t = direct if sk else slow"
                    t, _, rest = lines[p][1].partition(" = ")
                    direct, _, slow = rest.partition(f" if {sk} else ")
                    fast.append(f"{t} = {direct}")
                    lines[p] = (d + 1, f"{t} = {slow}")
                else:
                    fast.append(direct)
                    lines[p:p + 4] = [(d + 1, lines[p + 3][1]), (d, ""), (d, ""), (d, "")]
            first, last = run[0][0], run[-1][0]
            if run[0][1] is None:
                lines[first - 1] = (d, f"if not {sk}:")
            else:
                lines[first:first + 2] = [(d, f"if not {sk}:"), lines[first]]
            lines[last + 1] = (d, "else: " + "; ".join(_live_stores(fast)))
            i = last + 2

    def _access_run(self, i: int, d: int, sk: str) -> list:
        """The stack accesses through check sk from line i on at depth d, only empty
        lines between: (line, the direct store) for a store (``if sk:``, the direct
        store, ``else:``, ``STORE(...)``), (line, None) for a load (``t = direct if sk
        else slow``)."""
        lines = self.lines
        n = len(lines)
        test, cond = f"if {sk}:", f" if {sk} else "
        run: list = []
        while i < n and lines[i][0] == d:
            text = lines[i][1]
            if text == test and i + 3 < n and lines[i + 1][0] == d + 1 and \
                    lines[i + 2] == (d, "else:") and lines[i + 3][0] == d + 1 and \
                    lines[i + 3][1].startswith("STORE("):
                run.append((i, lines[i + 1][1]))
                i += 4
            elif text.count(cond) == 1 and text.partition(" = ")[0].isidentifier() and \
                    text.partition(" = ")[2].startswith(("MV[", "mem[", "U16(", "U32(")):
                run.append((i, None))
                i += 1
            else:
                break
            while i < n and not lines[i][1]:
                i += 1
        return run

    def _drop_dead(self) -> None:
        """Bindings of addresses and register versions "name +/- constant" (or a byte
        or word merged into a register) that nothing reads (a push chain's ESP
        versions, an address only the slow paths used, SETcc's register that MOVZX
        overwrites) become ``pass``; the fault records that name one hold its
        expression instead (Translator.unwind evaluates it), when REG_EXPRS."""
        cands = self._affline
        if not cands:
            return
        self._affline = {}
        lines = self.lines
        text = "\n".join([t for _, t in lines[min(cands.values()):]] + self.exit_lines +
                         self.loop_tail)
        dead = {name: i for name, i in cands.items() if _once(text, name)}
        if not dead:
            return
        meta = self.meta.insns
        # the names fault records hold (consecutive records share their tuples)
        named: set = set()
        last = None
        for im in meta:
            if im.regs is not last:
                last = im.regs
                named.update(n for _, n in last)
            if im.flags:
                for x in im.flags:
                    if x in dead:
                        named.add(x)
                    elif not x.isidentifier() and const(x) is None:
                        named.update(_PURE_NAME_ONLY.findall(x))
        if not REG_EXPRS:
            for n in named.intersection(dead):
                del dead[n]
        for name, i in dead.items():
            dead[name] = lines[i][1].partition(" = ")[2]
            lines[i] = (lines[i][0], "pass")
        if dead and not named.isdisjoint(dead):
            def held(m) -> str:
                return f"({dead[m[0]]})" if m[0] in dead else m[0]
            # (one rewrite per distinct flags tuple: most records repeat the one before;
            # a plain name or constant, most parts, without the regex)
            done: dict = {}
            for im in meta:
                if any(n in dead for _, n in im.regs):
                    im.regs = tuple((sl, dead.get(n, n)) for sl, n in im.regs)
                fl = im.flags
                if fl:
                    new = done.get(fl)
                    if new is None:
                        new = done[fl] = tuple(
                            (f"({dead[x]})" if x in dead else x) if x.isidentifier() else
                            x if const(x) is not None else _PURE_NAME_ONLY.sub(held, x)
                            for x in fl)
                    im.flags = new

    def _forget(self) -> None:
        """Memory may have changed behind the checks' backs: no forwarding across."""
        for c in self._chk.values():
            c.known.clear()
        self._knows = False

    def _plain_read(self, addr: str, size: int) -> str:
        """Flat mode: an expression loading addr (a name, a constant or a
        parenthesized expression)."""
        fast = f"mem[{addr}]" if size == 1 else \
            f"{'U16' if size == 2 else 'U32'}(mem, {addr})[0]"
        if self.tr.mem.guarded:
            fast = f"{fast} if not rf[{addr} >> 12] else READ({addr}, {size})"
        return fast

    def _plain_load(self, t: str, addr: str, size: int) -> str:
        """Flat mode: the line loading addr (a name or constant) into t."""
        return f"{t} = {self._plain_read(addr, size)}"

    def load(self, addr: str, size: int) -> str:
        self.may_fault()
        ref = self._stack_ref(addr, size, False) if self.stk else None
        if ref is not None:
            chk, base, off = ref
            k = chk.known.get(off)
            if k is not None and k[0] == size:
                # what this block stored or loaded there through the same check: memory
                # holds it (that access went through, so this read would too)
                self._stack_addr(addr, base, off)
                return k[1]
            t = self.tmp("m")
            slow = self._stack_addr(addr, base, off)
            chk.uses.append((len(self.lines), [self._plain_load(t, addr, size)]))
            # a failed stack check is rare (the checked helper), a failed pointer check
            # less so (a misaligned one: the plain path)
            slow = f"READ({self._stack_addr(addr, base, off, True)}, {size})" \
                if base in self.stkbase else \
                self._plain_read(slow, size)
            self.emit(f"{t} = {self._stack_fast(chk, base, off, size)} if {chk.sk} else {slow}")
            if self.depth == 0:     # a later load of the same bytes is this one (a local
                chk.known[off] = (size, t)  # -O2 code reads again), until _forget
                self._knows = True
            return t
        t = self.tmp("m")
        if self.pm:
            seg = self._segof.get(addr)
            if seg is None:
                self.emit(f"{t} = PRL({addr}, {size})")
            elif seg == CS or self.tr.watching:     # an execute-only code segment
                # refuses reads; a data breakpoint (debugregs.py) sees them in the MMU
                self.emit(f"{t} = PRD({seg}, {addr}, {size})")
            else:
                p = self.tmp("p")
                tl = "RU" if self.cpl == 3 or self.v86 else "RS"
                fast = {1: f"mem[{p} | {addr} & 0xfff]",
                        2: f"U16(mem, {p} | {addr} & 0xfff)[0]",
                        4: f"U32(mem, {p} | {addr} & 0xfff)[0]"}[size]
                edge = "" if size == 1 else f" and {addr} & 0xfff <= {0x1000 - size:#x}"
                self.emit(f"{p} = {tl}.get({addr} >> 12)\n"
                          f"{t} = {fast} if {p} is not None{edge} else "
                          f"PRD({seg}, {addr}, {size})")
            return t
        if self.tr.watching:            # data breakpoints (debugregs.py): the watch
            self.emit(f"{t} = READ({addr}, {size})")
            return t
        c = const(addr) if self.mv is not None and size == 4 else None
        if c is not None and not c & 3:     # an aligned global: a word of MV
            self.glob(self.mv, "MV")
            fast = f"MV[{c >> 2:#x}]"
            if self.tr.mem.guarded:
                fast = f"{fast} if not rf[{c >> 12:#x}] else READ({addr}, 4)"
            self.emit(f"{t} = {fast}")
            return t
        if self.tr.mem.guarded:         # unmapped pages refuse reads: test rf first
            addr = self.bind(addr, "a")
        if size not in (1, 2, 4):
            raise AssertionError(size)
        self.emit(self._plain_load(t, addr, size))
        return t

    def _flagged(self, addr: str, size: int) -> str:
        """Flat mode: true when a store of size bytes at addr must take the slow path:
        a flag in ``wf`` on its page or, when it runs into the next, on that one (a
        read-only, watched or saved page after a writable one)."""
        c = const(addr) if self.stk else None   # (tier0: a symbol, no decision)
        if size == 1 or c is not None and (c & 0xFFF) <= 0x1000 - size:
            return f"wf[{addr} >> 12]"
        if c is not None:
            return f"wf[{c >> 12:#x}] or wf[{(c >> 12) + 1:#x}]"
        return (f"wf[{addr} >> 12] or {addr} & 0xfff > {0x1000 - size:#x} and "
                f"wf[({addr} + {size - 1}) >> 12]")

    def store(self, addr: str, size: int, value: str) -> None:
        self.may_fault()
        self.has_store = True
        value = self.bind(value)
        if self.pm:
            seg = self._segof.get(addr)
            if seg is None:
                self.emit(f"PWL({addr}, {size}, {value})")
                return
            if self.tr.watching:    # data breakpoints (debugregs.py): through the MMU
                self.emit(f"PWR({seg}, {addr}, {size}, {value})")
                return
            p = self.tmp("p")
            tl = "WU" if self.cpl == 3 or self.v86 else "WS"
            fast = {1: f"mem[{p} | {addr} & 0xfff] = {value}",
                    2: f"P16(mem, {p} | {addr} & 0xfff, {value})",
                    4: f"P32(mem, {p} | {addr} & 0xfff, {value})"}[size]
            edge = "" if size == 1 else f" and {addr} & 0xfff <= {0x1000 - size:#x}"
            self.emit(f"{p} = {tl}.get({addr} >> 12)\n"
                      f"if WOK[{seg}] and {p} is not None and not wf[{p} >> 12]{edge}:\n"
                      f"    {fast}\nelse:\n    PWR({seg}, {addr}, {size}, {value})")
            return
        if self.tr.watching:        # data breakpoints (debugregs.py): the watch
            self.emit(f"STORE({addr}, {size}, {value})")
            return
        fast = {1: f"mem[{addr}] = {value}", 2: f"P16(mem, {addr}, {value})",
                4: f"P32(mem, {addr}, {value})"}[size]
        plain = [f"if {self._flagged(addr, size)}:", f"STORE({addr}, {size}, {value})", "else:",
                 fast]
        if size == 4 and self.mv is not None and addr.isidentifier():
            # an aligned word lies in one page: a word of MV unless that page is flagged
            # (the same four lines: the stack checks swap them in for theirs)
            self.glob(self.mv, "MV")
            plain = [f"if {addr} & 3 or wf[{addr} >> 12]:",
                     f"STORE({addr}, 4, {value}) if {self._flagged(addr, 4)} else {fast}",
                     "else:", f"MV[{addr} >> 2] = {value}"]
        ref = self._stack_ref(addr, size, True) if self.stk else None
        if ref is not None:
            chk, base, off = ref
            slow = self._stack_addr(addr, base, off)
            # (the same lines as emitted below: "if 0" compiles to nothing)
            uses = chk.uses
            uses.append((len(self.lines), ["if 0:", "pass", f"el{plain[0]}", *plain[1:]]))
            keep = {o: k for o, k in chk.known.items() if o + k[0] <= off or off + size <= o}
            self._forget()          # (another base may point here)
            direct = self._stack_fast(chk, base, off, size, value)
            if base in self.stkbase:
                whole = self._stack_addr(addr, base, off, True)
                self.emit(f"if {chk.sk}:\n    {direct}\nelse:\n    STORE({whole}, {size}, {value})")
                uses[-1] = (uses[-1][0], plain)
            else:
                fast = {1: f"mem[{slow}] = {value}", 2: f"P16(mem, {slow}, {value})",
                        4: f"P32(mem, {slow}, {value})"}[size]
                self.emit(f"if {chk.sk}:\n    {direct}\n"
                          f"elif {self._flagged(slow, size)}:\n    STORE({slow}, {size}, {value})\n"
                          f"else:\n    {fast}")
            if self.depth == 0:
                keep[off] = (size, value)
            chk.known = keep
            self._knows = bool(keep)
            return
        self._forget()
        c = const(addr) if self.mv is not None and size == 4 else None
        if c is not None and not c & 3:     # an aligned global: a word of MV
            self.glob(self.mv, "MV")
            plain[0], plain[3] = f"if wf[{c >> 12:#x}]:", f"MV[{c >> 2:#x}] = {value}"
        self.emit("\n    ".join(plain[:2]) + "\n" + "\n    ".join(plain[2:]))

    # -- operands ----------------------------------------------------------------------------
    def operand(self, op, size: Optional[int] = None) -> Operand:
        if isinstance(op, Reg):
            slot, rsize, high = GPR_SLOT[op.name]
            return Operand(self, "reg", rsize, slot, high)
        if isinstance(op, Imm):
            return Operand(self, "imm", size or self.osize, value=op.value)
        if isinstance(op, Mem):
            size = size or op.size or self.osize
            ea = self._eas.get(id(op))
            if ea is None:
                ea = self.ea(op, size)
                self._eas[id(op)] = ea      # one EA per instruction, even for RMW
            return Operand(self, "mem", size, ea=ea)
        raise AssertionError(op)

    @property
    def osize(self) -> int:
        """Operand size of the current instruction in bytes."""
        return self.insn.osize >> 3

    @property
    def asize(self) -> int:
        return self.insn.asize >> 3

    # -- stack -------------------------------------------------------------------------------
    def push(self, value: str, size: int) -> None:
        value = self.bind(value)
        sp = self.get(ESP)
        if self.pm:
            m = 0xFFFFFFFF if self.ss_big else 0xFFFF
            t = self.bind(f"({sp} - {size}) & {m:#x}", "s")
            self.store(self.pm_linear(SS, t, size), size, value)
            self.set(ESP, t if self.ss_big else f"{sp} & 0xffff0000 | {t}")
            return
        if not self.real:
            t = self.bind(f"({sp} - {size}) & 0xffffffff", "s")
            self.store(t, size, value)
            self.set(ESP, t)
        else:
            t = self.bind(f"({sp} - {size}) & 0xffff", "s")
            self.limit_check(t, size, SS)
            self.store(self.linear(SS, t), size, value)
            self.set(ESP, f"{sp} & 0xffff0000 | {t}")

    def pop(self, size: int, adjust: int = 0) -> str:
        """Read the top of the stack and release it (plus ``adjust`` more bytes)."""
        sp = self.get(ESP)
        if self.pm:
            off = sp if self.ss_big else self.bind(f"{sp} & 0xffff", "o")
            v = self.load(self.pm_linear(SS, off, size), size)
            if self.ss_big:
                self.set(ESP, f"({sp} + {size + adjust}) & 0xffffffff")
            else:
                self.set(ESP, f"{sp} & 0xffff0000 | ({sp} + {size + adjust}) & 0xffff")
            return v
        if not self.real:
            v = self.load(sp, size)
            self.set(ESP, f"({sp} + {size + adjust}) & 0xffffffff")
        else:
            off = self.bind(f"{sp} & 0xffff", "o")
            self.limit_check(off, size, SS)
            v = self.load(self.linear(SS, off), size)
            self.set(ESP, f"{sp} & 0xffff0000 | ({sp} + {size + adjust}) & 0xffff")
        return v

    # -- flags -------------------------------------------------------------------------------
    def set_flags(self, kind: int, size: int, res: Optional[str], a: str = "0",
                  b: str = "0") -> None:
        self.fl = Lazy(F.opcode(kind, size), res, a, b)

    def set_mat(self, expr: str) -> str:
        """The six arithmetic flags become expr's value; returns its name."""
        name = self.bind(expr, "fm")
        self.fl = Lazy(F.NONE << 2, name)
        return name

    def _derived_res(self, st: Lazy) -> str:
        m = F.MASKS[st.op & 3]
        k = st.op >> 2
        if k == F.SUB:
            return f"({st.a} - {st.b}) & {m:#x}"
        if k == F.LOGIC:
            return f"{st.a} & {st.b}"
        raise AssertionError(k)

    def res_of(self, st: Lazy) -> str:
        if st.res is None:
            st.res = self.bind(self._derived_res(st), "fr")
        return st.res

    def _loop_flags(self, out: list) -> None:
        """Flags at the loop head live in lzo, lzr, lza, lzb: give them this path's."""
        st = self.fl
        if self.lz_track and isinstance(st, Lazy):
            out.append(self._parallel(["lzo", "lzr", "lza", "lzb"], self._lz_parts(st)))
        elif self.lz_track and st is INCPU:
            out.append("lzo, lzr, lza, lzb = cpu.lz")

    def _loop_phis(self, out: list, helper: bool) -> None:
        """Registers at the loop head: the entry names take the final values (a phi), and
        r[] must be current where ``helper`` calls inside the body rely on it."""
        phis = []
        for s in range(NSLOTS):
            v = self.ver[s]
            name0 = f"{SLOT_NAMES[s]}0"
            if v is None or v == name0:
                continue
            if v is STALE:
                out.append(f"{name0} = r[{s}]")
                continue
            phis.append((name0, v))
            if helper and s in self.dirty:
                out.append(f"r[{s}] = {v}")
        if phis:
            out.append(self._parallel([p[0] for p in phis], [p[1] for p in phis]))

    @staticmethod
    def _parallel(targets: list, values: list) -> str:
        """Assign values to targets at once: one by one when no value reads a target
        (cheaper than building and unpacking a tuple), else as a tuple."""
        names = set(targets)
        if any(names.intersection(_WORD.findall(v)) for v in values):
            return ", ".join(targets) + " = " + ", ".join(values)
        return "; ".join(f"{t} = {v}" for t, v in zip(targets, values))

    def _lazy_tuple(self, st: Lazy) -> str:
        # res None (CMP/TEST not computed yet): flags.arith derives it when needed
        return ", ".join(self._lz_parts(st))

    @staticmethod
    def _lz_parts(st: Lazy) -> list:
        """The expressions of the lazy tuple (op, res, a, b) for st."""
        k = st.keep
        if k is not None:
            return [f"{k[0]} + {st.cf}", k[1], k[2], k[3]]
        return [str(st.op), str(st.res), st.a, st.b]

    def _entry_tuple(self) -> str:
        self.entry_needed = self.lz_used = True
        return "lzo, lzr, lza, lzb"

    def may_fault(self) -> None:
        """The code being emitted can raise: the flags at this point must be known."""
        if self.fl is ENTRY:
            self.entry_needed = True

    def set_pending_flags(self, expr: str, cf: Optional[str] = None) -> None:
        """The six arithmetic flags become expr's value, computed only where something
        reads them (expr uses names that stay bound: SSA); ``cf``: an expression for CF
        alone, which a carry condition reads without computing expr."""
        self.fl = Lazy(F.NONE << 2, expr)
        self.fl.pending = True
        self.fl.cf = cf

    def set_cf(self, cf: str) -> None:
        """CF becomes cf (0 or 1), the other flags stay (BT, BTS, BTR, BTC): pending, and
        saved as a flags.KEEP_CF tuple over the state before when that is an operation
        (a block leaving right after stores a tuple instead of calling ARITH)."""
        st = self.fl
        keep = None
        if isinstance(st, Lazy):
            if st.keep is not None:
                keep = st.keep
            elif not st.pending and st.op >> 2 != F.NONE and self._folded(st) is None:
                keep = (f"{F.KEEP_CF + (st.op << 1)}", str(st.res), st.a, st.b)
        elif st is ENTRY:
            self._entry_tuple()
            # (an entry state that is itself a bit test's: its CF bit is replaced, not
            # stacked: a loop of BTS would otherwise grow lzo a level an iteration)
            keep = (f"(lzo & ~1 if lzo >= {F.KEEP_CF} else {F.KEEP_CF} + (lzo << 1))",
                    "lzr", "lza", "lzb")
        prev = self.flags_before_update()
        self.set_pending_flags(f"({prev} & 0xffe | {cf})", cf)
        self.fl.keep = keep

    def _folded(self, st: Lazy) -> Optional[str]:
        """The flags of a lazy operation over constants, computed now."""
        vals = [const(x) for x in (st.a, st.b)]
        res = None if st.res is None else const(st.res)
        if None in vals or res is None and st.res is not None:
            return None
        return f"{F.arith(st.op, res, *vals):#x}"

    def flags_before_update(self) -> str:
        """An expression for the six flag bits now, for an instruction that keeps some
        of them: a lazy operation stays an ARITH call that only runs when read."""
        st = self.fl
        if isinstance(st, Lazy):
            if st.op >> 2 != F.NONE:
                return self._folded(st) or f"ARITH({self._lazy_tuple(st)})"
            if not st.pending or len(st.res) < 800:     # nest a few pending updates
                return st.res
        elif st is ENTRY:
            return f"ARITH({self._entry_tuple()})"
        return self.flags_value()

    def flags_value(self) -> str:
        """Name of a local holding the six arithmetic flag bits now."""
        st = self.fl
        if isinstance(st, Lazy):
            if st.op >> 2 == F.NONE:
                if st.pending:
                    return self.set_mat(st.res)
                return st.res
            v = self._folded(st)
            if v is not None:
                self.fl = Lazy(F.NONE << 2, v)
                return v
            args = self._lazy_tuple(st)
        elif st is ENTRY:
            args = self._entry_tuple()
        else:
            args = "*cpu.lz"
        return self.set_mat(f"ARITH({args})")

    def cf(self) -> str:
        """Expression for CF (an int 0/1 or a bool)."""
        st = self.fl
        if isinstance(st, Lazy):
            k = st.op >> 2
            if k == F.SUB:
                return f"({st.a} < {st.b})"
            if k == F.ADD:
                return f"({self.res_of(st)} < {st.a})"
            if k in (F.ADC, F.SBB):
                # a carry (borrow) out leaves res below (above) a, or equal to it
                # when b + carry-in was 2**bits; without one res == a means b = 0
                r = self.res_of(st)
                c = const(st.b)
                lt = "<" if k == F.ADC else ">"
                if c is not None:
                    return f"({r} {lt}{'=' if c else ''} {st.a})"
                return f"({r} {lt} {st.a} or {r} == {st.a} and {st.b} != 0)"
            if k == F.LOGIC:
                return "0"
            if k in (F.INC, F.DEC):
                return st.b
            if k == F.NEG:
                return f"({st.a} != 0)"
            if k == F.FIX:
                return f"({st.a} & 1)"
            if k == F.NONE:
                if st.cf is not None:
                    return st.cf
                return f"({st.res} & 1)"
        elif st is ENTRY:
            # a CF kept by INC/DEC is their b: no need to compute every flag
            args = self._entry_tuple()
            return f"(lzb if {F.INC << 2} <= lzo < {(F.DEC + 1) << 2} else ARITH({args}) & 1)"
        return f"({self.flags_value()} & 1)"

    def cond(self, cc: int) -> str:
        """A Python expression, true when condition code cc (0=O ... 15=G) holds."""
        neg = cc & 1
        base = cc & 14
        st = self.fl
        if isinstance(st, Lazy) and st.op >> 2 != F.NONE:
            e = self._direct_cond(st, base, neg)
            if e is not None:
                return e
        elif base == 2 and isinstance(st, Lazy) and st.cf is not None:
            return f"not {st.cf}" if neg else st.cf
        fm = self.flags_value()
        e = {0: f"{fm} & 0x800", 2: f"{fm} & 1", 4: f"{fm} & 0x40", 6: f"{fm} & 0x41",
             8: f"{fm} & 0x80", 10: f"{fm} & 4", 12: f"({fm} ^ {fm} >> 4) & 0x80",
             14: f"({fm} ^ {fm} >> 4) & 0x80 or {fm} & 0x40"}[base]
        return f"not ({e})" if neg else e

    def _direct_cond(self, st: Lazy, base: int, neg: int) -> Optional[str]:
        k = st.op >> 2
        S = F.SIGNS[st.op & 3]
        a, b = st.a, st.b

        def xs(e):      # e ^ S, folded for constants: signed order as unsigned order
            c = const(e)
            return f"{c ^ S:#x}" if c is not None else f"({e} ^ {S:#x})"

        if k == F.SUB:
            pairs = {2: ("<", ">="), 4: ("==", "!="), 6: ("<=", ">")}
            if base in pairs:
                return f"{a} {pairs[base][neg]} {b}"
            if base in (12, 14) and S == 0x80000000 and const(a) is None \
                    and const(b) is None:
                # two 32-bit names: the unsigned order, reversed when the signs differ
                # (no operand flipped into a new two-digit int: ~300 fewer host
                # instructions; narrower operands are masked expressions, which this
                # form would evaluate twice, and small ints gain nothing)
                pa = a if a.isidentifier() else f"({a})"
                pb = b if b.isidentifier() else f"({b})"
                return f"({pa} {'<' if base == 12 else '<='} {pb}) {'==' if neg else '!='} " \
                    f"(({pa} ^ {pb}) >= {S:#x})"
            if base == 12:
                return f"{xs(a)} {'>=' if neg else '<'} {xs(b)}"
            if base == 14:
                return f"{xs(a)} {'>' if neg else '<='} {xs(b)}"
            r = self.res_of(st)
            if base == 8:
                e = f"{r} & {S:#x}"
            elif base == 10:
                e = f"PAR[{r} & 0xff]"
            else:
                e = f"({a} ^ {b}) & ({a} ^ {r}) & {S:#x}"
            return f"not ({e})" if neg else e
        r = self.res_of(st)
        if base == 4:
            return f"{r} != 0" if neg else f"{r} == 0"
        if base == 8:
            e = f"{r} & {S:#x}"
        elif base == 10:
            e = f"PAR[{r} & 0xff]"
        elif k == F.LOGIC:
            if base in (0, 2):
                return "1" if neg else "0"
            if base == 6:
                return f"{r} != 0" if neg else f"{r} == 0"
            if base == 12:
                e = f"{r} & {S:#x}"
            else:
                e = f"{r} == 0 or {r} & {S:#x}"
        elif base == 2:
            e = self.cf()
        elif base == 6:
            e = f"{self.cf()} or {r} == 0"
        elif base == 0 and k in (F.ADD, F.ADC):
            e = f"({a} ^ {r}) & ({b} ^ {r}) & {S:#x}"
        elif base == 0 and k in (F.INC, F.NEG):
            e = f"{r} == {S:#x}"
        elif base == 0 and k == F.DEC:
            e = f"{r} == {S - 1:#x}"
        elif base == 0 and k == F.FIX:
            e = f"{a} & 0x800"
        else:
            return None
        return f"not ({e})" if neg else e

    def flush_flags(self) -> None:
        """Make cpu.lz current (a helper is about to read or write the flags)."""
        st = self.fl
        if isinstance(st, Lazy):
            self.emit(f"cpu.lz = ({self._lazy_tuple(st)})")
        elif st is ENTRY:
            self.entry_needed = True
            if self.lz_track:
                self.emit("cpu.lz = (lzo, lzr, lza, lzb)")
        self.fl = INCPU

    # -- helper calls ------------------------------------------------------------------------
    def call(self, fn, args: str = "", reads=None, writes=None, flags: bool = True,
             result: Optional[str] = None) -> Optional[str]:
        """Emit ``fn(cpu, args)``: a Python helper working on the CPU state. The slots it
        may read or write (None = all) are written back first; the ones it may write are
        reloaded when next used. ``flags``: it may read or write the flags."""
        self.has_helper = self.has_store = True
        self.may_fault()
        self._chk = {}          # the helper may change page flags
        name = self.glob(fn)
        every = self.slots
        touched = set(every if reads is None else reads) | \
            set(every if writes is None else writes)
        for slot in sorted(touched & self.dirty):
            self.emit(f"r[{slot}] = {self.ver[slot]}")
            self.dirty.discard(slot)
        if flags:
            self.flush_flags()
        self.call_site(touched, flags)
        call = f"{name}(cpu{', ' if args else ''}{args})"
        self.emit(f"{result} = {call}" if result else call)
        for slot in (every if writes is None else writes):
            if not (self.real and slot in (SEL + CS, BASE + CS)):
                self.ver[slot] = STALE
                self.dirty.discard(slot)
        return result

    def call_site(self, touched, flags: bool) -> None:
        """From here on a fault finds the `touched` slots (and the flags, if `flags`) in
        the CPU already: a helper may have advanced them (REP string instructions)."""
        start = self.meta.insns[-1]
        self.meta.insns.append(InsnMeta(
            len(self.lines), self.idx, self.ip, self.nip,
            tuple((s, n) for s, n in start.regs if s not in touched),
            None if flags else start.flags, self.insn, self._lin))

    # -- control flow ------------------------------------------------------------------------
    def key_of(self, ip: int) -> int:
        return self.csk | ip if self.real or self.pm else ip

    def key_expr(self, ip_expr: str) -> str:
        """Key expression for a computed near target (ip_expr already masked)."""
        if self.real or self.pm:
            return f"{self.csk:#x} | {ip_expr}"
        return ip_expr

    def jump(self, ip: int) -> None:
        """Unconditional direct near jump: follow it inside the block when possible."""
        if self.path is not None:
            key = self.key_of(ip)
            if key != self.key0 and self.trace_next() == key:
                self._follow(ip, None, key)
            else:
                self.end_jump(ip)
        elif not self.single and self.followed < MAX_FOLLOW and ip not in self.visited \
                and self.key_of(ip) != self.key0:
            self.followed += 1
            self._follow(ip, None, self.key_of(ip))
        else:
            self.end_jump(ip)

    def _follow(self, ip: int, guard: Optional[str], exit_key, here=None) -> None:
        """Continue the block at ip; leave it to exit_key when guard holds, and, as a
        CPU flushes its prefetch queue on a jump, to ip's key (``here``, when exit_key
        is not that) when code written so far in the block invalidated it (the code that
        follows may be what was written)."""
        self.follow = ip
        if not isinstance(exit_key, str):
            exit_key = f"{exit_key:#x}"
        if self.has_store and self.alive_checks:
            self.has_store = False      # (checked here: past the test ALIVE holds)
            if guard is None:
                guard = "not ALIVE[0]"
            else:
                if here is not None:
                    exit_key = f"{exit_key} if ({guard}) else {here:#x}"
                guard = f"{guard} or not ALIVE[0]"
        if guard is None:
            return
        self.may_fault()
        self.emit(f"if {guard}:\n" + "\n".join("    " + x for x in self._exit(exit_key)))

    def _exit(self, key_expr: str) -> list:
        """The lines that leave the block in the middle, to key_expr."""
        return self._wb_lines(True) + [
            f"ST[0] += {'c + ' if self.loop_mode else ''}{self.ninsn}", f"return {key_expr}"]

    def trace_next(self) -> Optional[int]:
        """A trace: the key the recorded run went to after the current instruction
        (None past the end of the path or when the block is full)."""
        path = self.path
        if path is None or self.pos + 1 >= len(path) or self.ninsn >= MAX_BLOCK:
            return None
        return path[self.pos + 1]

    def end_indirect(self, key_expr: str) -> None:
        """A near jump, call or return to a computed key: a trace continues where the
        recorded run went, behind a guard on the key."""
        nk = self.trace_next()
        if nk is None:
            self.end_dynamic(key_expr)
            return
        v = self.bind(key_expr)
        if nk == self.key0:
            self._end_loop(f"{v} == {nk:#x}", v)
            return
        self._follow(nk & (0xFFFF if self.real else 0xFFFFFFFF),
                     None if const(v) == nk else f"{v} != {nk:#x}", v)

    def call_direct(self, ret_ip: int, target: int) -> None:
        """A near call whose return address is already pushed: follow it like a jump and
        remember ret_ip, so that the callee's ``ret`` can continue inside the block."""
        self.jump(target)
        if self.follow is not None:
            self.returns.append(ret_ip)

    def end_return(self, value: str, key_expr: str) -> None:
        """A near ``ret`` that popped ``value``: when it returns to the call followed into
        this block (return-address prediction), a guard leaves the block if the guest
        changed its return address and the translation continues after the call."""
        ip = self.returns.pop() if self.returns else None
        if self.path is not None:
            self.end_indirect(key_expr)
            return
        if ip is None or self.real or self.single or self.followed >= MAX_FOLLOW or \
                ip in self.visited or self.key_of(ip) == self.key0:
            self.end_dynamic(key_expr)
            return
        self.followed += 1
        # (a return address the block pushed and forwarded: no guard)
        self._follow(ip, None if const(value) == ip else f"{value} != {ip:#x}", key_expr)

    def end_jump(self, ip: int) -> None:
        key = self.key_of(ip)
        if key == self.key0 and not self.single:
            self._end_loop("True", None)
        else:
            self._finish([f"return {key:#x}"])

    def end_cond(self, cond: str, ip_taken: int, ip_fall: int) -> None:
        kt, kf = self.key_of(ip_taken), self.key_of(ip_fall)
        if kt == self.key0 and not self.single:
            self._end_loop(cond, kf)
        elif kf == self.key0 and not self.single:
            self._end_loop(negate(cond), kt)
        elif self.path is not None and self.trace_next() in (kt, kf):
            if kt == kf:
                self.follow = ip_fall
            elif self.trace_next() == kt:
                self._follow(ip_taken, negate(cond), kf, kt)
            else:
                self._follow(ip_fall, cond, kt, kf)
        else:
            self._finish([f"if {cond}:", f"    return {kt:#x}", f"return {kf:#x}"])

    def end_dynamic(self, key_expr: str) -> None:
        """Continue at a computed key (returns, indirect jumps, far transfers)."""
        self._finish([f"return {key_expr}"])

    def end_here(self) -> None:
        """End the block after this instruction (the run loop must see its effects:
        TF/IF changes, a new code segment...)."""
        self._finish([f"return {self.key_of(self.nip):#x}"])

    def _writeback(self, inline: bool = False) -> list:
        """What the block changed, as (slot, value) pairs in slot order, then the lazy
        flags as (LZ, [op, res, a, b]) when they are to be stored. ``inline`` (a side
        exit, taken rarely): a register version "base + constant" is (base, constant),
        so that straight-line code need not bind it (_drop_dead); text: _wb_lines."""
        out: list = [(slot, self.ver[slot]) for slot in sorted(self.dirty)]
        st = self.fl
        if isinstance(st, Lazy):
            out.append((LZ, self._lz_parts(st)))
        elif st is ENTRY and self.lz_track:
            out.append((LZ, ["lzo", "lzr", "lza", "lzb"]))
        if inline and REG_EXPRS and self.stk:
            aff = self.aff

            def x(v):
                ref = aff.get(v)
                return v if ref is None or ref[0] == v else ref
            out = [(s, [_affine_item(x(p)) for p in v] if s == LZ else x(v))
                   for s, v in out]
        return out

    def _carried_wb(self) -> list:
        """Loop mode: (slot, entry name) of the slots the body writes that this path has
        not written: from the second iteration on, an exit stores the value the loop
        carried there; in the first, r[] still holds it (a block that mostly leaves by
        a side exit in its first pass need not store them: _wb_lines)."""
        if not self.loop_mode:
            return []
        out = []
        for slot in sorted(self.carried - self.dirty):
            v = self.ver[slot]
            if v is None or v == f"{SLOT_NAMES[slot]}0":
                out.append((slot, self.get(slot)))
        return out

    def _wb_lines(self, inline: bool = False) -> list:
        """The lines of _writeback (and of _carried_wb, once an iteration has run)."""
        out = [f"cpu.lz = ({', '.join(v)})" if s == LZ else
               f"r[{s}] = {_affine_item(v)}"
               for s, v in self._writeback(inline)]
        carried = self._carried_wb()
        if carried:
            out.insert(0, "if c: " + "; ".join(f"r[{s}] = {v}" for s, v in carried))
        return out

    def _finish(self, tail: list) -> None:
        self.ended = True
        self.exit_lines = self._wb_lines() + [f"ST[0] += {self.ninsn}"] + tail
        self._patch_checks()

    def _end_loop(self, cond: str, key_fall: Optional[int]) -> None:
        """The block branches back to its start: run it as a while loop."""
        self.ended = True
        self.loop = True
        if not self.loop_mode:
            self._patch_checks()
            return          # the translator runs a second pass in loop mode
        tail = [f"c += {self.ninsn}"]
        if cond != "True":
            if not isinstance(key_fall, str):
                key_fall = f"{key_fall:#x}"
            tail += [f"if {negate(cond)}:", f"    nxt = {key_fall}", "    break"]
        tail += [STOP_TEST, f"    nxt = {self.key0:#x}", "    break"]
        if self.has_store and self.alive_checks:
            tail += ["if not ALIVE[0]:", f"    nxt = {self.key0:#x}", "    break"]
        exit_wb = self._wb_lines()
        self._loop_flags(tail)
        self._loop_phis(tail, self.has_helper)
        self.loop_tail = tail
        self.exit_lines = exit_wb + ["ST[0] += c", "return nxt"]
        self._patch_checks()

    # -- per instruction ---------------------------------------------------------------------
    def begin(self, insn: Optional[Insn], ip: int, nip: int, lin: int) -> None:
        self.insn = insn
        self.ip, self.nip = ip, nip
        self._eas: dict = {}
        self._lin = lin
        self.visited.add(ip)
        self.idx = self.ninsn
        self.ninsn += 1
        self._mark()

    def _mark(self) -> None:
        """Record where the current instruction's starting state is."""
        ver = tuple(self.ver)
        if ver == self._mark_ver:       # most instructions change one register or none
            regs = self._mark_regs
        elif self.loop_mode:
            # (a register the iteration has not touched yet is its entry name, which
            # the loop rebinds: r[] may hold an older value)
            regs = tuple((s, v if v is not None else _ENTRY_NAMES[s])
                         for s, v in enumerate(ver) if v is not STALE)
            self._mark_ver, self._mark_regs = ver, regs
        else:
            # (an untouched register is still in r[]: None is false, a name is not)
            regs = tuple(compress(zip(range(len(ver)), ver), ver))
            if STALE in ver:
                regs = tuple(x for x in regs if x[1] is not STALE)
            self._mark_ver, self._mark_regs = ver, regs
        st = self.fl
        if isinstance(st, Lazy):
            fl = tuple(self._lz_parts(st))
        elif st is ENTRY and self.lz_track:
            fl = ("lzo", "lzr", "lza", "lzb")
        else:
            fl = None
        self.meta.insns.append(InsnMeta(len(self.lines), self.idx, self.ip, self.nip,
                                        regs, fl, self.insn, self._lin))

    def near_limit(self, target, cond: Optional[str] = None) -> bool:
        """Protected mode with a CS limit below 4 GiB - 1: a near branch (when `cond`
        holds) to an offset beyond the limit raises #GP(0) at the branch, before it
        pushes anything. `target` is a constant or an expression; True when the branch
        always faults (the block then ends)."""
        limit = self.cs_limit if self.pm else None
        if limit is None:
            return False
        exc = f"raise {self.glob(CPUException)}({GP}, 'near branch beyond the CS limit', 0)"
        if isinstance(target, int):
            if target <= limit:
                return False
            self.may_fault()
            if cond is not None:
                self.emit(f"if {cond}:\n    {exc}")
                return False
            self.emit(exc)
            self.end_dynamic("0")
            return True
        self.may_fault()
        test = f"{self.bind(target)} > {limit:#x}"
        self.emit(f"if {test if cond is None else f'({cond}) and {test}'}:\n    {exc}")
        return False

    def interrupt_shadow(self, attr: str) -> None:
        """Record (cpu.irq_shadow / cpu.ss_shadow) the step count once this instruction
        has retired: interrupts wait for one more instruction (CPUState.inhibit_irq)."""
        self.emit(f"cpu.{attr} = ST[0] + {'c + ' if self.loop_mode else ''}{self.idx + 1}")

    def raise_exc(self, vector: int, message: str = "") -> None:
        """The instruction faults unconditionally."""
        self.may_fault()
        self.emit(f"raise {self.glob(CPUException)}({vector}, {message!r})")

    def raise_if(self, cond: str, vector: int, message: str = "") -> None:
        self.may_fault()
        self.emit(f"if {cond}:\n    raise {self.glob(CPUException)}({vector}, {message!r})")

    def privileged(self) -> bool:
        """Flat (user) mode, or protected mode above CPL 0: emit #GP and return True."""
        if self.pm:
            if self.cpl == 0 and not self.v86:
                return False
            self.may_fault()
            self.emit(f"raise {self.glob(CPUException)}({GP}, "
                      f"'{self.insn.form.mnemonic}: privileged instruction', 0)")
            self.end_dynamic("0")
            return True
        if not self.real:
            self.raise_exc(GP, f"{self.insn.form.mnemonic}: privileged instruction")
            self.end_dynamic("0")
            return True
        return False


SEMANTICS: dict = {}     # mnemonic -> generator(builder, insn)


def family(*mnemonics: str):
    """Register a generator for these mnemonics."""
    def register(fn):
        for m in mnemonics:
            if m in SEMANTICS:
                raise ValueError(f"two families claim {m}")
            SEMANTICS[m] = fn
        return fn
    return register
