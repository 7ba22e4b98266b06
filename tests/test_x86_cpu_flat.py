"""``pyvm FILE.bin`` end to end: flat 32-bit programs run in a subprocess, their output,
exit statuses, fault reports, --max-steps, --trace, --regs and bad files."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys

import pytest
from test_x86_cpu_asm import asm

HELLO = """
        mov eax, 4          ; write(1, msg, len)
        mov ebx, 1
        mov ecx, msg
        mov edx, len - msg
        int 0x80
        mov eax, 1          ; exit(0)
        mov ebx, 0
        int 0x80
msg:    db "Hello, world!", 10
len:
"""


def pyvm(*args, stdin: bytes = b"") -> subprocess.CompletedProcess:
    exe = shutil.which("pyvm")
    cmd = [exe] if exe else [sys.executable, "-m", "vm.cli"]
    return subprocess.run(cmd + [str(a) for a in args], input=stdin, capture_output=True,
                          timeout=120)


def program(tmp_path, source: str, name: str = "prog.bin", org: int = 0):
    path = tmp_path / name
    path.write_bytes(asm(source, 32, org))
    return path


def test_hello_world(tmp_path):
    r = pyvm(program(tmp_path, HELLO, "hello.bin"))
    assert r.returncode == 0, r.stderr
    assert r.stdout == b"Hello, world!\n" and r.stderr == b""


def test_exit_status_passes_through_and_org(tmp_path):
    src = "mov eax, 252\nmov ebx, 300\nint 0x80"        # exit_group(300 & 0xff)
    assert pyvm(program(tmp_path, src)).returncode == 300 & 0xFF
    src = "mov eax, 1\nmov ebx, [here]\nint 0x80\nhere: dd 42"
    assert pyvm("--org", "0x400000", program(tmp_path, src, org=0x400000)).returncode == 42


def test_read_brk_and_unknown_syscalls(tmp_path):
    src = """
        mov eax, 3          ; read(0, buf, 16)
        mov ebx, 0
        mov ecx, buf
        mov edx, 16
        int 0x80
        mov esi, eax
        mov eax, 45         ; brk(0): the current break
        xor ebx, ebx
        int 0x80
        mov edi, eax
        lea ebx, [eax+0x1000]
        mov eax, 45         ; grow it
        int 0x80
        sub eax, edi
        cmp eax, 0x1000
        jne bad
        mov eax, 17         ; break (obsolete): not provided, -ENOSYS
        int 0x80
        cmp eax, -38
        jne bad
        mov eax, 20         ; getpid: the Linux kernel's calls are all there
        int 0x80
        test eax, eax
        jle bad
        mov eax, 4          ; echo what was read
        mov ebx, 1
        mov ecx, buf
        mov edx, esi
        int 0x80
        mov eax, 1
        xor ebx, ebx
        int 0x80
bad:    mov eax, 1
        mov ebx, 99
        int 0x80
buf:    dd 0, 0, 0, 0
"""
    r = pyvm(program(tmp_path, src), stdin=b"ping\n")
    assert r.returncode == 0 and r.stdout == b"ping\n", r.stderr


@pytest.mark.parametrize("source, status, words", [
    ("nop\nud2", 132, ["invalid opcode", "SIGILL", "ud2"]),
    ("db 0x0f, 0xff", 132, ["invalid opcode", "SIGILL", "0x00000000"]),
    ("mov dword [0x7ffffff0], 1", 139, ["memory fault writing 0x7ffffff0", "SIGSEGV",
                                        "mov dword [0x7ffffff0], 0x1"]),
    ("mov eax, [0xfffffff0]", 139, ["memory fault reading 0xfffffff0"]),
    ("xor ecx, ecx\ndiv ecx", 136, ["divide error", "SIGFPE", "div ecx"]),
    ("hlt", 139, ["general protection", "SIGSEGV", "hlt"]),
    ("int 0x21", 139, ["int 0x21", "SIGSEGV"]),
    ("int3", 133, ["breakpoint", "SIGTRAP"]),
])
def test_faults_report_and_exit_like_a_signal(tmp_path, source, status, words):
    r = pyvm(program(tmp_path, source))
    assert r.returncode == status
    err = r.stderr.decode()
    first = err.splitlines()[0]
    assert first.startswith("pyvm: ") and "Traceback" not in err
    for w in words:
        assert w in first, (w, err)
    assert "eax=" in err and "eip=" in err and "eflags=" in err


def test_fault_register_dump_is_precise(tmp_path):
    r = pyvm(program(tmp_path, "mov ebx, 0x1234\nmov eax, 7\nmov [eax+0x7ffffff0], ebx"))
    err = r.stderr.decode()
    assert r.returncode == 139
    assert "eax=00000007" in err and "ebx=00001234" in err and "eip=0000000a" in err


def test_max_steps(tmp_path):
    loop = program(tmp_path, "top: inc eax\njmp top")
    r = pyvm("--max-steps", "1001", loop)
    assert r.returncode == 124
    err = r.stderr.decode()
    assert "stopped after 1001 instructions" in err and "Traceback" not in err
    assert "eax=000001f5" in err          # 501 INCs, 500 JMPs
    r = pyvm("--max-steps", "100", program(tmp_path, HELLO, "hello.bin"))
    assert r.returncode == 0 and r.stdout == b"Hello, world!\n"
    assert pyvm("--max-steps", "0", loop).returncode == 1


def test_trace_to_stderr_and_to_a_file(tmp_path):
    hello = program(tmp_path, HELLO, "hello.bin")
    r = pyvm("--trace", hello)
    assert r.returncode == 0 and r.stdout == b"Hello, world!\n"
    lines = r.stderr.decode().splitlines()
    assert lines[0].split() == ["00000000", "b8", "04", "00", "00", "00", "mov", "eax,",
                                "0x4", "eax=00000004"]
    assert any("int 0x80" in ln for ln in lines)
    # system calls as for ELF programs: "[pid] call(args) = result"
    assert any(ln.endswith("] write(1, 34, 14) = 14") for ln in lines), lines
    assert any(ln.endswith("] exit(0)") for ln in lines), lines
    out = tmp_path / "trace.txt"
    r = pyvm("--trace-file", out, hello)
    assert r.returncode == 0 and r.stderr == b""
    pid = re.compile(r"\[\d+\]")
    assert [pid.sub("[pid]", ln) for ln in out.read_text().splitlines()] == \
        [pid.sub("[pid]", ln) for ln in lines]
    r = pyvm("--trace", program(tmp_path, "mov eax, 99\nint 0x80\nmov eax, 1\nint 0x80"))
    assert "syscall_99(0, 0, 0, 0, 0, 0) = -38 (ENOSYS)" in r.stderr.decode()


def test_stats_count_the_instructions_retired(tmp_path):
    r = pyvm("--stats", program(tmp_path, HELLO))
    assert r.returncode == 0 and r.stdout == b"Hello, world!\n"
    last = r.stderr.decode().splitlines()[-1]
    assert last.startswith("pyvm: 8 instructions in ") and last.endswith(" MIPS"), last


def test_pyvm_options_after_the_program_are_pointed_out(tmp_path):
    path = program(tmp_path, HELLO)
    r = pyvm(path, "--bits", "16")
    err = r.stderr.decode()
    assert r.returncode == 2 and r.stdout == b""
    assert "--bits comes after the program" in err and f"pyvm --bits 16 {path}" in err, err


def test_regs_at_exit(tmp_path):
    r = pyvm("--regs", program(tmp_path, "mov esi, 0xabcdef\nmov eax, 1\nmov ebx, 3\nint 0x80"))
    assert r.returncode == 3
    assert "esi=00abcdef" in r.stderr.decode()


def test_bad_files_and_options(tmp_path):
    empty = tmp_path / "empty.bin"
    empty.write_bytes(b"")
    r = pyvm(empty)
    assert r.returncode == 1 and b"empty file" in r.stderr
    r = pyvm(tmp_path / "missing.bin")
    assert r.returncode == 1 and b"missing.bin" in r.stderr
    hello = program(tmp_path, HELLO, "hello.bin")
    for args in (["--org", "0xffffff"], ["--org", "-16"], ["--memory", "4K"],
                 ["--memory", "8G"]):
        r = pyvm(*args, hello)
        assert r.returncode == 1, args
        assert r.stderr.startswith(b"pyvm: ") and b"Traceback" not in r.stderr
    d = tmp_path / "dir.bin"
    d.mkdir()
    assert pyvm(d).returncode != 0


def test_small_memory_and_stack_at_the_top(tmp_path):
    src = "mov eax, esp\npush eax\nmov eax, 1\npop ebx\nshr ebx, 16\nint 0x80"
    r = pyvm("--memory", "64K", program(tmp_path, src))
    assert r.returncode == 1            # 0x10000 >> 16
