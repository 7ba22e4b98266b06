"""Compiled code of mapped libraries shared between the processes of a run.

Translating x86 blocks into Python functions is most of the cost of starting a program,
and the processes of a run share much code at the same addresses: a fork child runs
its parent's, a busybox applet exec'd from busybox the same image, and a dynamic
program's ld.so and shared libraries are file mappings placed the same way in every
process (the mmap area is filled top-down, deterministically). :class:`MappedCode`
keeps the translated blocks that lie in read-only mapped pages (a program's text, a
library's, the vDSO), with the bytes of every page they came from, and gives a new
Machine each block whose pages hold exactly those bytes there and are mapped read-only:
the check is on content, so a different library at the same address, a page patched by
text relocations or anything else the guest did only means that block is translated
again. A block gets globals of its own: constants, classes, functions and decoded
instructions as they were, and for the objects of its Machine (memory methods, register
lists) the new Machine's own of the same role, or it is not shared. Its defaults (the
``name=name`` parameters binding its Machine's state, vm/x86/compiler.py) are rebound
by name to the new Machine's, META and ALIVE its own.

What it keeps is host memory a guest controls (mapping ever new read-only code, each
process's blocks and pages are kept for the next): it counts in the same budget as the
translators (vm/x86/compiler.py CODE_BUDGET, ``used``), and when the process's
translations together are over it, drops everything it holds (:meth:`MappedCode.reclaim`):
only sharing is lost, a later process translates its code again.
"""

from __future__ import annotations

import builtins
import dis
import re
import types
import weakref
from types import CodeType, FunctionType, ModuleType

from asm.x86.decoder import Insn
from vm.linux.addrspace import P_MAPPED, P_W, P_X
from vm.x86 import compiler
from vm.x86.memory import PAGE_SHIFT, WF_CODE

PAGE = 1 << PAGE_SHIFT
MAX_BLOCKS = 200_000            # a guest that generates code endlessly stops being shared
_PER_BLOCK = ("META", "ALIVE")   # a block's own defaults, never another Machine's
# estimated host bytes of what is kept (counted as compiler.py counts a translator's)
COST_PAGE = PAGE + 128          # a page's bytes (a bytes object, its dict entry)
COST_BIND = 64                  # one global binding of a block


def _pages(ranges) -> list:
    """The pages a block's byte ranges touch, as the translator counts them (a write up
    to 3 bytes before an instruction may change it)."""
    pages = set()
    for lo, hi in ranges:
        pages.update(range(max(lo - 3, 0) >> PAGE_SHIFT, ((hi - 1) >> PAGE_SHIFT) + 1))
    return sorted(pages)


def _code_bytes(code) -> int:
    """A code object's estimated host bytes: its bytecode, with the tables, names and
    constants that come with it (no sys.getsizeof: PyPy has none for it)."""
    return 4 * len(code.co_code) + 64 * (len(code.co_consts) + len(code.co_names))


_GLOBAL_OPS = {"LOAD_GLOBAL", "STORE_GLOBAL", "DELETE_GLOBAL", "LOAD_NAME"}
_SUFFIX = re.compile(r"_[0-9a-f]{6,}$")     # Translator.glob's name for a second object
_STATIC = (type(None), bool, int, float, str, bytes, tuple, frozenset, type, Insn)


def _unwinds(code: CodeType) -> bool:
    """Whether a block leaves by unwinding when a stack check fails (emit.SlowPath: its
    code calls ``SLOW``), not through slow paths inline."""
    return "SLOW" in code.co_names


def _module_globals(tr, glob: dict) -> dict:
    """PyPy: ``glob`` as a module's dict, never written after, shared by the blocks
    naming the same objects (Translator.block_globals' dicts: the JIT folds a module
    dict's globals to constants while its keys stay put; a plain dict's it reads at
    every access). CPython: ``glob`` itself."""
    if not compiler._PYPY:
        return glob
    items = tuple((n, v) for n, v in glob.items() if n != "__builtins__")
    key = tuple((n, id(v)) for n, v in items)
    globs = getattr(tr, "_globs", None)
    g = globs.get(key) if globs is not None else None
    if g is None:
        g = ModuleType("pyvm_block").__dict__
        g.update(items)
        if globs is not None:
            globs[key] = g
    return g


def _global_names(code) -> set:
    names = set()
    for ins in dis.get_instructions(code):
        if ins.opname in _GLOBAL_OPS:
            names.add(ins.argval)
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            names |= _global_names(const)
    return names


def _owners(ns: dict) -> dict:
    """id of an object -> the name of a method of it in ``ns`` (``READ``: the memory's
    read_value), for the methods a block names that another Machine has not bound yet."""
    out: dict = {}
    for name, v in ns.items():
        owner = getattr(v, "__self__", None)
        if type(v) is types.MethodType and id(owner) not in out:
            out[id(owner)] = name
    return out


def _binding(name: str, value, owners: dict):
    """How a block's global ``name`` is bound in another Machine: ("s", value) for an
    object that is the same for every Machine (constants, classes, module functions,
    decoded instructions), ("r", role, type, method function, owner's role) for one of
    the Machine's own (its memory's methods, its register lists: the other Machine's
    object of the same role; a method it has not bound yet, ``SPAN`` made on first use:
    the same function of the object another of its methods is bound to, the owner's
    role), None for what cannot be carried over (another block, a closure)."""
    if isinstance(value, _STATIC):
        return ("s", value)
    if isinstance(value, (types.BuiltinFunctionType, types.BuiltinMethodType)) and \
            (value.__self__ is None or isinstance(value.__self__, types.ModuleType)):
        return ("s", value)
    if isinstance(value, FunctionType):
        if "<locals>" in value.__qualname__ or value.__name__ == "_blk":
            return None
        return ("s", value)
    owner = owners.get(id(value.__self__)) if type(value) is types.MethodType else None
    return ("r", _SUFFIX.sub("", name), type(value), getattr(value, "__func__", None), owner)


class MappedCode:
    """Translated code of read-only mapped pages, for a run."""

    def __init__(self):
        self.blocks: dict = {}              # (key, single) -> (ranges, code, name, meta,
        #                                      rest, pages held, global bindings)
        # keys in read-only mapped pages where a block's stack check failed (emit.SlowPath):
        # every Machine builds its blocks there with the slow paths inline, and is given
        # no block there that leaves by unwinding (it would fail the same check again,
        # once in every process)
        self.slow: set = set()
        self.size = None                    # the Machines' memory size
        self._seen = weakref.WeakKeyDictionary()   # translator -> first block id to look at
        self.contents: dict = {}            # (page, bytes) -> the same bytes, interned
        # host bytes kept, in the process's translation budget with the translators'
        self.used = 0
        self.check_at = compiler.CHECK_EVERY
        compiler._translators.add(self)

    def reclaim(self) -> None:
        """Drop every block and page kept. Harmless at any time: the Machines that were
        given blocks have functions of their own, a later process translates again."""
        self.blocks.clear()
        self.contents.clear()
        self.slow.clear()
        self.used = 0
        self.check_at = compiler.CHECK_EVERY

    def _spend(self) -> None:
        """Grown by CHECK_EVERY since the last look: when all translations of the
        process are over CODE_BUDGET, drop this. (Not the translators': a harvest runs
        in a syscall, maybe inside a block; each translator looks at the total itself
        before translating, and may then reclaim this.)"""
        if sum(t.used for t in list(compiler._translators)) > compiler.CODE_BUDGET:
            self.reclaim()
        self.check_at = self.used + compiler.CHECK_EVERY

    def _fits(self, machine) -> bool:
        tr = machine.tr
        if machine.cpu.mode != "flat32" or not all(
                hasattr(tr, a) for a in ("ns", "blocks", "cache", "cache1", "page_blocks",
                                         "nextid")):
            return False
        if self.size is None:
            self.size = machine.mem.size
        return machine.mem.size == self.size

    @staticmethod
    def _shareable(prot, p: int) -> bool:
        # (mapped, executable and not writable: a file's text)
        return p < len(prot) and prot[p] & (P_MAPPED | P_X | P_W) == P_MAPPED | P_X

    def harvest(self, machine, aspace) -> None:
        """Take the live blocks of ``machine`` in read-only mapped pages, with their
        pages' bytes."""
        if aspace is None or not self._fits(machine) or len(self.blocks) >= MAX_BLOCKS:
            return
        tr = machine.tr
        prot = aspace.prot
        data = machine.mem.data
        start = self._seen.get(tr, 0)
        for key in getattr(tr, "slow_keys", ()):
            if key not in self.slow and len(self.slow) < MAX_BLOCKS and \
                    self._shareable(prot, key >> PAGE_SHIFT):
                self.slow.add(key)
                for single in (False, True):
                    held = self.blocks.get((key, single))
                    if held is not None and _unwinds(held[1]):
                        del self.blocks[(key, single)]
        owners = None
        snap: dict = {}
        for bid in range(start, tr.nextid):
            rec = tr.blocks.get(bid)
            if rec is None or not isinstance(rec, tuple) or len(rec) < 6:
                continue
            key, single, ranges, alive, fn = rec[:5]
            if not alive[0] or not ranges or (key, single) in self.blocks:
                continue
            if not (isinstance(fn, FunctionType) and fn.__defaults__ is not None
                    and len(fn.__defaults__) == fn.__code__.co_argcount):
                continue                    # every parameter is a name=name default
            if key in self.slow and _unwinds(fn.__code__):
                continue
            pages = _pages(ranges)
            if not all(self._shareable(prot, p) for p in pages):
                continue
            binds = []
            if owners is None:
                owners = _owners(tr.ns)
            for g in _global_names(fn.__code__):
                if g not in tr.ns:
                    if hasattr(builtins, g):
                        continue
                    binds = None
                    break
                b = _binding(g, tr.ns[g], owners)
                if b is None:
                    binds = None
                    break
                binds.append((g,) + b)
            if binds is None:
                continue
            held = [(p, self._content(snap, data, p)) for p in pages]
            self.blocks[(key, single)] = (ranges, fn.__code__, fn.__name__, rec[5],
                                          rec[6:], tuple(held), tuple(binds))
            self.used += compiler.COST_BLOCK + compiler.COST_RANGE * len(ranges) + \
                COST_BIND * len(binds) + _code_bytes(fn.__code__)
        self._seen[tr] = tr.nextid
        if self.used >= self.check_at:
            self._spend()

    def _content(self, snap: dict, data, p: int) -> bytes:
        """Page ``p``'s bytes now (``snap``: this harvest's), one copy per distinct
        (page, bytes) for the run."""
        content = snap.get(p)
        if content is None:
            raw = bytes(data[p << PAGE_SHIFT:(p + 1) << PAGE_SHIFT])
            content = self.contents.get((p, raw))
            if content is None:
                content = self.contents[(p, raw)] = raw
                self.used += COST_PAGE
            snap[p] = content
        return content

    def install(self, machine, aspace=None) -> int:
        """Give ``machine`` every block whose pages are mapped read-only in ``aspace``
        with the bytes it was translated from; returns how many."""
        if not self.blocks or aspace is None or not self._fits(machine):
            return 0
        tr = machine.tr
        ns = tr.ns
        prot = aspace.prot
        data = machine.mem.data
        wf = machine.mem.wf
        same: dict = {}                     # page -> whether it holds the recorded bytes
        count = 0
        slow = self.slow
        if slow and hasattr(tr, "slow_keys"):
            tr.slow_keys.update(slow)
        for (key, single), (ranges, code, name, meta, rest, held, binds) in \
                self.blocks.items():
            cache = tr.cache1 if single else tr.cache
            if key in cache or key in slow and _unwinds(code):
                continue
            ok = True
            for p, content in held:
                verdict = same.get((p, id(content)))
                if verdict is None:
                    verdict = self._shareable(prot, p) and \
                        data[p << PAGE_SHIFT:(p + 1) << PAGE_SHIFT] == content
                    same[(p, id(content))] = verdict
                if not verdict:
                    ok = False
                    break
            # a block binds the names it uses as defaults (``cpu=cpu, r=r, ...``): the
            # same names from this Machine's namespace, META and ALIVE its own
            params = code.co_varnames[:code.co_argcount]
            if not ok or any(n not in ns for n in params if n not in _PER_BLOCK):
                continue
            # its own globals: the same constants and functions, this Machine's objects
            glob = {"__builtins__": ns.get("__builtins__", builtins)}
            for g, kind, *how in binds:
                if kind == "s":
                    glob[g] = how[0]
                    continue
                role, typ, func, owner = how
                mine = ns.get(role)
                if mine is None and owner is not None:
                    # (bound by the builder on first use: this Machine's same method)
                    mine = getattr(ns.get(owner), "__self__", None)
                    mine = None if mine is None else types.MethodType(func, mine)
                if type(mine) is not typ or getattr(mine, "__func__", None) is not func:
                    glob = None
                    break
                glob[g] = mine
            if glob is None:
                continue
            glob = _module_globals(tr, glob)
            alive = [1]
            defaults = tuple(meta if n == "META" else alive if n == "ALIVE" else ns[n]
                             for n in params)
            nfn = FunctionType(code, glob, name, defaults)
            nfn.meta = meta
            bid = tr.nextid
            tr.nextid += 1
            tr.blocks[bid] = (key, single, ranges, alive, nfn, meta, *rest)
            cache[key] = nfn
            for p in _pages(ranges):
                tr.page_blocks.setdefault(p, set()).add(bid)
                if p < len(wf):
                    wf[p] |= WF_CODE
            count += 1
        return count


def mapped_code(kernel) -> MappedCode:
    """The run's MappedCode (one per kernel)."""
    lib = getattr(kernel, "mapped_code", None)
    if lib is None:
        lib = kernel.mapped_code = MappedCode()
    return lib


__all__ = ["MappedCode", "mapped_code"]
