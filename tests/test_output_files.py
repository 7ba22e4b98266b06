"""Outputs that are not plain files: a symlink, a FIFO, /dev/stdout. The tools write
where NASM and GNU ld write (through the link, into the FIFO) and leave the name as it
was: an atomic rename over ``-o /dev/stdout`` put a regular file in place of the
system's symlink (as root), and over ``-o /dev/null`` would replace the device."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import threading

from conftest import require_tool

SOURCE = "bits 32\nstart: mov eax, 1\nmov ebx, 42\nint 0x80\ndb 'end'\n"
PYASM = [sys.executable, "-c", "from asm.cli import script; script()"]


def _nasm_bytes(tmp_path) -> bytes:
    nasm = require_tool("nasm")
    src = tmp_path / "n.s"
    src.write_text(SOURCE)
    subprocess.run([nasm, "-f", "bin", str(src), "-o", str(tmp_path / "n.bin")], check=True)
    return (tmp_path / "n.bin").read_bytes()


def _pyasm(tmp_path, out: str, **kw) -> subprocess.CompletedProcess:
    src = tmp_path / "p.s"
    src.write_text(SOURCE)
    return subprocess.run([*PYASM, "-f", "bin", str(src), "-o", out], capture_output=True,
                          timeout=120, **kw)


def test_through_a_symlink_the_target_is_written(tmp_path):
    want = _nasm_bytes(tmp_path)
    (tmp_path / "real.bin").write_bytes(b"old")
    link = tmp_path / "link.bin"
    link.symlink_to("real.bin")
    assert _pyasm(tmp_path, str(link)).returncode == 0
    assert link.is_symlink() and os.readlink(link) == "real.bin"
    assert (tmp_path / "real.bin").read_bytes() == want


def test_a_dangling_symlink_makes_its_target(tmp_path):
    want = _nasm_bytes(tmp_path)
    link = tmp_path / "link.bin"
    link.symlink_to("made.bin")
    assert _pyasm(tmp_path, str(link)).returncode == 0
    assert link.is_symlink() and (tmp_path / "made.bin").read_bytes() == want


def test_a_fifo_is_written_and_stays_a_fifo(tmp_path):
    want = _nasm_bytes(tmp_path)
    fifo = tmp_path / "out.fifo"
    os.mkfifo(fifo)
    got: list = []
    reader = threading.Thread(target=lambda: got.append(fifo.read_bytes()))
    reader.start()
    r = _pyasm(tmp_path, str(fifo))
    reader.join(60)
    assert r.returncode == 0, r.stderr
    assert got == [want]
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)


def test_a_link_to_stdout_writes_stdout(tmp_path):
    """``-o /dev/stdout``, with a link of the test's own to /proc/self/fd/1 (the same
    thing, without risking the machine's /dev/stdout)."""
    want = _nasm_bytes(tmp_path)
    link = tmp_path / "stdout"
    link.symlink_to("/proc/self/fd/1")
    r = _pyasm(tmp_path, str(link))
    assert r.returncode == 0, r.stderr
    assert r.stdout == want
    assert link.is_symlink() and os.readlink(link) == "/proc/self/fd/1"
