"""A path ending in '/' names a directory: a file, the program's /proc/self/exe
included, is ENOTDIR (an open does not truncate it, an execve does not run it); a /proc
link opened without following is ELOOP, and O_PATH on one is no internal error. Oracle:
the same program run natively (tests/linux/trailing_slash.c)."""

from __future__ import annotations

from linux.kit import build, run_native, run_pyvm


def test_trailing_slash_as_native(tmp_path):
    exe = build("trailing_slash")
    (tmp_path / "n").mkdir()
    (tmp_path / "p").mkdir()
    native = run_native(exe, cwd=tmp_path / "n")
    ours = run_pyvm(exe, cwd=tmp_path / "p")
    assert native.status == 0 and ours.status == 0, ours
    assert ours.stdout == native.stdout, (ours.stdout, native.stdout)
    assert b"t size 4" in native.stdout and b"re-executed" not in native.stdout
