"""Translated blocks kept across runs by address, so a warm run neither decodes nor builds.

The code cache (``codecache.py``) keys a compiled block by its generated source, which a
run only has after decoding the block and building that source: most of the cost of a
short program. In flat 32-bit mode a block is a function of its guest bytes, its address
and the translator's code, so this module stores, per (address, single-step, memory
layout), everything :meth:`Translator._install` makes of a block:

- the ``_blk`` code object, with the globals its code uses as ways to find them again
  in a new process (a module-level function by module and name, a decoded instruction by
  its address in the block, one of the translator's own objects by its name there);
- the guest bytes it was translated from (the byte ranges, merged): an entry is used only
  when memory holds exactly those bytes there now, readable;
- the per-instruction metadata of precise faults (line, registers, flags, addresses). The
  decoded instruction objects are not stored: an ``InsnMeta`` decodes its instruction
  from the stored bytes the first time a fault report or a trace asks for it.

The key includes a fingerprint of the translator's source files (``vm/x86``, ``asm/x86``,
sizes and times), so a changed emitter never runs code an older one made. Entries live in
the same signed (MAC-tagged) file as the rest of the cache, and anything unexpected in one (a
name that no longer resolves, a type that differs, a bad shape) just means the block is
translated again.
"""

from __future__ import annotations

import importlib
import marshal
import re
import struct
import sys
from types import BuiltinFunctionType, CodeType, FunctionType, ModuleType
from typing import Callable, Optional

from asm.x86.decoder import Insn, decode
from vm.x86.codecache import code_cache
from vm.x86.emit import BlockMeta, InsnMeta

_CONST = (int, str, bytes, float, bool, type(None))
# translator objects a block may name that are not in a fresh translator's namespace
# (Translator.glob adds them when a block first uses them)
_ROLES: dict = {
    "XMM": lambda tr: tr.cpu.xmm,
    "MREAD": lambda tr: tr.mem.read,
    "MWRITE": lambda tr: tr.mem.write,
    "MV": lambda tr: tr.mem.mv32,       # (hot) memory as words: emit.py's stack accesses
    "SPAN": lambda tr: tr.mem.span_ok,  # (hot) emit.py's stack checks across pages
}
# the names Translator.__init__ gives its own objects (compiler.py)
_OWN = frozenset("""cpu r mem wf rf READ ST LIM STORE U16 U32 P16 P32 PAR ARITH UNWIND M
    SEG PRD PRL PWR PWL RS RU WS WU SLO SHI WOK""".split())
_SUFFIX = re.compile(r"_[0-9a-f]{6,}$")     # Translator.glob's name for a second object
_resolved: dict = {}
_found: dict = {}               # id(object) -> (object, its _where())
_static: dict = {}              # a module-level binding -> the object it names            # (module, qualname) -> object


class WarmInsnMeta(InsnMeta):
    """An InsnMeta whose instruction is decoded from its bytes when first asked for."""
    __slots__ = ("_raw", "_dec")

    def __init__(self, line, idx, ip, nip, regs, flags, lin, raw: bytes):
        self._raw = raw
        self._dec = None
        super().__init__(line, idx, ip, nip, regs, flags, None, lin)

    @property
    def insn(self) -> Optional[Insn]:
        if self._dec is None and self._raw:
            self._dec = decode(self._raw, 0, 32, self.ip)
        return self._dec

    @insn.setter
    def insn(self, value) -> None:
        self._dec = value


class WarmBlockMeta(BlockMeta):
    """A BlockMeta whose per-instruction records are unpacked when first asked for (by
    a fault's unwinding or a trace): most blocks of a run never need them."""

    def __init__(self, packed: bytes, spans: tuple, chunks: tuple):
        self._packed = (packed, spans, chunks)
        self._insns: Optional[list] = None
        self._lines: Optional[list] = None
        super().__init__()

    def _unpack(self) -> None:
        packed, spans, chunks = self._packed
        raw_at = {lo: (hi, chunk) for (lo, hi), chunk in zip(spans, chunks)}
        insns = []
        for line, idx, ip, nip, regs, flags, lin, length in marshal.loads(packed):
            insns.append(WarmInsnMeta(line, idx, ip, nip, regs, flags, lin,
                                      _raw(raw_at, lin, length) or b""))
        self._insns = insns
        self._lines = [m.line for m in insns]

    @property
    def insns(self) -> list:
        if self._insns is None:
            self._unpack()
        return self._insns

    @insns.setter
    def insns(self, value: list) -> None:
        if value:
            self._insns = value

    @property
    def lines(self) -> list:
        if self._lines is None:
            self._unpack()
        return self._lines

    @lines.setter
    def lines(self, value: list) -> None:
        if value:
            self._lines = value


def warm_key(tr, key: int, single: bool, path: Optional[list] = None) -> Optional[bytes]:
    """The identity of the block at ``key`` (the trace along ``path`` there) for the
    warm cache; None when this mode's blocks are not kept (real and protected mode,
    breakpoints, debug-register breakpoints, data breakpoints or write hooks set, cache
    off)."""
    cpu = tr.cpu
    if cpu.mode != "flat32" or cpu.bits != 32 or tr.stops or \
            getattr(tr, "watching", False) or getattr(tr, "dr_stops", None) or \
            getattr(tr, "write_hooks", False) or code_cache() is None:
        return None
    mem = tr.mem
    ident = struct.pack("<QQB?", key, mem.size, single, bool(mem.guarded))
    if path is not None:            # a trace (traces.py): the path it follows
        ident += b"trace" + struct.pack(f"<{len(path)}Q", *path)
    return ident


def _names(code) -> set:
    names = set(code.co_names)
    for c in code.co_consts:
        if type(c) is CodeType:
            names |= _names(c)
    return names


def _resolve(mod: str, qual: str):
    k = (mod, qual)
    obj = _resolved.get(k)
    if obj is None:
        obj = sys.modules.get(mod) or importlib.import_module(mod)
        for part in qual.split("."):
            obj = getattr(obj, part)
        _resolved[k] = obj
    return obj


def _binding(name: str, value, starts: set) -> Optional[tuple]:
    """How to find ``value`` (the block's global ``name``) again in another process."""
    if type(value) is Insn:
        return _where(name, value, starts)
    seen = _found.get(id(value))        # the same object is found the same way again
    if seen is None or seen[0] is not value:
        seen = _found[id(value)] = (value, _where(name, value))
    return None if seen[1] is None else (seen[1][0], name) + seen[1][2:]


def _where(name: str, value, starts: set = frozenset()) -> Optional[tuple]:
    if isinstance(value, Insn):
        return ("d", name, value.address) if value.address in starts else None
    if isinstance(value, _CONST):
        return ("c", name, value)
    if isinstance(value, (FunctionType, type)) or (
            isinstance(value, BuiltinFunctionType) and
            isinstance(getattr(value, "__self__", None), (ModuleType, type(None)))):
        mod = getattr(value, "__module__", None)
        qual = getattr(value, "__qualname__", "")
        if mod and "<" not in qual:
            try:
                if _resolve(mod, qual) is value:
                    return ("m", name, mod, qual)
            except (ImportError, AttributeError):
                pass
        where = _in_table(value, sys.modules.get(mod))
        return ("t", name, mod) + where if where is not None else None
    if isinstance(value, BuiltinFunctionType):   # a method of a module-level object
        for mod in list(sys.modules.values()):
            if getattr(mod, "__name__", "").startswith("vm.x86."):
                where = _in_table(value, mod)
                if where is not None:
                    return ("t", name, mod.__name__) + where
    # one of the translator's own objects: the new translator's object of that name
    if name not in _OWN and _SUFFIX.sub("", name) not in _ROLES:
        return None                 # something else: not kept (translated again)
    t = type(value)
    func = getattr(value, "__func__", None)
    return ("n", name, f"{t.__module__}.{t.__qualname__}",
            func.__qualname__ if func is not None else "")


def _in_table(value, module) -> Optional[tuple]:
    """(table name, key) of a module-level dict holding ``value`` (the SSE helpers are
    made by factories and found through tables such as ``INT_OPS[m]``)."""
    if module is None:
        return None
    for tname, table in vars(module).items():
        if type(table) is dict and not tname.startswith("__"):
            for k, v in table.items():
                if not isinstance(k, (str, int)):
                    continue
                if v is value:
                    return (tname, k)
                if type(v) is tuple:        # {8: ("P64", pack_into)}
                    for i, x in enumerate(v):
                        if x is value:
                            return (tname, k, i)
    return None


_PLAIN = struct.calcsize("<QQB?")      # a warm_key's length when it is not a trace's


def _built(tr, key: int, single: bool, wkey: Optional[bytes] = None,
           entry: Optional[tuple] = None) -> None:
    """Tell the first tier (tier0.py) the start has its real block in this run, and
    the entry that makes it (its run's record carries the hot ones' entries)."""
    t0 = getattr(tr, "tier0", None)
    if t0 is not None and not single:
        t0.built(key, entry if wkey is not None and len(wkey) == _PLAIN else None, wkey)


def store(tr, wkey: bytes, b, fn: Callable, meta: BlockMeta) -> None:
    """Keep the block just installed (``fn`` built by ``b``) for later runs."""
    _built(tr, meta.key, meta.single)
    cache = code_cache()
    if cache is None or not meta.insns:
        return
    data = tr.mem.data
    spans: list = []
    for lo, hi in b.ranges:
        if spans and spans[-1][1] == lo:
            spans[-1][1] = hi
        else:
            spans.append([lo, hi])
    chunks = []
    for lo, hi in spans:
        chunk = bytes(data[lo:hi])
        if len(chunk) != hi - lo:
            return
        chunks.append(chunk)
    insns = []
    starts = set()
    for m in meta.insns:
        if m.insn is None:          # a block that raises #UD or a fetch fault: cheap anyway
            return
        starts.add(m.lin)
        insns.append((m.line, m.idx, m.ip, m.nip, m.regs, m.flags, m.lin, m.insn.length))
    code = fn.__code__
    binds = binds_of(tr, code, starts)
    if binds is None:
        return
    try:
        packed = marshal.dumps(tuple(insns))
    except ValueError:
        return
    # (slow: made inline after a failed stack check there; a run loading it learns so)
    entry = (code, tuple(tuple(s) for s in spans), tuple(chunks), packed,
             tuple(binds), meta.loop, meta.n, meta.trapless, meta.key in tr.slow_keys)
    cache.put_warm(wkey, entry)
    _built(tr, meta.key, meta.single, wkey, entry)


def binds_of(tr, code: CodeType, starts: set = frozenset()) -> Optional[list]:
    """How to find the globals ``code`` uses in another process; None when one of
    them cannot be found again."""
    params = set(code.co_varnames[:code.co_argcount])
    ns = tr.ns
    binds = []
    for name in sorted(_names(code) - params):
        if name not in ns:
            continue                # a builtin or an attribute name
        bnd = _binding(name, ns[name], starts)
        if bnd is None:
            return None
        binds.append(bnd)
    return binds


def load(tr, wkey: bytes, key: int, single: bool) -> Optional[Callable]:
    """The block at ``key`` from the warm cache, installed; None when there is no entry
    or it does not fit this memory and translator (or is a block that leaves by
    unwinding at a key where one failed its stack check: ``tr.slow_keys``)."""
    cache = code_cache()
    entry = cache.get_warm(wkey) if cache is not None else None
    if entry is None or key in tr.slow_keys and _unwinds(entry):
        return None
    try:
        fn = _install(tr, entry, key, single)
    except (ValueError, TypeError, KeyError, AttributeError, ImportError, IndexError):
        return None                 # an entry of another shape: translate instead
    if fn is not None:
        _built(tr, key, single, wkey, entry)
    return fn


def _unwinds(entry: tuple) -> bool:
    """Whether an entry's block leaves by unwinding when a stack check fails (its code
    calls emit.slow_path: Builder.unwinds), not through slow paths inline."""
    code = entry[0]
    return type(code) is CodeType and "SLOW" in code.co_names


def keep_inline(tr, meta: BlockMeta) -> None:
    """The block of ``meta`` failed a stack check (emit.SlowPath; its key is in
    ``tr.slow_keys``): store the plain block made there with its slow paths inline
    under the same warm key, in place of the one kept (the direct block a later run
    would load and see fail the same check, every run). Made now, as the run may never
    translate that start again (a trace holds it, or the first tier); not installed.
    The plain block at the key of a trace that failed too (the trace is made again by
    traces.py, inline, and stored then): the entry carries the key's being slow to
    later runs, so that their traces there are made inline at once."""
    if meta.single:
        return
    key = meta.key
    wkey = warm_key(tr, key, False)
    if wkey is None:
        return
    fences = [f for f in (tr.fences.get(key),) if f is not None]
    b = tr._build(key, False, False, fences=fences)
    if b.loop:
        b = tr._build(key, False, True, b.entry_needed, b.written, fences=fences)
    fn = tr._install(b, key, False, wkey, keep=False)
    tr._drop(fn.meta.bid)           # (kept for later runs only: this one makes its own)


def _install(tr, entry: tuple, key: int, single: bool) -> Optional[Callable]:
    code, spans, chunks, insns, binds, loop, n, trapless, slow = entry
    mem = tr.mem
    data = mem.data
    if len(spans) != len(chunks):
        return None
    for (lo, hi), chunk in zip(spans, chunks):
        if data[lo:hi] != chunk:
            return None
        if mem.guarded:
            try:
                mem.check_fetch(lo, hi - lo)
            except Exception:
                return None
    ns = tr.ns
    if not isinstance(insns, bytes):
        return None
    meta = WarmBlockMeta(insns, spans, chunks)
    new = resolve(tr, binds, spans, chunks)
    if new is None:
        return None
    alive = [1]
    params = defaults(code, ns, meta, alive)
    if params is None:
        return None
    ns.update(new)
    fn = FunctionType(code, tr.block_globals(code), code.co_name, params)
    meta.key, meta.loop, meta.single, meta.n = key, loop, single, n
    meta.trapless = trapless
    fn.meta = meta
    if slow:    # (an earlier run's block there failed its stack check: traces too)
        tr.slow_keys.add(key)
    ranges = [tuple(s) for s in spans]
    bid = tr.nextid
    tr.nextid += 1
    tr.blocks[bid] = (key, single, ranges, alive, fn, meta, None)
    meta.bid = bid          # (as Translator._install: a SlowPath or a trace drops it by id)
    (tr.cache1 if single else tr.cache)[key] = fn
    tr.watch(bid, ranges)
    return fn


def defaults(code: CodeType, ns: dict, meta: BlockMeta, alive: list) -> Optional[tuple]:
    """The values of a block function's parameters (Translator.params): the translator's
    objects of those names, the block's own META and ALIVE; None when one is missing."""
    out = []
    for p in code.co_varnames[:code.co_argcount]:
        if p == "META":
            out.append(meta)
        elif p == "ALIVE":
            out.append(alive)
        elif p in ns:
            out.append(ns[p])
        else:
            return None
    return tuple(out)


def resolve(tr, binds, spans=(), chunks=()) -> Optional[dict]:
    """The objects ``binds`` (from binds_of) name in this translator, checked against
    its namespace before any is added to it; None when one is missing or means
    something else here."""
    ns = tr.ns
    new: dict = {}
    for bnd in binds:
        kind, name = bnd[0], bnd[1]
        if kind == "c":
            obj = bnd[2]
        elif kind == "m" or kind == "t":       # module-level: the same in every run
            obj = _static.get(bnd)
            if obj is None:
                if kind == "m":
                    obj = _resolve(bnd[2], bnd[3])
                else:
                    obj = getattr(sys.modules.get(bnd[2]) or
                                  importlib.import_module(bnd[2]), bnd[3])[bnd[4]]
                    if len(bnd) > 5:
                        obj = obj[bnd[5]]
                _static[bnd] = obj
        elif kind == "d":
            raw = _raw({lo: (hi, chunk) for (lo, hi), chunk in zip(spans, chunks)},
                       bnd[2], None)
            if raw is None:
                return None
            obj = decode(raw, 0, 32, bnd[2])
        elif kind == "n":
            obj = ns.get(name)
            role = _SUFFIX.sub("", name)
            if obj is None and role in _ROLES:
                obj = _ROLES[role](tr)
            t = type(obj)
            func = getattr(obj, "__func__", None)
            if obj is None or f"{t.__module__}.{t.__qualname__}" != bnd[2] or \
                    (func.__qualname__ if func is not None else "") != bnd[3]:
                return None
        else:
            return None
        have = ns.get(name, obj)
        if have is not obj and not (kind == "c" and have == obj and type(have) is type(obj)):
            return None             # the name means something else in this translator
        new[name] = obj
    return new


def _raw(raw_at: dict, lin: int, length: Optional[int]) -> Optional[bytes]:
    """The stored bytes of the instruction at ``lin`` (its span's rest when the length
    is not known: the decoder reads what it needs)."""
    for lo, (hi, chunk) in raw_at.items():
        if lo <= lin < hi:
            end = hi if length is None else lin + length
            if end > hi:
                return None
            return chunk[lin - lo:end - lo]
    return None
