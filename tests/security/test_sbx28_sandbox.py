"""Session 28 sandbox leftovers, each probe of tests/security/sbx28.c run natively and
under pyvm with the same stdin, limits and files; the outputs must match:

- descriptors: pipes and other descriptors with no host one were not bounded by
  RLIMIT_NOFILE (EMFILE), so a guest could fill host memory with them;
- host descriptors: guests filling their descriptor tables used every host descriptor
  pyvm had, and the next execve failed with EMFILE (the program file could not be
  opened). Guest-held host descriptors are now capped run-wide (ENFILE past the cap) and
  pyvm keeps a reserve for its own opens;
- O_NONBLOCK set with F_SETFL on stdin (a host pipe) was recorded but not applied: the
  read blocked the whole emulator. A blocking read of it now waits in the scheduler, so
  it blocks only its own process;
- a blocking open of a FIFO stopped every guest process, so a reader and a writer in
  the same run never met (the run hung);
- sendfile into a full pipe lost the bytes it had read (the call restarts);
- open() errnos that differed from Linux's: /proc for writing, O_TMPFILE's flag rules,
  O_DIRECTORY on /proc/self/fd/N, "name/" with O_CREAT (it created "name"), O_PATH with
  O_NOFOLLOW on a symlink or a /proc link."""

from __future__ import annotations

import os
import resource
import shutil
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from linux.kit import ROOT, TIMEOUT, build, run_both  # noqa: E402

HERE = Path(__file__).parent
DESCRIPTORS = 200          # RLIMIT_NOFILE of both runs, soft and hard


def _limit_descriptors() -> None:
    resource.setrlimit(resource.RLIMIT_NOFILE, (DESCRIPTORS, DESCRIPTORS))


ENV = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))


def _run(argv: list, cwd: Path, stdin=subprocess.DEVNULL, timeout: float = TIMEOUT,
         limit: bool = False) -> subprocess.CompletedProcess:
    return subprocess.run(argv, cwd=cwd, stdin=stdin, capture_output=True, env=ENV,
                          timeout=timeout, preexec_fn=_limit_descriptors if limit else None)


def _both(tmp_path: Path, args: list, limit: bool = False, timeout: float = TIMEOUT) -> tuple:
    """(native, pyvm) results of ``sbx28 args``, each in a fresh directory holding a copy
    of the program (exec-copy)."""
    exe = build("sbx28", where=HERE)
    return run_both(tmp_path, exe, args, prepare=lambda work: shutil.copy(exe, work / "exec-copy"),
                    timeout=timeout, preexec=_limit_descriptors if limit else None)


def test_guests_cannot_take_every_host_descriptor(tmp_path):
    """Four children hold all the descriptors they can get, then the parent's execve
    must still start its program (it failed with EMFILE)."""
    native, guest = _both(tmp_path, ["fds", "WORK"], limit=True)
    want = b"".join(b"child %d: table full\n" % c for c in range(4)) + b"exec ok\ndone\n"
    assert sorted(native.stdout.splitlines()) == sorted(want.splitlines()), native
    assert sorted(guest.stdout.splitlines()) == sorted(native.stdout.splitlines()), guest
    assert guest.returncode == native.returncode == 0, guest.stderr
    assert b"Traceback" not in guest.stderr


def test_holes_in_a_shared_mapping_take_no_host_descriptors(tmp_path):
    """munmap of every other page of a MAP_SHARED file mapping: each remaining piece
    held a host descriptor of its own (and a fork one more per piece), so 1000 holes
    used up pyvm's descriptors; the pieces now share the mapping's."""
    native, guest = _both(tmp_path, ["shmholes"], limit=True)
    assert native.stdout == b"holes 1000\nopen after: ok\nfork: ok, file: aa\n", native
    assert guest.stdout == native.stdout, guest
    assert b"Traceback" not in guest.stderr


def test_descriptor_table_is_bounded_by_rlimit_nofile(tmp_path):
    """pipe() until it fails: EMFILE once the table reaches RLIMIT_NOFILE (pyvm made
    pipes for ever, each one host memory); the odd slot left takes a dup."""
    native, guest = _both(tmp_path, ["pipes"], limit=True, timeout=120)
    assert native.stdout == b"pipe: EMFILE\ndup: ok\nopen: EMFILE\n", native
    assert guest.stdout == native.stdout, guest


def test_sendfile_into_a_full_pipe_loses_nothing(tmp_path):
    """sendfile of a file into a pipe that fills: the call waits and goes on; it lost
    the bytes it had read when the pipe was full (the child got 65536 of 200000)."""
    native, guest = _both(tmp_path, ["sendfile"], timeout=120)
    assert native.stdout.startswith(b"child got 200000, sum "), native
    assert native.stdout.endswith(b"sent 200000\n"), native
    assert guest.stdout == native.stdout, guest


def test_nonblocking_stdin_pipe_and_a_blocked_reader(tmp_path):
    """stdin is a pipe whose writer (this test) stays open and silent: with O_NONBLOCK
    a read is EAGAIN, and a child blocked reading it lets its parent run (pyvm used to
    block in the host read until the writer closed)."""
    exe = build("sbx28", where=HERE)
    results = []
    for argv in ([str(exe)], [sys.executable, "-m", "vm.cli", str(exe)]):
        r, w = os.pipe()
        try:
            results.append(_run(argv + ["nonblock"], tmp_path, stdin=r, timeout=60))
        finally:
            os.close(r)
            os.close(w)
    native, guest = results
    assert native.stdout == b"nonblocking read: -1 EAGAIN\nO_NONBLOCK after F_SETFL " \
        b"back: 0\nparent runs while the child reads\nchild killed by 9\n", native
    assert guest.stdout == native.stdout, guest
    assert guest.returncode == 0, guest.stderr


def test_nonblocking_write_to_a_full_stdout_pipe(tmp_path):
    """stdout is a pipe this test reads only after the run: O_NONBLOCK writes fill it,
    then fail with EAGAIN (pyvm's write blocked for ever)."""
    exe = build("sbx28", where=HERE)
    results = []
    for argv in ([str(exe)], [sys.executable, "-m", "vm.cli", str(exe)]):
        r, w = os.pipe()
        try:
            results.append(subprocess.run(argv + ["nbwrite"], cwd=tmp_path, stdout=w,
                                          stderr=subprocess.PIPE, env=ENV, timeout=60))
        finally:
            os.close(r)
            os.close(w)
    native, guest = results
    assert native.stderr == b"wrote 65536, then EAGAIN\n", native
    assert guest.stderr == native.stderr, guest
    assert guest.returncode == 0


def test_fifo_reader_and_writer_in_one_run(tmp_path):
    """A child's blocking open of a FIFO for reading waits without stopping its parent,
    which then opens the other end and writes 100,000 bytes (more than a pipe holds)."""
    for name in ("native", "pyvm"):
        (tmp_path / name).mkdir()
        os.mkfifo(tmp_path / name / "fifo")
    exe = build("sbx28", where=HERE)
    native = _run([str(exe), "fifo", "fifo"], tmp_path / "native", timeout=60)
    guest = _run([sys.executable, "-m", "vm.cli", str(exe), "fifo", "fifo"],
                 tmp_path / "pyvm", timeout=60)
    assert native.stdout == b"nonblocking writer, no reader: ENXIO\nparent runs while " \
        b"the reader waits in open\nreader got 100000 bytes\nnonblocking reader, no " \
        b"writer: 0\ndone 0\n", native
    assert guest.stdout == native.stdout, guest


def test_open_errnos_match_linux(tmp_path):
    native, guest = _both(tmp_path, ["errno"])
    assert b"t/ O_CREAT                           EISDIR\nt created: 0\n" in native.stdout
    assert guest.stdout == native.stdout, guest.stdout.decode()
    assert not (tmp_path / "pyvm" / "t").exists()
