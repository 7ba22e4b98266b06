"""Sandbox round 31: memory mappings and last session's leftovers (Linux personality).
Oracle: the native run of gcc -m32 programs (sbx31_*.c). Each test failed before the
change.

- vm.max_map_count: mmap, mprotect and munmap stop with ENOMEM near 65530 VMAs (a guest
  made as many as it liked); a 64 MiB shared file mapping cut into 8192 pieces keeps
  its bytes (the splits no longer copy the digests: measured in callgrind, not here);
- read()/write() of a file and a MAP_SHARED mapping of it see each other at once;
  mremap growing a MAP_PRIVATE file mapping maps the file on;
- getrandom's short count, sched_getaffinity's size, read of an O_PATH directory, a
  /proc directory sought past its end.
"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from linux.kit import _env, build  # noqa: E402

HERE = Path(__file__).parent


def _both(name: str, tmp_path: Path, *args: str) -> tuple:
    """The native run and pyvm's of sbx31_<name>.c, each in a directory of its own."""
    exe = build(f"sbx31_{name}", opt="O1", where=HERE)
    (tmp_path / "n").mkdir()
    (tmp_path / "p").mkdir()
    native = subprocess.run([str(exe), *args], cwd=tmp_path / "n", capture_output=True,
                            timeout=120, stdin=subprocess.DEVNULL)
    ours = subprocess.run([sys.executable, "-m", "vm.cli", str(exe), *args],
                          cwd=tmp_path / "p", env=_env({"PYVM_CODE_CACHE": "0"}),
                          capture_output=True, timeout=300, stdin=subprocess.DEVNULL)
    assert native.returncode == 0, native
    return native, ours


def test_map_count_is_capped_as_linux(tmp_path):
    """65530 VMAs at most (vm.max_map_count): one-page mappings of alternating
    protection, mprotect splits and munmap holes all stop with ENOMEM there (before:
    never, the guest's VMAs were bounded by nothing but the address space)."""
    native, ours = _both("maps", tmp_path)
    assert native.stdout.count(b"Cannot allocate memory, in range: 1") == 3, native
    assert ours.stdout == native.stdout, ours.stderr.decode()[-2000:]
    assert ours.returncode == 0


def test_shared_mapping_cut_in_pieces_keeps_its_bytes(tmp_path):
    """A 64 MiB MAP_SHARED file mapping, every other page unmapped: what is left reads
    as written (the pieces now share one digest array)."""
    native, ours = _both("maps", tmp_path, "split")
    assert native.stdout == b"sum 1048576\n"
    assert ours.stdout == native.stdout, ours.stderr.decode()[-2000:]


def test_read_write_meet_shared_mapping(tmp_path):
    """A store to a MAP_SHARED page is what read()/pread() of the file return, and a
    write()/pwrite() is what the mapping shows, at once (before: the file and the
    mapping met only at msync, munmap or exit: 'hello' and 'Jello world')."""
    native, ours = _both("shio", tmp_path)
    assert b"load after pwrite: Jello World" in native.stdout
    assert ours.stdout == native.stdout, ours.stderr.decode()[-2000:]


def test_small_answers_match_linux(tmp_path):
    """getrandom of 2 GiB into a 1 MiB buffer was EFAULT (Linux: a short count, the
    bytes up to the first unwritable page); sched_getaffinity answered 4 (Linux: the
    kernel's cpumask size, the host's here); read of an O_PATH directory was EISDIR
    (Linux: EBADF); a /proc directory sought to 1000 told 6 and listed a descriptor
    opened afterwards (Linux: 1000, nothing)."""
    native, ours = _both("errnos", tmp_path)
    assert b"getrandom huge: short\n" in native.stdout
    assert ours.stdout == native.stdout, ours.stderr.decode()[-2000:]


def test_mremap_grows_private_file_mapping_over_the_file(tmp_path):
    """mremap growing a MAP_PRIVATE file mapping, moved or in place, maps the file on
    (Linux extends the VMA): its new pages read the file's next bytes (before: zeros),
    and the page the process changed moves with its change."""
    native, ours = _both("mremap", tmp_path)
    assert native.stdout == b"grown: X c d\nin place: 1 a b\n"
    assert ours.stdout == native.stdout, ours.stderr.decode()[-2000:]
