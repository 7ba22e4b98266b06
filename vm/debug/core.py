"""The debugging core: one API for every machine, used by the command-line debugger
(cli.py) and the GDB stub (gdbstub.py).

x86 (:class:`X86Debugger`): addresses are linear (real mode: segment * 16 + offset).

- Breakpoints cost nothing while running: the block compiler (vm/x86/compiler.py,
  ``Translator.stops``) ends every block before a breakpoint address, and a block that
  starts at one raises :class:`BreakHit` before its first instruction; setting or
  clearing a breakpoint drops the translations that hold the address.
- Watchpoints use the memory write flags: a page holding a watched byte gets a private
  ``Memory.wf`` bit, so writes to it take the slow path (``Memory.store`` ->
  ``Memory.write``, patched on this one Memory object) where the watch ranges are
  checked *before* the write; a hit unwinds the compiled block to the writing
  instruction (precise, as for a fault), which is then single-stepped to show old and
  new value. Read watchpoints mark the page in ``Memory.rf`` and replace the compiled
  code's ``READ`` slow path.
- Catching system calls / interrupts / faults wraps the personality hooks.
- Reverse execution: snapshots.History.

Nothing is patched until a debugger attaches, so a plain run pays nothing.
"""

from __future__ import annotations

import dataclasses
from typing import Callable, Dict, List, Optional, Tuple

from vm.debug.snapshots import WF_DBGWATCH, WF_SAVE, Divergence, History, cpu_capture
from vm.debug.targets import Outcome

SIGNAL_NAMES = {2: "SIGINT", 4: "SIGILL", 5: "SIGTRAP", 8: "SIGFPE", 11: "SIGSEGV",
                25: "SIGXFSZ"}
SIGINT = 2
# Instructions between two looks for an interrupt (X86Debugger.interrupt_check): a
# select() per slice, so a running program stops within a fraction of a second
POLL_EVERY = 100_000
# stepi N runs N one-instruction resumes: it asks every STEP_POLL of them (a fraction of
# a second)
STEP_POLL = 256


class DebugError(Exception):
    """A request the debugger cannot do (bad address, unknown register...): one line."""


class BreakHit(Exception):
    """Raised by a compiled block that starts at a breakpoint."""

    def __init__(self, address: int):
        super().__init__(f"breakpoint at 0x{address:x}")
        self.address = address


class WatchTrap(Exception):
    """A watched byte is about to be accessed (raised before the access)."""


class CatchStop(Exception):
    def __init__(self, kind: str, number: int):
        super().__init__(f"{kind} {number}")
        self.kind, self.number = kind, number


class FaultStop(Exception):
    """Linux: the followed process faulted (before the kernel acts on it)."""

    def __init__(self, fault):
        super().__init__(str(fault))
        self.fault = fault


@dataclasses.dataclass
class Breakpoint:
    number: int
    address: int
    temporary: bool = False
    hits: int = 0
    enabled: bool = True


@dataclasses.dataclass
class Watchpoint:
    number: int
    address: int
    length: int
    kind: str = "write"             # 'write' | 'read' | 'access'
    old: bytes = b""
    hits: int = 0


@dataclasses.dataclass
class StopEvent:
    """Why the program stopped. ``reason``: 'step', 'breakpoint', 'watchpoint', 'finish',
    'syscall', 'interrupt', 'signal' (a fault), 'exited', 'history' (the start of the
    recorded history was reached going backwards), 'error', 'thread-exit' (the thread
    that ran alone ended: a Linux target's, for the GDB stub), 'exec' (the program ran
    another: with ``stop_at_exec``), 'thread-created' and 'thread-exited' (``number``:
    its TID; with the Linux target's ``report_threads``, ``report_exits``)."""
    reason: str
    pc: int = 0
    number: int = 0                 # breakpoint / watchpoint number, syscall, vector
    status: Optional[int] = None    # exit status
    signal: int = 0
    message: str = ""
    watch: Optional[Tuple[Watchpoint, bytes, bytes]] = None   # (wp, old, new)
    dump: str = ""                  # the machine's own report at its stop (V16's dump)


class Debugger:
    """What every machine's debugger offers (see X86Debugger, B32Debugger and
    V16Debugger)."""
    arch = ""
    symbols = None

    def __init__(self) -> None:
        self.breakpoints: Dict[int, Breakpoint] = {}
        self.watchpoints: Dict[int, Watchpoint] = {}
        self._next = 1
        self.exited: Optional[int] = None
        self.last: Optional[StopEvent] = None

    def _number(self) -> int:
        n = self._next
        self._next += 1
        return n

    # symbols
    def resolve(self, name: str) -> int:
        addr = self.symbols.lookup(name) if self.symbols is not None else None
        if addr is None:
            raise DebugError(f'no symbol "{name}"')
        return addr

    def describe(self, addr: int) -> str:
        return self.symbols.describe(addr) if self.symbols is not None else ""

    def delete(self, number: Optional[int] = None) -> None:
        """Delete one breakpoint or watchpoint (all when None)."""
        if number is None:
            for n in list(self.breakpoints):
                self.remove_breakpoint(n)
            for n in list(self.watchpoints):
                self.remove_watchpoint(n)
            return
        if number in self.breakpoints:
            self.remove_breakpoint(number)
        elif number in self.watchpoints:
            self.remove_watchpoint(number)
        else:
            raise DebugError(f"no breakpoint number {number}")

    def breakpoint_at(self, addr: int) -> Optional[Breakpoint]:
        for b in self.breakpoints.values():
            if b.address == addr:
                return b
        return None


# =========================================================================================
# x86
# =========================================================================================

REG_ORDER = ("eax", "ecx", "edx", "ebx", "esp", "ebp", "esi", "edi", "eip", "eflags",
             "cs", "ss", "ds", "es", "fs", "gs")


class X86Debugger(Debugger):
    """The debugging core on an x86 target (vm/debug/targets.py)."""
    arch = "i386"

    def __init__(self, target, history: bool = True, interval: int = 200_000,
                 history_limit: int = 400):
        super().__init__()
        self.target = target
        self.symbols = target.symbols
        self.m = None
        self.hist: Optional[History] = None
        self._want_history = history
        self._interval, self._hlimit = interval, history_limit
        self.catch_syscalls: Optional[set] = None     # None: off; empty set: all
        self.catch_vectors: set = set()
        self.stop_at_exec = False       # an exec stops the program (the GDB stub's exec
        self.stop_on_fault = True       # events: gdb's `catch exec`, its new symbols)
        self._internal: Dict[int, Callable[[], bool]] = {}   # finish/next breakpoints
        self._in_hook = False
        self._in_run = False
        self._recording_watch: Optional[list] = None
        self._pending: List[StopEvent] = []
        # (thread, address after the instruction) of the last catch stop, and of the
        # one the resume is to let through: keyed, as another thread's int 0x80 may
        # come first (it is its own stop)
        self._catch_at: Optional[tuple] = None
        self._skip_catch: Optional[tuple] = None
        self._fault: Optional[Outcome] = None
        self._glue = None
        self._glue_regs = None
        self._read_watch = False
        self._orig: dict = {}
        # asked every POLL_EVERY instructions of a resume: True stops the program with
        # SIGINT (the GDB stub's Ctrl-C from gdb, the command line's own Ctrl-C)
        self.interrupt_check: Optional[Callable[[], bool]] = None
        # host descriptors that become readable when an interrupt may have come (gdb's
        # socket, the command line's signal pipe): a guest waiting in the host (sleep)
        # wakes up on them, so the interrupt is seen
        self.interrupt_fds: List[int] = []
        self._polling = self._interrupted = False
        self.attach(target.machine)

    # -- attaching ---------------------------------------------------------------------------
    def attach(self, m) -> None:
        """Hook one Machine (again after an exec replaced it, or kept it: an exec of
        the program the process runs, whose new hooks are then the ones to wrap)."""
        fresh = {}
        if self.m is m:
            fresh = {n: getattr(m, n) for n in ("on_interrupt", "on_port_in",
                                                "on_port_out", "on_halt")
                     if not hasattr(getattr(m, n), "debug_wrapped")}
        if self.m is not None:
            self.detach()
        for name, fn in fresh.items():
            setattr(m, name, fn)
        self.m = m
        mem = m.mem
        tr = m.tr
        tr.stop_exc = BreakHit
        self._orig = {"write": mem.write, "load": mem.load, "zero": mem.zero,
                      "run": m.run, "READ": tr.ns.get("READ"), "guarded": mem.guarded}
        mem.write = self._mem_write
        mem.load = self._mem_load
        mem.zero = self._mem_zero
        orig_unreadable = mem.set_unreadable

        def set_unreadable(start: int, end: int, unreadable: bool) -> None:
            orig_unreadable(start, end, unreadable)
            if self.hist is not None:
                self.hist.note_flags(start, end)
        mem.set_unreadable = set_unreadable
        m.run = self._machine_run
        for name in ("on_interrupt", "on_port_in", "on_port_out", "on_halt"):
            fn = getattr(m, name)
            fn = getattr(fn, "debug_wrapped", fn)   # (a thread's hook: wrapped already)
            self._orig[name] = fn
            if fn is not None:
                setattr(m, name, self._wrap_hook(name, fn))
        k = getattr(self.target, "kernel", None)
        if k is not None and not hasattr(k, "_debug_orig_fault"):
            k._debug_orig_fault = k.fault
            k.fault = self._kernel_fault
            # a thread switch gives the Machine that thread's system call hook: wrapped
            # as the first one (history records it, catch syscall sees it)
            orig_hook = k.interrupt_hook

            def interrupt_hook(proc):
                fn = orig_hook(proc)
                if self.m is not None and proc.machine is self.m:
                    return self._wrap_hook("on_interrupt", fn)
                return fn
            k.interrupt_hook = interrupt_hook
            # (between turns: a thread of the program blocks a while, another runs)
            self.target.stop_hook = lambda: bool(self._pending) or self._poll_interrupt()
        self._sync_breakpoints()
        for wp in self.watchpoints.values():
            self._arm_watch(wp)
        if self._want_history:
            self.hist = History(m, self._interval, self._hlimit)
            self.hist.start()
        self._glue_begin()

    def detach(self) -> None:
        m = self.m
        if m is None:
            return
        if self.hist is not None:
            self.hist.stop()
            self.hist = None
        for name in ("write", "load", "zero", "run", "set_unreadable"):
            obj = m if name == "run" else m.mem
            try:
                delattr(obj, name)
            except AttributeError:
                pass
        for name in ("on_interrupt", "on_port_in", "on_port_out", "on_halt"):
            setattr(m, name, self._orig.get(name))
        wf = m.mem.wf
        wf[:] = wf.translate(bytes(b & ~(WF_SAVE | WF_DBGWATCH) for b in range(256)))
        m.tr.stops = set()
        if self._read_watch:
            m.tr.ns["READ"] = self._orig["READ"]
            m.mem.guarded = self._orig["guarded"]
        m.flush_translations()
        self.m = None

    # -- state ------------------------------------------------------------------------------
    @property
    def real(self) -> bool:
        return self.m.cpu.real

    @property
    def bits(self) -> int:
        return self.m.cpu.bits

    @property
    def pc(self) -> int:
        return self.m.cpu.linear_ip()

    @property
    def steps(self) -> int:
        return self.m.steps

    def registers(self) -> Dict[str, int]:
        m = self.m
        out = {}
        for n in REG_ORDER:
            out[n] = m.reg(n)
        out["fs_base"], out["gs_base"] = m.reg("fs_base"), m.reg("gs_base")
        return out

    def get_reg(self, name: str) -> int:
        name = name.lower().lstrip("$")
        if name in ("pc", "ip") and not self.real and name == "pc":
            name = "eip"
        if name == "pc":
            return self.pc
        if name == "sp":
            name = "esp" if not self.real else "sp"
        if name == "fp":
            name = "ebp"
        try:
            return self.m.reg(name)
        except KeyError:
            raise DebugError(f"invalid register `{name}'") from None

    def set_reg(self, name: str, value: int) -> None:
        self._check_present("registers")
        name = name.lower().lstrip("$")
        if name == "pc":
            name = "eip" if not self.real else "ip"
        try:
            self.m.set_reg(name, value)
        except KeyError:
            raise DebugError(f"invalid register `{name}'") from None

    def fpu(self):
        return self.m.fpu()

    def read(self, addr: int, n: int) -> bytes:
        from vm.x86.faults import MemoryFault
        if n < 0:       # (memory's read takes a negative count as "up to the end")
            raise DebugError(f"cannot access memory at address 0x{addr:x}")
        try:
            return self.m.mem.read(addr, n)
        except (MemoryFault, ValueError, OverflowError):
            raise DebugError(f"cannot access memory at address 0x{addr:x}") from None

    def write(self, addr: int, data: bytes) -> None:
        self._check_present("memory")
        self.read(addr, len(data))          # the same checks as a read
        self.m.mem.load(addr, bytes(data))  # ignores read-only pages, drops translations
        for wp in self.watchpoints.values():
            wp.old = self._peek(wp.address, wp.length)

    def _check_present(self, what: str) -> None:
        if self.hist is not None and self.hist.replaying:
            raise DebugError(f"cannot change {what} while replaying the recorded history "
                             "(continue to its end first)")
        if self.exited is not None:
            raise DebugError("the program is not being run")

    def _peek(self, addr: int, n: int) -> bytes:
        return bytes(self.m.mem.data[addr:addr + n])

    # -- breakpoints -------------------------------------------------------------------------
    def add_breakpoint(self, addr: int, temporary: bool = False) -> Breakpoint:
        if not 0 <= addr < self.m.mem.size:
            raise DebugError(f"cannot insert a breakpoint at 0x{addr:x}: outside memory")
        bp = Breakpoint(self._number(), addr, temporary)
        self.breakpoints[bp.number] = bp
        self._sync_breakpoints()
        return bp

    def remove_breakpoint(self, number: int) -> None:
        self.breakpoints.pop(number, None)
        self._sync_breakpoints()

    def _sync_breakpoints(self) -> None:
        tr = self.m.tr
        want = {b.address for b in self.breakpoints.values() if b.enabled}
        want |= set(self._internal)
        old = tr.stops
        if want == old:
            return
        tr.stops = want
        for a in old ^ want:
            tr.invalidate(a, a + 1)

    # -- watchpoints -------------------------------------------------------------------------
    def add_watchpoint(self, addr: int, length: int = 4, kind: str = "write") -> Watchpoint:
        if length < 1 or length > 1 << 20:
            raise DebugError("watchpoint length must be 1 .. 1M bytes")
        self.read(addr, length)
        wp = Watchpoint(self._number(), addr, length, kind, self._peek(addr, length))
        self.watchpoints[wp.number] = wp
        self._arm_watch(wp)
        return wp

    def remove_watchpoint(self, number: int) -> None:
        self.watchpoints.pop(number, None)
        wf = self.m.mem.wf
        for p in range(len(wf)):
            if wf[p] & WF_DBGWATCH:
                wf[p] &= ~WF_DBGWATCH
        for wp in self.watchpoints.values():
            self._arm_watch(wp)

    def _arm_watch(self, wp: Watchpoint) -> None:
        mem = self.m.mem
        p0, p1 = wp.address >> 12, (wp.address + wp.length - 1) >> 12
        for p in range(p0, p1 + 1):
            mem.wf[p] |= WF_DBGWATCH
        if wp.kind != "write":
            self._enable_read_watch()
            for p in range(max(p0 - 1, 0), p1 + 1):     # a read may straddle into it
                mem.rf[p] = 1

    def _enable_read_watch(self) -> None:
        if self._read_watch:
            return
        self._read_watch = True
        m = self.m
        orig = self._orig["READ"]

        def read(addr: int, size: int) -> int:
            if self.watchpoints:
                self._check_watch(addr, size, False)
            return orig(addr, size)
        m.tr.ns["READ"] = read
        m.mem.guarded = True
        m.flush_translations()

    def _rearm_reads(self) -> None:
        if self._read_watch:
            for wp in self.watchpoints.values():
                if wp.kind != "write":
                    self._arm_watch(wp)

    def _check_watch(self, addr: int, n: int, is_write: bool) -> None:
        end = addr + n
        for wp in self.watchpoints.values():
            if addr < wp.address + wp.length and wp.address < end and \
                    (wp.kind == "access" or (wp.kind == "write") == is_write):
                if self._recording_watch is not None:
                    if wp not in self._recording_watch:
                        self._recording_watch.append(wp)
                elif self._in_hook:
                    # a system call or BIOS service writes it: stop after that instruction
                    self._pending.append(StopEvent("watchpoint", number=wp.number,
                                                   watch=(wp, wp.old, b"")))
                    self.m.request_stop()
                else:
                    raise WatchTrap()

    # -- memory hooks (this Memory object only) ----------------------------------------------
    def _flags(self, addr: int, n: int) -> int:
        wf = self.m.mem.wf
        p0, p1 = addr >> 12, (addr + n - 1) >> 12
        if addr < 0 or p1 >= len(wf):
            return 0
        if p0 == p1:
            return wf[p0]
        f = 0
        for b in wf[p0:p1 + 1]:
            f |= b
        return f

    def _mem_write(self, addr: int, data) -> None:
        n = len(data)
        f = self._flags(addr, n) if n else 0
        if f & WF_DBGWATCH and self.watchpoints:
            self._check_watch(addr, n, True)
        hist = self.hist
        if f & WF_SAVE and hist is not None:
            hist.save_pages(addr, n)
        self._orig["write"](addr, data)
        if hist is not None and hist.recording is not None and n:
            hist.log("load", addr, bytes(data))

    def _mem_load(self, addr: int, data) -> None:
        n = len(data)
        f = self._flags(addr, n) if n else 0
        if f & WF_DBGWATCH and self.watchpoints and self._in_hook:
            self._check_watch(addr, n, True)
        hist = self.hist
        if f & WF_SAVE and hist is not None:
            hist.save_pages(addr, n)
        self._orig["load"](addr, data)
        if hist is not None and hist.recording is not None and n:
            hist.log("load", addr, bytes(data))

    def _mem_zero(self, start: int, end: int) -> None:
        hist = self.hist
        if hist is not None and end > start:
            hist.save_pages(start, min(end, self.m.mem.size) - start)
        self._orig["zero"](start, end)
        if hist is not None and hist.recording is not None:
            hist.log("zero", start, end)

    def _raw_load(self, addr: int, data: bytes) -> None:
        self._orig["load"](addr, data)

    # -- personality hooks -------------------------------------------------------------------
    def _wrap_hook(self, name: str, fn: Callable) -> Callable:
        def hook(m, *args):
            hist = self.hist
            if hist is not None and hist.replaying:
                return self._replay_hook(name, args)
            if name == "on_interrupt":
                self._catch(m, *args)
            ev = hist.begin("hook", (name,) + tuple(args[:2])) if hist is not None else None
            lim = m.tr.lim[0]
            self._in_hook = True
            try:
                result = fn(m, *args)
                if ev is not None:
                    ev.result = result
                return result
            except BaseException as e:
                if ev is not None:
                    ev.exc = e
                raise
            finally:
                self._in_hook = False
                if ev is not None:
                    if name == "on_interrupt" and args and args[0] == 0x80 and \
                            ev.where[0] == "on_interrupt":
                        ev.output = self._syscall_output(m, ev)
                    hist.end(ev)
                    if hist.crowded:        # (a snapshot soon: History.MAX_BYTES)
                        m.request_stop()
                    ev.stop = lim != 0 and m.tr.lim[0] == 0
                self._rearm_reads()
        hook.debug_wrapped = fn
        return hook

    def _syscall_output(self, m, ev) -> bytes:
        return b""

    def _replay_hook(self, name: str, args: tuple):
        hist = self.hist
        ev = hist.next_event("hook")
        if ev.where != (name,) + tuple(args[:2]):
            raise Divergence(f"replay expected {ev.where}, met {(name,) + tuple(args[:2])}")
        hist.apply(ev, {"load": self._mem_load, "zero": self._mem_zero})
        if ev.stop:
            self.m.request_stop()
        self._rearm_reads()
        if ev.exc is not None:
            raise ev.exc
        return ev.result

    def _catch(self, m, vector: int, software: bool) -> None:
        thread = getattr(self.target, "current_thread", None)
        key = (thread() if thread is not None else None, m.cpu.linear_ip())
        if self._skip_catch is not None and self._skip_catch == key:
            self._skip_catch = None     # (the call stopped at, now run)
            return
        if software and self.catch_syscalls is not None and vector == 0x80:
            nr = m.cpu.r[0]
            if not self.catch_syscalls or nr in self.catch_syscalls:
                self._catch_at = key
                raise CatchStop("syscall", nr)
        if vector in self.catch_vectors and (software or self.real):
            self._catch_at = key
            raise CatchStop("interrupt", vector)

    def _kernel_fault(self, proc, m, exc) -> None:
        # (a thread of the followed process stops it too: gdb shows the faulting thread)
        if m is self.m and proc.machine is m and self.stop_on_fault and \
                _leader(proc) is self.target.proc:
            self.target.fault_task = proc       # (delivered to that thread on resume)
            raise FaultStop(exc)
        self.target.kernel._debug_orig_fault(proc, m, exc)

    # -- Machine.run, patched: glue events and snapshots -------------------------------------
    def _glue_begin(self) -> None:
        hist = self.hist
        if hist is None or hist.replaying:
            self._glue = None
            return
        self._glue = hist.begin("glue", ())
        self._glue_regs = History.regs_key(self.m)

    def _glue_end(self) -> None:
        ev, self._glue = self._glue, None
        hist = self.hist
        if ev is None or hist is None:
            return
        ev.steps = self.m.steps
        changed = bool(ev.ops) or not History.same_regs(self.m, self._glue_regs) or \
            (self.m.mem.guarded and hist.flags_dirty)
        hist.end(ev, keep=changed)

    def _machine_run(self, max_steps: Optional[int] = None):
        self._glue_end()
        self._in_run = True
        orig = self._orig["run"]
        try:
            hist = self.hist
            if hist is None:
                return orig(max_steps)
            m = self.m
            start = m.steps
            while True:
                to_snap = hist.snaps[-1].steps + hist.interval - m.steps
                if (to_snap <= 0 or hist.crowded) and hist.snapshot():
                    continue
                n = to_snap if max_steps is None else \
                    min(to_snap, max_steps - (m.steps - start))
                stop = orig(n)
                if stop.reason != "limit" or \
                        (max_steps is not None and m.steps - start >= max_steps):
                    return stop
        finally:
            self._in_run = False
            self._glue_begin()

    # -- running -----------------------------------------------------------------------------
    def _live(self, n: Optional[int]) -> Outcome:
        try:
            out = self.target.run(n)
        except (BreakHit, WatchTrap, CatchStop, FaultStop, Divergence):
            raise
        except Exception as e:
            out = self.target.map_exception(e)
            if out is None:
                raise
        if out.kind == "exec":
            self.attach(self.target.machine)
            self._new_image()
            return Outcome("exec" if self.stop_at_exec else "stopped")
        return out

    def _new_image(self) -> None:
        """After an exec: the new program's symbols and line table (a breakpoint by
        name, a backtrace, a source line are the new image's)."""
        reload = getattr(self.target, "new_image", None)
        if reload is None:
            return
        data = reload()
        self.symbols = self.target.symbols
        if data is not None:
            from vm.debug.sourcelines import SourceLines
            self.source_lines = SourceLines.from_elf(data, self.target.exe_path,
                                                     self.target.load_bias)
        else:
            self.source_lines = None

    def _replay(self, n: Optional[int]) -> Outcome:
        """Run from the recorded history (hooks replayed) for at most n instructions;
        Outcome('live') once the history is used up."""
        hist = self.hist
        m = self.m
        start = m.steps
        while True:
            if not hist.replaying:
                if self._glue is None:
                    self._glue_begin()
                return Outcome("live")
            ev = hist.events[hist.cursor]
            if ev.kind == "glue":
                if ev.steps < m.steps:
                    raise Divergence("replay went past a recorded event")
                if ev.steps == m.steps:
                    hist.cursor += 1
                    hist.apply(ev, {"load": self._mem_load, "zero": self._mem_zero})
                    self._rearm_reads()
                    continue
            done = m.steps - start
            left = None if n is None else n - done
            if left is not None and left <= 0:
                return Outcome("limit")
            if ev.kind == "glue":
                left = ev.steps - m.steps if left is None else min(left, ev.steps - m.steps)
            try:
                stop = self._machine_run(left)
            except (BreakHit, WatchTrap, CatchStop, FaultStop, Divergence):
                raise
            except Exception as e:
                out = self.target.map_exception(e)
                if out is None:
                    raise
                return out
            if stop.reason == "limit":
                continue
            if stop.reason == "stopped":
                if self._pending:
                    return Outcome("stopped")
                if not hist.replaying:
                    status = self.target.finished()
                    if status is not None:
                        return Outcome("exit", status)
                continue
            return self.target.map_stop(stop)

    def _exec_chunk(self, n: Optional[int]) -> Outcome:
        if self.hist is not None and self.hist.replaying:
            out = self._replay(n)
            if out.kind != "live":
                return out
            return Outcome("limit" if n is not None and n <= 0 else "stopped")
        return self._live(n)

    def _step_one(self) -> Outcome:
        """Exactly one instruction, breakpoints and watch traps off."""
        m = self.m
        tr = m.tr
        before = m.steps
        tr.stop_skip[0] = self.pc
        saved, self._recording_watch = self._recording_watch, []
        # that instruction is the current thread's (a Linux target's threads share the
        # Machine): it alone runs, or a watch trap of another thread was run and
        # reported in the followed one
        target = self.target
        solo = getattr(target, "current_thread", None) is not None
        if solo:
            focus, alone = target.focus, target.solo
            target.focus, target.solo = target.current_thread(), True
        try:
            for _ in range(3):          # a history boundary may return early
                out = self._exec_chunk(1)
                if m.steps != before or out.kind not in ("stopped", "limit"):
                    break
        finally:
            tr.stop_skip[0] = -1
            hits, self._recording_watch = self._recording_watch, saved
            if solo:
                target.focus, target.solo = focus, alone
        self._last_hits = hits
        return out

    def _finish_outcome(self, out: Outcome) -> Optional[StopEvent]:
        if out.kind == "exit":
            self.exited = out.status or 0
            return StopEvent("exited", self.pc, status=self.exited, signal=out.signal,
                             message=out.message)
        if out.kind == "fault":
            self._fault = out
            return StopEvent("signal", self.pc, signal=out.signal, message=out.message)
        if out.kind == "thread-exit":       # (the one thread that ran has ended)
            return StopEvent("thread-exit", self.pc, message="the thread exited")
        if out.kind == "exec":              # (at the new program's first instruction)
            return StopEvent("exec", self.pc)
        if out.kind in ("thread-created", "thread-exited"):   # (the target's
            tid, task = self.target.changed                   # ``changed``: that one)
            return StopEvent(out.kind, self.pc, tid,
                             status=getattr(task, "exit_code", 0) or 0)
        return None

    def _watch_hits(self, hits: List[Watchpoint]) -> Optional[StopEvent]:
        for wp in hits:
            new = self._peek(wp.address, wp.length)
            old = wp.old
            wp.old = new
            if wp.kind == "write" and new == old:
                continue
            wp.hits += 1
            return StopEvent("watchpoint", self.pc, wp.number, watch=(wp, old, new))
        return None

    def _prepare_resume(self) -> Optional[StopEvent]:
        if self.exited is not None:
            return StopEvent("exited", self.pc, status=self.exited,
                             message="the program is not being run")
        self._pending.clear()
        if self._fault is not None:
            fault, self._fault = self._fault, None
            if self.hist is not None and self.hist.replaying:
                return None     # the recorded history holds what came of it
            status = self.target.finished()
            # (the open glue event records what the kernel does with the fault)
            out = Outcome("exit", status) if status is not None else \
                self.target.deliver_fault(fault)
            ev = self._finish_outcome(out)
            if ev is not None:
                return ev
        self._skip_catch = None
        if isinstance(self.last, StopEvent) and self.last.reason in ("syscall", "interrupt"):
            self._skip_catch = self._catch_at
        return None

    def _run(self, limit: Optional[int] = None, collect: Optional[list] = None,
             ignore_breaks: bool = False) -> Optional[StopEvent]:
        polled = self.interrupt_check is not None and collect is None and not ignore_breaks
        self._polling = polled
        target = self.target
        if polled and getattr(target, "polls_between_turns", False):
            # (the Linux target asks stop_hook after each turn: no shorter turns, so
            # threads are scheduled as in a plain run; a lone process's turns are cut
            # to POLL_EVERY, and its host waits end when an interrupt fd is readable)
            target.poll_slice, target.wake_fds = POLL_EVERY, self.interrupt_fds
        try:
            return self._run_inner(limit, collect, ignore_breaks)
        finally:
            self._polling = False
            self._interrupted = False
            if polled and getattr(target, "polls_between_turns", False):
                target.poll_slice, target.wake_fds = None, []

    def interrupt_seen(self) -> bool:
        """Between the steps of a command (stepi N): has an interrupt come?"""
        return self.interrupt_check is not None and bool(self.interrupt_check())

    def _poll_interrupt(self) -> bool:
        """Did an interrupt come (asked during a resume only; it stays seen until the
        resume ends, so the target's own checks between turns may ask too)?"""
        if self._polling and not self._interrupted:
            self._interrupted = bool(self.interrupt_check())
        return self._interrupted

    def _run_inner(self, limit: Optional[int], collect: Optional[list],
                   ignore_breaks: bool) -> Optional[StopEvent]:
        """``ignore_breaks``: only get there (breakpoints, watchpoints, catches and
        replayed faults do not stop)."""
        """Run until a stop (returned) or ``limit`` instructions (None returned).
        ``collect``: reverse search, record (steps, event) of hits and go on."""
        m = self.m
        start = m.steps
        first = True
        poll = self._poll_interrupt if self._polling else None
        while True:
            if self.exited is not None:
                return StopEvent("exited", self.pc, status=self.exited)
            left = None if limit is None else limit - (m.steps - start)
            if left is not None and left <= 0:
                return None
            if poll is not None and not first and poll():
                return StopEvent("signal", self.pc, signal=SIGINT, message="Interrupt")
            pc = self.pc
            try:
                if pc in m.tr.stops and (first or ignore_breaks or collect is not None
                                         or pc in self._internal):
                    out = self._step_one()
                    ev = self._finish_outcome(out)
                    if ev is not None:
                        return ev
                    hit = self._watch_hits(self._last_hits)
                    if hit is not None and not ignore_breaks:
                        if collect is None:
                            return hit
                        collect.append((m.steps, hit))
                    first = False
                    continue
                first = False
                if poll is not None and not (
                        getattr(self.target, "polls_between_turns", False)
                        and not (self.hist is not None and self.hist.replaying)):
                    left = POLL_EVERY if left is None else min(left, POLL_EVERY)
                out = self._exec_chunk(left)
            except BreakHit as e:
                if ignore_breaks:
                    continue
                ev = self._break_event(e.address, collect is None)
                if ev is None:
                    continue
                if collect is not None:
                    collect.append((m.steps, ev))
                    continue
                return ev
            except WatchTrap:
                # the state is at the accessing instruction: run it, then compare
                out = self._step_one()
                ev = self._finish_outcome(out)
                if ev is not None:
                    return ev
                hit = self._watch_hits(self._last_hits)
                if hit is not None and not ignore_breaks:
                    if collect is not None:
                        collect.append((m.steps, hit))
                        continue
                    return hit
                continue
            except CatchStop as e:
                if collect is not None or ignore_breaks:
                    self._skip_catch = self._catch_at
                    continue
                return StopEvent(e.kind, self.pc, e.number)
            except FaultStop as e:
                self._fault = self.target.fault_outcome(e.fault)
                return StopEvent("signal", self.pc, signal=self._fault.signal,
                                 message=self._fault.message)
            except Divergence as e:
                return StopEvent("error", self.pc, message=f"replay diverged: {e}")
            if out.kind == "fault" and (ignore_breaks or collect is not None) and \
                    self.hist is not None and self.hist.replaying:
                continue        # the history holds what the kernel made of it
            ev = self._finish_outcome(out)
            if ev is not None:
                return ev
            if out.kind == "stopped" and self._pending:
                ev = self._pending.pop(0)
                self._pending.clear()
                wp = ev.watch[0]
                hit = self._watch_hits([wp])
                if hit is not None and not ignore_breaks:
                    if collect is not None:
                        collect.append((m.steps, hit))
                        continue
                    return hit

    def _break_event(self, addr: int, count: bool = True) -> Optional[StopEvent]:
        cond = self._internal.get(addr)
        if cond is not None:
            if cond():
                return StopEvent("finish", addr)
            if self.breakpoint_at(addr) is None:
                return None
        bp = self.breakpoint_at(addr)
        if bp is None or not bp.enabled:
            return None
        if not count:
            return StopEvent("breakpoint", addr, bp.number)
        bp.hits += 1
        if bp.temporary:
            self.remove_breakpoint(bp.number)
        return StopEvent("breakpoint", addr, bp.number)

    def _done(self, ev: Optional[StopEvent], default: str = "step") -> StopEvent:
        if ev is None:
            ev = StopEvent(default, self.pc)
        self.last = ev
        return ev

    # -- commands ----------------------------------------------------------------------------
    def stepi(self, count: int = 1) -> StopEvent:
        ev = self._prepare_resume()
        if ev is not None:
            return self._done(ev)
        for i in range(count):
            if i and i % STEP_POLL == 0 and self.interrupt_seen():
                return self._done(StopEvent("signal", self.pc, signal=SIGINT,
                                            message="Interrupt"))
            ev = self._run(1)
            if ev is not None:
                return self._done(ev)
        return self._done(None)

    def cont(self) -> StopEvent:
        ev = self._prepare_resume()
        if ev is None:
            ev = self._run(None)
        return self._done(ev)

    def _decode_here(self):
        from asm.x86.decoder import decode
        pc = self.pc
        ip = self.m.eip & (0xFFFF if self.real else 0xFFFFFFFF)
        try:
            return decode(bytes(self.m.mem.data[pc:pc + 16]), 0, self.bits, ip)
        except Exception:
            return None

    def _sp(self) -> int:
        return self.m.reg("sp" if self.real else "esp")

    def nexti(self, count: int = 1) -> StopEvent:
        ev = None
        for _ in range(count):
            insn = self._decode_here()
            mn = insn.form.mnemonic if insn is not None else ""
            if mn.startswith("call") or (self.real and mn == "int") or \
                    (insn is not None and insn.rep):
                ev = self._run_to(self.pc + insn.length, self._sp())
            else:
                ev = self.stepi()
            if ev.reason not in ("step", "finish"):
                return self._done(ev)
        return self._done(StopEvent("step", self.pc))

    def _run_to(self, addr: int, sp: int) -> StopEvent:
        """Run until pc == addr with the stack pointer at or above sp (out of the call)."""
        ev = self._prepare_resume()
        if ev is not None:
            return self._done(ev)
        self._internal[addr] = lambda: self._sp() >= sp
        self._sync_breakpoints()
        try:
            ev = self._run(None)
        finally:
            self._internal.pop(addr, None)
            self._sync_breakpoints()
        if ev.reason == "finish":
            ev = StopEvent("step", self.pc)
        return self._done(ev)

    def return_address(self) -> Tuple[int, int]:
        """(linear return address, stack pointer after the return) of the current
        function: [sp] at its first instruction, else the frame pointer chain."""
        w = 2 if self.real else 4
        sp, bp = self._sp(), self.m.reg("bp" if self.real else "ebp")
        at_entry = self.symbols is not None and self.symbols.describe(self.pc) and \
            "+" not in self.symbols.describe(self.pc)
        insn = self._decode_here()
        if insn is not None and insn.form.mnemonic.startswith("ret"):
            at_entry = True
        if at_entry:
            slot = sp
        else:
            slot = bp + w
        ret = int.from_bytes(self.read(self._stack_linear(slot), w), "little")
        if self.real:
            ret = self.m.reg("cs_base") + ret
        return ret, slot + w

    def _stack_linear(self, off: int) -> int:
        return self.m.reg("ss_base") + off if self.real else off

    def finish(self) -> StopEvent:
        try:
            ret, sp = self.return_address()
        except DebugError as e:
            return self._done(StopEvent("error", self.pc, message=str(e)))
        ev = self._run_to(ret, sp)
        if ev.reason == "step":
            ev = StopEvent("finish", self.pc)
        return self._done(ev)

    def backtrace(self, limit: int = 64) -> List[int]:
        """Return addresses up the EBP chain, the current pc first."""
        out = [self.pc]
        w = 2 if self.real else 4
        bp = self.m.reg("bp" if self.real else "ebp")
        insn = self._decode_here()
        first = self.symbols is not None and self.symbols.describe(self.pc) and \
            "+" not in self.symbols.describe(self.pc)
        if first or (insn is not None and insn.form.mnemonic == "push" and
                     insn.operands and getattr(insn.operands[0], "name", "") in ("ebp", "bp")):
            try:
                ret = int.from_bytes(self.read(self._stack_linear(self._sp()), w), "little")
                out.append(ret + (self.m.reg("cs_base") if self.real else 0))
            except DebugError:
                return out
        for _ in range(limit):
            if not bp:
                break
            try:
                raw = self.read(self._stack_linear(bp), 2 * w)
            except DebugError:
                break
            nbp = int.from_bytes(raw[:w], "little")
            ret = int.from_bytes(raw[w:], "little")
            if not ret:
                break
            out.append(ret + (self.m.reg("cs_base") if self.real else 0))
            if nbp <= bp:
                break
            bp = nbp
        return out

    # -- reverse execution -------------------------------------------------------------------
    def _need_history(self) -> History:
        if self.hist is None:
            raise DebugError("reverse execution needs the recorded history (it is off)")
        proc = getattr(self.target, "proc", None)
        if getattr(proc, "group", None) is not None:
            # (the history is the Machine's, which its threads share: one step back may
            # be another thread's, whose registers the Machine no longer holds)
            raise DebugError("reverse execution is not supported once the program has "
                             "started a second thread (its history is not kept per "
                             "thread)")
        return self.hist

    def _goto(self, target: int) -> None:
        """Put the machine at instruction count ``target`` (<= now) from the history."""
        hist = self._need_history()
        k = hist.snapshot_before(target)
        self._glue_end()
        hist.restore(k, self._raw_load)
        self.exited = None
        self._fault = None
        self._pending.clear()
        for wp in self.watchpoints.values():
            self._arm_watch(wp)
        if self.m.steps < target:
            self._run(target - self.m.steps, ignore_breaks=True)
        for wp in self.watchpoints.values():
            wp.old = self._peek(wp.address, wp.length)
        if not hist.replaying:
            self._glue_begin()

    def reverse_stepi(self, count: int = 1) -> StopEvent:
        try:
            hist = self._need_history()
        except DebugError as e:
            return StopEvent("error", self.pc, message=str(e))
        now = self.m.steps
        target = max(now - count, hist.oldest)
        if target == now:
            return self._done(StopEvent("history", self.pc,
                                        message="no more reverse-execution history"))
        self._goto(target)
        return self._done(StopEvent("step" if target > hist.oldest or target == now - count
                                    else "history", self.pc))

    def reverse_continue(self) -> StopEvent:
        """Back to the latest breakpoint or watchpoint hit before now (or the start of
        the history)."""
        try:
            hist = self._need_history()
        except DebugError as e:
            return StopEvent("error", self.pc, message=str(e))
        end = self.m.steps
        # a watchpoint hit is reported after its instruction: one at `end` itself is
        # the stop we are leaving
        while True:
            k = hist.snapshot_before(max(end - 1, 0))
            begin = hist.snaps[k].steps
            if begin >= end and k == 0:
                break
            self._goto(begin)
            found: list = []
            saved = {n: (w.old, w.hits) for n, w in self.watchpoints.items()}
            self._run(end - begin, collect=found)
            hits = [(s, e) for s, e in found if s < end or
                    (e.reason == "breakpoint" and s < end)]
            hits = [(s, e) for s, e in hits if s < end]
            if hits:
                steps, ev = hits[-1]
                self._goto(steps)
                for n, (_old, h) in saved.items():
                    if n in self.watchpoints:
                        self.watchpoints[n].hits = h
                if ev.watch is not None:
                    wp, old, new = ev.watch
                    wp.hits += 1
                return self._done(dataclasses.replace(ev, pc=self.pc))
            if k == 0:
                break
            end = begin
        self._goto(hist.oldest)
        return self._done(StopEvent("history", self.pc,
                                    message="no more reverse-execution history"))

    # -- disassembly -------------------------------------------------------------------------
    def disassemble(self, addr: int, count: int = 1) -> List[Tuple[int, bytes, str]]:
        from asm.x86.decoder import DecodeError, decode
        from asm.x86.disasm import render
        out = []
        bits = self.bits
        base = self.m.reg("cs_base") if self.real else 0
        syms = self.symbols.exact() if self.symbols is not None else None
        for _ in range(count):
            code = bytes(self.m.mem.data[addr:addr + 16])
            if not code:
                break
            try:
                insn = decode(code, 0, bits, (addr - base) & (0xFFFF if self.real else
                                                              0xFFFFFFFF))
                text = render(insn, bits, None if self.real else syms) or \
                    f"db 0x{code[0]:02x}"
                raw = insn.raw
            except (DecodeError, Exception):
                raw = code[:1]
                text = f"db 0x{code[0]:02x}"
            out.append((addr, raw, text))
            addr += len(raw)
        return out

    def close(self) -> None:
        self.target.close()

    def history_info(self) -> dict:
        h = self.hist
        if h is None:
            return {"enabled": False}
        return {"enabled": True, "snapshots": len(h.snaps), "events": len(h.events),
                "oldest": h.oldest, "bytes": h.memory_bytes(), "replaying": h.replaying}


# =========================================================================================
# B32
# =========================================================================================

class B32Debugger(Debugger):
    """The core on the B32 CPU: it steps the CPU itself (B32 has no compiled blocks);
    reverse execution from snapshots every ``interval`` instructions (B32 programs read
    nothing from outside, so re-running is exact)."""
    arch = "b32"

    def __init__(self, target, history: bool = True, interval: int = 2000,
                 history_limit: int = 2000):
        super().__init__()
        self.target = target
        self.cpu = target.cpu
        self.symbols = target.symbols
        self.history = history
        self.interval, self.limit = interval, history_limit
        self.snaps: List[tuple] = []
        if history:
            self._snap()

    @property
    def pc(self) -> int:
        return self.cpu.IP

    @property
    def steps(self) -> int:
        return self.cpu.steps

    REGS = ("A", "B", "D", "X", "Y", "IP", "CF", "PF")

    def registers(self) -> Dict[str, int]:
        return {n: getattr(self.cpu, n) for n in self.REGS}

    def get_reg(self, name: str) -> int:
        name = name.lstrip("$").upper()
        if name == "PC":
            name = "IP"
        if name not in self.REGS:
            raise DebugError(f"invalid register `{name}'")
        return getattr(self.cpu, name)

    def set_reg(self, name: str, value: int) -> None:
        name = name.lstrip("$").upper()
        if name == "PC":
            name = "IP"
        if name not in self.REGS:
            raise DebugError(f"invalid register `{name}'")
        mask = 0xFF if name in ("A", "B", "CF", "PF") else 0xFFFF
        setattr(self.cpu, name, value & mask)
        self._fork_history()

    def read(self, addr: int, n: int) -> bytes:
        if addr < 0 or n < 0 or addr + n > len(self.cpu.mem):
            raise DebugError(f"cannot access memory at address 0x{addr:x}")
        return bytes(self.cpu.mem[addr:addr + n])

    def write(self, addr: int, data: bytes) -> None:
        self.read(addr, len(data))
        self.cpu.mem[addr:addr + len(data)] = data
        for wp in self.watchpoints.values():
            wp.old = self.read(wp.address, wp.length)
        self._fork_history()

    def _fork_history(self) -> None:
        """An edit: the history after now no longer describes this run."""
        self.snaps = [s for s in self.snaps if s[0] < self.cpu.steps]
        if self.history:
            self._snap()

    def add_breakpoint(self, addr: int, temporary: bool = False) -> Breakpoint:
        if not 0 <= addr <= 0xFFFF:
            raise DebugError(f"cannot insert a breakpoint at 0x{addr:x}: outside memory")
        bp = Breakpoint(self._number(), addr, temporary)
        self.breakpoints[bp.number] = bp
        return bp

    def remove_breakpoint(self, number: int) -> None:
        self.breakpoints.pop(number, None)

    def add_watchpoint(self, addr: int, length: int = 1, kind: str = "write") -> Watchpoint:
        if kind != "write":
            raise DebugError("B32 programs read memory only through their own code: "
                             "use a write watchpoint")
        wp = Watchpoint(self._number(), addr, length, kind, self.read(addr, length))
        self.watchpoints[wp.number] = wp
        return wp

    def remove_watchpoint(self, number: int) -> None:
        self.watchpoints.pop(number, None)

    def _snap(self) -> None:
        c = self.cpu
        if self.snaps and self.snaps[-1][0] == c.steps:
            return
        self.snaps.append((c.steps, (c.A, c.B, c.X, c.Y, c.IP, c.CF, c.PF, c.halted),
                           bytes(c.mem)))
        if len(self.snaps) > self.limit:
            del self.snaps[0]

    def _restore(self, snap) -> None:
        c = self.cpu
        c.steps = snap[0]
        c.A, c.B, c.X, c.Y, c.IP, c.CF, c.PF, c.halted = snap[1]
        c.mem[:] = snap[2]

    def _one(self) -> Optional[StopEvent]:
        from vm.b32.cpu import IllegalOpcode
        c = self.cpu
        if c.halted:
            self.exited = 0
            return StopEvent("exited", c.IP, status=0)
        try:
            c.step()
        except IllegalOpcode as e:
            return StopEvent("signal", c.IP, signal=4, message=str(e))
        if self.history and c.steps % self.interval == 0:
            self._snap()
        if c.halted:
            self.exited = 0
            return StopEvent("exited", c.IP, status=0)
        return None

    def _check_watch(self) -> Optional[StopEvent]:
        for wp in self.watchpoints.values():
            new = self.read(wp.address, wp.length)
            if new != wp.old:
                old, wp.old = wp.old, new
                wp.hits += 1
                return StopEvent("watchpoint", self.pc, wp.number, watch=(wp, old, new))
        return None

    def _run(self, limit: Optional[int], stop_at: Optional[int] = None,
             collect: Optional[list] = None,
             last: Optional[Callable[[], bool]] = None) -> Optional[StopEvent]:
        """Step until a stop; ``last`` (asked before each instruction) True: stop after
        this one with a 'finish' event."""
        c = self.cpu
        bps = {b.address: b for b in self.breakpoints.values()}
        first = True
        n = 0
        while limit is None or n < limit:
            pc = self.pc
            if not first and pc in bps:
                bp = bps[pc]
                if collect is not None:
                    collect.append((c.steps, StopEvent("breakpoint", pc, bp.number)))
                else:
                    bp.hits += 1
                    if bp.temporary:
                        self.remove_breakpoint(bp.number)
                    return StopEvent("breakpoint", pc, bp.number)
            if stop_at is not None and c.steps >= stop_at:
                return None
            first = False
            final = last is not None and last()
            ev = self._one()
            n += 1
            if ev is not None:
                return ev
            if self.watchpoints:
                ev = self._check_watch()
                if ev is not None:
                    if collect is None:
                        return ev
                    collect.append((c.steps, ev))
            if final:
                return StopEvent("finish", self.pc)
        return None

    def _after_exit(self) -> StopEvent:
        """A resume asked after the program ended."""
        return StopEvent("exited", self.pc, status=self.exited)

    def stepi(self, count: int = 1) -> StopEvent:
        if self.exited is not None:
            return self._done(self._after_exit())
        for _ in range(count):
            ev = self._one()
            if ev is None and self.watchpoints:
                ev = self._check_watch()
            if ev is not None:
                return self._done(ev)
        return self._done(StopEvent("step", self.pc))

    def nexti(self, count: int = 1) -> StopEvent:
        return self.stepi(count)        # B32 has no calls

    def finish(self) -> StopEvent:
        return self._done(StopEvent("error", self.pc,
                                    message='"finish" needs calls, which B32 does not have'))

    def cont(self) -> StopEvent:
        if self.exited is not None:
            return self._done(self._after_exit())
        return self._done(self._run(None))

    def backtrace(self, limit: int = 64) -> List[int]:
        return [self.pc]

    def _done(self, ev: Optional[StopEvent]) -> StopEvent:
        ev = ev or StopEvent("step", self.pc)
        self.last = ev
        return ev

    def _goto(self, target: int) -> None:
        i = max(i for i, s in enumerate(self.snaps) if s[0] <= target) \
            if self.snaps and self.snaps[0][0] <= target else 0
        self._restore(self.snaps[i])
        del self.snaps[i + 1:]
        self.exited = None
        saved, self.history = self.history, self.history
        while self.cpu.steps < target:
            if self._one() is not None:
                break
        self.history = saved
        for wp in self.watchpoints.values():
            wp.old = self.read(wp.address, wp.length)

    def reverse_stepi(self, count: int = 1) -> StopEvent:
        if not self.snaps:
            return StopEvent("error", self.pc, message="reverse execution needs the history")
        now = self.cpu.steps
        target = max(now - count, self.snaps[0][0])
        if target == now:
            return self._done(StopEvent("history", self.pc,
                                        message="no more reverse-execution history"))
        self._goto(target)
        return self._done(StopEvent("step", self.pc))

    def reverse_continue(self) -> StopEvent:
        if not self.snaps:
            return StopEvent("error", self.pc, message="reverse execution needs the history")
        end = self.cpu.steps
        start = self.snaps[0][0]
        self._goto(start)
        found: list = []
        saved = {n: (w.old, w.hits) for n, w in self.watchpoints.items()}
        self._run(end - start, stop_at=end, collect=found)
        for n, (_old, h) in saved.items():
            self.watchpoints[n].hits = h
        hits = [(s, e) for s, e in found if s < end]
        if not hits:
            self._goto(start)
            return self._done(StopEvent("history", self.pc,
                                        message="no more reverse-execution history"))
        steps, ev = hits[-1]
        self._goto(steps)
        return self._done(dataclasses.replace(ev, pc=self.pc))

    def disassemble(self, addr: int, count: int = 1) -> List[Tuple[int, bytes, str]]:
        from asm.b32.disassembler import instruction_at
        from asm.b32.instructions import TABLE
        sizes = {i.opcode: i.operand.size for i in TABLE}
        out = []
        for _ in range(count):
            if addr > 0xFFFF:
                break
            op = self.cpu.mem[addr]
            n = 1 + sizes.get(op, 0)
            out.append((addr, bytes(self.cpu.mem[addr:addr + n]),
                        instruction_at(self.cpu.mem, addr)))
            addr += n
        return out

    def screen_text(self) -> str:
        from vm.b32.render import render_text
        return render_text(self.cpu.screen)

    def close(self) -> None:
        pass

    def history_info(self) -> dict:
        return {"enabled": self.history, "snapshots": len(self.snaps),
                "bytes": sum(len(s[2]) for s in self.snaps)}


# =========================================================================================
# V16
# =========================================================================================

_V16_CALL, _V16_RET = 0x1C, 0x1D


def _v16_depth(sp: int) -> int:
    """SP as a stack depth to compare: SP 0 is the empty stack, above 0xFFFE."""
    return sp or 0x10000


def stream_writer(stream=None) -> Callable[[bytes], None]:
    """Bytes to a text stream (default: sys.stdout at the time of the call): below its
    text layer when it has one, else decoded as Latin-1."""
    import sys

    def emit(data: bytes) -> None:
        s = stream if stream is not None else sys.stdout
        s.flush()
        buf = getattr(s, "buffer", None)
        if buf is not None:
            buf.write(data)
            buf.flush()
        else:
            s.write(data.decode("latin-1"))
            s.flush()
    return emit


class V16Debugger(B32Debugger):
    """The core on the V16 CPU (vm/v16/cpu.py), stepped as B32's is. Write watchpoints
    look at ``V16CPU.last_write``; the snapshots are ``V16CPU.save()`` every ``interval``
    instructions (a V16 program reads nothing from outside: re-running is exact).

    ``hlt`` or an error ends the program: the event carries the runner's three-line dump
    and exit status. A stop has no effect on the machine, so after an edit (a register
    or memory) the program can go on from there. The bytes of ``out`` go to ``emit``
    (default: stdout) once: going back and running forward again does not repeat them
    (unless an edit changed them)."""
    arch = "v16"
    REGS = ("AX", "BX", "CX", "DX", "SP", "IP", "FLAGS")
    screen_text = None              # no screen: the program writes to stdout

    def __init__(self, target, history: bool = True, interval: int = 2000,
                 history_limit: int = 2000, emit: Optional[Callable[[bytes], None]] = None):
        self.emit = emit or stream_writer()
        self._shown = bytearray()       # the output shown so far (of this timeline)
        self._unsent = bytearray()     # shown, not yet written to ``emit``
        super().__init__(target, history, interval, history_limit)

    @property
    def pc(self) -> int:
        return self.cpu.ip

    def registers(self) -> Dict[str, int]:
        return self.cpu.registers()

    def reg_note(self, name: str, value: int) -> str:
        """How ``info registers`` shows a value after its hex form."""
        if name.upper() == "FLAGS":
            from vm.v16.cpu import flag_letters
            return f"[{flag_letters(value)}]"
        return str(value)

    def get_reg(self, name: str) -> int:
        try:
            return self.cpu.reg_read(name)
        except ValueError:
            raise DebugError(f"invalid register `{name.lstrip('$')}' "
                             "(V16: AX BX CX DX SP IP FLAGS)") from None

    def set_reg(self, name: str, value: int) -> None:
        try:
            self.cpu.reg_write(name, value)
        except ValueError:
            raise DebugError(f"invalid register `{name.lstrip('$')}' "
                             "(V16: AX BX CX DX SP IP FLAGS)") from None
        self._edited()

    def write(self, addr: int, data: bytes) -> None:
        super().write(addr, data)
        self._edited()

    def _edited(self) -> None:
        """After a stop the machine is as it was before the stopping instruction: an edit
        may let it go on."""
        if self.exited is not None:
            self.exited = None
        self._fork_history()

    def add_watchpoint(self, addr: int, length: int = 2, kind: str = "write") -> Watchpoint:
        if kind != "write":
            raise DebugError("V16 watchpoints see writes only: use watch")
        return super().add_watchpoint(addr, length, kind)

    def _snap(self) -> None:
        c = self.cpu
        if self.snaps and self.snaps[-1][0] == c.steps:
            return
        self.snaps.append((c.steps, c.save()))
        if len(self.snaps) > self.limit:
            del self.snaps[0]

    def _restore(self, snap) -> None:
        self.cpu.restore(snap[1])

    def _one(self) -> Optional[StopEvent]:
        from vm.v16.cpu import OUTPUT_FULL
        c = self.cpu
        before = len(c.output)
        budget = getattr(self.target, "budget", None)
        if budget is not None and budget.limit is not None:
            # an ``out`` past --max-output stops before it, as in V16's runner (bytes
            # shown before, met again after going back, are not counted twice)
            c.output_room = len(self._shown) + budget.limit - budget.used
        code = c.step()
        if code == OUTPUT_FULL:
            c.stop = 0
            budget.take(1)                  # (the byte that did not fit: "exceeded")
            return self._over_budget()
        if code:
            from vm.v16.cpu import EXIT_STATUS, STOP_NAMES
            self.exited = EXIT_STATUS.get(code, 1)
            return StopEvent("exited", c.ip, status=self.exited,
                             message=f"V16 {STOP_NAMES.get(code, 'stop')}", dump=c.dump())
        if len(c.output) != before and not self._show_output():
            return self._over_budget()
        if self.history and c.steps % self.interval == 0:
            self._snap()
        return None

    def _over_budget(self) -> StopEvent:
        """Past --max-output: the run ends as V16's runner ends it (status 153, its
        line and dump)."""
        from vm.options import EXIT_OUTPUT_LIMIT
        self.exited = EXIT_OUTPUT_LIMIT
        msg = self.target.budget.message()
        return StopEvent("exited", self.cpu.ip, status=self.exited, message=msg,
                         dump=f"v16: {self.target.path}: {msg}\n" +
                         self.cpu.dump("OutputLimit"))

    def _show_output(self) -> bool:
        """A byte was just written by ``out``: show it, unless it was shown before (the
        same byte at the same place: the run is going over recorded ground again).
        What is shown draws on the target's --max-output budget: False when it did
        not fit."""
        out, shown = self.cpu.output, self._shown
        k = len(out) - 1
        if k < len(shown) and shown[k] == out[k]:
            return True
        k = min(k, len(shown))
        del shown[k:]
        new = out[k:]
        budget = getattr(self.target, "budget", None)
        allowed = budget.take(len(new)) if budget is not None else len(new)
        shown += new[:allowed]
        self._unsent += new[:allowed]
        if len(self._unsent) >= 512 or self._unsent[-1:] == b"\n" or allowed < len(new):
            self._flush_output()
        return allowed == len(new)

    def _flush_output(self) -> None:
        if self._unsent:
            data, self._unsent = bytes(self._unsent), bytearray()
            self.emit(data)

    def _done(self, ev: Optional[StopEvent]) -> StopEvent:
        self._flush_output()
        return super()._done(ev)

    def _after_exit(self) -> StopEvent:
        return StopEvent("exited", self.pc, status=self.exited,
                         message="the program is not being run")

    def _check_watch(self) -> Optional[StopEvent]:
        written = self.cpu.last_write
        if written is None:
            return None
        a, n = written
        for wp in self.watchpoints.values():
            if a < wp.address + wp.length and wp.address < a + n:
                new = self.read(wp.address, wp.length)
                if new != wp.old:
                    old, wp.old = wp.old, new
                    wp.hits += 1
                    return StopEvent("watchpoint", self.pc, wp.number, watch=(wp, old, new))
        return None

    def _ret_at(self, depth: int) -> bool:
        """The next instruction is a ``ret`` popping a slot at or above ``depth``."""
        return self.cpu.mem[self.cpu.ip] == _V16_RET and _v16_depth(self.cpu.sp) >= depth

    def nexti(self, count: int = 1) -> StopEvent:
        for _ in range(count):
            if self.exited is not None:
                return self._done(self._after_exit())
            if self.cpu.mem[self.cpu.ip] == _V16_CALL:
                depth = _v16_depth(self.cpu.sp) - 2         # where the call puts its return
                ev = self._run(None, last=lambda d=depth: self._ret_at(d))
                if ev is not None and ev.reason == "finish":
                    ev = None
            else:
                ev = self._one()
                if ev is None and self.watchpoints:
                    ev = self._check_watch()
            if ev is not None:
                return self._done(ev)
        return self._done(StopEvent("step", self.pc))

    def finish(self) -> StopEvent:
        """Run until the ``ret`` that pops the slot at or above SP (the current function's
        return: pushes it made since are popped before it, calls it makes return below)."""
        if self.exited is not None:
            return self._done(self._after_exit())
        depth = _v16_depth(self.cpu.sp)
        if depth == 0x10000:
            return self._done(StopEvent("error", self.pc, message='"finish" not meaningful '
                                        "in the outermost frame (the stack is empty)"))
        return self._done(self._run(None, last=lambda: self._ret_at(depth)))

    def backtrace(self, limit: int = 64) -> List[int]:
        """The pc, then the words on the stack that are return addresses (a ``call``
        just before them), innermost first."""
        out = [self.pc]
        sp, mem = self.cpu.sp, self.cpu.mem
        if sp == 0:
            return out
        for a in range(sp, 0xFFFF, 2):
            w = mem[a] | mem[a + 1] << 8
            if w >= 3 and mem[w - 3] == _V16_CALL:
                out.append(w)
                if len(out) >= limit:
                    break
        return out

    def disassemble(self, addr: int, count: int = 1) -> List[Tuple[int, bytes, str]]:
        from asm.v16.disassembler import instruction_at
        from asm.v16.instructions import decode
        mem = self.cpu.mem
        out = []
        for _ in range(count):
            if not 0 <= addr <= 0xFFFF:
                break
            found = decode(bytes(mem[addr:addr + 4]), 0, addr)
            n = found.length if found is not None else 1
            out.append((addr, bytes(mem[addr:addr + n]), instruction_at(mem, addr)))
            addr += n
        return out

    def history_info(self) -> dict:
        return {"enabled": self.history, "snapshots": len(self.snaps),
                "bytes": sum(len(x) for s in self.snaps for x in s[1]
                             if isinstance(x, bytes))}


def make_debugger(target, history: bool = True) -> Debugger:
    if getattr(target, "kind", "") == "v16":
        return V16Debugger(target, history)
    if getattr(target, "kind", "") == "b32":
        return B32Debugger(target, history)
    return X86Debugger(target, history)


def signal_name(sig: int) -> str:
    return SIGNAL_NAMES.get(sig, f"SIG{sig}")


__all__ = ["Breakpoint", "B32Debugger", "DebugError", "Debugger", "StopEvent",
           "V16Debugger", "Watchpoint", "X86Debugger", "cpu_capture", "make_debugger",
           "signal_name"]


def _leader(proc):
    """The process a Linux task belongs to (its thread group's leader)."""
    g = getattr(proc, "group", None)
    return g.leader if g is not None else proc
