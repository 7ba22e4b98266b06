"""Session 28 review mends of pyvm's run-time outputs (formats/outputs.py,
open_run_output: --trace-file, --serial FILE, --port-log, --screen-html) named through
a final symbolic link, which a guest may have planted where the next run writes:

- a link was refused only when it reached a regular file: one to a block device
  (a loop device here; /dev/vda as root would lose its partition table) or to a
  character device (/dev/zero, /dev/full; /dev/kmsg, /dev/port) got the trace at the
  device's offset 0. A followed link now reaches only pyvm's own standard output or
  error, a FIFO, a terminal or /dev/null;
- ``--trace-file /dev/stderr 2>err.log`` (and /dev/stdout >out.log) failed with "a
  symbolic link to a regular file" since that refusal: pyvm's own fd 1 and 2 are
  recognised (same device and inode) and written through a duplicate;
- a link to a FIFO no process reads blocked the run before it started (--timeout did
  not apply): the FIFO is opened non-blocking, ENXIO is a one-line error.

Oracles: the file system (a victim file's and a loop device's bytes, the redirected
files), the ELF header of the program (the trace's first address is its entry) and
the kernel's FIFO semantics (a reader thread gets the trace)."""

from __future__ import annotations

import os
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from linux.kit import _env, build  # noqa: E402

HERE = Path(__file__).parent
STOPPED = 124                   # pyvm's status at a --max-steps stop


def program() -> Path:
    return build("outmend28", where=HERE)


def first_trace_line(exe: Path) -> bytes:
    """The address the trace starts with: the program's entry, from its ELF header."""
    entry = struct.unpack_from("<I", exe.read_bytes(), 0x18)[0]
    return b"%08x  " % entry


def pyvm(trace: str, cwd: Path, timeout: float = 120, **streams) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "vm.cli", "--timeout", "30", "--trace-file", trace,
           "--max-steps", "5", str(program())]
    streams.setdefault("stdout", subprocess.PIPE)
    streams.setdefault("stderr", subprocess.PIPE)
    return subprocess.run(cmd, cwd=cwd, env=_env(None), timeout=timeout,
                          stdin=subprocess.DEVNULL, **streams)


def planted(tmp_path: Path, target: str) -> Path:
    """A work directory whose trace.txt is a link to ``target`` (as a guest makes it)."""
    work = tmp_path / "w"
    work.mkdir()
    (work / "trace.txt").symlink_to(target)
    return work


def refused(run: subprocess.CompletedProcess) -> bool:
    lines = run.stderr.splitlines()
    return (run.returncode == 1 and len(lines) == 1 and b"cannot write trace.txt" in lines[0]
            and b"not followed" in lines[0] and b"Traceback" not in run.stderr)


@pytest.mark.parametrize("device", ["/dev/zero", "/dev/full"])
def test_a_link_to_a_character_device_is_refused(tmp_path, device):
    if not os.path.exists(device):
        pytest.skip(f"no {device}")
    run = pyvm("trace.txt", planted(tmp_path, device))
    assert refused(run), run


def test_a_link_to_a_block_device_is_refused(tmp_path):
    """A loop device over a file stands for a disk: the file keeps its zeros."""
    losetup = shutil.which("losetup")
    if os.geteuid() != 0 or losetup is None:
        pytest.skip("losetup needs root")
    disk = tmp_path / "disk.img"
    with open(disk, "wb") as f:
        f.truncate(1 << 20)
    made = subprocess.run([losetup, "-f", "--show", str(disk)], capture_output=True,
                          text=True)
    if made.returncode:
        pytest.skip(f"no loop device here: {made.stderr.strip()}")
    loop = made.stdout.strip()
    try:
        run = pyvm("trace.txt", planted(tmp_path, loop))
    finally:
        subprocess.run([losetup, "-d", loop], check=True)
    assert disk.read_bytes() == bytes(1 << 20)
    assert refused(run), run


def test_a_link_to_a_regular_file_is_still_refused(tmp_path):
    victim = tmp_path / "victim"
    victim.write_bytes(b"precious\n")
    run = pyvm("trace.txt", planted(tmp_path, str(victim)))
    assert victim.read_bytes() == b"precious\n"
    assert refused(run), run


def test_a_link_to_dev_null_is_written(tmp_path):
    run = pyvm("trace.txt", planted(tmp_path, os.devnull))
    assert run.returncode == STOPPED and first_trace_line(program()) not in run.stdout, run


@pytest.mark.parametrize("name, fd", [("/dev/stdout", 1), ("/dev/stderr", 2)])
def test_dev_stdout_and_stderr_reach_the_redirected_file(tmp_path, name, fd):
    """``--trace-file /dev/stderr 2>err.log``: the trace is in err.log (after the
    redirection, /dev/stderr is a link to a regular file: pyvm's own fd 2)."""
    log = tmp_path / "log"
    with open(log, "wb") as f:
        streams = {"stdout" if fd == 1 else "stderr": f}
        run = pyvm(name, tmp_path, **streams)
    text = log.read_bytes()
    assert run.returncode == STOPPED, (run, text)
    assert text.count(first_trace_line(program())) == 1 and b"xor ebp, ebp" in text, text
    if fd == 2:                 # the stop message and the trace share the file
        assert b"stopped after 5 instructions" in text, text


def test_a_link_to_a_fifo_nobody_reads_is_an_error_not_a_hang(tmp_path):
    work = planted(tmp_path, "fifo")
    os.mkfifo(work / "fifo")
    try:
        run = pyvm("trace.txt", work, timeout=90)
    except subprocess.TimeoutExpired:
        pytest.fail("pyvm waited for a FIFO reader past --timeout")
    lines = run.stderr.splitlines()
    assert run.returncode == 1 and len(lines) == 1 and b"FIFO" in lines[0], run


def test_a_link_to_a_fifo_with_a_reader_gets_the_trace(tmp_path):
    work = planted(tmp_path, "fifo")
    os.mkfifo(work / "fifo")
    fd = os.open(work / "fifo", os.O_RDONLY | os.O_NONBLOCK)     # the reader is there
    try:
        run = pyvm("trace.txt", work)
        got = os.read(fd, 1 << 16)      # (5 lines: less than a pipe holds)
    finally:
        os.close(fd)
    assert run.returncode == STOPPED, run
    assert got.startswith(first_trace_line(program())), got
