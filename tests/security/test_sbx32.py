"""Sandbox round 32: a file's mapped pages and its other views are one object, and
last session's socket/ioctl leftovers (Linux personality). Oracle: the native run of
gcc -m32 programs (sbx32_*.c). Each test failed before the change.

- a MAP_SHARED mapping of a read-only descriptor sees later writes (this process's and
  another's) and cannot be mprotect'ed writable;
- every mmap of a file shares one held host descriptor (ENFILE/ENOMEM under a low
  ulimit after 25);
- mremap growing a MAP_PRIVATE mapping reads the mapped inode, not what its name
  leads to now;
- ftruncate and an O_APPEND pwrite reach the mapped pages; a shared page past the
  file's end is SIGBUS;
- one file page mapped twice in one process is one page (a store shows at once);
- vm.max_map_count: mmap may reach 65531, the splits at the limit are ENOMEM;
- a stream recv faulting in a later message returns the whole ones before it;
  SO_ATTACH_FILTER checks the program as Linux; FIONBIO/FIOCLEX work on any fd.
"""
from __future__ import annotations

import resource
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from linux.kit import _env, build  # noqa: E402

HERE = Path(__file__).parent


def _few_fds() -> None:
    resource.setrlimit(resource.RLIMIT_NOFILE, (64, 64))


def _both(prog: str, tmp_path: Path, *args: str, nofile: bool = False,
          python: str = sys.executable) -> tuple:
    """The native run and pyvm's of sbx32_<prog>.c, each in a directory of its own."""
    exe = build(f"sbx32_{prog}", opt="O1", where=HERE)
    (tmp_path / "n").mkdir()
    (tmp_path / "p").mkdir()
    pre = _few_fds if nofile else None
    native = subprocess.run([str(exe), *args], cwd=tmp_path / "n", capture_output=True,
                            timeout=120, stdin=subprocess.DEVNULL, preexec_fn=pre)
    ours = subprocess.run([python, "-m", "vm.cli", str(exe), *args],
                          cwd=tmp_path / "p", env=_env({"PYVM_CODE_CACHE": "0"}),
                          capture_output=True, timeout=300, stdin=subprocess.DEVNULL,
                          preexec_fn=pre)
    assert native.returncode == 0, native
    return native, ours


def _same(native, ours) -> None:
    assert ours.stdout == native.stdout, ours.stderr.decode()[-2000:]
    assert ours.returncode == 0


def test_read_only_shared_mapping_sees_writes(tmp_path):
    """Before: a private copy ('hello world' throughout, and mprotect 'ok')."""
    native, ours = _both("maps", tmp_path, "roshared")
    assert b"after child's pwrite: Jello WorlY\n" in native.stdout
    assert b"mprotect write: Permission denied\n" in native.stdout
    _same(native, ours)


def test_many_shared_mmaps_of_one_file_hold_one_descriptor(tmp_path):
    """300 MAP_SHARED mmaps of one file under ulimit -n 64 (before: 'mapped 25
    (Cannot allocate memory)', then open() failed with ENFILE)."""
    native, ours = _both("maps", tmp_path, "many", nofile=True)
    assert native.stdout == b"mapped 300 (no error)\nopen after: ok\n"
    _same(native, ours)


def test_pypy_many_shared_mmaps(tmp_path):
    """The same under PyPy (descriptors released by reference count, not by GC)."""
    pypy = Path("/tmp/pypy-venv/bin/python")
    if not pypy.exists():
        pytest.skip("no pypy venv")
    native, ours = _both("maps", tmp_path, "many", nofile=True, python=str(pypy))
    _same(native, ours)


def test_private_mapping_grows_over_its_inode(tmp_path):
    """The file's name now leads to another file: the mapping grows over the one it
    maps (before: 'grown: OLD-1 ' and zeros)."""
    native, ours = _both("maps", tmp_path, "regrow")
    assert native.stdout == b"grown: OLD-1 OLD-2\n"
    _same(native, ours)


def test_ftruncate_reaches_mapped_pages(tmp_path):
    """Cut to 100 bytes and grown back: the mapping reads zeros past 100, and its old
    stores there never reach the file (before: 0 zero bytes, 'file at 4096: 97 97')."""
    native, ours = _both("maps", tmp_path, "trunc")
    assert b"8092 zero bytes" in native.stdout
    _same(native, ours)


def test_append_pwrite_reaches_mapped_pages(tmp_path):
    """An O_APPEND descriptor's pwrite appends, and the mapping of the end shows it."""
    native, ours = _both("maps", tmp_path, "append")
    assert native.stdout.startswith(b"after append: [XY]")
    _same(native, ours)


def test_stream_recv_faulting_in_a_later_message(tmp_path):
    """recv and recvmsg return the whole messages before the unwritable byte, EFAULT
    only when the first one faults (before: EFAULT, nothing taken)."""
    native, ours = _both("sock", tmp_path, "recv")
    assert native.stdout.startswith(b"recv across the edge: 4 \n")
    _same(native, ours)


def test_attach_filter_checks_the_program(tmp_path):
    """Opcodes, division by 0, shifts, jumps, the RET at the end, scratch words stored
    before loaded, ancillary offsets, the whole program readable (before: all 0)."""
    native, ours = _both("sock", tmp_path, "bpf")
    assert native.stdout.count(b"Invalid argument") == 10
    _same(native, ours)


def test_fionbio_and_fioclex_on_any_descriptor(tmp_path):
    """Before: ENOTTY for a pipe and a file, so a read blocked."""
    native, ours = _both("sock", tmp_path, "nbio")
    assert b"read empty: -1 Resource temporarily unavailable\n" in native.stdout
    _same(native, ours)


def test_one_file_page_mapped_twice_is_one_page(tmp_path):
    """Two MAP_SHARED mappings of one file page in one process: a store, a read() into
    one, a memcpy, a forked child's store, after mremap moved one and after munmap of
    the other (before: the two met only at a read/write of the file: blanks)."""
    native, ours = _both("maps", tmp_path, "alias")
    assert native.stdout.startswith(b"b sees a: x, a sees b: y\n")
    _same(native, ours)


def test_many_mappings_of_one_page(tmp_path):
    """20000 mappings of one file page: a store through the first and the last shows
    in both (the pairing walk stops early: 20000 adds, not 2*10^8 pair checks)."""
    native, ours = _both("maps", tmp_path, "crowd")
    assert native.stdout == b"AZ AZ\n"
    _same(native, ours)


def test_map_count_edges_as_linux(tmp_path):
    """mmap stops once the count is past vm.max_map_count (65531 VMAs: before, 65530),
    and at the limit a munmap hole and an mprotect split are ENOMEM, a munmap of an
    end page is not."""
    native, ours = _both("maps", tmp_path, "edge")
    assert native.stdout.startswith(b"mmap stops with 65531 VMAs")
    _same(native, ours)


def test_shared_page_past_the_files_end_is_sigbus(tmp_path):
    """Loads and stores in a MAP_SHARED page wholly past the file's end are SIGBUS
    (BUS_ADRERR), until a truncation or a write grows the file over it; mprotect,
    fork and mremap keep it so (before: they read zeros and stored unseen)."""
    native, ours = _both("maps", tmp_path, "bus")
    assert b"load past the end: signal 7 code 2\n" in native.stdout
    _same(native, ours)
