"""linux33: Linux behaviours redteam33 found different, each against a native run of the
same program (the oracle): writev up to a faulting iovec, a read with nothing to copy
into a bad buffer, socketcall's recvmmsg/sendmmsg, and the loader's limits (program
headers up to 64 KiB, an interpreter's own PT_INTERP ignored)."""

from __future__ import annotations

import os
import struct
import subprocess
import sys

from linux.kit import ROOT, build, run_native, run_pyvm

CODE = bytes([0xB8, 1, 0, 0, 0, 0xBB, 7, 0, 0, 0, 0xCD, 0x80])     # exit(7)
BASE = 0x08048000


def _ehdr(etype: int, entry: int, phnum: int) -> bytes:
    return struct.pack("<16sHHIIIIIHHHHHH", b"\x7fELF\x01\x01\x01" + bytes(9), etype, 3, 1,
                       entry, 52, 0, 0, 52, 32, phnum, 40, 0, 0)


def _many_loads(path: str, n: int) -> None:
    """An ET_EXEC with ``n`` PT_LOAD headers, each mapping the code at its own page."""
    dataoff = (52 + n * 32 + 0xFFF) & ~0xFFF
    ph = b"".join(struct.pack("<8I", 1, dataoff, BASE + i * 0x2000, BASE + i * 0x2000,
                              len(CODE), 0x1000, 5, 0x1000) for i in range(n))
    body = _ehdr(2, BASE, n) + ph
    _save(path, body + bytes(dataoff - len(body)) + CODE)


def _with_interp(path: str, interp: bytes, etype: int) -> None:
    """A file whose PT_INTERP is ``interp`` (NUL added unless it ends in b"!") and whose
    code exits 7."""
    if not interp.endswith(b"!"):
        interp += b"\0"
    ioff, coff = 52 + 2 * 32, 0x1000
    ph = struct.pack("<8I", 3, ioff, BASE + ioff, BASE + ioff, len(interp), len(interp), 4, 1)
    ph += struct.pack("<8I", 1, 0, BASE, BASE, coff + len(CODE), coff + len(CODE), 5, 0x1000)
    body = _ehdr(etype, BASE + coff, 2) + ph + interp
    _save(path, body + bytes(coff - len(body)) + CODE)


def _run_from_file(cmd: list, cwd, stdin_path) -> subprocess.CompletedProcess:
    """``cmd`` with its standard input the file ``stdin_path`` itself (not a pipe)."""
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    with open(stdin_path, "rb") as stdin:
        return subprocess.run(cmd, cwd=cwd, stdin=stdin, capture_output=True, env=env,
                              timeout=300)


def _save(path: str, data: bytes) -> None:
    with open(path, "wb") as f:
        f.write(data)
    os.chmod(path, 0o755)


def test_writev_read_and_mmsg_as_native(tmp_path):
    exe = build("linux33_io")
    native = run_native(exe, cwd=tmp_path)
    assert native.status == 0, native
    assert b"writev bad second 3 read 3 'abc'" in native.stdout    # (the oracle's answer)
    got = run_pyvm(exe, cwd=tmp_path)
    assert got.status == 0, got
    assert got.stdout == native.stdout


def test_many_program_headers_as_native(tmp_path):
    for n in (129, 500, 2000):            # Linux takes up to 64 KiB of headers
        prog = str(tmp_path / f"l{n}")
        _many_loads(prog, n)
        assert run_native(prog).status == 7
        assert run_pyvm(prog).status == 7, n
    prog = str(tmp_path / "l2049")       # past 64 KiB: ENOEXEC natively, refused here
    _many_loads(prog, 2049)
    try:
        native = run_native(prog).status
    except OSError:
        native = None                     # (the kernel refused to exec it)
    assert native is None or native != 7
    got = run_pyvm(prog)
    assert got.status != 7 and b"too many program headers" in got.stderr


def test_interpreter_own_pt_interp_ignored(tmp_path):
    """Linux's load_elf_interp never reads its interpreter's PT_INTERP (even a bad one)."""
    for name, own in (("good", b"/nonexistent"), ("bad", b"/nonexistent!")):
        interp = str(tmp_path / f"interp_{name}")
        _with_interp(interp, own, 3)                          # ET_DYN: exits 7
        prog = str(tmp_path / f"prog_{name}")
        _with_interp(prog, interp.encode(), 2)
        assert run_native(prog).status == 7
        got = run_pyvm(prog)
        assert got.status == 7, got


def test_reopen_is_a_new_open_file_as_native(tmp_path):
    """/dev/stdin, /dev/fd/N, /proc/self/fd/N of a regular file: its own offset and
    mode, O_TRUNC applied, a deleted file reopened (native run: the oracle)."""
    exe = build("linux33_reopen")
    out = {}
    for who, cmd in (("native", [str(exe)]), ("pyvm", [sys.executable, "-m", "vm.linux",
                                                         str(exe)])):
        work = tmp_path / who
        work.mkdir()
        (work / "in.txt").write_bytes(b"abcdefgh")
        got = _run_from_file(cmd, work, work / "in.txt")
        assert got.returncode == 0, got
        out[who] = got.stdout.splitlines()
        assert (work / "in.txt").read_bytes() == b"abcdefgh!"      # the O_APPEND reopen
    native, pyvm = out["native"], out["pyvm"]
    assert native[0] == b"stdin 'abcd' reopened 'abcd' offset 4"
    # a write reopen of a deleted file through a read-only descriptor: no name left for
    # the sandbox to judge, refused (Linux grants it)
    assert native[5] == b"deleted rdwr via r 1" and pyvm[5] == b"deleted rdwr via r 0"
    assert pyvm[:5] + pyvm[6:] == native[:5] + native[6:]


def test_reopen_for_writing_is_judged_by_the_sandbox(tmp_path):
    """Stdin (or a descriptor) read-only on a file outside the writable trees: no write
    reopen of it, and a reopen within its grant still works."""
    exe = build("linux33_reopen")
    outside, work = tmp_path / "ro", tmp_path / "work"
    outside.mkdir()
    work.mkdir()
    (outside / "prot").write_bytes(b"secret")
    (outside / "in.txt").write_bytes(b"abcdefgh")
    got = _run_from_file([sys.executable, "-m", "vm.linux", str(exe), str(outside / "prot")],
                         work, outside / "in.txt")
    lines = got.stdout.splitlines()
    assert got.returncode == 0, got
    assert lines[1] == b"stdin write reopen 0 mode -1 wrote -1"
    assert (outside / "in.txt").read_bytes() == b"abcdefgh"
    assert lines[0] == b"stdin 'abcd' reopened 'abcd' offset 4"
    assert lines[-1] == b"protected write reopen 0"
    assert (outside / "prot").read_bytes() == b"secret"
