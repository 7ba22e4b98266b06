"""``pyvm prog.b32``: load, run to END, then show the screen (--trace traces each step).

Exit status: 0 after END; 1 for a file that is not a valid B32 program (or an unwritable
--screen-html file); 132 (128 + SIGILL, as a shell reports a native crash) for an illegal
opcode; 124 (as timeout(1)) when --max-steps runs out; 130 on Ctrl-C (SIGINT); 142
(128 + SIGALRM) when --timeout runs out; 153 (128 + SIGXFSZ) when the screen printed at
the end (with the trace, which draws on it too) is longer than --max-output. A stop other than END prints one line and the
registers. The screen is printed even after a
fault, since what the program drew so far is the best clue to what went wrong.
"""

from __future__ import annotations

import os
import sys
from contextlib import contextmanager
from typing import Callable, Iterator, Optional, TextIO

from asm.b32.disassembler import instruction_at
from asm.b32.instructions import TABLE
from formats.b32 import B32FormatError, read_b32
from formats.outputs import open_run_output
from vm.b32.cpu import B32CPU, IllegalOpcode, StepLimitReached
from vm.b32.render import render_ansi, render_html, render_text
from vm.options import (
    EXIT_BAD_FILE,
    EXIT_INTERRUPTED,
    EXIT_OUTPUT_LIMIT,
    EXIT_STEP_LIMIT,
    EXIT_TIMEOUT,
    Deadline,
    OutputBudget,
    RunOptions,
    TimedOut,
    budgeted_text,
)
from vm.stats import RunClock

EXIT_ILLEGAL_OPCODE = 132
TIME_SLICE = 100_000             # instructions between two looks at the clock (--timeout)


def run_b32(path: str, data: bytes, opts: RunOptions) -> int:
    """Run a .b32 file's bytes; returns the exit status."""
    def fail(message: str) -> None:
        print(f"pyvm: {path}: {message}", file=sys.stderr)

    if opts.max_steps is not None and opts.max_steps < 1:
        fail(f"--max-steps must be at least 1, not {opts.max_steps}")
        return EXIT_BAD_FILE
    try:
        image = read_b32(data)
    except B32FormatError as e:
        fail(str(e))
        return EXIT_BAD_FILE
    cpu = B32CPU()
    cpu.load(image)
    clock = RunClock()
    budget = OutputBudget(opts.max_output)
    try:
        with _trace_stream(opts, budget) as trace_out:
            status = _execute(cpu, opts.max_steps, trace_out, fail, opts.timeout, budget)
    except OSError as e:
        fail(f"cannot write the trace to {opts.trace_file}: {e.strerror or e}")
        return EXIT_BAD_FILE

    if not _show_screen(cpu, opts.color, sys.stdout, budget) and \
            status != EXIT_OUTPUT_LIMIT:
        fail(budget.message())
        status = EXIT_OUTPUT_LIMIT
    if opts.screen_html:
        try:
            with open_run_output(opts.screen_html) as f:
                f.write(render_html(cpu.screen, f"B32 screen: {os.path.basename(path)}"))
        except OSError as e:
            fail(f"cannot write {opts.screen_html}: {e.strerror or e}")
            status = status or EXIT_BAD_FILE
    if opts.regs:
        print(cpu.registers(), file=sys.stderr)
    if opts.stats:
        clock.report(cpu.steps, sys.stderr)
    return status


class _TraceFull(Exception):
    """The trace used up --max-output (the run stops, status 153)."""


def _execute(cpu: B32CPU, max_steps: Optional[int], trace_out: Optional[TextIO],
             fail: Callable[[str], None], timeout: Optional[float] = None,
             budget: Optional[OutputBudget] = None) -> int:
    """Run to END; a fault is reported with the registers and becomes the exit status."""
    tracer = _Tracer(trace_out, budget) if trace_out else None

    def run(n: Optional[int]) -> int:
        return cpu.run(n) if tracer is None else _traced_run(tracer, cpu, n)

    try:
        if timeout is None:
            run(max_steps)
            return 0
        with Deadline(timeout) as deadline:
            start = cpu.steps
            while True:         # in slices, reading the clock between them
                done = cpu.steps - start
                n = TIME_SLICE if max_steps is None else min(TIME_SLICE, max_steps - done)
                try:
                    run(n)
                    return 0
                except StepLimitReached:
                    if max_steps is not None and cpu.steps - start >= max_steps:
                        raise StepLimitReached(cpu.IP, max_steps) from None
                    if deadline.expired:
                        raise TimedOut() from None
    except TimedOut:
        fail(f"timed out after {timeout:g} s")
        status = EXIT_TIMEOUT
    except _TraceFull:
        fail(budget.message())
        status = EXIT_OUTPUT_LIMIT
    except IllegalOpcode as e:
        fail(f"{e} (not a B32 instruction; the program may have run past its END "
             "or jumped into data)")
        status = EXIT_ILLEGAL_OPCODE
    except StepLimitReached as e:
        fail(f"{e}; stopped at ${cpu.IP:04X}: {instruction_at(cpu.mem, cpu.IP)}")
        status = EXIT_STEP_LIMIT
    except KeyboardInterrupt:
        fail(f"interrupted at ${cpu.IP:04X}: {instruction_at(cpu.mem, cpu.IP)}")
        status = EXIT_INTERRUPTED
    print(f"  {cpu.registers()}", file=sys.stderr)
    return status


@contextmanager
def _trace_stream(opts: RunOptions, budget: OutputBudget) -> Iterator[Optional[TextIO]]:
    """--trace-file, else stderr for --trace, else None; drawing on --max-output."""
    if opts.trace_file:
        with open_run_output(opts.trace_file, budget=budget) as f:
            yield f
    else:
        yield budgeted_text(sys.stderr, budget) if opts.trace else None


class _Tracer:
    """--trace: one line per instruction, in the shape of the x86 and V16 traces: address,
    bytes, text, then what it changed (registers, flags, the byte STA wrote)."""

    def __init__(self, out: TextIO, budget: Optional[OutputBudget] = None):
        self.out = out
        self.budget = budget if budget is not None and budget.limit is not None else None

    def __call__(self, cpu: B32CPU) -> None:
        """Trace one instruction of ``cpu`` as it executes (IllegalOpcode propagates)."""
        mem = cpu.mem
        ip = cpu.IP
        before = (cpu.A, cpu.B, cpu.X, cpu.Y, cpu.CF, cpu.PF)
        entry = _BY_OPCODE.get(mem[ip])
        size = 1 + (entry.operand.size if entry is not None else 0)
        raw = " ".join(f"{mem[(ip + i) & 0xFFFF]:02X}" for i in range(size))
        text = instruction_at(mem, ip)
        stored = cpu.X if entry is not None and entry.op == "store" else None
        try:
            cpu.step()
        except IllegalOpcode as e:
            self.out.write(f"{ip:04X}  {raw:<9} {text:<24} !! {e}\n")
            raise
        changes = [f"{name}={value:0{width}X}" for name, value, old, width in
                   zip(("A", "B", "X", "Y", "CF", "PF"),
                       (cpu.A, cpu.B, cpu.X, cpu.Y, cpu.CF, cpu.PF), before,
                       (2, 2, 4, 4, 2, 2)) if value != old]
        if stored is not None:
            changes.append(f"[{stored:04X}]={mem[stored]:02X}")
        self.out.write(f"{ip:04X}  {raw:<9} {text:<24} {' '.join(changes)}".rstrip() + "\n")


def _traced_run(tracer: _Tracer, cpu: B32CPU, max_steps: Optional[int] = None) -> int:
    """B32CPU.run with each step traced: raises IllegalOpcode or StepLimitReached."""
    start = cpu.steps
    while not cpu.halted:
        if max_steps is not None and cpu.steps - start >= max_steps:
            raise StepLimitReached(cpu.IP, cpu.steps - start)
        tracer(cpu)
        if tracer.budget is not None and tracer.budget.exceeded:
            raise _TraceFull()
    return cpu.steps - start


_BY_OPCODE = {insn.opcode: insn for insn in TABLE}


def use_color(mode: str, stream: TextIO) -> bool:
    """--color auto|always|never; auto means a terminal, unless NO_COLOR is set."""
    if mode == "always":
        return True
    if mode == "never":
        return False
    return stream.isatty() and not os.environ.get("NO_COLOR")


def _show_screen(cpu: B32CPU, mode: str, stream: TextIO,
                 budget: Optional[OutputBudget] = None) -> bool:
    """Print the screen; False when --max-output cut it short."""
    text = render_ansi(cpu.screen) if use_color(mode, stream) else render_text(cpu.screen)
    whole = True
    if budget is not None and budget.limit is not None:
        data = text.encode("utf-8")
        allowed = budget.take(len(data))
        if allowed < len(data):
            text = data[:allowed].decode("utf-8", "ignore")
            whole = False
    try:
        stream.write(text)
        stream.flush()
    except BrokenPipeError:
        # The reader left (e.g. "| head"): stop quietly, and keep Python from
        # complaining again when it flushes stdout at exit.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, stream.fileno())
    return whole
