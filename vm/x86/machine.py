"""The public face of the x86 emulator: a CPU, its memory and the run loop.

Personalities (Linux flat binaries, DOS, BIOS...) plug in through hooks:

- ``on_interrupt(machine, vector, software) -> bool``: called for INT n (software=True)
  and, in real mode, for CPU exceptions before they go through the IVT; return True when
  handled (execution continues after the INT, or for an exception at machine.eip).
- ``on_port_in(machine, port, size) -> int`` and ``on_port_out(machine, port, size,
  value)``: port I/O (real mode). Unhooked reads return all ones.
- ``on_halt(machine) -> bool``: HLT in real mode; return True to continue after it (an
  interrupt came), else run() returns Stop('halt').
- ``request_stop()`` (from any hook): run() returns Stop('stopped') at the next block
  boundary, e.g. to service a timer; ``mem.watch(start, end, callback)``: see every
  guest write to a device's memory (a text screen).
- ``tracer``: an object with ``instruction(machine, info, before)`` and ``event(text)``
  (see trace.py); instructions then run one at a time.

Example::

    m = Machine("flat32")
    m.load(0x1000, code)
    m.set_reg("eip", 0x1000)
    stop = m.run(max_steps=10_000)     # Stop(reason='exit', status=0) ...
"""

from __future__ import annotations

import struct
from typing import Callable, Optional

from formats.envswitch import env_switch
from vm.x86 import flags as F
from vm.x86 import traces
from vm.x86.compiler import Translator
from vm.x86.debugregs import step as debug_step
from vm.x86.emit import MAX_BLOCK, SlowPath
from vm.x86.faults import (
    GP,
    CPUException,
    Halted,
    MachineExit,
    MemoryFault,
    SoftwareInterrupt,
    StopMachine,
)
from vm.x86.memory import Memory
from vm.x86.pypy_tuning import cold
from vm.x86.smc import CodeChanged
from vm.x86.state import (
    BASE,
    CS,
    DS,
    ES,
    FLAT32,
    FS,
    GPR8,
    GPR16,
    GPR32,
    GS,
    REAL,
    SEL,
    SREGS,
    SS,
    CPUState,
)
from vm.x86.warmblocks import keep_inline

try:
    # PyPy: call blocks opaquely (see Machine._dispatch; JIT settings: pypy_tuning.py)
    from pypyjit import residual_call as _opaque_call
except ImportError:
    _opaque_call = None

REAL_MEMORY = 0x110000 + 16     # 1 MiB + the HMA (+ a little slack for word accesses)

USER_CS, USER_DS = 0x23, 0x2B   # Linux i386 flat user selectors


def _forget_frames(fault: BaseException) -> None:
    """Drop the tracebacks of a fault a Stop carries and of the exceptions it chains
    (``__context__``, ``__cause__``, a triple fault's ``chain``). The block that raised
    it has been unwound by then (the CPU holds the state, ``fault.insn`` the
    instruction), and its traceback's frames (run()'s, and through ``f_back`` its
    caller's, each holding the Stop) would make a reference cycle per fault: a guest
    faulting in a loop (SIGSEGV handlers, siglongjmp) would leave host memory to the
    cyclic collector, which vm/startup.py runs seldom."""
    todo, seen = [fault], set()
    while todo:
        e = todo.pop()
        if e is None or id(e) in seen:
            continue
        seen.add(id(e))
        e.__traceback__ = None
        if getattr(e, "unwound", None) is not None:    # (Translator.unwind_exc's mark)
            e.unwound = None
        todo += (e.__context__, e.__cause__, *getattr(e, "chain", ()))


class Stop:
    """Why run() returned: 'halt' (HLT), 'exit' (the guest asked, see status), 'limit'
    (max_steps reached), 'fault' (an exception nothing handled, see fault: without its
    traceback)."""

    def __init__(self, reason: str, status: Optional[int] = None,
                 fault: Optional[BaseException] = None):
        self.reason, self.status, self.fault = reason, status, fault
        if fault is not None:
            _forget_frames(fault)

    def __repr__(self) -> str:
        extra = f", status={self.status}" if self.status is not None else ""
        extra += f", fault={self.fault!r}" if self.fault is not None else ""
        return f"Stop({self.reason!r}{extra})"


class Machine:
    """An x86 CPU with ``memory_size`` bytes of RAM at linear address 0.

    ``mode`` is ``"real"`` (real-address mode; 1 MiB + HMA by default, linear addresses
    are not wrapped at 1 MiB) or ``"flat32"`` (32-bit user mode, flat segments; FS/GS
    bases for TLS, set with :meth:`set_segment`).
    """

    # called with every new Machine (vm.run's observer: final registers, user setup)
    on_create: Optional[Callable] = None

    def __init__(self, mode: str = FLAT32, memory_size: Optional[int] = None,
                 buffer=None):
        if memory_size is None:
            memory_size = REAL_MEMORY if mode == REAL else 16 << 20
        self.cpu = CPUState(mode)
        self.cpu.machine = self
        self.mem = Memory(memory_size, buffer)     # buffer: see Memory (the PC's A20)
        self.tr = Translator(self)
        self._hooks = None               # vm/x86/hooks.py, created by the first hook_*
        self.on_interrupt: Optional[Callable] = None
        self.on_port_in: Optional[Callable] = None
        self.on_port_out: Optional[Callable] = None
        self.on_halt: Optional[Callable] = None
        self.tracer = None
        # flat mode: selector -> segment base for MOV/POP to a segment register
        self.descriptors: dict = {USER_CS: 0, USER_DS: 0}
        self.control: dict = {}          # CRn/DRn/GDTR... images (real mode)
        self._fpu = None
        self._fpu_checked = False
        from vm.x86.system import FPUContext
        self.fpu_context = FPUContext(self.cpu)
        self._margin = [0]
        self._sample_at = 0     # the sampling window's end, kept across a slow path
        self._pending: Optional[Stop] = None    # a stop found between runs
        if mode == FLAT32:
            for n, sel in ((CS, USER_CS), (DS, USER_DS), (ES, USER_DS), (SS, USER_DS)):
                self.cpu.set_segment(n, sel, 0)
            self.cpu.set_eflags(0x202)
        else:
            self.cpu.set_eflags(0x2)
        if env_switch("PYVM_DISPATCH_STATS"):
            # this Machine's dispatches per kind of block, reported at exit
            from vm.x86.dispatchstats import install
            install(self)
        if Machine.on_create is not None:
            Machine.on_create(self)

    # -- registers ---------------------------------------------------------------------------
    @property
    def mode(self) -> str:
        return self.cpu.mode

    def reg(self, name: str) -> int:
        """Read a register by name: eax..edi, ax..di, al..bh, es..gs, eip/ip, eflags/flags,
        es_base..gs_base."""
        name = name.lower()
        r = self.cpu.r
        if name in GPR32:
            return r[GPR32.index(name)]
        if name in GPR16:
            return r[GPR16.index(name)] & 0xFFFF
        if name in GPR8:
            n = GPR8.index(name)
            return r[n & 3] >> (8 if n >= 4 else 0) & 0xFF
        if name in SREGS:
            return r[SEL + SREGS.index(name)]
        if name.endswith("_base") and name[:-5] in SREGS:
            return r[BASE + SREGS.index(name[:-5])]
        if name == "eip":
            return self.cpu.eip
        if name == "ip":
            return self.cpu.eip & 0xFFFF
        if name == "eflags":
            return self.cpu.get_eflags()
        if name == "flags":
            return self.cpu.get_eflags() & 0xFFFF
        raise KeyError(f"unknown register {name!r}")

    def set_reg(self, name: str, value: int) -> None:
        name = name.lower()
        r = self.cpu.r
        if name in GPR32:
            r[GPR32.index(name)] = value & 0xFFFFFFFF
        elif name in GPR16:
            n = GPR16.index(name)
            r[n] = r[n] & 0xFFFF0000 | value & 0xFFFF
        elif name in GPR8:
            n = GPR8.index(name)
            shift = 8 if n >= 4 else 0
            r[n & 3] = r[n & 3] & ~(0xFF << shift) & 0xFFFFFFFF | (value & 0xFF) << shift
        elif name in SREGS:
            self.set_segment(name, value)
        elif name.endswith("_base") and name[:-5] in SREGS:
            r[BASE + SREGS.index(name[:-5])] = value & 0xFFFFFFFF
        elif name in ("eip", "ip"):
            self.cpu.eip = value & (0xFFFF if name == "ip" else 0xFFFFFFFF)
        elif name in ("eflags", "flags"):
            if name == "flags":
                value = self.cpu.get_eflags() & 0xFFFF0000 | value & 0xFFFF
            self.cpu.set_eflags(value)
        else:
            raise KeyError(f"unknown register {name!r}")

    def set_segment(self, name: str, selector: int, base: Optional[int] = None) -> None:
        """Load a segment register; in real mode the base is selector * 16, in flat mode
        it is ``base`` (default: unchanged)."""
        self.cpu.set_segment(SREGS.index(name.lower()), selector, base)

    def regs(self) -> dict:
        """All registers: the 32-bit general registers, segments, eip and eflags."""
        out = {n: self.cpu.r[i] for i, n in enumerate(GPR32)}
        out.update({n: self.cpu.r[SEL + i] for i, n in enumerate(SREGS)})
        out["eip"] = self.cpu.eip
        out["eflags"] = self.cpu.get_eflags()
        return out

    @property
    def eip(self) -> int:
        return self.cpu.eip

    @property
    def steps(self) -> int:
        """Instructions retired so far."""
        return self.cpu.steps[0]

    # -- memory ------------------------------------------------------------------------------
    def load(self, addr: int, data: bytes) -> None:
        """Copy bytes into memory (ignores read-only pages; drops stale translations)."""
        self.mem.load(addr, data)

    def read(self, addr: int, n: int) -> bytes:
        return self.mem.read(addr, n)

    def write(self, addr: int, data: bytes) -> None:
        self.mem.write(addr, data)

    def flush_translations(self) -> None:
        self.tr.flush()

    # -- devices -----------------------------------------------------------------------------
    def port_read(self, port: int, size: int) -> int:
        hooks = self._hooks
        if hooks is not None and hooks.ports_in:
            for h in list(hooks.ports_in):
                if h.begin <= port < h.end:
                    value = h.callback(self, port, size)
                    if value is not None:
                        return value & ((1 << (8 * size)) - 1)
        if self.on_port_in is not None:
            return self.on_port_in(self, port, size)
        return (1 << (8 * size)) - 1

    def port_write(self, port: int, size: int, value: int) -> None:
        hooks = self._hooks
        if hooks is not None and hooks.ports_out:
            for h in list(hooks.ports_out):
                if h.begin <= port < h.end and h.callback(self, port, size, value):
                    return
        if self.on_port_out is not None:
            self.on_port_out(self, port, size, value)

    # -- the Unicorn-like surface (docs/api.md; hooks in vm/x86/hooks.py) --------------------
    @property
    def on_interrupt(self) -> Optional[Callable]:
        """The personality's interrupt hook; user interrupt hooks (hook_interrupt) run
        first while there are any."""
        hooks = self._hooks
        if hooks is None or not hooks.interrupts:
            return self._on_interrupt
        import functools
        return functools.partial(hooks.interrupt, self._on_interrupt)

    @on_interrupt.setter
    def on_interrupt(self, fn: Optional[Callable]) -> None:
        self._on_interrupt = fn

    def read_reg(self, name: str) -> int:
        """Same as :meth:`reg`."""
        return self.reg(name)

    def write_reg(self, name: str, value: int) -> None:
        """Same as :meth:`set_reg`."""
        self.set_reg(name, value)

    def map(self, addr: int, size: int, perms: str = "rwx") -> None:
        """Make [addr, addr + size) accessible with ``perms`` (r, w; x is not enforced):
        memory is one block at linear 0 (its size is the Machine's ``memory_size``), so
        mapping sets page permissions; a range beyond it raises ValueError."""
        if addr < 0 or size <= 0 or addr + size > self.mem.size:
            raise ValueError(f"0x{addr:x}+0x{size:x} is outside the machine's memory "
                             f"(0x{self.mem.size:x} bytes; see Machine(memory_size=))")
        was_guarded = self.mem.guarded
        self.mem.set_unreadable(addr, addr + size, "r" not in perms)
        self.mem.set_readonly(addr, addr + size, "w" not in perms)
        if self.mem.guarded and not was_guarded:
            # the first unreadable page: code compiled before it tests no read flags
            self.flush_translations()
        else:
            self.tr.flags_changed()     # (from a hook callback: see it at once)

    def unmap(self, addr: int, size: int) -> None:
        """Make [addr, addr + size) fault on any access."""
        self.map(addr, size, "")

    def _hook_set(self):
        if self._hooks is None:
            from vm.x86.hooks import Hooks
            self._hooks = Hooks(self)
        return self._hooks

    def hook_code(self, callback: Callable, begin: int = 0, end: Optional[int] = None):
        """``callback(machine, address)`` before each instruction at linear addresses in
        [begin, end) (default: all). The machine then runs one instruction at a time."""
        return self._hook_set().add("code", callback, begin, end)

    def hook_mem_read(self, callback: Callable, begin: int = 0, end: Optional[int] = None):
        """``callback(machine, address, size, value)`` after each guest read that
        touches [begin, end)."""
        return self._hook_set().add("mem_read", callback, begin, end)

    def hook_mem_write(self, callback: Callable, begin: int = 0, end: Optional[int] = None):
        """``callback(machine, address, data)`` after each write touching [begin, end)
        (guest stores, and system calls writing guest memory)."""
        return self._hook_set().add("mem_write", callback, begin, end)

    def hook_interrupt(self, callback: Callable, begin: int = 0, end: int = 256):
        """``callback(machine, vector, software) -> bool`` for INT n (and real-mode
        exceptions) with vector in [begin, end), before the personality (a Linux system
        call is ``int 0x80``, its number in eax); return True to say it was handled."""
        return self._hook_set().add("interrupt", callback, begin, end)

    def hook_port_in(self, callback: Callable, begin: int = 0, end: int = 0x10000):
        """``callback(machine, port, size) -> int or None`` for IN; a value is what the
        guest reads, None leaves it to the devices."""
        return self._hook_set().add("port_in", callback, begin, end)

    def hook_port_out(self, callback: Callable, begin: int = 0, end: int = 0x10000):
        """``callback(machine, port, size, value) -> bool`` for OUT; True swallows it."""
        return self._hook_set().add("port_out", callback, begin, end)

    def hook_del(self, handle) -> None:
        """Remove a hook (the handle a ``hook_*`` returned)."""
        self._hook_set().remove(handle)

    def fpu(self):
        """The x87 unit (vm/x86/fpu.py), created on first use; None if not available."""
        if self._fpu is None and not self._fpu_checked:
            self._fpu_checked = True
            try:
                from vm.x86.fpu import X87
            except ImportError:
                return None
            self._fpu = X87()
        return self._fpu

    def has_fpu(self) -> bool:
        return self.fpu() is not None

    # -- running -----------------------------------------------------------------------------
    def step(self) -> Optional[Stop]:
        """Execute one instruction; returns a Stop unless it simply completed."""
        stop = self.run(1)
        return None if stop.reason == "limit" else stop

    def request_stop(self) -> None:
        """Make run() return Stop('stopped') at the next block boundary (from a hook)."""
        self._margin[0] = -1
        self.tr.lim[0] = 0

    def run(self, max_steps: Optional[int] = None, *, until: Optional[int] = None,
            count: Optional[int] = None, timeout: Optional[float] = None) -> Stop:
        """Run until HLT, an exit request, an unhandled fault or max_steps (``count``)
        instructions; with ``until``, also stop before the instruction at that linear
        address (Stop('until')); with ``timeout`` seconds, Stop('timeout')."""
        if until is not None or count is not None or timeout is not None:
            from vm.x86.hooks import run as run_api
            return run_api(self, max_steps if count is None else count, until, timeout,
                           Machine.run, Stop)
        cpu = self.cpu
        if self._pending is not None:
            stop, self._pending = self._pending, None
            return stop
        start = cpu.steps[0]
        limit = start + max_steps if max_steps is not None else 1 << 62
        key = cpu.key()
        self.tr.lim[0] = limit
        while True:
            if not self.tr.lim[0]:
                return Stop("stopped")
            try:
                key = self._dispatch(key, limit)
                cpu.set_key(key)
                return Stop("limit" if self.tr.lim[0] else "stopped")
            except StopMachine as e:
                if isinstance(e, MachineExit):
                    return Stop("exit", e.status)
                if isinstance(e, Halted):
                    return Stop("halt")
                return Stop("exit")
            except SoftwareInterrupt as e:
                return Stop("fault", fault=e)
            except CodeChanged as e:    # stopped before code it wrote: made anew (smc.py)
                e.resume()
            except SlowPath as e:       # a failed page check, unwound: made anew inline
                self._slow_path(e)
            except CPUException as e:
                stop = self._exception(e)
                if stop is not None:
                    return stop
            except (IndexError, struct.error, OverflowError) as e:
                # a fast-path access outside memory: find the address for the report
                fault = self._memory_fault(e)
                stop = self._exception(fault)
                if stop is not None:
                    return stop
            key = cpu.key()

    def _dispatch(self, key: int, limit: int) -> int:
        """Run blocks until the step limit; one instruction at a time when tracing,
        single-stepping (TF) or within a block's length of the limit."""
        cpu = self.cpu
        st = cpu.steps
        tr = self.tr
        margin = self._margin
        cache = tr.cache
        get, get1 = cache.get, tr.cache1.get
        sample = traces.SAMPLE
        opaque = _opaque_call
        try:
            while True:
                if tr.lim[0] and self.tracer is None and not cpu.flags & F.TF \
                        and not cpu.dbg:        # (sys) debug registers: see below
                    top = limit - MAX_BLOCK
                    while True:
                        # every so often, look for a hot path to make a trace of
                        every = sample * tr.trace_backoff
                        if every:   # jittered: a period of the program never aliases it
                            every = every // 2 + (st[0] * 0x9E3779B1 >> 16) % every
                        m = st[0] + every if every and st[0] + every < top else top
                        if self._sample_at:     # (the window a slow path left: _slow_path)
                            if st[0] < self._sample_at < top:
                                m = self._sample_at
                            self._sample_at = 0
                        margin[0] = m
                        if opaque is None:
                            # a subscript is cheaper than get() + a test per block; a
                            # miss is the KeyError (one a block raised carries .insn
                            # from its unwind, and its key is still in the cache)
                            while True:
                                try:
                                    while st[0] <= margin[0]:
                                        key = cache[key]()
                                    break
                                except KeyError as e:
                                    # (a block that dropped itself from the cache may
                                    # still raise a KeyError of its own; the subscript's
                                    # own has no frame below this one: ~700 Ir less per
                                    # miss than the other three tests, left for a dict
                                    # subclass's __getitem__, dispatchstats.py)
                                    if e.__traceback__.tb_next is not None:
                                        tr.unwind_exc(e)    # (a block's: "insn")
                                        if hasattr(e, "insn") or key in cache or \
                                                e.args != (key,):
                                            raise
                                key = tr.translate(key)()
                        else:
                            # PyPy: inlined here, every block would hang off this one
                            # call site as a chain of bridges that each dispatch walks
                            # (the JIT's counters: ~25 per block); an opaque call runs
                            # each block's own compiled code instead
                            # (translating, and sampling, with the JIT held off)
                            while st[0] <= margin[0]:
                                fn = get(key)
                                if fn is None:
                                    fn = cold(tr.translate, key)
                                key = opaque(fn)
                        if margin[0] != m or m == top:
                            break
                        key = traces.sample(tr, key, top, margin) if opaque is None \
                            else cold(traces.sample, tr, key, top, margin)
                        if margin[0] != m:      # a stop was requested meanwhile
                            break
                if st[0] >= limit or not tr.lim[0]:
                    return key
                if cpu.dbg:     # (sys) DR7 enables a breakpoint: vm/x86/debugregs.py
                    key = debug_step(self, key)
                    continue
                fn = get1(key)
                if fn is None:
                    fn = tr.translate(key, True)
                trap = cpu.flags & F.TF and not fn.meta.trapless
                key = self._traced(fn) if self.tracer is not None else fn()
                if trap and cpu.ss_shadow != st[0]:     # MOV/POP SS: after the next one
                    cpu.set_key(key)
                    cpu.dr[6] = cpu.dr[6] & ~0xF | 0x4000      # (sys) DR6: BS only
                    key = self._deliver(1, cpu.eip)
        except BaseException as e:
            tr.unwind_exc(e)                # (blocks leave that to their caller)
            if not hasattr(e, "insn"):      # raised between blocks, not inside one
                cpu.set_key(key)
            raise

    def external_interrupt(self, vector: int) -> bool:
        """A hardware interrupt (a PIC's IRQ) taken now, between runs: False when IF is
        clear or the interrupt shadow holds it off (cpu.inhibit_irq). Real mode goes
        through the IVT, protected and V86 mode through the IDT (EXT set in error
        codes); a fault while delivering is handled as an exception, and a triple fault
        ends the next run()."""
        cpu = self.cpu
        if not cpu.flags & F.IF or cpu.inhibit_irq:
            return False
        cpu.clear_shadow()
        try:
            if cpu.pm:
                from vm.x86 import protected as P
                P.interrupt(cpu, vector, cpu.eip, None, soft=False, ext=1)
            else:
                self._deliver(vector, cpu.eip if not cpu.real else cpu.eip & 0xFFFF)
        except CPUException as e:
            self._pending = self._exception(e)
        return True

    def request_single_step(self) -> None:
        """Leave the compiled-block loop at the next block boundary (TF was set)."""
        self._margin[0] = -1

    def _traced(self, fn) -> int:
        cpu = self.cpu
        before = (list(cpu.r), cpu.get_eflags(), cpu.eip)
        info = fn.meta.insns[0]
        self.tracer.begin()
        try:
            key = fn()
        except BaseException as e:
            self.tr.unwind_exc(e)
            self.tracer.instruction(self, info, before, e)
            raise
        cpu.set_key(key)
        self.tracer.instruction(self, info, before, None)
        return key

    def _deliver(self, vector: int, return_ip: int) -> int:
        if self.cpu.pm:         # a single-step trap (#DB) through the IDT
            from vm.x86 import protected as P
            return P.interrupt(self.cpu, vector, return_ip, None, soft=False, ext=1)
        from vm.x86.system import deliver
        return deliver(self.cpu, vector, return_ip)

    def _exception(self, e: CPUException) -> Optional[Stop]:
        """A fault the block unwound (cpu.eip = faulting instruction): real mode takes
        it through the hook or the IVT; flat mode stops."""
        cpu = self.cpu
        cpu.clear_shadow()
        if cpu.pm:
            return self._pm_exception(e)
        if not cpu.real:
            return Stop("fault", fault=e)
        vector = GP if isinstance(e, MemoryFault) else e.vector
        if self.tracer is not None:
            self.tracer.event(f"exception {vector} ({e})")
        hook = self.on_interrupt
        if hook is not None and hook(self, vector, False):
            return None
        try:
            self._deliver(vector, cpu.eip)
        except CPUException as e2:
            return Stop("fault", fault=e2)
        return None

    def _pm_exception(self, e: CPUException) -> Optional[Stop]:
        """Protected mode: deliver through the IDT; a fault while delivering becomes a
        double fault when both are contributory (or a page fault then either), and one
        while delivering the double fault stops the run (a PC would reset)."""
        from vm.x86 import protected as P
        from vm.x86.faults import DF, PF, TripleFault
        cpu = self.cpu
        chain = [e]
        vector = GP if isinstance(e, MemoryFault) else e.vector
        code = 0 if isinstance(e, MemoryFault) else e.code
        benign_to = (0, 10, 11, 12, 13)
        while True:
            if self.tracer is not None:
                self.tracer.event(f"exception {vector} ({chain[-1]})")
            if vector == PF and getattr(chain[-1], "cr2", None) is not None:
                cpu.mmu.cr2 = chain[-1].cr2
            if vector in P.ERROR_CODE_VECTORS:
                code = 0 if code is None else code
            else:
                code = None
            # (sys2) every exception here is fault-class but #DF (an abort) and an
            # instruction breakpoint's #DB: their EFLAGS image gets RF = 1 (SDM 17.3.1.1)
            fault = vector != DF and not getattr(chain[-1], "keeps_rf", False)
            try:
                P.interrupt(cpu, vector, cpu.eip, code, soft=False, ext=1, fault=fault)
                return None
            except CPUException as e2:
                chain.append(e2)
                if vector == DF:
                    return Stop("fault", fault=TripleFault(chain))
                if (vector in benign_to or vector == PF) and \
                        (e2.vector in benign_to or (vector == PF and e2.vector == PF)):
                    vector, code = DF, 0
                    chain.append(CPUException(DF, "double fault", 0))
                else:
                    vector, code = e2.vector, e2.code

    def _slow_path(self, e: SlowPath) -> None:
        """A block left by a failed page check (emit.SlowPath), its state unwound to the
        instruction: its key's blocks hold their slow paths inline from now on, and
        this one goes (the next dispatch there makes the new one)."""
        tr = self.tr
        meta = None
        tb = e.__traceback__
        while tb is not None:           # (the innermost block: the one that failed)
            frame = tb.tb_frame
            if frame.f_code.co_name == "_blk":
                meta = frame.f_locals.get("META", meta)
            tb = tb.tb_next
        if meta is None:
            raise AssertionError("SlowPath outside a block")
        tr.slow_keys.add(meta.key)
        # and the block the run goes on with, from the instruction that failed: made
        # direct too it would fail the same check at once (a second unwind and build)
        tr.slow_keys.add(self.cpu.key())
        # the trace-sampling window goes on where it was (not restarted by the exit:
        # other sample points would build other traces)
        self._sample_at = self._margin[0]
        # every block of that meta goes, also one loaded from the warm cache: one left
        # in the cache would fail its check again, forever
        bid = getattr(meta, "bid", None)
        if bid is None or tr.blocks.get(bid, (None,) * 6)[5] is not meta:
            bid = next((b for b, ent in tr.blocks.items() if ent[5] is meta), None)
        if bid is None:
            # (not installed, found no way to yet: only the start's cached function to
            # drop; the next dispatch there builds it with its slow paths inline)
            tr.cache.pop(meta.key, None)
            tr.cache1.pop(meta.key, None)
            return
        tr._drop(bid)
        keep_inline(tr, meta)           # (the warm cache: the block later runs load)

    def _memory_fault(self, e: BaseException) -> MemoryFault:
        insn = getattr(e, "insn", None)
        addr, write = self.fault_address(insn)
        f = MemoryFault(addr, write)
        f.insn, f.lin = insn, getattr(e, "lin", None)
        return f

    def fault_address(self, insn) -> tuple:
        """Best guess at the (address, is_write) an instruction could not access."""
        from asm.x86.operands import Mem
        cpu = self.cpu
        r = cpu.r
        size = self.mem.size
        cands = []
        if insn is not None:
            mn = insn.form.mnemonic
            osz = insn.osize // 8
            first_write = bool(insn.operands) and isinstance(insn.operands[0], Mem) and \
                mn not in ("cmp", "test", "push", "bt", "jmp", "call")
            for n, op in enumerate(insn.operands):
                if isinstance(op, Mem):
                    cands.append((self._linear_of(insn, op), n == 0 and first_write,
                                  op.size or osz))
            sp = r[4] if not cpu.real else r[BASE + SS] + (r[4] & 0xFFFF)
            if mn.startswith(("push", "call", "enter", "int")):
                cands.append(((sp - osz) & 0xFFFFFFFF, True, osz))
            if mn.startswith(("pop", "ret", "leave", "iret")):
                cands.append((sp, False, osz))
            if mn[:4] in ("movs", "stos", "lods", "scas", "cmps"):
                cands.append((r[6], False, 1))
                cands.append((r[7], mn[:4] in ("movs", "stos"), 1))
        for addr, write, n in cands:
            if addr + max(n, 1) > size:
                return addr, write
        if cands:
            return cands[0][0], cands[0][1]
        return cpu.linear_ip(), False

    def _linear_of(self, insn, m) -> int:
        from vm.x86.emit import SEG_NUM
        cpu = self.cpu
        r = cpu.r
        amask = 0xFFFF if insn.asize == 16 else 0xFFFFFFFF
        off = m.disp
        for name, mult in m.regs:
            from vm.x86.emit import GPR_SLOT
            off += r[GPR_SLOT[name][0]] * mult
        off &= amask
        if m.seg:
            seg = SEG_NUM[m.seg]
        elif m.regs and m.regs[0][0] in ("bp", "ebp", "esp") and not m.nosplit:
            seg = SS
        else:
            seg = DS
        base = r[BASE + seg] if cpu.real or seg in (FS, GS) else 0
        return (base + off) & (0xFFFFFFFF if not cpu.real else 0x1FFFFFF)
