"""Unicorn-like hooks on a :class:`vm.x86.machine.Machine` (docs/api.md), built on the
mechanisms the debugger uses (vm/debug/core.py), so a machine without hooks runs exactly
the code it runs without this module:

- code hooks: the machine runs one instruction at a time through its tracer slot (the
  path ``--trace`` takes), and the callback sees each instruction before it executes;
- memory writes: the page flag ``WF_WATCH`` (Memory.watch) sends the writes to hooked
  pages down the slow path, which calls the hook after the write;
- memory reads: the page flag ``rf`` sends the compiled reads of hooked pages down
  their slow path (Memory.read, as for read watchpoints), and this machine's ``Memory.read``
  is wrapped, so helpers (string instructions, x87, FXRSTOR) and system calls reading
  guest memory are seen too; blocks are compiled as for data breakpoints
  (``Translator.watching``), so no load is forwarded from a store at compile time;
- sizes follow Unicorn's (QEMU's): a 16-byte access is reported as two 8-byte halves, a
  10-byte (x87 extended) one as 8 + 2;
- ``run(until=)``: the block compiler's breakpoint set (``Translator.stops``): blocks end
  before the address and a block starting there raises before its first instruction;
- interrupts, system calls and port I/O: wrappers around the personality's hooks.

Every ``hook_*`` returns a handle for :meth:`Machine.hook_del`; removing the last hook of
a kind restores the machine's fast paths.
"""

from __future__ import annotations

import time
from typing import Callable, Optional

PAGE_SHIFT = 12


class UntilHit(Exception):
    """A block starts at the ``until`` address of run()."""

    def __init__(self, address: int):
        super().__init__(f"until 0x{address:x}")
        self.address = address


class Hook:
    """A handle returned by ``Machine.hook_*``; pass it to ``hook_del``."""

    def __init__(self, kind: str, callback: Callable, begin: int, end: int):
        self.kind, self.callback, self.begin, self.end = kind, callback, begin, end

    def covers(self, addr: int, n: int = 1) -> bool:
        return addr < self.end and self.begin < addr + n

    def __repr__(self) -> str:
        return f"Hook({self.kind}, 0x{self.begin:x}-0x{self.end:x})"


class HookTracer:
    """The tracer slot while code hooks exist: calls them before each instruction and
    passes everything on to the ``--trace`` tracer (``inner``) if there is one."""

    def __init__(self, hooks: Hooks, inner=None):
        self.hooks, self.inner = hooks, inner

    def begin(self) -> None:
        m = self.hooks.machine
        lin = m.cpu.linear_ip()
        for h in list(self.hooks.code):
            if h.covers(lin):
                h.callback(m, lin)
        if self.inner is not None:
            self.inner.begin()

    def instruction(self, machine, info, before, exc) -> None:
        if self.inner is not None:
            self.inner.instruction(machine, info, before, exc)

    def event(self, text: str) -> None:
        if self.inner is not None:
            self.inner.event(text)

    def flush(self) -> None:
        if self.inner is not None:
            self.inner.flush()


def plain_tracer(tracer):
    """The ``--trace`` tracer under a machine's hook tracer (for a forked or exec'd
    process, whose hooks are its own)."""
    return tracer.inner if isinstance(tracer, HookTracer) else tracer


def set_tracer(m, tracer) -> None:
    """Give ``m`` the ``--trace`` tracer ``tracer`` without dropping its code hooks."""
    tracer = plain_tracer(tracer)
    if isinstance(m.tracer, HookTracer):
        m.tracer.inner = tracer
    else:
        m.tracer = tracer


class Hooks:
    """The hooks of one machine (``Machine._hooks``, created on first use)."""

    def __init__(self, machine):
        self.machine = machine
        self.code: list = []
        self.reads: list = []
        self.writes: list = []
        self.interrupts: list = []
        self.ports_in: list = []
        self.ports_out: list = []
        self._read_orig: Optional[Callable] = None     # Memory.read before the wrap
        self._in_hook = False       # a callback's own reads are not reported
        self._watch_prev: dict = {}          # page -> the device watcher we chained
        self._watch_flags()

    def _watch_flags(self) -> None:
        """A callback may change page permissions on Memory itself (``set_readonly``,
        ``set_unreadable``) rather than through Machine.map: the running block, whose
        checks saw the old flags, must stop before its next instruction as Machine.map
        makes it (and the first unreadable page needs code that tests read flags)."""
        m = self.machine
        mem = m.mem

        def notifying(orig: Callable) -> Callable:
            def changed(*args, **kw) -> None:
                was_guarded = mem.guarded
                orig(*args, **kw)
                if mem.guarded and not was_guarded:
                    m.flush_translations()
                else:
                    m.tr.flags_changed()
            return changed
        for name in ("set_readonly", "set_unreadable"):
            setattr(mem, name, notifying(getattr(mem, name)))

    # -- adding ----------------------------------------------------------------------------
    def add(self, kind: str, callback: Callable, begin: int = 0,
            end: Optional[int] = None) -> Hook:
        if not callable(callback):
            raise TypeError("a hook callback must be callable")
        end = (1 << 32) if end is None else end
        if end <= begin:
            raise ValueError(f"empty hook range 0x{begin:x}-0x{end:x}")
        h = Hook(kind, callback, begin, end)
        getattr(self, _LISTS[kind]).append(h)
        getattr(self, f"_arm_{_LISTS[kind]}")(h)
        return h

    def remove(self, h: Hook) -> None:
        lst = getattr(self, _LISTS[h.kind])
        if h not in lst:
            raise ValueError(f"{h!r} is not a hook of this machine")
        lst.remove(h)
        getattr(self, f"_disarm_{_LISTS[h.kind]}")(h)

    # -- code ------------------------------------------------------------------------------
    def _arm_code(self, h: Hook) -> None:
        m = self.machine
        if not isinstance(m.tracer, HookTracer):
            m.tracer = HookTracer(self, m.tracer)

    def _disarm_code(self, h: Hook) -> None:
        m = self.machine
        if not self.code and isinstance(m.tracer, HookTracer):
            m.tracer = m.tracer.inner

    # -- memory writes ---------------------------------------------------------------------
    def _pages(self, h: Hook) -> range:
        mem = self.machine.mem
        return range(h.begin >> PAGE_SHIFT, (min(h.end, mem.size) - 1 >> PAGE_SHIFT) + 1)

    def _arm_writes(self, h: Hook) -> None:
        from vm.x86.memory import WF_WATCH
        mem = self.machine.mem
        for p in self._pages(h):
            if p not in self._watch_prev:
                self._watch_prev[p] = mem._watchers.get(p)
                mem._watchers[p] = self._on_write
                mem.wf[p] |= WF_WATCH
        self._write_hooks(True)

    def _write_hooks(self, on: bool) -> None:
        """Tell the compiler whether write hooks are armed (Translator.write_hooks): a
        callback may change page flags mid block, so no loop may check its pages once
        only. Arming always flushes: from a callback, that stops the running block before
        its next instruction (smc.py), whose checks did not see the pages just hooked."""
        tr = self.machine.tr
        if on or tr.write_hooks:
            tr.write_hooks = on
            self.machine.flush_translations()

    def _disarm_writes(self, h: Hook) -> None:
        from vm.x86.memory import WF_WATCH
        mem = self.machine.mem
        for p in self._pages(h):
            if p in self._watch_prev and not any(
                    w.covers(p << PAGE_SHIFT, 1 << PAGE_SHIFT) for w in self.writes):
                prev = self._watch_prev.pop(p)
                if prev is None:
                    mem._watchers.pop(p, None)
                    mem.wf[p] &= ~WF_WATCH
                else:
                    mem._watchers[p] = prev
        if not self.writes:
            self._write_hooks(False)

    def _on_write(self, addr: int, data: bytes) -> None:
        prev = self._watch_prev.get(addr >> PAGE_SHIFT)
        if prev is not None:
            prev(addr, data)
        for a, n in _pieces(addr, len(data)):
            piece = bytes(data[a - addr:a - addr + n])
            for h in list(self.writes):
                if h.covers(a, n):
                    h.callback(self.machine, a, piece)

    # -- memory reads ----------------------------------------------------------------------
    def _arm_reads(self, h: Hook) -> None:
        m = self.machine
        mem, tr = m.mem, m.tr
        if self._read_orig is None:
            self._read_orig = orig = mem.read
            mem.read = self._reader(orig)
            # the API's own reads (Machine.read) are the user's, not the guest's
            m.read = orig
            tr.set_watching("hooks", True)      # (flushed below)
            if m.cpu.mmu is not None:   # protected mode (an MMU made later does it itself)
                from vm.x86.paging import hooked
                hooked(m.cpu.mmu)
        for p in self._pages(h):
            mem.rf[p] = 1
            if p:
                mem.rf[p - 1] = 1       # a read may straddle into the page
        mem.guarded = True
        m.flush_translations()

    def _reader(self, orig: Callable) -> Callable:
        """Memory.read reporting each guest read to the hooks covering it."""
        m = self

        def report(addr: int, n: int, data: bytes) -> None:
            """Tell the hooks covering it about a read of ``data`` at [addr, addr + n)."""
            if not m._in_hook:
                m._in_hook = True
                try:
                    for a, k in _pieces(addr, n):
                        v = None
                        for r in list(m.reads):
                            if r.covers(a, k):
                                if v is None:
                                    v = int.from_bytes(data[a - addr:a - addr + k], "little")
                                r.callback(m.machine, a, k, v)
                finally:
                    m._in_hook = False

        def read(addr: int, n: int) -> bytes:
            data = orig(addr, n)
            report(addr, n, data)
            return data
        # an MMU made while it is set reports its physical reads with it (paging.py), not
        # through read(): Memory's readability is not the MMU's business
        read.reports_reads = report
        return read

    def _disarm_reads(self, h: Hook) -> None:
        m = self.machine
        mem = m.mem
        if self.reads:
            return
        del mem.read, m.read            # back to the class's methods
        if m.cpu.mmu is not None:
            from vm.x86.paging import hooked
            hooked(m.cpu.mmu, False)
        self._read_orig = None
        m.tr.set_watching("hooks", False)
        ur = mem.unreadable
        # back to rf[p] = unreadable[p] | unreadable[p + 1] (Memory.set_unreadable)
        nxt = ur[1:] + b"\0"
        mem.rf[:] = (int.from_bytes(ur, "little") | int.from_bytes(nxt, "little")) \
            .to_bytes(len(ur), "little")
        mem.guarded = any(ur)
        m.flush_translations()

    # -- interrupts and ports --------------------------------------------------------------
    def _arm_interrupts(self, h: Hook) -> None:
        pass

    _disarm_interrupts = _arm_interrupts
    _arm_ports_in = _disarm_ports_in = _arm_ports_out = _disarm_ports_out = _arm_interrupts

    def interrupt(self, personality: Optional[Callable], m, vector: int,
                  software: bool) -> bool:
        for h in list(self.interrupts):
            if h.begin <= vector < h.end and h.callback(m, vector, software):
                return True
        return personality is not None and personality(m, vector, software)


def _pieces(addr: int, n: int) -> tuple:
    """The (address, size) pieces Unicorn (QEMU) reports for an access of n bytes: a
    128-bit operand as two 64-bit halves, an x87 extended one as 64 + 16 bits."""
    if n == 16:
        return ((addr, 8), (addr + 8, 8))
    if n == 10:
        return ((addr, 8), (addr + 8, 2))
    return ((addr, n),)


_LISTS = {"code": "code", "mem_read": "reads", "mem_write": "writes",
          "interrupt": "interrupts", "port_in": "ports_in", "port_out": "ports_out"}


def run(m, count: Optional[int], until: Optional[int], timeout: Optional[float],
        plain: Callable, Stop: type):
    """Machine.run(count=, until=, timeout=): in slices when a timeout is set (the clock
    is read between slices), stopping before the instruction at linear ``until``.
    ``plain`` is Machine.run itself and ``Stop`` its result type (passed in: machine.py
    imports this module, not the other way round)."""
    tr = m.tr
    deadline = None if timeout is None else time.monotonic() + timeout
    start = m.steps
    if until is not None:
        if tr.stop_exc is not None and tr.stop_exc is not UntilHit:
            raise RuntimeError("run(until=) while a debugger is attached: use its "
                               "breakpoints")
        old_stops, old_exc = tr.stops, tr.stop_exc
        tr.stops = set(old_stops) | {until}
        tr.stop_exc = UntilHit
        tr.invalidate(until, until + 1)
    try:
        first = True
        while True:
            left = None if count is None else count - (m.steps - start)
            if left is not None and left <= 0:
                return Stop("limit")
            n = left if deadline is None else min(left or 100_000, 100_000)
            if first and until is not None and m.cpu.linear_ip() == until:
                tr.stop_skip[0] = until         # leave the address before stopping at it
                stop = plain(m, 1)
                tr.stop_skip[0] = -1
                n = None if n is None else n - 1
                if stop.reason != "limit" or n == 0:
                    if stop.reason != "limit" or deadline is None:
                        return stop
            first = False
            try:
                stop = plain(m, n) if n is None or n > 0 else Stop("limit")
            except UntilHit:
                return Stop("until")
            if stop.reason != "limit" or deadline is None:
                return stop
            if time.monotonic() >= deadline:
                return Stop("timeout")
            if count is not None and m.steps - start >= count:
                return stop
    finally:
        if until is not None:
            tr.stops, tr.stop_exc = old_stops, old_exc
            tr.stop_skip[0] = -1
            tr.invalidate(until, until + 1)
