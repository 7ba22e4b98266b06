"""Review of c3b0405 (sandbox leftovers): the findings mended. Oracle: the native run of
sbx30_mend.c (gcc -m32; the append cases under RLIMIT_FSIZE 1000, as pyvm runs them
under --max-output 1000). Each test failed before the mend.

- F_SETFL O_APPEND changed only the guest's flags: the host descriptor wrote at the
  position, 1 GiB away (a sparse 1 GiB file under --max-output 1000), and F_SETFL 0 on
  an O_APPEND open still appended; a pwrite on an O_APPEND descriptor was charged a
  1 GiB hole and stopped the run (Linux appends);
- a rename over an existing name gave no name back (an atomic-save loop: EDQUOT at the
  64th save);
- a guest writer's open of a FIFO given up (a signal) opened a reader end to end the
  host thread's open: a writer outside pyvm blocked in its own open got through and
  lost its data to that reader (Linux: it keeps waiting for a real reader);
- an exec by one thread left another thread's FIFO writer open waiting (its host
  thread held a writer end: a reader after the exec never saw the end of file);
- an mprotect of part of a MAP_GROWSDOWN mapping did not split it: PROT_GROWSDOWN on
  the upper part reached the lower part too (its low page became read-only);
- 0-byte reads/writes: O_PATH EISDIR/0 (Linux EBADF), eventfd and epoll 0 (EINVAL).
"""
from __future__ import annotations

import os
import resource
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from linux.kit import _env, build  # noqa: E402

HERE = Path(__file__).parent


def _fsize_limit() -> None:
    resource.setrlimit(resource.RLIMIT_FSIZE, (1000, 1000))


def _both(tmp_path: Path, *args: str, limit: str = "1000") -> tuple:
    exe = build("sbx30_mend", where=HERE)
    (tmp_path / "n").mkdir()
    (tmp_path / "p").mkdir()
    native = subprocess.run([str(exe), *args], cwd=tmp_path / "n", capture_output=True,
                            timeout=60, preexec_fn=_fsize_limit, stdin=subprocess.DEVNULL)
    ours = subprocess.run([sys.executable, "-m", "vm.cli", "--max-output", limit, str(exe),
                           *args], cwd=tmp_path / "p", env=_env({"PYVM_CODE_CACHE": "0"}),
                          capture_output=True, timeout=300, stdin=subprocess.DEVNULL)
    return native, ours


def test_append_mode_follows_fcntl_and_pwrite_appends(tmp_path):
    native, ours = _both(tmp_path, "append")
    assert native.stdout == (b"setfl 0 write 1 errno 0 size 1\n"
                             b"pwrite 1 errno 0 size 1\n"
                             b"cleared 1 size 3 content Xbc\n"), native
    assert (ours.returncode, ours.stdout) == (0, native.stdout), ours.stderr[-2000:]
    for name in ("a.out", "b.out", "c.out"):
        assert (tmp_path / "p" / name).stat().st_size == \
            (tmp_path / "n" / name).stat().st_size


def test_a_rename_over_a_name_gives_one_back(tmp_path):
    native, ours = _both(tmp_path, "saves", "200", limit="100000")
    assert native.stdout == b"saved 200 times\n", native
    assert (ours.returncode, ours.stdout) == (0, native.stdout), ours.stderr[-2000:]


def test_zero_byte_reads_and_writes(tmp_path):
    native, ours = _both(tmp_path, "zero")
    assert b"read-opath-0 -1 9\nwrite-opath-0 -1 9\nread-epoll-0 -1 22\n" in native.stdout
    assert (ours.returncode, ours.stdout) == (0, native.stdout), ours.stderr[-2000:]


def test_mprotect_splits_a_growsdown_mapping(tmp_path):
    native, ours = _both(tmp_path, "growsdown")
    assert native.stdout == b"split 0 0 writable 1 1 0\n", native
    assert (ours.returncode, ours.stdout) == (0, native.stdout), ours.stderr[-2000:]


def _in_open(pid: int) -> bool:
    """Whether process ``pid`` is blocked in openat (x86-64 257; /proc/PID/syscall)."""
    try:
        return Path(f"/proc/{pid}/syscall").read_text().split()[0] == "257"
    except (OSError, IndexError):
        return False


def _fifo_interrupted(cmd: list, where: Path, env: dict | None = None) -> tuple:
    fifo = where / "ff"
    os.mkfifo(fifo)
    writer = subprocess.Popen([sys.executable, "-c", "import os; fd = os.open('ff', "
                               "os.O_WRONLY); os.write(fd, b'hi'); print('wrote')"],
                              cwd=where, stdout=subprocess.PIPE)
    try:
        for _ in range(3000):                  # (a condition, not a duration)
            if _in_open(writer.pid):
                break
            time.sleep(0.01)
        assert _in_open(writer.pid)
        guest = subprocess.run([*cmd, "fifointr", "ff"], cwd=where, capture_output=True,
                               timeout=120, stdin=subprocess.DEVNULL, env=env)
        waiting = writer.poll() is None and _in_open(writer.pid)
        fd = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)     # now a reader comes
        try:
            out, _ = writer.communicate(timeout=60)
            got = os.read(fd, 10)
        finally:
            os.close(fd)
        return guest.stdout, waiting, got, out
    finally:
        if writer.poll() is None:
            writer.kill()
            writer.wait()


def test_a_given_up_fifo_writer_open_lets_no_other_writer_through(tmp_path):
    exe = build("sbx30_mend", where=HERE)
    (tmp_path / "n").mkdir()
    (tmp_path / "p").mkdir()
    native = _fifo_interrupted([str(exe)], tmp_path / "n")
    assert native == (b"open -1 errno 4\n", True, b"hi", b"wrote\n")
    ours = _fifo_interrupted([sys.executable, "-m", "vm.cli", str(exe)], tmp_path / "p",
                             _env({"PYVM_CODE_CACHE": "0"}))
    assert ours == native


def test_exec_ends_other_threads_fifo_opens(tmp_path):
    exe = build("sbx30_mend", where=HERE)
    for side in ("n", "p"):
        (tmp_path / side).mkdir()
        os.mkfifo(tmp_path / side / "ff")
    native = subprocess.run([str(exe), "fifoexec", "ff"], cwd=tmp_path / "n",
                            capture_output=True, timeout=60, stdin=subprocess.DEVNULL)
    assert native.stdout == b"after exec: read 0\n", native
    ours = subprocess.run([sys.executable, "-m", "vm.cli", str(exe), "fifoexec", "ff"],
                          cwd=tmp_path / "p", env=_env({"PYVM_CODE_CACHE": "0"}),
                          capture_output=True, timeout=120, stdin=subprocess.DEVNULL)
    assert (ours.returncode, ours.stdout) == (0, native.stdout), ours.stderr[-2000:]
