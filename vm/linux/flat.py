"""Flat 32-bit binaries (``pyvm prog.bin``): the image at --org in --memory bytes of RAM,
the stack at the top, and the few Linux ``int 0x80`` calls such a program needs.

Exit status: the guest's own; after a fault, 128 + the signal Linux would send
(SIGILL 132, SIGTRAP 133, SIGFPE 136, SIGSEGV 139); 124 when --max-steps runs out; 142
when --timeout runs out; 153 past --max-output; 1 for a file or option that cannot be
run.
"""

from __future__ import annotations

import errno
import os
import sys
from typing import BinaryIO, Optional

from vm.options import (
    EXIT_BAD_FILE,
    EXIT_OUTPUT_LIMIT,
    EXIT_STEP_LIMIT,
    EXIT_TIMEOUT,
    Deadline,
    OutputBudget,
    RunOptions,
    TimedOut,
    limited_streams,
)
from vm.stats import RunClock
from vm.x86.faults import (
    CPUException,
    MachineExit,
    MemoryFault,
    Unsupported,
)
from vm.x86.machine import Machine
from vm.x86.signals import SIGILL, fault_report
from vm.x86.trace import Tracer, disassemble, register_dump

TIME_SLICE = 1_000_000             # instructions between two looks at the clock
MAX_MEMORY = 1 << 30
PAGE = 4096


class LinuxFlat:
    """``int 0x80`` for flat binaries: exit, exit_group, read, write, brk. Any other
    call returns -ENOSYS."""

    def __init__(self, machine: Machine, brk_start: int, brk_limit: int,
                 stdin: Optional[BinaryIO] = None, stdout: Optional[BinaryIO] = None,
                 stderr: Optional[BinaryIO] = None):
        self.m = machine
        self.brk = brk_start
        self.brk_start = brk_start
        self.brk_limit = brk_limit
        self.files = {0: stdin, 1: stdout, 2: stderr}
        self.calls = {1: ("exit", self.sys_exit), 252: ("exit_group", self.sys_exit),
                      3: ("read", self.sys_read), 4: ("write", self.sys_write),
                      45: ("brk", self.sys_brk)}
        machine.on_interrupt = self.on_interrupt

    def on_interrupt(self, m: Machine, vector: int, software: bool) -> bool:
        if vector != 0x80 or not software:
            return False
        r = m.cpu.r
        nr = r[0]
        args = (r[3], r[1], r[2], r[6], r[7], r[5])       # ebx ecx edx esi edi ebp
        name, fn = self.calls.get(nr, (f"syscall_{nr}", None))
        tracer = m.tracer
        if fn is None:
            result = -errno.ENOSYS
        else:
            try:
                result = fn(*args)
            except MachineExit:
                if tracer is not None:
                    tracer.event(f"{name}({args[0]})")
                raise
        if tracer is not None:
            shown = ", ".join(_arg(a) for a in args[:_ARGC.get(name, 3)])
            err = f" ({errno.errorcode.get(-result, '')})" if result < 0 else ""
            tracer.event(f"{name}({shown}) = {result}{err}")
        r[0] = result & 0xFFFFFFFF
        return True

    def sys_exit(self, status: int, *_) -> int:
        raise MachineExit(status & 0xFF)

    def sys_write(self, fd: int, buf: int, count: int, *_) -> int:
        f = self.files.get(fd)
        if f is None:
            return -errno.EBADF
        try:
            data = self.m.mem.read(buf, count)
        except MemoryFault:
            return -errno.EFAULT
        try:
            f.write(data)
            f.flush()
        except BrokenPipeError:
            return -errno.EPIPE
        except (OSError, ValueError):
            return -errno.EIO
        return count

    def sys_read(self, fd: int, buf: int, count: int, *_) -> int:
        f = self.files.get(fd)
        if f is None or fd != 0:
            return -errno.EBADF
        if buf + count > self.m.mem.size:
            return -errno.EFAULT
        try:
            data = f.read1(count) if hasattr(f, "read1") else f.read(count)
        except (OSError, ValueError):
            return -errno.EIO
        self.m.mem.write(buf, data)
        return len(data)

    def sys_brk(self, addr: int, *_) -> int:
        if self.brk_start <= addr <= self.brk_limit:
            self.brk = addr
        return self.brk


_ARGC = {"exit": 1, "exit_group": 1, "brk": 1, "read": 3, "write": 3}


def _arg(v: int) -> str:
    return str(v) if v < 0x10000 else f"0x{v:x}"




EARLY_FAULT = 16        # instructions: a fault before this many suggests the wrong mode


def run_flat(path: str, data: bytes, opts: RunOptions, stdin=None, stdout=None,
             stderr=None) -> int:
    """Run a flat 32-bit binary; returns the exit status."""
    err_stream = sys.stderr

    def fail(message: str) -> int:
        print(f"pyvm: {path}: {message}", file=err_stream)
        return EXIT_BAD_FILE

    if not data:
        return fail("empty file: nothing to run")
    memory = opts.memory or (16 << 20)
    if memory < 2 * PAGE or memory > MAX_MEMORY:
        return fail(f"--memory must be between 8K and {MAX_MEMORY >> 20}M, not {memory}")
    org = opts.org or 0
    if opts.max_steps is not None and opts.max_steps < 1:
        return fail(f"--max-steps must be at least 1, not {opts.max_steps}")
    stack_reserve = min(1 << 20, memory // 4)
    if org < 0 or org + len(data) > memory - stack_reserve:
        return fail(f"org 0x{org:x} does not fit: {len(data)} bytes there must end below "
                    f"the stack at 0x{memory - stack_reserve:x} "
                    f"(--memory is 0x{memory:x} bytes)")
    try:
        m = Machine("flat32", memory)
    except MemoryError:
        return fail(f"cannot allocate {memory} bytes of guest memory")
    m.load(org, data)
    m.set_reg("esp", memory & 0xFFFFFFFF)
    m.set_reg("eip", org)
    brk0 = (org + len(data) + PAGE - 1) & ~(PAGE - 1)
    budget = OutputBudget(opts.max_output)
    budget.stoppers.append(m.request_stop)
    LinuxFlat(m, brk0, memory - stack_reserve,
              stdin if stdin is not None else sys.stdin.buffer,
              *limited_streams(budget,
                               stdout if stdout is not None else sys.stdout.buffer,
                               stderr if stderr is not None else sys.stderr.buffer))
    trace_file = None
    if opts.trace or opts.trace_file:
        if opts.trace_file:
            try:
                trace_file = open(opts.trace_file, "w", encoding="utf-8")
            except OSError as e:
                return fail(f"cannot write {opts.trace_file}: {e.strerror or e}")
            m.tracer = Tracer(trace_file)
        else:
            m.tracer = Tracer(err_stream)
    clock = RunClock()
    deadline = Deadline(opts.timeout)
    deadline.stoppers.append(m.request_stop)
    try:
        status = _run(m, path, opts, err_stream, deadline, budget)
    finally:
        if m.tracer is not None:
            m.tracer.flush()
        if trace_file is not None:
            trace_file.close()
    if opts.regs:
        print(register_dump(m), file=err_stream)
    if opts.stats:
        clock.report(m.steps, err_stream)
    return status


def _run(m: Machine, path: str, opts: RunOptions, err, deadline: Deadline,
         budget: OutputBudget) -> int:
    try:
        with deadline:
            # in slices when a deadline is set: a compiled loop sees its step limit, not
            # a stop request, so the clock is read between slices
            while True:
                left = None if opts.max_steps is None else opts.max_steps - m.steps
                n = left if deadline.seconds is None else \
                    min(TIME_SLICE, left) if left is not None else TIME_SLICE
                stop = m.run(n)
                if stop.reason not in ("stopped", "limit") or budget.exceeded or \
                        deadline.expired or (left is not None and m.steps >= opts.max_steps):
                    break
    except TimedOut:
        stop = None
    except Unsupported as e:
        print(f"pyvm: {path}: {e} (at 0x{m.eip:08x}; not supported by this emulator)",
              file=err)
        print(register_dump(m), file=err)
        return 128 + SIGILL
    except KeyboardInterrupt:
        print(f"pyvm: {path}: interrupted at 0x{m.eip:08x}", file=err)
        print(register_dump(m), file=err)
        return 130
    except Exception as e:      # a bug in the emulator: say so, in one line
        if os.environ.get("PYVM_DEBUG"):
            raise
        print(f"pyvm: {path}: internal error at 0x{m.eip:08x}: {type(e).__name__}: {e} "
              "(a bug in pyvm; PYVM_DEBUG=1 shows the traceback)", file=err)
        return 70
    if budget.exceeded:
        print(f"pyvm: {path}: {budget.message()}", file=err)
        return EXIT_OUTPUT_LIMIT
    if stop is None or (stop.reason in ("stopped", "limit") and deadline.expired and
                        not (opts.max_steps is not None and m.steps >= opts.max_steps)):
        print(f"pyvm: {path}: {deadline.message()}", file=err)
        return EXIT_TIMEOUT
    if stop.reason == "exit":
        return stop.status or 0
    if stop.reason == "limit":
        from asm.x86.decoder import DecodeError, decode
        try:
            text = disassemble(decode(m.mem.data, m.eip, 32, m.eip), 32)
        except (DecodeError, IndexError):
            text = "?"
        print(f"pyvm: {path}: stopped after {m.steps} instructions (--max-steps "
              f"{opts.max_steps}); next: 0x{m.eip:08x}: {text}", file=err)
        print(register_dump(m), file=err)
        return EXIT_STEP_LIMIT
    if stop.reason == "fault" and isinstance(stop.fault, CPUException):
        status, line = fault_report(m, stop.fault)
        print(f"pyvm: {path}: {line}", file=err)
        print(register_dump(m), file=err)
        if m.steps < EARLY_FAULT and opts.hint_bits:
            # 16-bit code (nasm -f bin without `bits 32`) dies like this when run as 32-bit
            print(f"pyvm: {path}: hint: this flat binary ran as 32-bit code and faulted "
                  f"after {m.steps} instructions; if it is 16-bit code, run it with "
                  "--bits 16", file=err)
        return status
    print(f"pyvm: {path}: stopped: {stop.reason}", file=err)
    return EXIT_BAD_FILE
