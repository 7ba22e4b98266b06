"""Session 28, imgmend: what the review of the red-team fixes found (imgmend28.c).

- A parsed program kept every section body (read_elf copied them; the image cache kept
  the ElfFile): a 63 MB file whose section headers named one big area many times took
  gigabytes of host memory, and a big section exec'd again and again (new mtimes) stayed
  in the cache under --memory 16M. The loader now reads the program headers only.
- The image cache's key (device, inode, size, mtime) let a guest rewrite a program in
  place and put its mtime back: the next execve ran the old program. The change time
  (which userspace cannot set) is in the key now.
- execve: argc 0 costs the "" the kernel copies as argv[0] (E2BIG one byte earlier), and
  both arrays are read to their end before E2BIG (EFAULT natively for a bad envp after a
  too long argv).
- clock_nanosleep on negative clock ids decodes them as Linux does (EINVAL for no such
  CPU clock, EOPNOTSUPP for an fd clock) instead of sleeping.

Oracles: the native run of the same program and files (output), and the kernel's peak
resident size of the pyvm process (wait4's ru_maxrss)."""

from __future__ import annotations

import shutil
import struct
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from linux.kit import build, peak_rss, run_native, run_pyvm  # noqa: E402

HERE = Path(__file__).parent


def _exe(tmp_path: Path, name: str = "im") -> Path:
    """imgmend28 copied into ``tmp_path`` as ``name`` (its modes exec files by name)."""
    out = tmp_path / name
    shutil.copy(build("imgmend28", where=HERE), out)
    return out


def _peak(args, cwd) -> tuple:
    """(stdout, peak resident KiB) of ``pyvm --memory 16M <args>``, in a process of its
    own."""
    out, status, peak = peak_rss([sys.executable, "-m", "vm.cli", "--memory", "16M", *args],
                                 cwd, env={"PYVM_CODE_CACHE": "0"})
    assert status == 0, out[-400:]
    return out, peak


def _with_sections(exe: Path, out: Path, junk: int, count: int) -> Path:
    """``exe`` with ``junk`` bytes appended and a new section header table of ``count``
    PROGBITS sections all over them (no name table). Linux's loader reads no section:
    the file runs natively as ``exe`` does."""
    data = exe.read_bytes()
    start = len(data) + (-len(data)) % 16
    body = struct.pack("<10I", 0, 1, 0, 0, start, junk, 0, 0, 1, 0)
    image = bytearray(data) + bytes(start - len(data)) + b"\x5a" * junk
    table = len(image)
    image += bytes(40) + body * count
    struct.pack_into("<I", image, 0x20, table)                 # e_shoff
    struct.pack_into("<HHH", image, 0x2e, 40, count + 1, 0)    # e_shentsize/shnum/shstrndx
    out.write_bytes(bytes(image))
    out.chmod(0o755)
    return out


def test_section_bodies_are_not_kept(tmp_path):
    """48 section headers over one 8 MiB area: 838 MB resident before (each section
    copied), now about what the plain program takes."""
    big = _with_sections(_exe(tmp_path), tmp_path / "T2", 8 << 20, 48)
    native = run_native(big, ["w"], cwd=tmp_path)
    assert native.stdout == b"one\n", native
    out, peak = _peak([str(big), "w"], tmp_path)
    assert out == native.stdout
    assert peak < 150 * 1024, f"pyvm peaked at {peak} KiB"


def test_a_big_section_exec_again_and_again_is_not_cached(tmp_path):
    """A 40 MiB section, ./T exec'd 6 times with new times (each a new cache key): 357 MB
    resident before (the cache counted only the images' segment bytes), now ~110 MB."""
    exe = _exe(tmp_path)
    _with_sections(exe, tmp_path / "T", 40 << 20, 1)
    native = run_native(exe, ["t", "6"], cwd=tmp_path)
    assert native.stdout == b"one\n" * 6 + b"execs 6\n", native
    out, peak = _peak([str(exe), "t", "6"], tmp_path)
    assert out == native.stdout
    assert peak < 200 * 1024, f"pyvm peaked at {peak} KiB"


def test_a_program_rewritten_in_place_with_its_mtime_put_back_runs_anew(tmp_path):
    """./prog is overwritten with another program of the same size and its times reset
    (futimens): the second execve runs the new one ("one", "two" natively; pyvm ran the
    cached first one again)."""
    exe = _exe(tmp_path)
    data = exe.read_bytes()
    assert data.count(b"WORD:one") == 1
    other = tmp_path / "im2"
    other.write_bytes(data.replace(b"WORD:one", b"WORD:two"))
    other.chmod(0o755)
    native = run_native(exe, ["r", "./im", "./im2"], cwd=tmp_path)
    assert native.stdout == b"one\ntwo\n", native
    (tmp_path / "prog").unlink()
    guest = run_pyvm(exe, ["r", "./im", "./im2"], cwd=tmp_path)
    assert guest.stdout == native.stdout, guest


def test_execve_bounds_with_argc_0_and_a_bad_envp(tmp_path):
    exe = _exe(tmp_path)
    shutil.copy(exe, tmp_path / "nop")
    for mode, expected in (("e", None), ("f", b"f: 14\n")):
        native = run_native(exe, [mode], cwd=tmp_path)
        if expected:
            assert native.stdout == expected, native
        else:       # the edge: the same for argc 0 and 1 (max(argc, 1) pointers, "")
            assert native.stdout.count(b"130928: 0\n") == 2, native
            assert native.stdout.count(b"130929: 7\n") == 2, native
        guest = run_pyvm(exe, [mode], cwd=tmp_path)
        assert guest.stdout == native.stdout, (mode, guest)


def test_clock_nanosleep_on_negative_clock_ids(tmp_path):
    """-1, -2, -3, INT_MIN, a clock of pid+7 or of the caller's own thread: EINVAL; fd
    clocks (id & 7 == 3): EOPNOTSUPP; the caller's process clocks: 0 (each a 0 s sleep,
    relative and TIMER_ABSTIME)."""
    exe = _exe(tmp_path)
    native = run_native(exe, ["c"], cwd=tmp_path)
    assert b"0/0:-22 " in native.stdout and b"3/0:-95 " in native.stdout, native
    guest = run_pyvm(exe, ["c"], cwd=tmp_path)
    assert guest.stdout == native.stdout, guest
