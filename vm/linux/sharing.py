"""Compiled code shared between the Machines that run the same program.

Translating x86 blocks into Python functions is most of the cost of starting a program
(compile() alone is a third of it), and a fork child, or a busybox applet exec'd from
busybox, runs code its relatives already translated. A compiled block is a plain
function whose defaults bind its machine's state (``cpu=cpu, r=r, mem=mem, ...``: the
names in ``Translator.defaults``) and whose globals are its translator's namespace; the
same code object rebound to another Machine's objects is that Machine's translation of
the same bytes. A CodeLibrary collects, per image, the blocks that lie wholly in the
image's read-only pages (identical in every process running it) and installs them in
new Machines.

This leans on vm/x86/compiler.py's Translator internals (``defaults``, ``ns``, ``blocks``
records ``(key, single, ranges, alive, fn, meta, ...)``, ``cache``/``cache1``,
``page_blocks``, ``nextid``); each assumption is checked and a mismatch only means the
Machine translates for itself.
"""

from __future__ import annotations

import re
import weakref
from types import FunctionType
from typing import Optional

from vm.x86.memory import PAGE_SHIFT, WF_CODE

_DEFAULT = re.compile(r"\s*(\w+)=(\w+)\s*")
_PER_BLOCK = ("META", "ALIVE")
_ATTRS = ("ns", "blocks", "cache", "cache1", "page_blocks", "nextid", "defaults")


def _default_names(tr) -> Optional[list]:
    names = []
    for part in getattr(tr, "defaults", "").split(","):
        m = _DEFAULT.fullmatch(part)
        if m is None or m.group(1) != m.group(2):
            return None
        names.append(m.group(1))
    if not all(n in names for n in _PER_BLOCK):
        return None
    return names


def _usable(tr) -> bool:
    return all(hasattr(tr, a) for a in _ATTRS) and _default_names(tr) is not None


class CodeLibrary:
    """The translated read-only code of one image, from every Machine that ran it."""

    def __init__(self, image):
        self.lo, self.hi = image.lo, image.hi
        self.pages = set()
        for lo, hi in image.readonly_pages():
            self.pages.update(range(lo >> PAGE_SHIFT, hi >> PAGE_SHIFT))
        self.blocks: dict = {}         # (key, single) -> (ranges, code, name, meta, rest)
        self.ns: dict = {}             # names the code uses besides its defaults
        self.names: Optional[list] = None
        self.size = None
        self._seen = weakref.WeakKeyDictionary()   # translator -> first block id to look at

    def _fits(self, machine) -> bool:
        tr = machine.tr
        if not _usable(tr) or machine.cpu.mode != "flat32":
            return False
        names = _default_names(tr)
        if self.names is None:
            self.names, self.size = names, machine.mem.size
        return names == self.names and machine.mem.size == self.size

    def harvest(self, machine, aspace) -> None:
        """Take the live blocks of ``machine`` that lie in still read-only image pages."""
        if not self._fits(machine):
            return
        tr = machine.tr
        prot = aspace.prot
        start = self._seen.get(tr, 0)
        pages = self.pages
        for bid in range(start, tr.nextid):
            rec = tr.blocks.get(bid)
            if rec is None or not isinstance(rec, tuple) or len(rec) < 6:
                continue
            key, single, ranges, alive, fn = rec[:5]
            if not alive[0] or not ranges or (key, single) in self.blocks:
                continue
            ok = isinstance(fn, FunctionType) and fn.__defaults__ is not None \
                and len(fn.__defaults__) == len(self.names)
            for lo, hi in ranges:
                for p in range(lo >> PAGE_SHIFT, ((hi - 1) >> PAGE_SHIFT) + 1):
                    if p not in pages or prot[p] & 2:
                        ok = False
            if ok:      # the code, not the function: that would keep its Machine alive
                self.blocks[(key, single)] = (ranges, fn.__code__, fn.__name__, rec[5],
                                              rec[6:])
        self._seen[tr] = tr.nextid
        own = {id(x) for x in (machine, machine.cpu, machine.mem, machine.mem.data,
                               machine.mem.wf, machine.cpu.r, machine.cpu.steps, tr,
                               getattr(tr, "lim", None))}
        for k, v in tr.ns.items():
            if k in self.ns or k in _PER_BLOCK or id(v) in own \
                    or id(getattr(v, "__self__", None)) in own:
                continue
            self.ns[k] = v

    def install(self, machine) -> int:
        """Give ``machine`` every library block it lacks; returns how many."""
        if not self.blocks or not self._fits(machine):
            return 0
        tr = machine.tr
        names = self.names
        for k, v in self.ns.items():
            if k not in tr.ns:
                tr.ns[k] = v
        if any(n not in tr.ns for n in names if n not in _PER_BLOCK):
            return 0
        shared = [tr.ns[n] if n not in _PER_BLOCK else None for n in names]
        meta_at, alive_at = names.index("META"), names.index("ALIVE")
        wf = machine.mem.wf
        count = 0
        for (key, single), (ranges, code, name, meta, rest) in self.blocks.items():
            cache = tr.cache1 if single else tr.cache
            if key in cache:
                continue
            alive = [1]
            defaults = list(shared)
            defaults[meta_at], defaults[alive_at] = meta, alive
            nfn = FunctionType(code, tr.ns, name, tuple(defaults))
            nfn.meta = meta
            bid = tr.nextid
            tr.nextid += 1
            tr.blocks[bid] = (key, single, ranges, alive, nfn, meta, *rest)
            cache[key] = nfn
            for lo, hi in ranges:
                for p in range(max(lo - 3, 0) >> PAGE_SHIFT, ((hi - 1) >> PAGE_SHIFT) + 1):
                    tr.page_blocks.setdefault(p, set()).add(bid)
                    if p < len(wf):
                        wf[p] |= WF_CODE
            count += 1
        return count
