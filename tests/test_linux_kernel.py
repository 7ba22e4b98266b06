"""Pieces of the Linux personality on their own: address-space layout and mappings, ELF
loading checks, signal frame layout, pipes and devices; plus whole-program checks that
need no native twin (deadlock detection, PyPy)."""

from __future__ import annotations

import errno

import pytest
from conftest import require_tool
from linux.kit import build, run_native, run_pyvm

from vm.linux import signals as S
from vm.linux.addrspace import (
    MIB,
    AddressSpace,
    Layout,
)
from vm.linux.files import PIPE_CAPACITY, DeviceFile, GuestFileError, Pipe, PipeEnd
from vm.linux.loader import LoadError, prepare
from vm.x86.faults import MemoryFault
from vm.x86.memory import Memory


def _space(lo=0x08048000, hi=0x08100000):
    layout = Layout(lo, hi)
    mem = Memory(layout.size)
    return mem, AddressSpace(mem, layout)


def test_unmapped_pages_refuse_writes():
    mem, asp = _space()
    with pytest.raises(MemoryFault):
        mem.write(0, b"x")                       # the NULL page
    with pytest.raises(MemoryFault):
        mem.write(asp.layout.mmap_lo, b"x")
    asp.map(asp.layout.mmap_lo, asp.layout.mmap_lo + 4096, 3)
    mem.write(asp.layout.mmap_lo, b"x")
    asp.protect(asp.layout.mmap_lo, asp.layout.mmap_lo + 4096, 1)
    with pytest.raises(MemoryFault):
        mem.write(asp.layout.mmap_lo, b"y")


def test_mmap_area_is_used_top_down_and_unmapping_clears():
    mem, asp = _space()
    a = asp.find_free(3 * 4096)
    assert a == asp.layout.mmap_hi - 3 * 4096
    asp.map(a, a + 3 * 4096, 3)
    b = asp.find_free(4096)
    assert b == a - 4096
    mem.write(a, b"data")
    asp.unmap(a, a + 4096)
    assert mem.data[a:a + 4] == bytes(4) and not asp.is_mapped(a, a + 1)
    with pytest.raises(MemoryFault):        # an unmapped page refuses reads
        mem.read(a + 4095, 2)
    assert mem.read(a + 4096, 4) == bytes(4)
    assert asp.is_mapped(a + 4096, a + 3 * 4096) and asp.find_free(4096) == a
    assert list(asp.runs(a - 8192, a + 3 * 4096)) == [(a + 4096, a + 3 * 4096)]


def test_brk_grows_into_free_pages_only():
    mem, asp = _space()
    start = asp.layout.brk_start
    assert asp.set_brk(0) == start
    assert asp.set_brk(start + 10000) == start + 10000
    mem.write(start + 9999, b"z")
    assert asp.set_brk(start + 5000) == start + 5000
    assert mem.data[start + 8192:start + 12288] == bytes(4096)     # released page cleared
    with pytest.raises(MemoryFault):
        mem.read(start + 8192, 1)
    assert asp.set_brk(asp.layout.brk_limit + 1) == start + 5000
    asp.map(start + 64 * 1024, start + 68 * 1024, 3)       # something mapped in the way
    assert asp.set_brk(start + 128 * 1024) == start + 5000


def test_copy_into_copies_contents_and_protection():
    mem, asp = _space()
    a = asp.find_free(8192)
    asp.map(a, a + 4096, 3)
    asp.map(a + 4096, a + 8192, 1)
    mem.write(a, b"parent")
    mem.load(a + 4096, b"text")
    child_mem = Memory(mem.size)
    child = asp.copy_into(child_mem)
    assert child_mem.read(a, 6) == b"parent" and child_mem.read(a + 4096, 4) == b"text"
    child_mem.write(a, b"child!")
    assert mem.read(a, 6) == b"parent"
    with pytest.raises(MemoryFault):
        child_mem.write(a + 4096, b"x")
    assert child.prot == asp.prot


def test_dynamic_program_names_its_interpreter_and_foreign_files_are_refused(tmp_path):
    require_tool("gcc")
    exe = build("printf_int", "O2", ())
    image = prepare(exe.read_bytes())          # gcc -m32 -O2: a PIE asking for ld.so
    assert image.interp == b"/lib/ld-linux.so.2" and image.lo == 4 * MIB
    with pytest.raises(LoadError) as e:
        prepare(b"#!/bin/sh\necho\n")
    assert e.value.errno == errno.ENOEXEC
    with pytest.raises(LoadError):
        prepare(b"\x7fELF\x02\x01\x01" + bytes(64))


def test_static_image_facts():
    image = prepare(build("int64").read_bytes())
    assert image.base == 0 and image.lo == 0x08048000 and image.phdr == 0x08048034
    assert image.tls is not None and not image.exec_stack
    ro = image.readonly_pages()
    assert ro and all(lo < hi <= image.hi for lo, hi in ro)
    pie = prepare(build("int64", "O2", ("-static-pie",)).read_bytes())
    assert pie.lo == 4 * MIB and pie.entry >= pie.lo


def test_signal_frame_layouts_match_the_kernel():
    # arch/x86/include/asm/sigframe.h: struct sigframe_ia32 and rt_sigframe_ia32
    assert S.SIGCONTEXT.size == 88
    assert S.SF_SIZE == 4 + 4 + 88 + 624 + 4 + 8
    assert S.RT_SIZE == 16 + 128 + (20 + 88 + 8) + 8
    assert S.RT_SC == 164 and S.RT_MASK == 252


def test_pipe_capacity_and_atomic_small_writes():
    pipe = Pipe()
    reader, writer = PipeEnd(pipe, False), PipeEnd(pipe, True)
    with pytest.raises(GuestFileError) as e:
        reader.read(10)
    assert e.value.errno == errno.EAGAIN                 # empty, a writer exists: wait
    assert writer.write(bytes(PIPE_CAPACITY - 100)) == PIPE_CAPACITY - 100
    with pytest.raises(GuestFileError):
        writer.write(bytes(200))                         # <= PIPE_BUF: all or nothing
    assert writer.write(bytes(5000)) == 100              # larger: what fits
    assert len(reader.read(1 << 20)) == PIPE_CAPACITY
    writer.close()
    assert reader.read(10) == b""                        # no writer: end of file
    reader.close()
    with pytest.raises(GuestFileError) as e:
        PipeEnd(pipe, True).write(b"x")
    assert e.value.errno == errno.EPIPE


def test_emulated_devices():
    assert DeviceFile("null", True, True).read(10) == b""
    assert DeviceFile("null", True, True).write(b"abc") == 3
    assert DeviceFile("zero", True, False).read(4) == bytes(4)
    with pytest.raises(GuestFileError) as e:
        DeviceFile("full", True, True).write(b"x")
    assert e.value.errno == errno.ENOSPC
    assert len(DeviceFile("urandom", True, False).read(16)) == 16


def test_deadlock_is_reported(tmp_path):
    result = run_pyvm(build("deadlock"), cwd=tmp_path)
    assert result.status == 125 and result.stdout == b"reading\n"
    assert b"deadlock: every process is waiting" in result.stderr and b"in read" in result.stderr


def test_runs_under_pypy(tmp_path):
    pypy = require_tool("pypy3")
    exe = build("fork_pipe")
    native = run_native(exe, cwd=tmp_path)
    result = run_pyvm(exe, cwd=tmp_path, python=pypy, module="vm.linux")
    assert (result.stdout, result.status) == (native.stdout, native.status), result


def test_program_built_by_pyasm_and_pyld(tmp_path):
    """The toolchain end to end: NASM source -> pyasm ELF32 object -> pyld -> pyvm."""
    from asm.cli import run as pyasm_run
    from asm.link.cli import run as pyld_run
    src = tmp_path / "hello.s"
    src.write_text("""
        bits 32
        global _start
        section .text
_start: mov eax, 4
        mov ebx, 1
        mov ecx, msg
        mov edx, len
        int 0x80
        mov eax, 1
        mov ebx, 7
        int 0x80
        section .data
msg:    db "Hello from pyld", 10
len     equ $ - msg
""")
    obj, exe = tmp_path / "hello.o", tmp_path / "hello"
    assert pyasm_run(str(src), fmt="elf32", output=str(obj)) == 0
    assert pyld_run(["-o", str(exe), str(obj)]) == 0
    result = run_pyvm(exe, cwd=tmp_path)
    assert (result.stdout, result.status) == (b"Hello from pyld\n", 7), result


def test_interval_timer_interrupts_a_busy_loop(tmp_path):
    """setitimer in a lone, CPU-bound process: its turn was planned long, so arming the
    timer must end it; 5 ticks then arrive within a few scheduler slices. Natively the
    loop ends after about 10 ms; a late timer would run it on towards its 2,000,000,000
    iterations, past --max-steps."""
    exe = build("alarm_busy")
    native = run_native(exe, cwd=tmp_path)
    result = run_pyvm(exe, cwd=tmp_path, options=["--max-steps", "8000000"])
    assert native.stdout == b"ticks>=5: 1\n"
    assert (result.status, result.stdout) == (0, native.stdout), result
