"""No-execute pages (sbx33). Oracle: the native run of sbx33_nx.c (gcc -m32 -static) on
this x86_64 host, which enforces NX for i386 programs: a call into a page mapped without
PROT_EXEC (the stack without -z execstack, a PROT_READ|PROT_WRITE mapping, .data, the
heap, a page mprotect'ed to drop PROT_EXEC after its code ran) is SIGSEGV SEGV_ACCERR at
the fetch address with page-fault err 0x15 (user|instr|present). PT_GNU_STACK decides the
stack; a program without one, or with personality(READ_IMPLIES_EXEC) (inherited through
execve), executes every readable mapping. Before: every call ran ("ran, 42"), and a page
made PROT_NONE after its code ran still ran it.
"""
from __future__ import annotations

import struct
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from linux.kit import _env, build  # noqa: E402

HERE = Path(__file__).parent
PT_GNU_STACK = 0x6474E551


def _without_gnu_stack(exe: Path, out: Path) -> Path:
    """``exe`` with its PT_GNU_STACK header made PT_NULL (an old program's layout)."""
    d = bytearray(exe.read_bytes())
    phoff = struct.unpack_from("<I", d, 28)[0]
    phent, phnum = struct.unpack_from("<HH", d, 42)
    for i in range(phnum):
        if struct.unpack_from("<I", d, phoff + i * phent)[0] == PT_GNU_STACK:
            struct.pack_into("<I", d, phoff + i * phent, 0)
    out.write_bytes(bytes(d))
    out.chmod(0o755)
    return out


def _both(exe: Path, *args: str, cache: bool = False) -> tuple:
    native = subprocess.run([str(exe), *args], capture_output=True, timeout=60,
                            stdin=subprocess.DEVNULL)
    ours = subprocess.run([sys.executable, "-m", "vm.cli", str(exe), *args],
                          env=_env({} if cache else {"PYVM_CODE_CACHE": "0"}),
                          capture_output=True, timeout=300, stdin=subprocess.DEVNULL)
    return native, ours


@pytest.mark.parametrize("args", [(), ("rie",), ("now",)])
def test_no_execute_pages_fault_as_natively(args):
    native, ours = _both(build("sbx33_nx", opt="O1", where=HERE), *args)
    assert native.returncode == 0, native
    assert b"rw mmap: sig 11 code 2 addr =fetch err e15" in native.stdout or args, native
    assert ours.returncode == 0, ours.stderr.decode()[-2000:]
    assert ours.stdout == native.stdout, ours.stderr.decode()[-2000:]


def test_execstack_and_code_cache():
    """-z execstack: the stack executes, nothing else does (the code cache on)."""
    exe = build("sbx33_nx", opt="O1", flags=("-static", "-z", "execstack"), where=HERE)
    native, ours = _both(exe, cache=True)
    assert b"stack: ran, 42" in native.stdout and b"heap: sig 11" in native.stdout, native
    assert ours.stdout == native.stdout, ours.stderr.decode()[-2000:]


def test_no_gnu_stack_reads_imply_exec(tmp_path):
    exe = _without_gnu_stack(build("sbx33_nx", opt="O1", where=HERE), tmp_path / "old")
    native, ours = _both(exe)
    assert b"personality 400000" in native.stdout and b"heap: ran, 42" in native.stdout
    assert ours.stdout == native.stdout, ours.stderr.decode()[-2000:]


def test_uncaught_fetch_fault_kills_with_sigsegv():
    native, ours = _both(build("sbx33_nx", opt="O1", where=HERE), "bare")
    assert native.returncode == -11, native
    assert ours.returncode == 139, ours
    assert b"memory fault executing" in ours.stderr, ours.stderr
