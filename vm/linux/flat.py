"""Flat 32-bit binaries (``pyvm prog.bin``): a Linux process of the kernel
(vm/linux/kernel.py), so every system call, the sandbox and every limit are those of ELF
programs. The process's RAM is --memory bytes (16M when not given) from address 0, laid
out by addrspace.FlatLayout: the image at --org (default 0, page 0 included) mapped
read/write/exec, brk from the page after the image, the stack in the top 1M (a quarter of
a smaller RAM) with ESP at the very top and nothing pushed, EIP at the org, every other
register zero. Memory outside those mappings (and mmap's) is unmapped: a fault there is
SIGSEGV, as for an ELF program.

Exit status: the guest's own; after a fault, 128 + the signal Linux would send
(SIGILL 132, SIGTRAP 133, SIGFPE 136, SIGSEGV 139); 124 when --max-steps runs out; 142
when --timeout runs out; 153 past --max-output; 130 on Ctrl-C; 1 for a file or option
that cannot be run.

:class:`LinuxFlat` is not that: a bare Machine's five ``int 0x80`` calls (exit, read,
write, brk), for benchmarks and CPU tests that drive a Machine directly.
"""

from __future__ import annotations

import errno
import os
import sys
from typing import BinaryIO, List, Optional, Tuple

from vm.linux.addrspace import FlatLayout, page_down, page_up
from vm.options import EXIT_BAD_FILE, RunOptions
from vm.x86.faults import MachineExit, MemoryFault
from vm.x86.machine import Machine

MAX_MEMORY = 1 << 30
PAGE = 4096
STACK_RESERVE = 1 << 20         # the stack: the top 1M of RAM (a quarter of less RAM)


class LinuxFlat:
    """``int 0x80`` on a bare Machine (benchmarks, CPU tests): exit, exit_group, read,
    write, brk. Any other call returns -ENOSYS. ``pyvm`` runs flat binaries on the
    Linux kernel instead (:func:`run_flat`)."""

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


class FlatImage:
    """A flat binary as the kernel places it (the ``image`` of its Process): the bytes
    at ``org`` in RAM of ``memory`` bytes, pages writable and executable."""

    def __init__(self, data: bytes, org: int, memory: int):
        self.data, self.org, self.memory = data, org, memory
        self.entry = org
        self.lo, self.hi = page_down(org), page_up(org + len(data))
        self.stack_size = stack_size(memory)

    def readonly_pages(self) -> List[Tuple[int, int]]:
        return []                   # all writable: no translation is shared

    def layout(self) -> FlatLayout:
        return FlatLayout(self.lo, self.hi, self.memory, self.stack_size)

    def load(self, mem, aspace, reuse: bool = False) -> None:
        mem.load(self.org, self.data)
        aspace.map(self.lo, self.hi, 7)


def stack_size(memory: int) -> int:
    return min(STACK_RESERVE, memory // 4)


def check_flat(data: bytes, opts: RunOptions) -> Tuple[Optional[FlatImage], str]:
    """The image of a flat binary with its options, or None and why it cannot run."""
    if not data:
        return None, "empty file: nothing to run"
    memory = opts.memory or (16 << 20)
    if memory < 2 * PAGE or memory > MAX_MEMORY:
        return None, f"--memory must be between 8K and {MAX_MEMORY >> 20}M, not {memory}"
    org = opts.org or 0
    if opts.max_steps is not None and opts.max_steps < 1:
        return None, f"--max-steps must be at least 1, not {opts.max_steps}"
    top = memory - stack_size(memory)
    if org < 0 or org + len(data) > top:
        return None, (f"org 0x{org:x} does not fit: {len(data)} bytes there must end "
                      f"below the stack at 0x{top:x} (--memory is 0x{memory:x} bytes)")
    return FlatImage(data, org, memory), ""


def start_flat(path: str, image: FlatImage, proc, sandbox) -> None:
    """Put a flat binary in a new process (its argv is just the path)."""
    host = os.path.realpath(path) if os.path.exists(path) else ""
    proc.exe_host_path = host
    proc.comm = os.fsencode(os.path.basename(path))[:15]
    proc.exe_guest_path = (sandbox.to_guest(host) if host else None) or path
    proc.start_flat(image)
    proc.argv = [os.fsencode(path)]


def run_flat(path: str, data: bytes, opts: RunOptions) -> int:
    """Run a flat 32-bit binary as a Linux process; returns the exit status."""
    from vm.linux.runner import run_process
    image, why = check_flat(data, opts)
    if image is None:
        print(f"pyvm: {path}: {why}", file=sys.stderr)
        return EXIT_BAD_FILE

    def finish(kernel, proc, status: int) -> None:
        fault = proc.fatal_fault
        if fault is None:
            return
        if kernel.steps < EARLY_FAULT and opts.hint_bits:
            # 16-bit code (nasm -f bin without `bits 32`) dies like this when run as 32-bit
            print(f"pyvm: {path}: hint: this flat binary ran as 32-bit code and faulted "
                  f"after {kernel.steps} instructions; if it is 16-bit code, run it with "
                  "--bits 16", file=sys.stderr)
        elif isinstance(fault, MemoryFault) and proc.aspace is not None and \
                image.layout().brk_limit <= fault.address < image.layout().stack_lo:
            lay = image.layout()
            print(f"pyvm: {path}: hint: a flat binary's RAM is mapped up to "
                  f"0x{lay.brk_limit:x}, then its stack from 0x{lay.stack_lo:x}; the "
                  "space between is for mmap (or give it a larger --memory)",
                  file=sys.stderr)

    return run_process(path, opts, lambda k, proc, sb: start_flat(path, image, proc, sb),
                       finish, memory_limit=image.memory)
