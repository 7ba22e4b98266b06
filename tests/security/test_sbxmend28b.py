"""Session 28 sandbox review mends (sbxmendB), each probe of tests/security/sbxmend28b.c
run natively and under pyvm; the outputs must match Linux's:

- a FIFO reader's blocking open waited for data or a hang-up, where Linux returns as
  soon as a writer has the FIFO open: a reader that opens and closes, and a handshake
  over two FIFOs, hung (--timeout). Guest FIFO ends are counted run-wide now; a write
  with no reader left gets SIGPIPE (it failed with EPIPE alone);
- a MAP_SHARED mmap refused at the host-descriptor cap (ENOMEM) stayed mapped: the
  descriptor is now taken before the address space changes;
- with pyvm's fd 0, 1 or 2 closed, pyvm's own opens took those numbers (the guest's
  read(0) gave the program's ELF bytes); they are now on /dev/null and the guest sees
  them closed (EBADF), as a native program does."""

from __future__ import annotations

import os
import resource
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from linux.kit import ROOT, build, run_both  # noqa: E402

HERE = Path(__file__).parent
ENV = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
DESCRIPTORS = 200          # RLIMIT_NOFILE of both map-fail runs
PYVM_TIMEOUT = "20"        # seconds (pyvm --timeout): a hang ends as a failure, not a wait


def _both(tmp_path: Path, args: list, preexec=None, options: tuple = ()) -> tuple:
    """(native, pyvm ``options``) results of ``sbxmend28b args`` in fresh directories;
    'WORK' in an argument is the run's directory, and one ending in 'FIFOS' names where
    FIFOs f1 and f2 are made."""
    def fifos(work: Path) -> None:
        if any(a.endswith("FIFOS") for a in args):
            for f in ("f1", "f2"):
                os.mkfifo(work / f)
    return run_both(tmp_path, build("sbxmend28b", where=HERE),
                    [a.replace("FIFOS", "") for a in args],
                    pyvm=("-m", "vm.cli", "--timeout", PYVM_TIMEOUT, *options),
                    prepare=fifos, timeout=120, preexec=preexec)


def test_a_fifo_reader_open_returns_when_a_writer_is_there(tmp_path):
    """The child's reader open returns once the parent's writer is open (no data is
    written before wait()), closes; the parent's write then gets SIGPIPE."""
    native, guest = _both(tmp_path, ["fifo-open-close", "WORK/f1FIFOS"])
    assert native.returncode == -13 and native.stdout == b"writer open ok\n", native
    assert guest.stdout == native.stdout, guest
    assert guest.returncode == 128 + 13, guest.stderr      # (pyvm reports 128 + signal)


def test_a_handshake_over_two_fifos(tmp_path):
    """Each side opens its reader before the other writes (a deadlock before)."""
    native, guest = _both(tmp_path, ["fifo-handshake", "WORKFIFOS"])
    want = b"child read 1 p\nparent write 1 read 1 k, child status 0\n"
    assert native.stdout == want and native.returncode == 0, native
    assert guest.stdout == want, guest
    assert guest.returncode == 0, guest.stderr


def _limit_descriptors() -> None:
    resource.setrlimit(resource.RLIMIT_NOFILE, (DESCRIPTORS, DESCRIPTORS))


def test_a_failed_shared_mapping_leaves_nothing_mapped(tmp_path):
    """With every descriptor taken, 300 MAP_SHARED|MAP_FIXED maps: each either maps (as
    natively) or fails with nothing left there (msync ENOMEM, a read faults); and 300
    MiB of failed maps anywhere take no memory (under --memory 256M, malloc(200M) failed)."""
    native, guest = _both(tmp_path, ["map-fail", "file"], preexec=_limit_descriptors,
                          options=("--memory", "256M"))
    want = b"opened some: 1, maps: 300, wrong: 0\nmalloc 200M: ok\n"
    assert native.stdout == want, native
    assert guest.stdout == want, guest
    assert guest.returncode == 0 and b"Traceback" not in guest.stderr, guest.stderr


def _closing(fds: tuple):
    def close() -> None:
        for fd in fds:
            os.close(fd)
    return close


@pytest.mark.parametrize("closed", [(0,), (1,), (2,), (0, 1, 2)])
def test_closed_standard_descriptors_stay_closed_for_the_guest(tmp_path, closed):
    """pyvm started with some of fds 0-2 closed: the guest sees them closed (fstat,
    read and write give EBADF), and reads no file of pyvm's."""
    exe = build("sbxmend28b", where=HERE)
    reports = []
    for name, argv in (("native", [str(exe)]),
                       ("pyvm", [sys.executable, "-m", "vm.cli", str(exe)])):
        work = tmp_path / name
        work.mkdir()
        proc = subprocess.run(argv + ["std", "report"], cwd=work, env=ENV, timeout=120,
                              stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, preexec_fn=_closing(closed))
        assert proc.returncode == 0, (name, proc.returncode)
        reports.append((work / "report").read_text())
    native, guest = reports
    for fd in closed:
        assert f"fd {fd}: Bad file descriptor" in native, native
    assert guest == native
