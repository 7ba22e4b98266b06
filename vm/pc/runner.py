"""Real-mode programs on the PC: 16-bit flat images on the BIOS (``pyvm --bits 16
boot.bin``, loaded at 0000:7C00 or --org), and the run loop DOS .COM programs share
(vm/dos/runner.py).

Memory (1 MiB + HMA): the IVT, the BIOS data area, then for a .COM its environment at
0FE0:0000 and its PSP at 1000:0000 with the program at 1000:0100 (CS = DS = ES = SS,
SP = FFFE over a zero word, so ``ret`` reaches the PSP's ``int 20h``); the BIOS ROM
stubs at F000 (see ivt.py). A BIOS image starts with CS = DS = ES = SS = 0, SP = its
load address (the stack grows down below it) and DL = 80h, the boot drive: the image
file itself, readable with int 13h (disk.py).

The run ends with the program: int 20h, int 21h AH=00h/4Ch (status AL), HLT (0; no
hardware interrupt will ever wake the CPU), a jump to itself such as ``jmp $`` (0, for
the same reason) or a BIOS keyboard read after the end of stdin (0, with a note).
Otherwise the exit status is 128 + signal after a fault (132 invalid opcode, 136 divide
error, 139 memory or protection fault, 133 breakpoint), 124 when --max-steps runs out,
142 when --timeout runs out, 153 past --max-output, 1 for an unsupported BIOS/DOS service or a file that cannot be run, 70 for an emulator
bug.
"""

from __future__ import annotations

import sys
from typing import Optional

from formats.outputs import open_run_output
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
from vm.pc.bios import BIOS
from vm.pc.bios import TABLES as BIOS_TABLES
from vm.pc.console import Console, host_streams
from vm.pc.disk import TABLES as DISK_TABLES
from vm.pc.disk import Disk
from vm.pc.ivt import InterruptRouter, fault_report
from vm.pc.outcome import exception_status, limit_status
from vm.stats import RunClock
from vm.x86.faults import CPUException
from vm.x86.machine import Machine
from vm.x86.state import CS, SEL
from vm.x86.trace import Tracer, disassemble, register_dump

BOOT_ORG = 0x7C00
BOOT_DRIVE = 0x80
LOWEST_ORG = 0x600                  # above the IVT, the BIOS data area and a 256-byte stack
CONVENTIONAL_TOP = 0xA0000
START_FLAGS = 0x0202                # IF set, as DOS and the BIOS leave it


class SetupError(ValueError):
    """An image that cannot be started; the message says why."""


def setup_boot(data: bytes, opts: RunOptions, stdin=None, stdout=None,
               stderr=None) -> tuple:
    """The machine of a 16-bit image on the BIOS, ready at 0000:org (default 7C00):
    (machine, BIOS, output budget). Shared by the runner and the debugger."""
    org = BOOT_ORG if opts.org is None else opts.org
    if not data:
        raise SetupError("empty file: nothing to run")
    if not LOWEST_ORG <= org <= 0xFFFF or org + len(data) > CONVENTIONAL_TOP:
        raise SetupError(f"org 0x{org:x} does not fit: a 16-bit image of {len(data)} "
                         f"bytes must load at 0000:{LOWEST_ORG:04x}-0000:ffff and end "
                         f"below 0x{CONVENTIONAL_TOP:x}")
    m = Machine("real")
    console, budget = console_for(m, opts, stdin, stdout, stderr)
    bios = BIOS(m, console)
    InterruptRouter(m, [(BIOS_TABLES, bios), (DISK_TABLES, Disk(data))]).install()
    bios.install()
    m.load(org, data)
    for seg in ("cs", "ds", "es", "ss"):
        m.set_segment(seg, 0)
    m.set_reg("dl", BOOT_DRIVE)
    m.set_reg("sp", org & ~1)
    m.set_reg("ip", org)
    m.set_reg("flags", START_FLAGS)
    return m, bios, budget


def run_boot(path: str, data: bytes, opts: RunOptions, stdin=None, stdout=None,
             stderr=None) -> int:
    """Run a 16-bit flat image on the BIOS at 0000:org (default 7C00); returns the exit
    status."""
    try:
        m, bios, budget = setup_boot(data, opts, stdin, stdout, stderr)
    except SetupError as e:
        return fail(path, str(e))
    return execute(m, path, opts, bios, budget)


def console_for(m: Machine, opts: RunOptions, stdin, stdout, stderr) -> tuple:
    """The console on the host's streams, its output drawing on --max-output."""
    budget = OutputBudget(opts.max_output)
    budget.stoppers.append(m.request_stop)
    host_in, host_out, host_err = host_streams(stdin, stdout, stderr)
    return Console(host_in, *limited_streams(budget, host_out, host_err)), budget


def fail(path: str, message: str) -> int:
    print(f"pyvm: {path}: {message}", file=sys.stderr)
    return EXIT_BAD_FILE


def execute(m: Machine, path: str, opts: RunOptions, bios: BIOS,
             budget: Optional[OutputBudget] = None) -> int:
    err = sys.stderr
    if opts.max_steps is not None and opts.max_steps < 1:
        return fail(path, f"--max-steps must be at least 1, not {opts.max_steps}")
    budget = budget or OutputBudget()
    trace_file = None
    if opts.trace_file:          # (the trace draws on --max-output: it must not fill the disk)
        try:
            trace_file = open_run_output(opts.trace_file, budget=budget)
        except OSError as e:
            return fail(path, f"cannot write {opts.trace_file}: {e.strerror or e}")
        m.tracer = Tracer(trace_file)
    elif opts.trace:
        m.tracer = Tracer(budgeted_text(err, budget))
    console = bios.console
    console.autoflush = m.tracer is not None    # keep output and trace lines in order
    clock = RunClock()
    deadline = Deadline(opts.timeout)
    deadline.stoppers.append(m.request_stop)
    try:
        try:
            with deadline:
                status = _loop(m, path, opts.max_steps, bios, err, deadline, budget)
        except TimedOut:            # outside m.run (e.g. waiting for the keyboard)
            console.flush()
            print(f"pyvm: {path}: {deadline.message()}", file=err)
            status = EXIT_TIMEOUT
    finally:
        console.flush()                         # before any report on stderr
        if m.tracer is not None:
            m.tracer.flush()
        if trace_file is not None:
            trace_file.close()
    if opts.regs:
        print(register_dump(m), file=err)
    if opts.stats:
        clock.report(m.steps, err)
    return status


def _loop(m: Machine, path: str, max_steps: Optional[int], bios: BIOS, err,
          deadline: Deadline, budget: OutputBudget) -> int:
    """Run in slices of one timer tick (the tick counter advances between them)."""
    per_tick = bios.steps_per_tick

    def say(*lines: str) -> None:
        bios.console.flush()        # the program's output first, as a terminal shows it
        for line in lines:
            print(line, file=err)
    try:     # (the whole loop: Ctrl-C may also land between two slices)
        while True:
            n = per_tick - m.steps % per_tick
            if max_steps is not None:
                n = min(n, max_steps - m.steps)
            stop = m.run(n)
            if budget.exceeded:
                say(f"pyvm: {path}: {budget.message()}")
                return EXIT_OUTPUT_LIMIT
            if stop.reason == "exit":
                return stop.status or 0
            if stop.reason == "halt":
                return 0
            if stop.reason == "fault" and isinstance(stop.fault, CPUException):
                # the fault could not even be delivered through the IVT (no stack room)
                e = stop.fault
                line, status = fault_report(m, e.vector, m.cpu.r[SEL + CS], m.eip & 0xFFFF,
                                            message=str(e))
                say(f"pyvm: {path}: {line}", register_dump(m))
                return status
            status = limit_status(m, path, max_steps, deadline, say, register_dump,
                                  _next_insn)
            if status is not None:
                return status
            bios.update_ticks()
            if _waits_forever(m):
                if m.tracer is not None:
                    m.tracer.event("a jump to itself: nothing can interrupt it, so the run ends")
                return 0
    except BaseException as e:      # exception_status re-raises what it does not end
        return exception_status(e, m, path, say, register_dump, deadline)


def _linear_ip(m: Machine) -> int:
    return m.cpu.r[SEL + CS] * 16 + (m.eip & 0xFFFF)


def _next_insn(m: Machine) -> str:
    from asm.x86.decoder import decode
    try:
        return disassemble(decode(m.mem.data, _linear_ip(m), 16, m.eip & 0xFFFF), 16)
    except Exception:
        return "?"


def _waits_forever(m: Machine) -> bool:
    """The next instruction jumps to itself (``jmp $``, short or near)."""
    code = m.mem.data[_linear_ip(m):_linear_ip(m) + 3]
    return code[:2] == b"\xeb\xfe" or code == b"\xe9\xfd\xff"
