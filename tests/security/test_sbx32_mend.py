"""Fixes from the review of the sbx32 change (a file's mapped pages one object). Oracle:
the native run of tests/security/sbx32_mend.c (gcc -m32). Each test failed before.

- an access past a MAP_SHARED mapping's file end that the page's protection refuses is
  SIGSEGV (Linux checks the VMA's access before it meets the file's end), not SIGBUS;
- the descriptors held for read-only MAP_SHARED and MAP_PRIVATE mappings leave the
  guest room to open files under a low ulimit (a read-only shared mapping past that is
  a private copy, still not mprotect-able writable), and the first process's go at
  the run's end;
- a write() to a file with many mappings past its end does not visit them all when
  it does not grow the file over them;
- ioctl on an O_PATH descriptor is EBADF; mprotect's EACCES goes VMA by VMA.
"""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from linux.kit import _env, build  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_sbx31_mend import _both as _runs  # noqa: E402
from test_sbx31_mend import _few_fds  # noqa: E402

HERE = Path(__file__).parent


def _exe() -> Path:
    return build("sbx32_mend", opt="O1", where=HERE)


def _both(tmp_path: Path, *args: str, nofile: bool = False) -> tuple:
    """The native run and pyvm's, each in a directory of its own."""
    native, ours = _runs(tmp_path, *args, nofile=nofile, name="sbx32_mend")
    assert ours.stdout == native.stdout, ours.stderr.decode()[-2000:]
    assert ours.returncode == 0
    return native, ours


def _opened(run) -> int:
    return int(re.search(rb"opened (\d+)", run.stderr).group(1))


def test_protection_before_file_end(tmp_path):
    """Before: SIGBUS (7) for a store to a PROT_READ page past the end and for any
    access to a PROT_NONE one."""
    native, _ = _both(tmp_path, "pastend")
    assert b"store to PROT_READ page past EOF: signal 11 code 2\n" in native.stdout
    assert b"load from PROT_NONE page past EOF: signal 11 code 2\n" in native.stdout
    assert b"load from PROT_READ page past EOF: signal 7 code 2\n" in native.stdout


def test_read_only_shared_maps_under_low_ulimit(tmp_path):
    """40 read-only MAP_SHARED mmaps of 40 files under ulimit -n 64 (before: 'mmap 26'
    failed: the held descriptors had used up the guest's share, open() ENFILE); the
    copies past the spare descriptors still refuse PROT_WRITE (EACCES), and open()
    still gets at least half of what it gets with no mapping at all."""
    native, ours = _both(tmp_path, "roshared", "40", nofile=True)
    assert native.stdout.startswith(b"mapped 40\nmprotect first: Permission denied\n"
                                    b"mprotect last: Permission denied\n")
    (tmp_path / "z").mkdir()
    _, none = _both(tmp_path / "z", "private", "0", nofile=True)
    assert _opened(ours) * 2 >= _opened(none)


def test_private_maps_leave_descriptors(tmp_path):
    """40 MAP_PRIVATE mmaps of 40 files under ulimit -n 64: before, 16 held descriptors
    left open() 10 (26 with no mapping; native 60 either way)."""
    native, ours = _both(tmp_path, "private", "40", nofile=True)
    (tmp_path / "z").mkdir()
    _, none = _both(tmp_path / "z", "private", "0", nofile=True)
    assert native.stdout.startswith(b"mapped 40\nmprotect first: ok\n")
    assert _opened(ours) * 2 >= _opened(none)


_INPROC = r"""
import os, sys
from vm.linux import addrspace
from vm.linux.runner import run_elf
from vm.options import RunOptions
exe, what = sys.argv[1], sys.argv[2:]
data = open(exe, "rb").read()
calls = [0]
guard_eof = addrspace.AddressSpace.guard_eof
def counted(self, sf, size=None):
    calls[0] += 1
    return guard_eof(self, sf, size)
addrspace.AddressSpace.guard_eof = counted
fds = len(os.listdir("/proc/self/fd"))
for _ in range(3):
    rc = run_elf(exe, data, RunOptions(args=tuple(what)))
    sys.stdout.flush()
print("rc", rc, "fds", len(os.listdir("/proc/self/fd")) - fds, "held",
      addrspace.held_count(), "guard_eof", calls[0] // 3, file=sys.stderr)
"""


def _inproc(tmp_path: Path, *args: str):
    exe = _exe()
    (tmp_path / "i").mkdir()
    return subprocess.run([sys.executable, "-c", _INPROC, str(exe), *args],
                          cwd=tmp_path / "i", env=_env({"PYVM_CODE_CACHE": "0"}),
                          capture_output=True, timeout=300, stdin=subprocess.DEVNULL,
                          preexec_fn=_few_fds)


def _stat(run, name: str) -> int:
    return int(re.search(rb"\b%s (-?\d+)" % name.encode(), run.stderr).group(1))


def test_writes_do_not_visit_every_mapping(tmp_path):
    """100 mappings of a one-page file's second page (past its end), 300 writes inside
    the file, one growing it: the output as native, and only the growth re-guards the
    mappings (before: every write re-guarded all 100: 30,100 calls)."""
    native, _ = _both(tmp_path, "writes", "100", "300")
    assert native.stdout == b"before growing: signal 7 code 2\nafter growing: 122 122\n"
    run = _inproc(tmp_path, "writes", "100", "300")
    assert run.stdout == native.stdout * 3, run.stderr.decode()[-2000:]
    assert _stat(run, "guard_eof") <= 2 * 100 + 10


def test_first_process_private_descriptors_released(tmp_path):
    """Three in-process runs of a program with three MAP_PRIVATE file mappings: no host
    descriptor is left held after them (before: 3, held on by the first process)."""
    (tmp_path / "n").mkdir()
    native = subprocess.run([str(_exe()), "private", "3"], cwd=tmp_path / "n",
                            capture_output=True, timeout=60, preexec_fn=_few_fds)
    assert native.stdout.startswith(b"mapped 3\n")
    run = _inproc(tmp_path, "private", "3")
    assert run.stdout.startswith(b"mapped 3\n"), run.stderr.decode()[-2000:]
    assert _stat(run, "held") == 0
    assert _stat(run, "fds") == 0


def test_ioctl_on_o_path_is_ebadf(tmp_path):
    """Before: FIONBIO/FIOCLEX/FIONCLEX/FIONREAD succeeded (and set O_NONBLOCK)."""
    native, _ = _both(tmp_path, "opath")
    assert native.stdout.startswith(b"FIONBIO: -1 Bad file descriptor\n")


def test_mprotect_eacces_vma_by_vma(tmp_path):
    """[read-only anonymous page, read-only MAP_SHARED page] + PROT_WRITE: EACCES with
    the first page made writable; a range starting at a hole: ENOMEM (before: nothing
    changed, and EACCES for the hole)."""
    native, _ = _both(tmp_path, "protect")
    assert b"store to the first page: signal 0 code 0\n" in native.stdout
    assert b"hole + read-only shared: -1 Cannot allocate memory\n" in native.stdout
