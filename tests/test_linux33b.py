"""linux33b: Linux behaviours pyvm lacked, each against a native run of the same program
(the oracle): an ET_EXEC program interpreter (mapped at its own addresses, over the
program if it lies there), recvmmsg's waiting and timeout, opens of another process's
/proc/<pid>/fd/N, the signal of #NP/#SS."""

from __future__ import annotations

import os
import struct
import subprocess
import sys

from linux.kit import ROOT, build, run_native, run_pyvm

EXIT7 = bytes([0xB8, 1, 0, 0, 0, 0xBB, 7, 0, 0, 0, 0xCD, 0x80])     # exit(7)
EXIT5 = bytes([0xB8, 1, 0, 0, 0, 0xBB, 5, 0, 0, 0, 0xCD, 0x80])     # exit(5)
# An interpreter's code (nasm): walk the initial stack to the auxv; exit 9 unless
# AT_BASE is 0, exit 11 unless AT_SYSINFO_EHDR points at the vdso's ELF magic; then jump
# to AT_ENTRY with the stack as the kernel left it.
CHECK = bytes.fromhex(
    "89e68b068d748608ad85c075fb31ffbd0100000031d2ad89c1ad85c9741783f909750289c783f907"
    "750289c583f92175e589c2ebe1bb0900000085ed7513bb0b00000085d2740a813a7f454c467502ff"
    "e7b801000000cd80")
PROGRAM = 0x08048000


def _elf(path, base: int, code: bytes, interp: bytes = b"", memsz: int = 0) -> None:
    """An ET_EXEC with one RWX PT_LOAD at ``base`` (entry: ``code`` at base + 0x1000)
    and, if ``interp``, a PT_INTERP naming it."""
    coff, ph, extra = 0x1000, b"", b""
    if interp:
        extra = interp + b"\0"
        ioff = 52 + 2 * 32
        ph = struct.pack("<8I", 3, ioff, base + ioff, base + ioff, len(extra), len(extra), 4, 1)
    size = coff + len(code)
    ph += struct.pack("<8I", 1, 0, base, base, size, memsz or size, 7, 0x1000)
    hdr = struct.pack("<16sHHIIIIIHHHHHH", b"\x7fELF\x01\x01\x01" + bytes(9), 2, 3, 1,
                      base + coff, 52, 0, 0, 52, 32, 1 + bool(interp), 40, 0, 0)
    body = hdr + ph + extra
    path.write_bytes(body + bytes(coff - len(body)) + code)
    path.chmod(0o755)


def _pair(tmp_path, name: str, base: int, code: bytes = CHECK, memsz: int = 0):
    interp, prog = tmp_path / f"i_{name}", tmp_path / f"p_{name}"
    _elf(interp, base, code, memsz=memsz)
    _elf(prog, PROGRAM, EXIT7, str(interp).encode())
    return prog


def test_et_exec_interpreter_as_native(tmp_path):
    """At its own addresses, AT_BASE 0, the vdso mapped elsewhere (also when the
    interpreter covers where it would go: just below pyvm's mmap top, 0xbf700000)."""
    for name, base, memsz in (("mid", 0x20000000, 0), ("big", 0x0C000000, 0x7000000),
                              ("vdso", 0xBF6FE000, 0)):
        prog = _pair(tmp_path, name, base, memsz=memsz)
        assert run_native(prog).status == 7, name
        got = run_pyvm(prog)
        assert got.status == 7, (name, got)


def test_et_exec_interpreter_over_the_program(tmp_path):
    """Linux maps it MAP_FIXED over the program's pages: its code runs (exit 5)."""
    prog = _pair(tmp_path, "same", PROGRAM, EXIT5)
    assert run_native(prog).status == 5
    got = run_pyvm(prog)
    assert got.status == 5, got


def test_et_exec_interpreter_bounds(tmp_path):
    """Past the top of a 32-bit space: the native exec fails (SIGSEGV after the point
    of no return); pyvm refuses it, as one at 0xd0000000 (natively within a compat
    task's 4 GiB, above pyvm's 3 GiB) or below 64K."""
    prog = _pair(tmp_path, "wrap", 0xFFFF0000, memsz=0x20000)
    assert run_native(prog).status == 139
    for name, base, memsz in (("wrap", 0xFFFF0000, 0x20000), ("top", 0xD0000000, 0),
                              ("low", 0x8000, 0)):
        got = run_pyvm(_pair(tmp_path, name, base, memsz=memsz))
        assert got.status == 1 and b"do not fit pyvm's address space" in got.stderr, got
        assert b"Traceback" not in got.stderr


def test_recvmmsg_waits_and_times_as_native(tmp_path):
    exe = build("linux33b_mmsg")
    native = run_native(exe, cwd=tmp_path)
    assert native.status == 0, native
    assert b"wait for 3 3: a/1 bb/2 ccc/3\n" in native.stdout        # (the oracle's)
    got = run_pyvm(exe, cwd=tmp_path)
    assert got.status == 0, got
    assert got.stdout == native.stdout


def test_other_process_fd_reopen_as_native(tmp_path):
    """A child opens its parent's /proc/<pid>/fd/N: a regular file (own offset, the
    write mode asked for), its stdin (a file: pyvm shared the open file) and a deleted
    file (pyvm followed the link's name: ENOENT)."""
    exe = build("linux33b_procfd")
    out = {}
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    for who, cmd in (("native", [str(exe)]),
                     ("pyvm", [sys.executable, "-m", "vm.linux", str(exe)])):
        work = tmp_path / who
        work.mkdir()
        (work / "in.txt").write_bytes(b"123456789\n")
        with open(work / "in.txt", "rb") as stdin:
            got = subprocess.run(cmd, cwd=work, stdin=stdin, capture_output=True, env=env,
                                 timeout=300)
        assert got.returncode == 0, got
        out[who] = got.stdout
    assert b"parent's stdin read 4 '1234' offset 4\n" in out["native"]     # (the oracle)
    assert b"deleted read 4 'dele' offset 4\n" in out["native"]
    assert out["pyvm"] == out["native"]


def test_tls_segment_loads_as_native():
    """set_thread_area refuses a not-present segment (EINVAL: the loads then are of a
    selector past the GDT, #GP) and an all-zero user_desc clears its slot; pyvm took both
    as loadable segments."""
    exe = build("linux33b_np")
    for mode in ("gs", "ss", "zero"):
        native = run_native(exe, [mode])
        assert native.status == 0 and b"signal 11 code 128\n" in native.stdout, native
        got = run_pyvm(exe, [mode])
        assert (got.status, got.stdout) == (0, native.stdout), (mode, got)


def test_np_and_ss_are_sigbus_as_native():
    """Linux's traps.c sends SIGBUS (SI_KERNEL) for #NP (a not-present LDT entry loaded
    into GS) and #SS (an expand-down SS below its limit). No pyvm guest reaches either
    (modify_ldt is ENOSYS, TLS segments are flat), so the native runs check the table."""
    from vm.x86.faults import NP, SS
    from vm.x86.signals import SIGNAL_NAMES, SIGNALS
    exe = build("linux33b_np")
    for mode, vector in (("ldt", NP), ("down", SS)):
        native = run_native(exe, [mode])
        assert native.status == 0, native
        sig = int(native.stdout.split(b"signal ")[1].split()[0])
        assert b"code 128\n" in native.stdout and sig == 7, native
        assert SIGNALS[vector][0] == sig and SIGNAL_NAMES[sig] == "SIGBUS"


def test_stack_grows_to_a_raised_rlimit_after_exec(tmp_path):
    """RLIMIT_STACK 64 MiB or unlimited, then an exec: the new program's stack grows
    past 8 MiB (pyvm stopped at 8 MiB: SIGSEGV); at 8 MiB it still ends there."""
    exe = build("linux33b_stack")
    for limit, use, status in (("64", "40", 0), ("0", "100", 0), ("8", "20", 139)):
        native = run_native(exe, [limit, use], cwd=tmp_path)
        assert native.status == status, native
        got = run_pyvm(exe, [limit, use], cwd=tmp_path)
        assert (got.status, got.stdout) == (status, native.stdout), (limit, got)
