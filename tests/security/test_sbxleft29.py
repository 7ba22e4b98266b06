"""Sandbox leftovers of session 28 in the Linux personality, each against the native run
of a gcc -m32 program (tests/security/sbxleft29_*.c) or another real oracle."""
from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from linux.kit import _env, build, run_both  # noqa: E402
from test_outmend28 import STOPPED, first_trace_line, planted, program, pyvm  # noqa: E402

HERE = Path(__file__).parent


def test_edge_case_errnos_match_linux(tmp_path):
    """mprotect with unknown bits (pyvm: 0), mlock past the top of memory (0), an iovec
    length negative as ssize_t (EAGAIN/EFAULT), mknod of a regular file (EPERM): native
    answers EINVAL, ENOMEM, EINVAL, and creates the file."""
    exe = build("sbxleft29_errnos", where=HERE)
    native, guest = run_both(tmp_path, exe, [], pyvm=("-m", "vm.linux"))
    assert native.returncode == 0 and b"mknod-reg 0 0\n" in native.stdout, native
    assert guest.returncode == 0 and guest.stdout == native.stdout, guest


def test_a_zombies_proc_entries_answer_nothing(tmp_path):
    """/proc/<zombie>/environ opened (ESRCH natively) and read its environment, cmdline
    read the arguments, the exe, cwd and root links resolved (ENOENT natively)."""
    exe = build("sbxleft29_zombie", where=HERE)
    native, guest = run_both(tmp_path, exe, [], pyvm=("-m", "vm.linux"))
    assert native.returncode == 0 and b"exe readlink error 2\n" in native.stdout, native
    assert guest.returncode == 0 and guest.stdout == native.stdout, guest


class _PreWindowSQLite:
    """A connection that parses SQL as SQLite before 3.25 does: no window functions
    (``OVER``), as Debian's older releases and some Pythons ship."""

    def __init__(self, db):
        self.db = db

    def execute(self, sql, *args):
        if " OVER " in sql.upper():
            raise sqlite3.OperationalError('near "(": syntax error')
        return self.db.execute(sql, *args)


def test_code_cache_cap_needs_no_window_functions(monkeypatch):
    """_cap_bytes used SUM() OVER: under SQLite < 3.25 every flush past MAX_BYTES failed
    and was rolled back silently (nothing saved again). It must drop what the window
    query, run here by the real SQLite as the reference, drops."""
    from vm.x86 import codecache
    monkeypatch.setattr(codecache, "MAX_BYTES", 1000)
    db = sqlite3.connect(":memory:", isolation_level=None)
    db.execute(codecache._CREATE)
    for stored in range(1, 9):                       # eight flushes of 3 x 60 bytes
        for i in range(3):
            db.execute("INSERT INTO blocks VALUES (?, ?, ?)",
                       (bytes([stored, i]), bytes(60), stored))
    cut = db.execute("SELECT stored FROM (SELECT stored, SUM(LENGTH(code)) OVER "
                     "(ORDER BY stored DESC) AS newer FROM blocks) WHERE newer > 800 "
                     "ORDER BY stored DESC LIMIT 1").fetchone()[0]
    expected = db.execute("SELECT key FROM blocks WHERE stored > ? ORDER BY key",
                          (cut,)).fetchall()
    assert 0 < len(expected) < 24
    codecache._cap_bytes(_PreWindowSQLite(db), 8)
    left = db.execute("SELECT key FROM blocks ORDER BY key").fetchall()
    assert left == expected


def test_fifo_ends_are_counted_per_run(tmp_path):
    """Two guests run in one process (the Python API) shared one module-wide count of
    FIFO writers: a writer open in one run let the other run's reader open return at once
    (Linux blocks it until its own writer comes). Each run counts its own now."""
    from vm.linux.files import HostFile
    from vm.linux.kernel import Kernel
    fifo = tmp_path / "p"
    os.mkfifo(fifo)
    first, second = Kernel("first"), Kernel("second")
    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
    writer = HostFile(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK), str(fifo), 0, False, True,
                      first.fifo_ends)
    ident = (os.stat(fifo).st_dev, os.stat(fifo).st_ino)
    try:
        assert first.fifo_ends.writers(ident) == 1
        assert second.fifo_ends.writers(ident) == 0
    finally:
        writer.close()
        os.close(reader)
    assert first.fifo_ends.writers(ident) == 0


def test_uptime_and_cpu_clocks_are_the_sandboxs(tmp_path):
    """sysinfo's uptime was the host's (its boot time leaked; /proc/uptime is pyvm's) and
    CLOCK_PROCESS/THREAD_CPUTIME_ID and times() read the host process's CPU time (every
    guest process's, pyvm's start): a parent waiting for a busy child spent the child's
    time, times() had no children's."""
    exe = build("sbxleft29_time", flags=("-static", "-pthread"), where=HERE)
    native, guest = run_both(tmp_path, exe, [], pyvm=("-m", "vm.linux"))
    assert native.returncode == 0 and b": 0" not in native.stdout, native
    assert guest.returncode == 0 and guest.stdout == native.stdout, guest


def _pending(master: int) -> bytes:
    """What a terminal's other side has been sent (nothing: b"")."""
    os.set_blocking(master, False)
    try:
        return os.read(master, 1 << 16)
    except BlockingIOError:
        return b""


def test_a_link_to_another_terminal_is_refused(tmp_path):
    """A planted trace.txt -> /dev/pts/N of another session of the same user got the
    trace (any terminal qualified); only pyvm's own terminal does now. Oracle: what the
    terminal's master side receives."""
    master, slave = os.openpty()
    try:
        work = planted(tmp_path, os.ttyname(slave))
        run = pyvm("trace.txt", work, start_new_session=True)    # no controlling tty
        got = _pending(master)
    finally:
        os.close(master)
        os.close(slave)
    assert got == b"", got
    lines = run.stderr.splitlines()
    assert run.returncode == 1 and len(lines) == 1 and b"a terminal not pyvm's" in lines[0] \
        and b"Traceback" not in run.stderr, run


def test_a_link_to_pyvms_own_terminal_is_written(tmp_path):
    master, slave = os.openpty()
    try:
        work = planted(tmp_path, os.ttyname(slave))
        cmd = [sys.executable, "-m", "vm.cli", "--trace-file", "trace.txt", "--max-steps",
               "5", str(program())]               # the terminal is its standard input
        run = subprocess.run(cmd, cwd=work, env=_env(None), stdin=slave, timeout=120,
                             capture_output=True, start_new_session=True)
        got = _pending(master)
    finally:
        os.close(master)
        os.close(slave)
    assert run.returncode == STOPPED, run
    assert got.startswith(first_trace_line(program())), got


def test_a_directory_link_in_the_output_path_is_refused(tmp_path):
    """--trace-file dir/trace.txt where a guest replaced dir by a link to another
    directory (~/.ssh, say) wrote (truncated) the file there. Oracle: the file system."""
    work, elsewhere = tmp_path / "w", tmp_path / "elsewhere"
    work.mkdir()
    elsewhere.mkdir()
    (elsewhere / "trace.txt").write_text("keep")
    (work / "dir").symlink_to(elsewhere)
    run = pyvm("dir/trace.txt", work)
    assert (elsewhere / "trace.txt").read_text() == "keep"
    lines = run.stderr.splitlines()
    assert run.returncode == 1 and len(lines) == 1 and b"not followed" in lines[0], run
    (work / "real").mkdir()                         # a real directory is still fine
    run = pyvm("real/trace.txt", work)
    assert run.returncode == STOPPED, run
    assert (work / "real" / "trace.txt").read_bytes().startswith(first_trace_line(program()))


# Runs a guest in this process with the cycle collector off, then counts the pyvm
# objects only the collector could free (they would have stayed until it ran).
_CYCLES = """
import collections, gc, sys
gc.disable()
gc.set_debug(gc.DEBUG_SAVEALL)
from vm.linux.__main__ import main
try:
    main(sys.argv[1:])
except SystemExit:
    pass
gc.collect()
kinds = collections.Counter(type(o).__name__ for o in gc.garbage)
print({k: kinds[k] for k in ("X87", "Socket")})
"""


def test_threads_and_socket_pairs_leave_no_cycles(tmp_path):
    """Every x87 unit (one per thread that used it) held its dispatch table of bound
    methods and its plans, closures of itself; a socket pair referred to each other:
    cycles only the collector frees (3000 threads: 115 MB). Oracle: CPython's own
    collector, which finds nothing of them now."""
    exe = build("sbxleft29_cycles", flags=("-static", "-pthread"), where=HERE)
    run = subprocess.run([sys.executable, "-c", _CYCLES, str(exe), "20"], cwd=tmp_path,
                         env=_env({"PYVM_CODE_CACHE": "0"}), capture_output=True,
                         timeout=300)
    assert run.stdout == b"20 threads, 20 pairs\n{'X87': 0, 'Socket': 0}\n", run


def test_a_handler_leaving_by_swapcontext_gets_the_next_signal(tmp_path):
    """Static glibc's swapcontext calls the old sigprocmask (126), which pyvm lacked:
    swapcontext failed, the handler went on ("raise returned") and its signal stayed
    blocked, so the next one was lost."""
    exe = build("sbxleft29_swapctx", where=HERE)
    native, guest = run_both(tmp_path, exe, [], pyvm=("-m", "vm.linux"))
    assert native.returncode == 0 and b"alarm: hits 4\n" in native.stdout, native
    assert guest.returncode == 0 and guest.stdout == native.stdout, guest


def _silent_writer_run(argv: list, fifo: Path, cwd: Path) -> tuple:
    """(what the program printed before the writer wrote, its whole stdout): a writer
    outside opens ``fifo``, stays silent until the reader says "opened" (or 60 s pass),
    then writes "hello" and closes."""
    import select
    proc = subprocess.Popen(argv, cwd=cwd, stdout=subprocess.PIPE, stdin=subprocess.DEVNULL,
                            env=_env(None))
    try:
        fd = None
        while fd is None:                   # (non-blocking: ENXIO until the reader opens)
            try:
                fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
            except OSError:
                if proc.poll() is not None:
                    break
                select.select([], [], [], 0.05)
        early = b""
        if fd is not None:
            ready, _, _ = select.select([proc.stdout], [], [], 60)
            early = os.read(proc.stdout.fileno(), 64) if ready else b""
            os.write(fd, b"hello")
            os.close(fd)
        rest, _ = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    return early, early + rest


def test_a_fifo_reader_opens_when_a_silent_writer_comes(tmp_path):
    """Linux ends a reader's open of a FIFO when a writer opens it; pyvm waited for the
    writer's first byte or its close, so a writer waiting for the reader to answer
    first (a request/response protocol) waited forever. Oracle: the native run."""
    exe = build("sbxleft29_fifo", where=HERE)
    out = {}
    for name, argv in (("native", [str(exe)]),
                       ("pyvm", [sys.executable, "-m", "vm.linux", str(exe)])):
        work = tmp_path / name
        work.mkdir()
        os.mkfifo(work / "f")
        out[name] = _silent_writer_run(argv + ["f"], work / "f", work)
    assert out["native"] == (b"opened\n", b"opened\nread 5: hello\n"), out
    assert out["pyvm"] == out["native"], out
