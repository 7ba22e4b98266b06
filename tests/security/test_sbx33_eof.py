"""MAP_PRIVATE pages wholly past the file's end (sbx33). Oracle: the native run of
sbx33_eof.c (gcc -m32 -static), each run in a directory of its own. Linux: a load or a
store there is SIGBUS BUS_ADRERR at the address, write(2) from such a buffer EFAULT,
mprotect keeps it so, and a page the file grew over (pwrite) reads the new bytes. Before:
the pages read zeros, took stores, and write(2) sent 10 zero bytes.
"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from linux.kit import _env, build  # noqa: E402

HERE = Path(__file__).parent


def test_private_pages_past_eof_are_sigbus(tmp_path):
    exe = build("sbx33_eof", opt="O1", where=HERE)
    (tmp_path / "n").mkdir()
    (tmp_path / "p").mkdir()
    native = subprocess.run([str(exe)], cwd=tmp_path / "n", capture_output=True,
                            timeout=60, stdin=subprocess.DEVNULL)
    ours = subprocess.run([sys.executable, "-m", "vm.cli", str(exe)], cwd=tmp_path / "p",
                          env=_env({"PYVM_CODE_CACHE": "0"}), capture_output=True,
                          timeout=300, stdin=subprocess.DEVNULL)
    assert native.returncode == 0, native
    assert b"page past end: sig 7 code 2 at addr" in native.stdout, native
    assert b"write from it: -1 Bad address" in native.stdout, native
    assert ours.stdout == native.stdout, ours.stderr.decode()[-2000:]
    assert (tmp_path / "p" / "eof.dat").read_bytes() == (tmp_path / "n" / "eof.dat").read_bytes()
