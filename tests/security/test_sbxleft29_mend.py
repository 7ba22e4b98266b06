"""Review findings of the sandbox leftovers (test_sbxleft29.py) mended: output paths'
directory links, PyPy's missing os.O_PATH, FIFO waits that outlived their reader, the
sandbox's clocks, errno order, /proc after the leader thread's exit, the code cache cap.
Oracles: the file system, the native run of gcc -m32 programs (sbxleft29_mend*.c), the
real SQLite."""
from __future__ import annotations

import errno
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from linux.kit import _env, build, run_both  # noqa: E402
from test_outmend28 import STOPPED, first_trace_line, program  # noqa: E402

HERE = Path(__file__).parent
PYPY = Path("/tmp/pypy-venv/bin/python")


def _trace(target: str, cwd: Path, python: str = sys.executable, user: tuple = (),
           **kw) -> subprocess.CompletedProcess:
    """pyvm -m vm.linux --trace-file TARGET --max-steps 5 PROGRAM (as ``user``: setpriv's
    arguments)."""
    exe = kw.pop("exe", program())
    cmd = [*user, python, "-m", "vm.linux", "--trace-file", target, "--max-steps", "5",
           str(exe)]
    kw.setdefault("stdin", subprocess.DEVNULL)
    return subprocess.run(cmd, cwd=cwd, env=_env({"PYVM_CODE_CACHE": "0"}),
                          capture_output=True, timeout=120, **kw)


def _one_line(run: subprocess.CompletedProcess, *words: bytes) -> bool:
    lines = run.stderr.splitlines()
    return (run.returncode == 1 and len(lines) == 1 and b"Traceback" not in run.stderr
            and all(w in lines[0] for w in words))


@pytest.fixture
def public_dir():
    """A directory under /tmp every user can enter (pytest's tmp_path is root's 0700)."""
    top = Path(tempfile.mkdtemp(prefix="pyvm-sbxmend-", dir="/tmp"))
    top.chmod(0o755)
    yield top
    for sub in top.rglob("*"):
        if sub.is_dir() and not sub.is_symlink():
            sub.chmod(0o755)
    shutil.rmtree(top)


def test_a_link_in_a_read_only_directory_the_user_owns_is_refused(public_dir):
    """The guest runs as the user: it plants ``dir -> victim`` and chmods its start
    directory 0555, so the next run's ``--trace-file dir/trace.txt`` (the directory no
    longer writable) wrote into victim (~/.ssh). Oracle: victim's file after the run."""
    if os.geteuid() != 0 or shutil.which("setpriv") is None:
        pytest.skip("needs root and setpriv to run as another user")
    nobody = 65534
    work, victim = public_dir / "w", public_dir / "victim"
    for d in (work, victim):
        d.mkdir()
        os.chown(d, nobody, nobody)
    (victim / "trace.txt").write_text("keep")
    os.chown(victim / "trace.txt", nobody, nobody)
    exe = public_dir / "prog"
    shutil.copy(program(), exe)
    (work / "dir").symlink_to(victim)
    os.chown(work / "dir", nobody, nobody, follow_symlinks=False)
    work.chmod(0o555)
    user = ("setpriv", f"--reuid={nobody}", f"--regid={nobody}", "--clear-groups")
    run = _trace("dir/trace.txt", work, user=user, exe=exe)
    assert (victim / "trace.txt").read_text() == "keep"
    assert _one_line(run, b"dir is a symbolic link",
                     b"give the resolved path (%s/trace.txt)" % bytes(victim)), run


@pytest.mark.parametrize("name", ["/dev/fd/1", "/proc/self/fd/1"])
def test_links_of_pseudo_file_systems_are_followed(tmp_path, name):
    """As root every directory link was refused: /dev/fd/1, /proc/self/fd/1 (and bash's
    >(...), /dev/fd/63) were errors. The kernel makes those links: the trace reaches
    pyvm's standard output."""
    run = _trace(name, tmp_path)
    assert run.returncode == STOPPED, run
    assert run.stdout.startswith(first_trace_line(program())), run


def test_bash_process_substitution_is_written(tmp_path):
    """``--trace-file >(cat)``: bash passes /dev/fd/63, a pipe; it was refused as root."""
    r, w = os.pipe()
    os.set_inheritable(w, True)
    try:
        run = _trace(f"/dev/fd/{w}", tmp_path, pass_fds=(w,))
        os.close(w)
        w = -1
        got = b""
        while chunk := os.read(r, 1 << 16):
            got += chunk
    finally:
        os.close(r)
        if w >= 0:
            os.close(w)
    assert run.returncode == STOPPED, run
    assert got.startswith(first_trace_line(program())), got


def test_a_link_root_could_have_planted_is_refused_with_the_resolved_path(tmp_path):
    """As root /var/run (-> /run) lies in a directory root may write: refused, in one
    line naming the link and the path to give instead."""
    if os.geteuid() != 0 or not os.path.islink("/var/run"):
        pytest.skip("needs root and /var/run -> /run")
    name = f"pyvm-sbxmend-{os.getpid()}"
    real = os.path.join(os.path.realpath("/var/run"), name)
    run = _trace(f"/var/run/{name}", tmp_path)
    assert not os.path.exists(real)
    assert _one_line(run, b"/var/run is a symbolic link",
                     b"give the resolved path (%s)" % real.encode()), run


def test_a_link_to_dev_tty_without_a_terminal_says_so(tmp_path):
    """trace.txt -> /dev/tty in a session without a controlling terminal was reported as
    "a FIFO no process reads"."""
    (tmp_path / "trace.txt").symlink_to("/dev/tty")
    run = _trace("trace.txt", tmp_path, start_new_session=True)
    assert _one_line(run, b"/dev/tty", b"no controlling terminal"), run


def _need_pypy():
    if not PYPY.exists():
        if os.environ.get("CI") == "true":
            pytest.fail(f"{PYPY} missing")
        pytest.skip(f"{PYPY} missing")


def test_run_outputs_open_under_pypy(tmp_path):
    """PyPy's os has no O_PATH: every --trace-file (and --serial, --port-log,
    --screen-html, --disk-write) was a traceback."""
    _need_pypy()
    run = _trace("trace.txt", tmp_path, python=str(PYPY))
    assert run.returncode == STOPPED and b"Traceback" not in run.stderr, run
    assert (tmp_path / "trace.txt").read_bytes().startswith(first_trace_line(program()))


def test_an_interrupted_fifo_open_leaves_no_reader(tmp_path):
    """A reader's open interrupted by a signal left pyvm's helper thread blocked in its
    open: a reader still, so the guest's own O_NONBLOCK writer open succeeded (3, then
    EPIPE) where Linux says ENXIO. Oracle: the native run."""
    exe = build("sbxleft29_mend_fifo", where=HERE)
    out = {}
    for name, pyvm in (("native", ()), ("pyvm", (sys.executable, "-m", "vm.linux"))):
        work = tmp_path / name
        work.mkdir()
        os.mkfifo(work / "f")
        out[name] = subprocess.run([*pyvm, str(exe), "f"], cwd=work, capture_output=True,
                                   env=_env(None), timeout=120)
    native, guest = out["native"], out["pyvm"]
    assert native.returncode == 0 and \
        b"write open -1 No such device or address\n" in native.stdout, native
    assert guest.returncode == 0 and guest.stdout == native.stdout, guest


def test_an_interrupted_fifo_open_leaves_no_reader_meanwhile(tmp_path):
    """After the EINTR, until its next open, the guest kept its end of the FIFO open (a
    reader): an outside writer's O_NONBLOCK open succeeded. Oracle: the native run."""
    exe = build("sbxleft29_mend_fifo", where=HERE)
    out = {}
    for name, pyvm in (("native", ()), ("pyvm", (sys.executable, "-m", "vm.linux"))):
        work = tmp_path / name
        work.mkdir()
        os.mkfifo(work / "f")
        proc = subprocess.Popen([*pyvm, str(exe), "f", "pause"], cwd=work, env=_env(None),
                                stdout=subprocess.PIPE, stdin=subprocess.DEVNULL)
        try:
            said = proc.stdout.readline()
            try:
                os.close(os.open(work / "f", os.O_WRONLY | os.O_NONBLOCK))
                writer = "opened"
            except OSError as e:
                writer = errno.errorcode[e.errno]
            proc.wait(timeout=120)
        finally:
            if proc.poll() is None:
                proc.kill()
            proc.stdout.close()
        out[name] = (said, writer, proc.returncode)
    assert out["native"] == (b"read open -1 Interrupted system call\n", "ENXIO", 0), out
    assert out["pyvm"] == out["native"], out


# Runs a guest blocked in a FIFO reader's open, stopped by --timeout, four times in
# this process (the Python API's way), then counts what outlived the runs.
_LEFT = """
import errno, os, sys, threading
from vm.api import run
prog, fifo = sys.argv[1:3]
fds = lambda: len(os.listdir("/proc/self/fd"))
run(prog, args=[fifo, "block"], timeout=1)     # (what a first run keeps: caches)
before = fds()
for _ in range(3):
    run(prog, args=[fifo, "block"], timeout=1)
import gc; gc.collect()
threads = sum(t.name == "pyvm-fifo-open" and t.is_alive() for t in threading.enumerate())
try:
    os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
    writer = "opened"
except OSError as e:
    writer = errno.errorcode[e.errno]
print(threads, fds() - before, writer)
"""


def test_fifo_waits_end_with_the_run(tmp_path):
    """Each run stopped while a guest waited for a FIFO's writer left its helper thread
    blocked, three descriptors and a reader of the FIFO (an outside writer's O_NONBLOCK
    open succeeded). Oracle: the kernel's ENXIO for a FIFO without readers."""
    exe = build("sbxleft29_mend_fifo", where=HERE)
    os.mkfifo(tmp_path / "f")
    run = subprocess.run([sys.executable, "-c", _LEFT, str(exe), str(tmp_path / "f")],
                         cwd=tmp_path, env=_env({"PYVM_CODE_CACHE": "0"}),
                         capture_output=True, timeout=300)
    assert run.stdout.splitlines()[-1:] == [b"0 0 ENXIO"], run


def test_a_fifo_readers_wait_works_under_pypy(tmp_path):
    """Under PyPy a reader's blocking FIFO open without a writer (its helper thread's
    O_PATH open) was an internal error, status 70. Oracle: the native run."""
    _need_pypy()
    exe = build("sbxleft29_mend_fifo", where=HERE)
    out = {}
    for name, pyvm in (("native", ()), ("pypy", (str(PYPY), "-m", "vm.linux"))):
        work = tmp_path / name
        work.mkdir()
        os.mkfifo(work / "f")
        out[name] = subprocess.run([*pyvm, str(exe), "f"], cwd=work, capture_output=True,
                                   env=_env({"PYVM_CODE_CACHE": "0"}), timeout=300)
    assert out["native"].returncode == 0, out
    assert (out["pypy"].returncode, out["pypy"].stdout) == (0, out["native"].stdout), out


def test_monotonic_clocks_share_the_sandboxs_uptime(tmp_path):
    """CLOCK_MONOTONIC and CLOCK_BOOTTIME gave the host's uptime while sysinfo and
    /proc/uptime gave the sandbox's (seconds apart), and CLOCK_MONOTONIC_COARSE gave
    the wall-clock time; absolute monotonic deadlines (clock_nanosleep, a condition
    variable's) must still be reached. Oracle: the native run, where all agree."""
    exe = build("sbxleft29_mend_clocks", flags=("-static", "-pthread"), where=HERE)
    native, guest = run_both(tmp_path, exe, [], pyvm=("-m", "vm.linux"))
    assert native.returncode == 0 and b" 0\n" not in native.stdout, native
    assert guest.returncode == 0 and guest.stdout == native.stdout, guest


def test_errnos_come_in_linuxs_order(tmp_path):
    """mknod("nf/", S_IFREG) created nf (ENOENT natively), a device, FIFO or socket node
    on an existing name was EPERM (EEXIST: the name is looked at first); readv/writev
    with a bad iovec on a file of the wrong mode was EINVAL (EBADF: the mode first);
    mprotect with a growth bit over a partly mapped range was ENOMEM (EINVAL when a
    mapping is met first). Oracle: the native run."""
    exe = build("sbxleft29_mend_errnos", where=HERE)
    native, guest = run_both(tmp_path, exe, [], pyvm=("-m", "vm.linux"))
    assert native.returncode == 0 and b"mknod-slash-new -1 2\n" in native.stdout, native
    assert guest.returncode == 0 and guest.stdout == native.stdout, guest


def test_proc_pid_follows_the_exited_leader_thread(tmp_path):
    """Once the leader thread called pthread_exit, /proc/<pid> still answered from it
    while another thread ran on (environ, cmdline, maps read; exe, cwd, root resolved).
    Oracle: the native run."""
    exe = build("sbxleft29_mend_leader", flags=("-static", "-pthread"), where=HERE)
    native, guest = run_both(tmp_path, exe, [], pyvm=("-m", "vm.linux"))
    assert native.returncode == 0 and b"exe readlink error 2\n" in native.stdout, native
    lines = native.stdout.splitlines()[1:]     # (the first read races the leader's exit)
    assert guest.returncode == 0 and guest.stdout.splitlines()[1:] == lines, guest


def test_code_cache_cap_skips_rows_without_code(monkeypatch):
    """_cap_bytes's GROUP BY summed a flush whose rows have no code (NULL) to None and
    failed with TypeError; the window query it replaced skipped them. It must drop
    what that query, run here by the real SQLite as the reference, drops."""
    from vm.x86 import codecache
    monkeypatch.setattr(codecache, "MAX_BYTES", 1000)
    db = sqlite3.connect(":memory:", isolation_level=None)
    db.execute(codecache._CREATE)
    for stored in range(1, 9):                 # eight flushes, the 5th of NULL rows only
        for i in range(3):
            db.execute("INSERT INTO blocks VALUES (?, ?, ?)",
                       (bytes([stored, i]), None if stored == 5 else bytes(60), stored))
    cut = db.execute("SELECT stored FROM (SELECT stored, SUM(LENGTH(code)) OVER "
                     "(ORDER BY stored DESC) AS newer FROM blocks) WHERE newer > 800 "
                     "ORDER BY stored DESC LIMIT 1").fetchone()[0]
    expected = db.execute("SELECT key FROM blocks WHERE stored > ? ORDER BY key",
                          (cut,)).fetchall()
    assert 0 < len(expected) < 24
    codecache._cap_bytes(db, 9)
    assert db.execute("SELECT key FROM blocks ORDER BY key").fetchall() == expected
