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

Each dispatch also counts how the block before it ended (``exits``, the report's last
line): the instruction that ended a block, a first-tier instance or a straight trace
that ran its whole path (``ret``, ``jcc``, ``call``, ``call*`` and ``jmp*`` for
indirect ones, ``cut:MNEMONIC`` for a block cut at MAX_BLOCK instructions or before
an instruction that starts one, ``first-tier step``...), ``side exit`` for
a trace that left its path, ``loop exit`` for a loop block or loop trace.
"""

from __future__ import annotations

import atexit
import sys
import weakref
from collections import Counter

KINDS = ("loop trace", "straight trace", "loop block", "block", "first tier")


def exit_label(insn) -> str:
    """How a block whose last instruction is insn left: the branch's kind (``int`` for a
    software interrupt or system call), else ``cut:`` and the mnemonic (the block was
    cut there: MAX_BLOCK, or an instruction that ends blocks)."""
    m = insn.form.mnemonic
    ops = insn.form.operands
    if m in ("jmp", "call"):
        # (an immediate, relative or far-pointer operand is direct; rm and mfar are not)
        return m if ops and ops[0].startswith(("imm", "rel", "ptr")) else m + "*"
    if m.startswith("ret"):
        return "ret"
    if m in ("int", "int1", "int3", "into", "sysenter", "syscall", "iret", "iretd"):
        return "int"
    if m[0] == "j" or m.startswith("loop"):
        return "jcc"
    return "cut:" + m


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
        self.exits: Counter = Counter()     # how the blocks looked up ended (exit_label)
        # meta -> its last instruction's exit_label; weak: a flushed block's metadata
        # goes with it (self-modifying code made one entry per retranslation)
        self._labels: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()

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
            if k in (0, 2):
                self.exits["loop exit"] += 1
            elif k == 1 and n != len(meta.paths[0]):
                self.exits["side exit"] += 1
            else:
                label = self._label(meta)
                if k == 4 and label.startswith("cut:"):
                    label = "first-tier step"     # (one instruction each)
                self.exits[label] += 1
            self.prev = None

    def _label(self, meta) -> str:
        label = self._labels.get(meta)
        if label is None:
            label = exit_label(meta.insns[-1].insn) if meta.insns else "none"
            try:
                self._labels[meta] = label
            except TypeError:       # (metadata without a weak reference slot: not kept)
                pass
        return label

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
        total = sum(self.exits.values())
        if total:
            print("pyvm: exits: " + ", ".join(
                f"{label} {100 * c / total:.1f}%" for label, c in self.exits.most_common(8)),
                file=out)


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
