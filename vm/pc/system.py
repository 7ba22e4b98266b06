"""The PC in system mode: ``pyvm --bios ROM`` and ``pyvm --disk IMAGE``.

A machine with ``--memory`` bytes of RAM (32 MiB by default), the devices of an AT
(8259A pair, 8254, 8042 with the A20 gate, CMOS/RTC, a 16550 on COM1, VGA text) on one
port bus, the emulator ports (E9h debug console, F4h exit, ...), and either a ROM image
of the user's (``--bios``: mapped so that it ends at 1 MiB, entered at F000:FFF0) or
pyvm's own BIOS booting the first sector of a disk image at 0000:7C00 (``--disk``).

Time is counted in instructions: one instruction is one 1.193182 MHz timer clock, so
runs are deterministic; HLT skips ahead to the next timer interrupt. Hardware
interrupts are taken between slices of the run, which end at the next timer event.

The run ends with the guest: powering off through an emulator port (see debugport.py),
HLT with interrupts disabled (or nothing left that could interrupt), a jump to itself
with interrupts disabled, or a reset (8042 pulse, port 92h): status 0; a fault that
nothing handles (a triple fault): 139, with the fault chain and the registers.
"""

from __future__ import annotations

import os
import sys
from typing import Optional

from formats.outputs import CheckedOutput, open_run_output
from vm.options import (
    EXIT_BAD_FILE,
    EXIT_OUTPUT_LIMIT,
    EXIT_TIMEOUT,
    Deadline,
    OutputBudget,
    RunOptions,
    TimedOut,
    budgeted_text,
    limited_streams,
)
from vm.pc.a20 import A20Memory
from vm.pc.cmos import CMOS
from vm.pc.console import Console, host_streams
from vm.pc.debugport import DebugPorts
from vm.pc.ivt import fault_report
from vm.pc.kbc import KeyboardController
from vm.pc.outcome import exception_status, here, limit_status
from vm.pc.pic import PICPair
from vm.pc.pit import PIT
from vm.pc.ports import PortBus
from vm.pc.services import ServiceStop
from vm.pc.uart import UART
from vm.pc.vga import VGA
from vm.stats import RunClock
from vm.x86 import flags as F
from vm.x86.faults import CPUException
from vm.x86.machine import Machine
from vm.x86.signals import SIGSEGV
from vm.x86.state import CS, SEL
from vm.x86.trace import Tracer, register_dump

DEFAULT_MEMORY = 32 << 20
MIN_MEMORY = 1 << 20
MAX_MEMORY = 3 << 30
ONE_MIB = 1 << 20
MAX_ROM = 256 << 10
SLICE = 1 << 16                 # instructions between looks at the devices at most
IRQ_WAIT_SLICE = 64             # the first slice while a request waits for STI


class SetupError(ValueError):
    """A machine that cannot be built: the message says why."""


class Reset(ServiceStop):
    """The guest reset the machine (8042 command FEh, port 92h bit 0)."""

    def __init__(self, how: str):
        super().__init__(f"the guest reset the machine ({how}); pyvm stops here", 0)


class PC:
    """One PC: the CPU, its memory and its devices."""

    def __init__(self, opts: RunOptions, console: Console,
                 budget: Optional[OutputBudget] = None):
        ram = DEFAULT_MEMORY if opts.memory is None else opts.memory
        if not MIN_MEMORY <= ram <= MAX_MEMORY:
            raise SetupError(f"--memory {ram} is outside what a PC here can have "
                             f"(1 MiB to 3 GiB)")
        self.ram = ram
        self.console = console
        self.at_exit: list = []         # callables run when the run ends
        self.a20 = A20Memory(ram)
        m = self.m = Machine("real", memory_size=ram, buffer=self.a20.data)
        self.a20.attach(m)
        self.skipped = 0                # instructions' worth of time skipped by HLT
        self.irq_wait = IRQ_WAIT_SLICE
        bus = self.bus = PortBus()
        bus.attach(m)
        bus.steps = self.now
        self.pic = PICPair()
        self.pit = PIT(self.now, lambda: self.pic.pulse(0))
        self.debug = DebugPorts(console.write)
        serial_out, serial_in, keys = self._streams(opts, console, budget)
        self.kbc = KeyboardController(self.a20.set, self._reset,
                                      lambda level: self.pic.set_line(1, level), keys)
        self.cmos = CMOS(self.now, ram, lambda: self.pic.pulse(8))
        self.uart = UART(serial_out, serial_in, lambda level: self.pic.set_line(4, level))
        self.vga = VGA(m.mem.data, self.now)
        for device in (self.pic, self.pit, self.debug, self.kbc, self.cmos, self.uart,
                       self.vga):
            device.install(bus)
        self.devices: list = [self.kbc, self.cmos, self.uart]   # polled between slices
        self.pic.catch_up = self.update_devices
        m.on_halt = self.on_halt

    def _streams(self, opts: RunOptions, console: Console,
                 budget: Optional[OutputBudget]) -> tuple:
        """(COM1 output, COM1 input, keyboard input): stdin is the keyboard, unless
        COM1 is the console (--serial stdout). A --serial FILE draws on the same
        --max-output budget as the console (a guest must not fill the disk either)."""
        key = console.poll_key
        target = opts.serial
        if target is None:
            return None, None, key
        if target == "stdout":
            return console.write, console.poll_byte, None
        try:
            f = CheckedOutput(open_run_output(target, binary=True), "the serial output", target)
        except OSError as e:
            raise SetupError(f"--serial {target}: {e.strerror or e}") from None
        self.at_exit.append(f.close)

        def out(data: bytes) -> None:
            n = len(data) if budget is None else budget.take(len(data))
            if n:
                f.write(data[:n])
        return out, None, key

    def show_screen(self, opts: RunOptions, path: str) -> None:
        """The VGA text screen after the run, as the B32 screen is shown: text (ANSI
        colours on a terminal) on stdout if it holds anything; --screen-html FILE."""
        from vm.b32.runner import use_color
        vga = self.vga
        if opts.screen_html:
            try:
                with open_run_output(opts.screen_html) as f:
                    f.write(vga.html(f"PC screen: {os.path.basename(path)}"))
            except OSError as e:
                print(f"pyvm: {path}: cannot write {opts.screen_html}: {e.strerror or e}",
                      file=sys.stderr)
        if vga.blank() or opts.serial == "stdout":
            return                      # (with COM1 as the console, as QEMU -nographic)
        text = vga.ansi() if use_color(opts.color, sys.stdout) else vga.text()
        self.console.write(text.encode("utf-8"))

    def _reset(self, how: str) -> None:
        raise Reset(how)

    def now(self) -> int:
        """The PC's clock, in timer clocks (= instructions run + time skipped)."""
        return self.m.cpu.steps[0] + self.skipped

    # -- images ------------------------------------------------------------------------------
    def load_rom(self, rom: bytes) -> None:
        """Map a ROM image so that it ends at 1 MiB; writes to it are ignored."""
        if not 16 <= len(rom) <= MAX_ROM:
            raise SetupError(f"a BIOS ROM image must be 16 bytes to {MAX_ROM >> 10} KiB, "
                             f"not {len(rom)} bytes")
        start = ONE_MIB - len(rom)
        self.m.load(start, rom)
        image = bytes(rom)
        data = self.m.mem.data

        def restore(addr: int, written: bytes) -> None:
            lo = max(addr, start)
            data[lo:addr + len(written)] = image[lo - start:addr + len(written) - start]
        self.m.mem.watch(start, ONE_MIB, restore)

    # -- interrupts --------------------------------------------------------------------------
    def update_devices(self) -> None:
        self.pit.update()
        for d in self.devices:
            d.update()

    def deliver_irq(self) -> bool:
        """Take a pending hardware interrupt if IF allows; True if one was taken."""
        m = self.m
        cpu = m.cpu
        # the interrupt shadow: after STI (sti; hlt takes it after the HLT), MOV/POP SS
        if not cpu.get_eflags() & F.IF or cpu.inhibit_irq:
            return False
        if not self.pic.pending():
            return False
        vector = self.pic.acknowledge()
        if m.tracer is not None:
            m.tracer.event(f"hardware interrupt: vector 0x{vector:02x}")
        # a fault while delivering it is the CPU's (double, triple fault): a triple
        # fault comes back from the next run()
        m.external_interrupt(vector)
        return True

    def next_event(self) -> Optional[int]:
        """When something will next raise an interrupt request (None: nothing will)."""
        times = [t for t in (self.pit.next_event(), self.cmos.next_event()) if t is not None]
        return min(times) if times else None

    def on_halt(self, m) -> bool:
        """HLT: skip to the next interrupt, or end the run if none can come."""
        self.update_devices()
        if not m.cpu.get_eflags() & F.IF:
            return False
        while not self.pic.pending():
            at = self.wake_time()
            if at is not None:
                self.skipped += max(0, at - self.now())
            elif self.waits_for_input():
                self.console.wait_input()
            else:
                return False            # nothing unmasked can ever interrupt: halted
            self.update_devices()
        m.request_stop()
        return True

    def _unmasked(self, irq: int) -> bool:
        master, slave = self.pic.master, self.pic.slave
        if irq < 8:
            return not master.imr & 1 << irq
        return not master.imr & 4 and not slave.imr & 1 << (irq - 8)

    def _fresh(self, irq: int) -> bool:
        """A new edge on this input could interrupt: unmasked, and not already latched
        in IRR (held back by a level in service: another edge changes nothing)."""
        pic = self.pic.master if irq < 8 else self.pic.slave
        return self._unmasked(irq) and not pic.irr & 1 << (irq & 7)

    def wake_time(self) -> Optional[int]:
        """When a timer next raises an interrupt the PICs let through (None: never)."""
        times = []
        if self._fresh(0):
            times.append(self.pit.next_event())
        if self._fresh(8):
            times.append(self.cmos.next_event())
        times = [t for t in times if t is not None]
        return min(times) if times else None

    def waits_for_input(self) -> bool:
        """A device would interrupt on input from stdin (and stdin has not ended)."""
        if self.console.eof:
            return False
        uart = self.uart.read_in is not None and self.uart.ier & 1 and self.uart.mcr & 8 \
            and self._unmasked(4)
        kbd = self.kbc.keys is not None and self.kbc.command_byte & 1 and \
            self._unmasked(1) and self.kbc.take_keys()
        return bool(uart or kbd)

    def slice_length(self) -> int:
        n = SLICE
        at = self.next_event()
        if at is not None:
            n = max(1, min(n, at - self.now()))
        if self.pic.pending():
            # a request waits for STI: look again soon, then less often the longer
            # interrupts stay off (a long CLI section is not slowed down much)
            n = min(n, self.irq_wait)
            self.irq_wait = min(2 * self.irq_wait, SLICE)
        else:
            self.irq_wait = IRQ_WAIT_SLICE
        return n


def fail(path: str, message: str) -> int:
    print(f"pyvm: {path}: {message}", file=sys.stderr)
    return EXIT_BAD_FILE


def build(opts: RunOptions) -> tuple:
    """(PC, output budget) with the console on the host's streams."""
    budget = OutputBudget(opts.max_output)
    host_in, host_out, host_err = host_streams(None, None, None)
    console = Console(host_in, *limited_streams(budget, host_out, host_err))
    pc = PC(opts, console, budget)
    budget.stoppers.append(pc.m.request_stop)
    return pc, budget


def run_bios(path: str, rom: bytes, opts: RunOptions) -> int:
    """``pyvm --bios ROM``: the ROM at the top of the first MiB, started at F000:FFF0."""
    try:
        pc, budget = build(opts)
        pc.load_rom(rom)
    except SetupError as e:
        return fail(path, str(e))
    m = pc.m
    for seg in ("ds", "es", "ss"):
        m.set_segment(seg, 0)
    m.set_segment("cs", 0xF000)
    m.set_reg("ip", 0xFFF0)
    m.set_reg("edx", 0x0303)            # a 386's reset signature (family 3)
    return execute(pc, path, opts, budget)


def execute(pc: PC, path: str, opts: RunOptions, budget: OutputBudget) -> int:
    m = pc.m
    err = sys.stderr
    if opts.max_steps is not None and opts.max_steps < 1:
        return fail(path, f"--max-steps must be at least 1, not {opts.max_steps}")
    files = []
    try:
        # the trace and the port log draw on --max-output, as the console and COM1 do: a
        # guest looping on OUT (or traced) must not fill the disk
        if opts.trace_file:
            f = open_run_output(opts.trace_file, budget=budget)
            files.append(f)
            m.tracer = Tracer(f)
        elif opts.trace:
            m.tracer = Tracer(budgeted_text(err, budget))
        port_log = getattr(opts, "port_log", None)
        if port_log:
            f = CheckedOutput(open_run_output(port_log, buffering=1, budget=budget),
                              "the port log", port_log)         # (by line)
            files.append(f)
            pc.bus.log = f
    except OSError as e:
        for f in files:
            f.close()
        return fail(path, f"cannot write {e.filename}: {e.strerror or e}")
    console = pc.console
    console.autoflush = m.tracer is not None
    clock = RunClock()
    deadline = Deadline(opts.timeout)
    deadline.stoppers.append(m.request_stop)
    try:
        try:
            with deadline:
                status = _loop(pc, path, opts.max_steps, err, deadline, budget)
        except TimedOut:
            console.flush()
            print(f"pyvm: {path}: {deadline.message()}", file=err)
            status = EXIT_TIMEOUT
    finally:
        console.flush()
        pc.show_screen(opts, path)
        console.flush()
        for hook in pc.at_exit:
            hook()
        if m.tracer is not None:
            m.tracer.flush()
        for f in files:
            f.close()
    if opts.regs:
        print(dump(m), file=err)
    if opts.stats:
        clock.report(m.steps, err)
    return status


def _loop(pc: PC, path: str, max_steps: Optional[int], err, deadline: Deadline,
          budget: OutputBudget) -> int:
    m = pc.m

    def say(*lines: str) -> None:
        pc.console.flush()
        for line in lines:
            print(line, file=err)
    while True:
        n = pc.slice_length()
        if max_steps is not None:
            n = min(n, max_steps - m.steps)
        try:
            stop = m.run(n)
            pc.update_devices()
            if stop.reason not in ("exit", "halt", "fault"):
                pc.deliver_irq()
        except BaseException as e:      # exception_status re-raises what it does not end
            return exception_status(e, m, path, say, dump, deadline)
        if budget.exceeded:
            say(f"pyvm: {path}: {budget.message()}")
            return EXIT_OUTPUT_LIMIT
        if stop.reason == "exit":
            return stop.status or 0
        if stop.reason == "halt":
            return 0
        if stop.reason == "fault":
            e = stop.fault
            if m.cpu.real and isinstance(e, CPUException) and not hasattr(e, "chain"):
                line, status = fault_report(m, e.vector, m.cpu.r[SEL + CS],
                                            m.eip & 0xFFFF, message=str(e))
            else:
                line, status = f"{e} at {here(m)}", 128 + SIGSEGV
            say(f"pyvm: {path}: {line}", dump(m))
            return status
        status = limit_status(m, path, max_steps, deadline, say, dump)
        if status is not None:
            return status
        if _waits_forever(pc):
            if m.tracer is not None:
                m.tracer.event("a jump to itself: nothing can interrupt it, so the run ends")
            return 0


def dump(m: Machine) -> str:
    """The registers and, in protected mode, the system state (CRn, CPL, tables)."""
    text = register_dump(m)
    if getattr(m.cpu, "pm", False):
        from vm.x86.protected import describe
        text += "".join(f"\n  {line}" for line in describe(m.cpu))
    return text


def _waits_forever(pc: PC) -> bool:
    """A jump to itself that no interrupt can leave."""
    m = pc.m
    cpu = m.cpu
    if cpu.get_eflags() & F.IF and (pc.next_event() is not None or pc.pic.pending()):
        return False
    if not cpu.real:
        return False
    lin = cpu.r[SEL + CS] * 16 + (m.eip & 0xFFFF)
    code = m.mem.data[lin:lin + 3]
    return code[:2] == b"\xeb\xfe" or code == b"\xe9\xfd\xff"

