"""``pyvm prog.v16``: load, run to a stop, print the register dump (v16-spec.md 6.2, 6.3).

stdout carries only the bytes written by ``out``; at every stop stdout is flushed and the
three-line dump goes to stderr. Exit status: 0 after ``hlt``; 132 ErrInstr, 135 ErrMem,
139 ErrSegv; 1 for a file that is not a valid V16 program (one line
``v16: error: <file>: <reason>``, no dump). The runner's own limits stop the machine
with the same dump under another title: --max-steps ``V16 StepLimit`` (124, as
timeout(1)), --timeout ``V16 Timeout`` (142), --max-output ``V16 OutputLimit`` (153), a
closed stdout ``V16 BrokenPipe`` (141, 128 + SIGPIPE), Ctrl-C ``V16 Interrupt`` (130).
"""

from __future__ import annotations

import io
import sys
from contextlib import contextmanager
from typing import BinaryIO, Iterator, Optional, TextIO, Union

from asm.v16.disassembler import instruction_at
from asm.v16.instructions import BY_OPCODE
from formats.inputs import InputError, read_input
from formats.outputs import open_run_output
from formats.v16 import V16FormatError, read_v16
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
from vm.v16.cpu import (
    EXIT_STATUS,
    NO_ERR,
    OUTPUT_FULL,
    STOP_NAMES,
    SYS_HLT,
    V16CPU,
    flag_letters,
)

EXIT_BROKEN_PIPE = 141
SLICE = 10_000          # instructions between two looks at the clock and the output


def run_v16_file(path: str, opts: RunOptions, stdout: Optional[BinaryIO] = None,
                 stderr: Optional[TextIO] = None) -> int:
    """Read ``path`` and run it; a file that cannot be read is a load error (status 1)."""
    try:
        data = read_input(path)         # (bounded: /dev/zero is refused, not read)
    except OSError as e:
        print(f"v16: error: {path}: cannot read: {e.strerror or e}",
              file=stderr or sys.stderr)
        return EXIT_BAD_FILE
    except InputError as e:
        print(f"v16: error: {path}: {e}", file=stderr or sys.stderr)
        return EXIT_BAD_FILE
    return run_v16(path, data, opts, stdout, stderr)


def run_v16_source(path: str, text: str, opts: RunOptions,
                   stdout: Optional[BinaryIO] = None, stderr: Optional[TextIO] = None) -> int:
    """``pyvm prog.asm`` for a V16 source: assemble (errors as ``file:line: error: ...``,
    status 1), then run."""
    from asm.errors import AsmErrors
    from asm.v16.assembler import assemble
    err = stderr or sys.stderr
    try:
        data = assemble(text, path)
    except AsmErrors as e:
        for line in e.errors:
            print(str(line), file=err)
        return EXIT_BAD_FILE
    return run_v16(path, data, opts, stdout, stderr)


def run_v16(path: str, data: bytes, opts: RunOptions, stdout: Optional[BinaryIO] = None,
            stderr: Optional[TextIO] = None) -> int:
    """Run a .v16 file's bytes; returns the exit status.

    ``stdout`` receives the program's bytes (a binary stream; a text stream gets them
    decoded as Latin-1), ``stderr`` the dump, the trace and messages. By default the
    process's own streams.
    """
    err = stderr if stderr is not None else sys.stderr
    out = _Output(stdout if stdout is not None else sys.stdout, OutputBudget(opts.max_output))

    def fail(message: str) -> int:
        print(f"v16: error: {path}: {message}", file=err)
        return EXIT_BAD_FILE

    if opts.max_steps is not None and opts.max_steps < 1:
        return fail(f"--max-steps must be at least 1, not {opts.max_steps}")
    try:
        image = read_v16(data)
    except V16FormatError as e:
        return fail(str(e))
    cpu = V16CPU()
    cpu.load(image)
    clock = RunClock()
    try:
        with _trace_stream(opts, err, out.budget) as trace:
            status, title, reason = _execute(cpu, opts, out, trace)
    except OSError as e:
        return fail(f"cannot write the trace to {opts.trace_file}: {e.strerror or e}")
    out.flush()
    if reason:
        print(f"v16: {path}: {reason}", file=err)
    err.write(cpu.dump(title))
    if opts.regs:
        regs = " ".join(f"{n}={v:04X}" for n, v in cpu.registers().items())
        print(f"{regs} [{flag_letters(cpu.flags)}] steps={cpu.steps}", file=err)
    if opts.stats:
        clock.report(cpu.steps, err)
    err.flush()
    return status


def _execute(cpu: V16CPU, opts: RunOptions, out: _Output, trace: Optional[TextIO]
             ) -> tuple[int, Optional[str], Optional[str]]:
    """Run in slices; returns (exit status, dump title or None for the machine's own
    stop, a message line or None)."""
    limit = opts.max_steps
    tried = 0
    tracer = _Tracer(trace) if trace is not None else None
    deadline = Deadline(opts.timeout)
    try:
        with deadline:
            while True:
                n = SLICE if limit is None else min(SLICE, limit - tried)
                if n <= 0:
                    return EXIT_STEP_LIMIT, "StepLimit", None
                if out.budget.limit is not None:
                    cpu.output_room = out.budget.limit - out.budget.used
                before = cpu.steps
                code = tracer.run(cpu, n) if tracer else cpu.run(n)
                tried += cpu.steps - before
                written = out.write(cpu.output)
                cpu.output.clear()
                if code == OUTPUT_FULL:
                    out.budget.take(1)      # the byte that did not fit: now "exceeded"
                    return _limit_stop(out)
                if not written or out.budget.exceeded:     # (the trace draws on it too)
                    return _limit_stop(out)
                if code != NO_ERR:
                    return EXIT_STATUS[code], None, None
                if deadline.expired:
                    raise TimedOut()
    except TimedOut:
        out.write(cpu.output)
        cpu.output.clear()
        return EXIT_TIMEOUT, "Timeout", deadline.message()
    except KeyboardInterrupt:
        out.write(cpu.output)
        cpu.output.clear()
        return EXIT_INTERRUPTED, "Interrupt", f"interrupted at {cpu.ip:04X}"


def _limit_stop(out: _Output) -> tuple[int, str, str]:
    if out.broken:
        return EXIT_BROKEN_PIPE, "BrokenPipe", "standard output was closed"
    return EXIT_OUTPUT_LIMIT, "OutputLimit", out.budget.message()


class _Output:
    """The program's stdout: raw bytes, drawn on the --max-output budget."""

    def __init__(self, stream: Union[BinaryIO, TextIO], budget: OutputBudget):
        self.budget = budget
        self.broken = False
        if isinstance(stream, io.TextIOBase):
            # sys.stdout and friends: write below the text layer; a StringIO: Latin-1.
            self.stream = getattr(stream, "buffer", None)
            self.text = stream if self.stream is None else None
            if self.stream is not None:
                stream.flush()
        else:
            self.stream, self.text = stream, None

    def write(self, data: bytearray) -> bool:
        """False when the run must stop: the budget ran out or the reader went away."""
        if not data or self.broken:
            return not self.broken
        allowed = self.budget.take(len(data))
        try:
            if self.text is not None:
                self.text.write(bytes(data[:allowed]).decode("latin-1"))
            elif allowed:
                self.stream.write(bytes(data[:allowed]))
        except BrokenPipeError:
            self.broken = True
            return False
        return allowed == len(data)

    def flush(self) -> None:
        try:
            (self.text or self.stream).flush()
        except (BrokenPipeError, ValueError):
            self.broken = True


@contextmanager
def _trace_stream(opts: RunOptions, err: TextIO,
                  budget: OutputBudget) -> Iterator[Optional[TextIO]]:
    """--trace-file, else stderr for --trace, else None; drawing on --max-output."""
    if opts.trace_file:
        with open_run_output(opts.trace_file, budget=budget) as f:
            yield f
    else:
        yield budgeted_text(err, budget) if opts.trace else None


class _Tracer:
    """--trace: one line per instruction, as the x86 trace: address, bytes, text, then the
    registers (and memory word) it changed; a stop is shown on the stopping line."""

    def __init__(self, stream: TextIO):
        self.stream = stream

    def run(self, cpu: V16CPU, count: int) -> int:
        for _ in range(count):
            ip = cpu.ip
            before = (tuple(cpu.r), cpu.sp, cpu.flags, len(cpu.output))
            raw = bytes(cpu.mem[ip:ip + 4])
            text = instruction_at(cpu.mem, ip)
            code = cpu.step()
            changes = self.changes(cpu, before)
            if code != NO_ERR:
                name = STOP_NAMES.get(code, "OutputLimit")
                changes.append(name if code == SYS_HLT else f"!! {name} (0x{code:02X})")
            hexb = raw[:_length(raw)].hex(" ").upper()
            self.stream.write(f"{ip:04X}  {hexb:<12} {text:<24} {' '.join(changes)}"
                              .rstrip() + "\n")
            if code != NO_ERR:
                return code
        return NO_ERR

    @staticmethod
    def changes(cpu: V16CPU, before: tuple) -> list[str]:
        regs, sp, flags, out_len = before
        found = [f"{name}={cpu.r[n]:04X}" for n, name in enumerate(("AX", "BX", "CX", "DX"))
                 if cpu.r[n] != regs[n]]
        if cpu.sp != sp:
            found.append(f"SP={cpu.sp:04X}")
        if cpu.flags != flags:
            found.append(f"FLAGS={cpu.flags:04X} [{flag_letters(cpu.flags)}]")
        if cpu.last_write is not None:
            address = cpu.last_write[0]
            found.append(f"[{address:04X}]={cpu.mem[address] | cpu.mem[address + 1] << 8:04X}")
        if len(cpu.output) != out_len:
            found.append(f"out={cpu.output[-1]:02X}")
        return found


def _length(raw: bytes) -> int:
    """Bytes of the instruction starting ``raw`` (1 for an illegal opcode)."""
    insn = BY_OPCODE.get(raw[0]) if raw else None
    return min(insn.length, len(raw)) if insn else 1
