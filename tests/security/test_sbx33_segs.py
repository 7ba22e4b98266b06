"""Segment faults (sbx33). Oracle: the native run of sbx33_segs.c (gcc -m32 -static).
Loading %fs with a selector past the descriptor table is #GP(selector): SIGSEGV,
SI_KERNEL, trapno 13 and err = the selector without its RPL (0x644 for 0x647). Before:
err 0. (pyvm has no modify_ldt, so the #NP and #SS lines differ and are not compared:
Linux sends SIGBUS for those.)
"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from linux.kit import _env, build  # noqa: E402

HERE = Path(__file__).parent


def _line(out: bytes, key: bytes) -> bytes:
    return next((ln for ln in out.splitlines() if ln.startswith(key)), b"")


def test_gp_selector_error_code():
    exe = build("sbx33_segs", opt="O1", where=HERE)
    native = subprocess.run([str(exe)], capture_output=True, timeout=60)
    ours = subprocess.run([sys.executable, "-m", "vm.cli", str(exe)],
                          env=_env({"PYVM_CODE_CACHE": "0"}), capture_output=True, timeout=300)
    assert native.returncode == 0, native
    want = _line(native.stdout, b"gp:")
    assert want == b"gp: sig 11 code 0x80 trapno 13 err 0x644", native
    assert _line(ours.stdout, b"gp:") == want, ours
