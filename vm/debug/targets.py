"""Setting up each kind of program for debugging: the Machine (or B32 / V16 CPU) and its
personality, built as the runners build them, but not run.

Everything from the runners is imported lazily here and only here, so the rest of
vm/debug does not care where the runners live. DOS and boot images are set up by the
runners' own ``setup_com``/``setup_boot``, flat binaries by vm/linux/flat.py's
check_flat and start_flat; the ELF set-up still repeats part of vm/linux/runner.py's
(see docs/debugging.md, "Maintenance").

A target's ``run(n)`` runs the followed program for at most ``n`` instructions of its
Machine (None: no limit) and returns an :class:`Outcome`; debugger stops raised inside
the machine (vm/debug/core.py) propagate out of it.
"""

from __future__ import annotations

import dataclasses
import os
import sys
from typing import Dict, Optional

SIGILL, SIGTRAP, SIGFPE, SIGSEGV, SIGXFSZ = 4, 5, 8, 11, 25


class TargetError(Exception):
    """The program cannot be set up (bad file, bad option): a one-line message."""


@dataclasses.dataclass
class Outcome:
    kind: str                       # 'limit' | 'stopped' | 'exit' | 'fault' | 'thread-exit'
    status: Optional[int] = None    # exit status
    fault: Optional[BaseException] = None
    signal: int = 0
    message: str = ""


class Symbols:
    """Name <-> address, for breakpoints, disassembly and backtraces; ``sections``:
    (start, end, name) of the program's allocated sections (`info symbol`)."""

    def __init__(self, table: Optional[Dict[str, int]] = None,
                 functions: Optional[Dict[str, int]] = None,
                 sections: Optional[list] = None):
        self.by_name: Dict[str, int] = dict(table or {})
        self.functions: Dict[str, int] = dict(functions or {})
        self.sections: list = list(sections or [])
        self._sorted = sorted((a, n) for n, a in self.by_name.items())

    def lookup(self, name: str) -> Optional[int]:
        if name in self.by_name:
            return self.by_name[name]
        low = name.lower()
        for n, a in self.by_name.items():
            if n.lower() == low:
                return a
        return None

    def describe(self, addr: int) -> str:
        """``name+off`` for the closest symbol at or below addr (empty if none)."""
        import bisect
        i = bisect.bisect_right(self._sorted, (addr, "\uffff")) - 1
        if i < 0:
            return ""
        a, n = self._sorted[i]
        if addr - a > 0x4000:
            return ""
        return n if a == addr else f"{n}+{addr - a}"

    def section_of(self, addr: int) -> str:
        """The name of the allocated section holding ``addr`` (empty if none)."""
        return next((n for lo, hi, n in self.sections if lo <= addr < hi), "")

    def exact(self) -> Dict[int, str]:
        out: Dict[int, str] = {}
        for a, n in self._sorted:
            out.setdefault(a, n)
        return out


def elf_symbols(data: bytes, bias: int = 0) -> Symbols:
    """The symbols of an ELF program; ``bias``: where a position-independent one
    (PIE) was loaded, added to each address (its file's are relative to 0)."""
    from formats.elf import read_elf
    table: Dict[str, int] = {}
    funcs: Dict[str, int] = {}
    sections: list = []
    try:
        elf = read_elf(data)
        for s in elf.symbols():
            if not s.name or s.is_undefined or s.is_section or s.type == 4:   # STT_FILE
                continue
            # (SHN_ABS symbols are not moved by the load)
            v = s.value + (bias if s.shndx != 0xFFF1 else 0)
            table.setdefault(s.name, v)
            if s.type == 2:                                                   # STT_FUNC
                funcs.setdefault(s.name, v)
        sections = [(x.addr + bias, x.addr + bias + x.size, x.name) for x in elf.sections
                    if x.flags & 2 and x.size]                              # SHF_ALLOC
    except Exception:           # a stripped or odd file: no symbols, still debuggable
        pass
    return Symbols(table, funcs, sections)


def asm_symbols(result) -> Symbols:
    """Labels of a source pyasm assembled as a flat binary."""
    table: Dict[str, int] = {}
    layout = getattr(result, "layout", None)
    for name, sym in result.symbols.items():
        if sym.kind != "label" or sym.section is None:
            continue
        base = 0
        if layout is not None:
            base = layout.vstart.get(sym.section, layout.vstart.get(
                getattr(sym.section, "name", None), 0)) or 0
        table[name] = base + sym.offset
    return Symbols(table)


class X86Target:
    """Base of the x86 targets: ``machine``, ``bits``, ``symbols``, ``run``."""
    kind = "x86"
    real = False

    def __init__(self, machine, symbols: Symbols, path: str):
        self.machine = machine
        self.symbols = symbols
        self.path = path
        self.exe_path = os.path.realpath(path)
        self.budget = None              # --max-output (vm.options.OutputBudget)

    def over_budget(self) -> Optional[Outcome]:
        """The end of a run whose output went past --max-output, as a plain run ends
        (status 153, 128 + SIGXFSZ, after one line), else None."""
        b = self.budget
        if b is None or not b.exceeded:
            return None
        self.flush_output()
        print(f"pyvm: {self.path}: {b.message()}", file=sys.stderr, flush=True)
        return Outcome("exit", 128 + SIGXFSZ, signal=SIGXFSZ, message=b.message())

    def flush_output(self) -> None:
        pass

    @property
    def bits(self) -> int:
        return self.machine.cpu.bits

    def run(self, n: Optional[int]) -> Outcome:
        return self.map_stop(self.machine.run(n))

    def map_stop(self, stop) -> Outcome:
        from vm.x86.faults import CPUException
        if stop.reason == "exit":
            return Outcome("exit", stop.status or 0)
        if stop.reason == "halt":
            return Outcome("exit", 0, message="halted")
        if stop.reason == "fault" and isinstance(stop.fault, CPUException):
            return self.fault_outcome(stop.fault)
        return Outcome(stop.reason)

    def map_exception(self, e: BaseException) -> Optional[Outcome]:
        """An exception out of Machine.run that ends the program (None: not one)."""
        from vm.x86.faults import Unsupported
        if isinstance(e, Unsupported):
            return Outcome("fault", fault=e, signal=SIGILL, message=str(e))
        return None

    def fault_outcome(self, e) -> Outcome:
        from vm.x86.signals import fault_report
        status, line = fault_report(self.machine, e)
        return Outcome("fault", fault=e, signal=status - 128, message=line)

    def deliver_fault(self, outcome: Outcome) -> Outcome:
        """Resuming after a fault: the program dies of it."""
        return Outcome("exit", 128 + outcome.signal, signal=outcome.signal)

    def finished(self) -> Optional[int]:
        return None

    def close(self) -> None:
        pass


class FlatTarget(X86Target):
    """A bare flat 32-bit Machine (vm/debug/bench.py); ``pyvm --debug`` runs flat
    binaries as Linux processes (LinuxTarget)."""


class RealTarget(X86Target):
    """Real mode on the BIOS (boot images) or DOS (.COM)."""
    real = True

    def __init__(self, machine, symbols, path, bios, closer=None, budget=None):
        super().__init__(machine, symbols, path)
        self.bios = bios
        self.closer = closer
        self.budget = budget

    def flush_output(self) -> None:
        try:
            self.bios.console.flush()
        except Exception:
            pass

    def run(self, n: Optional[int]) -> Outcome:
        m = self.machine
        per_tick = self.bios.steps_per_tick
        start = m.steps
        over = self.over_budget()           # (already past it: after a reverse step)
        if over is not None:
            return over
        while True:
            k = per_tick - m.steps % per_tick
            if n is not None:
                k = min(k, n - (m.steps - start))
            try:
                stop = m.run(k)
            except Exception as e:
                out = self.map_exception(e)
                if out is None:
                    raise
                return out
            over = self.over_budget()
            if over is not None:
                return over
            if stop.reason != "limit":
                return self.map_stop(stop)
            self.bios.update_ticks()
            if self._waits_forever():
                return Outcome("exit", 0, message="a jump to itself")
            if n is not None and m.steps - start >= n:
                return Outcome("limit")

    def map_exception(self, e: BaseException) -> Optional[Outcome]:
        from vm.pc.ivt import GuestFault
        from vm.pc.services import ServiceStop
        if isinstance(e, GuestFault):
            e.restore(self.machine)
            sig = e.status - 128 if e.status > 128 else SIGSEGV
            return Outcome("fault", fault=e, signal=sig, message=e.message)
        if isinstance(e, ServiceStop):
            return Outcome("exit", e.status, message=e.message)
        return super().map_exception(e)

    def map_stop(self, stop) -> Outcome:
        from vm.x86.faults import CPUException
        if stop.reason == "fault" and isinstance(stop.fault, CPUException):
            return Outcome("fault", fault=stop.fault, signal=SIGSEGV, message=str(stop.fault))
        return super().map_stop(stop)

    def fault_outcome(self, e) -> Outcome:
        return Outcome("fault", fault=e, signal=SIGSEGV, message=str(e))

    def deliver_fault(self, outcome: Outcome) -> Outcome:
        status = getattr(outcome.fault, "status", 128 + outcome.signal)
        return Outcome("exit", status, signal=outcome.signal)

    def _waits_forever(self) -> bool:
        m = self.machine
        lin = m.cpu.linear_ip()
        code = bytes(m.mem.data[lin:lin + 3])
        return code[:2] == b"\xeb\xfe" or code == b"\xe9\xfd\xff"

    def close(self) -> None:
        try:
            self.bios.console.flush()
        except Exception:
            pass
        if self.closer is not None:
            self.closer()


class LinuxTarget(X86Target):
    """A Linux i386 ELF program on the kernel; the debugger follows the first process
    (children run between its turns, never stop)."""

    def __init__(self, kernel, proc, symbols, path):
        super().__init__(proc.machine, symbols, path)
        self.kernel = kernel
        self.proc = proc
        self.stop_hook = None           # core: True when it wants control back
        self.fault_pending = None
        # while the core polls for an interrupt (stop_hook, after each turn): a lone
        # process's turn is at most poll_slice, and host waits also end on wake_fds
        self.poll_slice: Optional[int] = None
        self.wake_fds: list = []
        # the thread (a task of proc's group) whose instructions a bounded run counts and
        # which runs last in each round (gdb's vCont;s:TID); None: proc. ``solo``: the
        # other threads wait while it runs (gdb's step over a breakpoint, vCont;s:TID
        # alone), unless it blocks
        self.focus = None
        self.solo = False
        self.fault_task = None          # the thread whose fault stopped the program
        # a continued run stops when the followed process has a thread more (the GDB
        # stub's thread-created events: gdb numbers each thread when it is made, as on
        # the native run, also one that ends before the next stop), and with
        # ``report_exits`` one less (QThreadEvents); ``changed``: (TID, its task)
        self.report_threads = False
        self.report_exits = False
        self.changed: tuple = (0, None)
        self._known: dict = {}

    polls_between_turns = True

    def close(self) -> None:
        # (the session's end ends the run: a live process's MAP_SHARED stores reach
        # their files and leave the registry later runs in this process consult)
        self.kernel.end_run()
        super().close()

    @property
    def machine(self):
        return self.proc.machine if self.proc.machine is not None else self._machine

    @machine.setter
    def machine(self, m) -> None:
        self._machine = m

    def finished(self) -> Optional[int]:
        from vm.linux.process import ZOMBIE
        return self.proc.exit_code if self.proc.state == ZOMBIE else None

    def run(self, n: Optional[int]) -> Outcome:
        from vm.linux.kernel import EXIT_DEADLOCK, SLICE, SOLO_SLICE
        from vm.linux.process import BLOCKED, EXITED, RUNNING, ZOMBIE
        k, init = self.kernel, self.proc
        # an exec: another Machine, or the same one (an exec of the program the process
        # runs keeps it: busybox running itself), so Process.execs counts them
        start_m, start_execs = init.machine, init.execs
        # the followed thread's own instructions count to n: its threads share its
        # Machine (and step counter), and a turn of theirs used up a small n before it
        # ran at all (stepi did not move it; a Ctrl-C poll slice starved it)
        done = 0
        over = self.over_budget()           # (already past it: after a reverse step)
        if over is not None:
            return over
        if self.report_threads:
            self._known = {t.tid: t for t in self.threads()}
        while True:
            if init.state == ZOMBIE:
                return _exited(init)
            focus = self.focus_task()
            others = [p for p in k.live() if p is not focus and p.state != ZOMBIE]
            if self.solo and focus.state == RUNNING:
                others = []
            k.progress = False
            for p in others:
                try:
                    k.turn(p, SLICE)
                except Exception as e:
                    # (a thread of the followed process shares its Machine: its hit is
                    # the debugger's stop, in that thread)
                    if p.machine is not None and p.machine is not init.machine and \
                            type(e).__name__ == "BreakHit":
                        # a fork child inherited translations with breakpoints
                        p.machine.tr.stops = set()
                        p.machine.flush_translations()
                        continue
                    raise
            m = init.machine
            budget = SLICE if others else SOLO_SLICE if self.poll_slice is None \
                else min(SOLO_SLICE, self.poll_slice)
            if n is not None:
                budget = min(budget, n - done)
                if budget <= 0:
                    return Outcome("limit")
            before = m.steps
            k.turn(focus, budget)
            done += init.machine.steps - before if init.machine is m else 0
            if focus.state == EXITED and focus is not init:
                self.focus = None           # (its thread ended: the process goes on)
                if n is not None:
                    return Outcome("limit")
                if self.solo:               # (it ran alone: now nothing does, as gdb's
                    return Outcome("thread-exit")   # scheduler-locking natively)
            over = self.over_budget()       # (a child's writes count too)
            if over is not None:
                return over
            if init.state == ZOMBIE:
                return _exited(init)
            if init.machine is not start_m or init.execs != start_execs:
                return Outcome("exec")
            if self.report_threads and n is None:
                change = self._thread_change()
                if change:
                    return Outcome(change)
            if n is not None and done >= n:
                return Outcome("limit")
            if self.stop_hook is not None and self.stop_hook():
                return Outcome("stopped")
            if not k.progress and all(p.state == BLOCKED or p.vfork_child is not None
                                      for p in k.order):
                if not k.idle(self.wake_fds):
                    k.message(f"{k.name}: deadlock: every process is waiting")
                    return Outcome("exit", EXIT_DEADLOCK)

    def new_image(self) -> Optional[bytes]:
        """After an exec: the followed process's new program file (its bytes, None when
        they cannot be read); ``exe_path``, ``exe_data``, ``symbols`` and
        ``load_bias`` become that program's."""
        proc = self.proc
        exe = getattr(proc.exe_host_path, "exe", None)
        try:
            data = os.pread(exe.fd, os.fstat(exe.fd).st_size, 0) if exe is not None \
                else None
        except OSError:
            data = None
        self.exe_path = os.path.realpath(proc.exe_host_path)
        self.exe_data = data
        self.load_bias = getattr(proc.image, "base", 0)
        self.symbols = elf_symbols(data, self.load_bias) if data else Symbols()
        return data

    def _thread_change(self) -> str:
        """'thread-created' for a thread of the followed process not there at the last
        look, 'thread-exited' (with report_exits) for one gone, else '' (``changed``:
        that thread); the rest are seen at the next look."""
        now = {t.tid: t for t in self.threads()}
        fresh = [t for t in now if t not in self._known]
        if fresh:
            self._known[fresh[0]] = now[fresh[0]]
            self.changed = (fresh[0], now[fresh[0]])
            return "thread-created"
        gone = [t for t in self._known if t not in now]
        if gone and self.report_exits and now:
            self.changed = (gone[0], self._known.pop(gone[0]))
            return "thread-exited"
        for t in gone:
            del self._known[t]
        return ""

    def threads(self) -> list:
        """The live threads of the followed process, oldest first (none once it ended)."""
        from vm.linux.process import EXITED, ZOMBIE
        p = self.proc
        if p.state == ZOMBIE:
            return []
        if p.group is None:
            return [p]
        return [t for t in p.group.tasks if t.state not in (EXITED, ZOMBIE)]

    def current_thread(self):
        """The thread whose registers the Machine holds."""
        g = self.proc.group
        return g.loaded if g is not None and g.loaded is not None else self.proc

    def select_thread(self, task) -> None:
        """Give the Machine ``task``'s registers (a thread of the followed process)."""
        if task.group is not None:
            from vm.linux import threads
            threads.load(task)

    def focus_task(self):
        from vm.linux.process import EXITED
        f = self.focus
        if f is None or f.state == EXITED or f not in self.threads():
            self.focus = None
            return self.proc
        return f

    def fault_outcome(self, e) -> Outcome:
        from vm.x86.signals import fault_report
        status, line = fault_report(self.machine, e)
        return Outcome("fault", fault=e, signal=status - 128, message=line)

    def deliver_fault(self, outcome: Outcome) -> Outcome:
        task, self.fault_task = self.fault_task or self.proc, None
        if task not in self.threads():
            task = self.proc
        self.select_thread(task)            # (its signal frame on its own context)
        self.kernel._debug_orig_fault(task, self.machine, outcome.fault)
        return Outcome("stopped")


def _exited(proc) -> Outcome:
    """A Linux process's end: its status, and the signal that killed it (gdb's X reply,
    "Program terminated with signal SIGSEGV", as natively)."""
    return Outcome("exit", proc.exit_code, signal=proc.wait_status & 0x7F)


class B32Target:
    kind = "b32"

    def __init__(self, cpu, symbols: Symbols, path: str):
        self.cpu = cpu
        self.symbols = symbols
        self.path = path
        self.exe_path = os.path.realpath(path)

    def close(self) -> None:
        pass


class V16Target(B32Target):
    """A V16 CPU (vm/v16/cpu.py), loaded as ``pyvm prog.v16`` loads it, not run."""
    kind = "v16"


# -- building targets --------------------------------------------------------------------

def load(kind: str, path: str, data: bytes, opts, stdin=None, stdout=None):
    """A target for a program of ``kind`` (what formats.detect() says). Raises
    TargetError with a one-line message. Its ``budget`` is --max-output's (the x86
    set-ups make their own; V16's ``out`` draws on a new one)."""
    target = _load(kind, path, data, opts, stdin, stdout)
    # (the program file as loaded: the GDB stub serves these bytes for its path)
    target.exe_data = bytes(data) if isinstance(data, (bytes, bytearray, memoryview)) \
        else None
    if getattr(target, "budget", None) is None:
        from vm.options import OutputBudget
        target.budget = OutputBudget(getattr(opts, "max_output", None))
    return target


def _load(kind: str, path: str, data: bytes, opts, stdin=None, stdout=None):
    if kind == "asm":
        return _load_source(path, data, opts, stdin, stdout)
    if kind == "b32":
        return _load_b32(path, data, Symbols())
    if kind == "v16":
        return _load_v16(path, data, Symbols())
    if kind == "elf":
        return _load_elf(path, data, opts, stdin, stdout)
    if kind in ("bin", "raw") and getattr(opts, "bits", 32) == 16:
        return _load_boot(path, data, opts, Symbols(), stdin, stdout)
    if kind in ("bin", "raw"):
        return _load_flat(path, data, opts, Symbols(), stdin, stdout)
    if kind == "com":
        return _load_com(path, data, opts, Symbols(), stdin, stdout)
    raise TargetError(f"debugging {kind} programs is not supported")


def _load_b32(path: str, data, symbols: Symbols) -> B32Target:
    from formats.b32 import B32FormatError, B32Image, read_b32
    from vm.b32.cpu import B32CPU
    try:
        image = data if isinstance(data, B32Image) else read_b32(bytes(data))
    except B32FormatError as e:
        raise TargetError(str(e)) from None
    cpu = B32CPU()
    cpu.load(image)
    return B32Target(cpu, symbols, path)


def _load_v16(path: str, data, symbols: Symbols) -> V16Target:
    from formats.v16 import V16FormatError, V16Image, read_v16
    from vm.v16.cpu import V16CPU
    try:
        image = data if isinstance(data, V16Image) else read_v16(bytes(data))
    except V16FormatError as e:
        raise TargetError(str(e)) from None
    cpu = V16CPU()
    cpu.load(image)
    return V16Target(cpu, symbols, path)


def _load_v16_source(path: str, text: str) -> V16Target:
    """A V16 source (asm/language.py source_language): assembled as ``pyvm prog.asm``
    assembles it, with its labels as the symbols."""
    from asm.errors import AsmError, AsmErrors
    from asm.v16.assembler import assemble_program
    try:
        prog = assemble_program(text, path)
    except AsmErrors as e:
        raise TargetError("; ".join(str(x) for x in e.errors)) from None
    except AsmError as e:
        raise TargetError(str(e)) from None
    return _load_v16(path, prog.image, Symbols(dict(prog.labels)))


def _load_source(path: str, data: bytes, opts, stdin, stdout):
    import io

    from asm.language import B32, V16, source_language
    from vm.run_source import COM_ORG, assemble_guest
    text = data.decode("utf-8", "surrogateescape")
    language = source_language(text)
    if language == V16:
        return _load_v16_source(path, text)
    if language == B32:
        from asm.b32.assembler import assemble_program
        from asm.errors import AsmError, AsmErrors
        try:
            prog = assemble_program(text, path)
        except AsmErrors as e:
            raise TargetError("; ".join(str(x) for x in e.errors)) from None
        except AsmError as e:
            raise TargetError(str(e)) from None
        return _load_b32(path, prog.image, Symbols(dict(prog.labels)))
    err = io.StringIO()
    try:                                    # (the files and environment of its guest)
        built = assemble_guest(path, text, opts, _assemble_with_symbols, err)
    except OSError as e:
        raise TargetError(f"cannot set up the file-system view: {e}") from None
    if built is None:
        raise TargetError(err.getvalue().strip() or "assembly failed")
    image, org, bits, symbols = built
    if not image:
        raise TargetError("the source assembles to nothing: nothing to run")
    if bits == 32:
        return _load_flat(path, image, dataclasses.replace(opts, org=org, bits=32), symbols,
                          stdin, stdout)
    if org == COM_ORG:
        return _load_com(path, image, opts, symbols, stdin, stdout)
    return _load_boot(path, image, dataclasses.replace(opts, org=org, bits=16), symbols,
                      stdin, stdout)


def _assemble_with_symbols(path: str, text: str, err):
    """vm.run_source.assemble_source, also returning the labels."""
    from asm.assembler import assemble
    from asm.errors import AsmError, AsmErrors
    from vm.run_source import source_bits
    try:
        result = assemble(text, path, fmt="bin",
                          include_paths=[os.path.dirname(path) or os.curdir])
        image = result.image()
    except AsmErrors as e:
        for x in e.errors:
            print(str(x), file=err)
        return None
    except AsmError as e:
        print(str(e), file=err)
        return None
    except RecursionError:
        print(f"{path}: error: source too deeply nested", file=err)
        return None
    org = result.org if result.org is not None else result.layout.origin
    return image, org or 0, source_bits(result, text), asm_symbols(result)


def _load_flat(path, data, opts, symbols, stdin, stdout) -> LinuxTarget:
    """A flat 32-bit binary: a Linux process, as run_flat starts it (the guest's fds 0-2
    are the host's own, as for ELF programs)."""
    from vm.linux.flat import check_flat, start_flat
    image, why = check_flat(data, opts)
    if image is None:
        raise TargetError(why)
    return _linux_target(path, opts, lambda k, proc, sb: start_flat(path, image, proc, sb),
                         symbols, image.memory)


def _load_com(path, data, opts, symbols, stdin, stdout) -> RealTarget:
    from vm.dos.runner import COM_PSP, SetupError, setup_com
    try:
        m, bios, dos, budget = setup_com(path, data, opts, stdin, stdout)
    except SetupError as e:
        raise TargetError(str(e)) from None
    # labels of a .COM source are offsets in its segment: make them linear
    symbols = Symbols({n: COM_PSP * 16 + a for n, a in symbols.by_name.items()})
    return RealTarget(m, symbols, path, bios, dos.close_all, budget)


def _load_boot(path, data, opts, symbols, stdin, stdout) -> RealTarget:
    from vm.pc.runner import SetupError, setup_boot
    try:
        m, bios, budget = setup_boot(data, opts, stdin, stdout)
    except SetupError as e:
        raise TargetError(str(e)) from None
    return RealTarget(m, symbols, path, bios, budget=budget)


def _load_elf(path, data, opts, stdin, stdout) -> LinuxTarget:
    from vm.linux.interp import load_interpreter
    from vm.linux.loader import LoadError, prepare
    from vm.linux.runner import environment
    try:
        image = prepare(data)
    except LoadError as e:
        raise TargetError(str(e)) from None

    def start(kernel, proc, sandbox) -> None:
        img = image
        host = os.path.realpath(path)
        try:
            img = kernel.image_for(host, data)
        except OSError:
            pass
        proc.exe_host_path = host
        proc.comm = os.fsencode(os.path.basename(path))[:15]
        proc.exe_guest_path = sandbox.to_guest(host) or path
        argv = [os.fsencode(path)] + [os.fsencode(a) for a in opts.args]
        interp = None
        if img.interp is not None:          # dynamic: ld.so from the guest's root, as a
            try:                            # plain run (vm/linux/runner.py) loads it
                interp = load_interpreter(kernel, sandbox, img.interp)
            except LoadError as e:
                raise OSError(e.errno, str(e)) from None
        proc.start_image(img, argv, environment(opts), os.fsencode(path), interp)

    target = _linux_target(path, opts, start, elf_symbols(data, image.base), opts.memory)
    target.load_bias = image.base       # (a PIE's: its line table moves with it)
    return target


def _linux_target(path, opts, start, symbols, memory_limit) -> LinuxTarget:
    """A first process on a new kernel (as vm/linux/runner.py run_process sets it up)
    that ``start(kernel, proc, sandbox)`` puts a program in."""
    from vm.linux.abi import PARENT_PID
    from vm.linux.kernel import Kernel
    from vm.linux.limits import std_streams
    from vm.linux.process import Process
    from vm.options import OutputBudget
    from vm.sandbox import Sandbox
    if opts.root and not os.path.isdir(opts.root):
        raise TargetError(f"--root {opts.root}: not a directory")
    try:
        sandbox = Sandbox(root=opts.root, writable=tuple(opts.allow_write))
    except OSError as e:
        raise TargetError(f"cannot set up the file-system view: {e}") from None
    kernel = Kernel(path, sys.stderr, None, None, max_procs=opts.max_procs,
                    memory_limit=memory_limit)
    budget = OutputBudget(opts.max_output)
    if budget.limit is not None:        # the guest's files draw on it too (a full disk)
        kernel.output_budget = budget
    # the guest's fds 0-2 are the host's own (stdin/stdout arguments: other kinds only)
    # guest ids are virtual, as in a plain run (vm/linux/runner.py): no host pid leaks
    proc = Process(kernel, kernel.new_pid(), PARENT_PID, std_streams(budget), sandbox)
    proc.umask = os.umask(0o022)
    os.umask(proc.umask)
    try:
        start(kernel, proc, sandbox)
    except MemoryError:
        raise TargetError("cannot allocate the guest's memory") from None
    except OSError as e:
        raise TargetError(f"cannot start: {e.strerror or e}") from None
    kernel.add(proc)

    def stop_machine() -> None:         # (past the budget: the run ends at once)
        m = kernel.current_machine()
        if m is not None:
            m.request_stop()
    budget.stoppers.append(stop_machine)
    target = LinuxTarget(kernel, proc, symbols, path)
    target.budget = budget
    return target
