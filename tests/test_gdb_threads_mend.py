"""The GDB stub's threads and host I/O after review: catch syscall and watchpoints in a
thread other than the followed one, a thread that ends while it runs alone, the program
file served as loaded (never its host path opened again), bad vFile offsets. Each gdb
script is compared with gdb's native run of the same gcc -m32 program."""

from __future__ import annotations

import errno
import os
import re
import shutil
import subprocess
import sys

import pytest

from tests.test_debug_gdb import _need, gdb_session
from tests.test_gdb_threads import Raw, build_threaded, native

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _build(tmp_path_factory, name: str) -> str:
    return build_threaded(tmp_path_factory, name, "mend")


@pytest.fixture(scope="module")
def thread_writes(tmp_path_factory) -> str:
    return _build(tmp_path_factory, "thread_writes")


def _stub(program: str, *args: str):
    stub = subprocess.Popen([sys.executable, "-m", "vm.debug", "--input", "/dev/null",
                             "--gdb", "127.0.0.1:0", program, *args],
                            cwd=os.path.dirname(program),     # (the guest writes there)
                            env=dict(os.environ, PYTHONPATH=ROOT),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    port = int(re.search(r":(\d+)", stub.stderr.readline().decode()).group(1))
    return stub, Raw(port)


def _end(stub) -> None:
    stub.kill()
    stub.wait(timeout=10)
    stub.stderr.close()


def _catches(out: str) -> list:
    return re.findall(r'Thread (\d) "\w+" hit Catchpoint 1 \((call to|returned from) '
                      r"syscall (\w+)\)", out)


def test_catch_syscall_in_a_worker_thread_as_natively(thread_writes):
    """The worker's calls stop in the worker, each with its return; its exit has no
    return (the thread is gone), then main's write and exit_group. The stub hung: the
    skip of the call stopped at went to whichever thread made a call first."""
    script = ["catch syscall write exit exit_group"] + ["continue"] * 9
    ours = gdb_session(thread_writes, script)
    theirs = native(thread_writes, script)
    want = [("2", "call to", "write"), ("2", "returned from", "write"),
            ("2", "call to", "write"), ("2", "returned from", "write"),
            ("2", "call to", "exit"), ("1", "call to", "write"),
            ("1", "returned from", "write"), ("1", "call to", "exit_group")]
    assert _catches(theirs) == want
    assert _catches(ours) == want
    assert "exited normally" in ours


def test_watchpoint_hit_by_another_thread_stops_in_that_thread(tmp_path_factory):
    """The watch trap's instruction is run by its own thread alone (all threads ran a
    turn, and the hit was reported in main with the last value)."""
    prog = _build(tmp_path_factory, "thread_watch")
    script = ["watch stage", "continue", "continue", "continue"]
    keep = re.compile(r'(Thread \d "thread_watch" hit |Old value|New value|\d+\t)')
    pick = lambda out: [x for x in out.splitlines() if keep.match(x)]  # noqa: E731
    ours, theirs = gdb_session(prog, script), native(prog, script)
    assert pick(theirs)[:4] == ['Thread 2 "thread_watch" hit Hardware watchpoint 1: stage',
                                "Old value = 0", "New value = 1", "12\t    stage = 2;"]
    assert pick(ours) == pick(theirs)


def test_a_thread_ending_while_it_runs_alone_stops_the_program(thread_writes):
    """gdb's scheduler-locking step runs the worker alone past its end: natively
    "No unwaited-for children left." and main stays stopped (the whole program ran to
    its end)."""
    script = ["break worker", "continue", "set scheduler-locking step"] + ["next"] * 5 + \
        ["info threads"]
    ours, theirs = gdb_session(thread_writes, script), native(thread_writes, script)
    assert "No unwaited-for children left." in theirs
    assert "No unwaited-for children left." in ours
    assert "exited normally" not in ours and "\nm\n" not in ours
    rows = lambda out: re.findall(r"^\*? +(\d) +Thread ", out, re.M)  # noqa: E731
    assert rows(ours) == rows(theirs) == ["1"]


def test_stepi_after_a_worker_breakpoint_steps_that_worker():
    """pyvm --debug: stepi after a worker's breakpoint is that worker's next
    instruction (as natively, `p $pc` after stepi), and the second worker's hit
    follows."""
    _need("gcc")
    import tempfile
    with tempfile.TemporaryDirectory() as d:
        prog = os.path.join(d, "turns")
        subprocess.run(["gcc", "-m32", "-static", "-g", "-O0", "-pthread", "-o", prog,
                        os.path.join(ROOT, "tests", "debug", "turns.c")], check=True,
                       timeout=120)
        theirs = native(prog, ["break *work", "continue", "stepi", "p $pc"])
        pc = re.search(r"\$1 = .*?(0x[0-9a-f]+) <work\+(\d+)>", theirs)
        assert pc, theirs
        r = subprocess.run([sys.executable, "-m", "vm.debug", "--input", "/dev/null",
                            prog], input="break work\ncontinue\nstepi\ncontinue\nquit\n",
                           capture_output=True, text=True, timeout=120, cwd=ROOT)
    out = r.stdout
    assert f"0x{int(pc.group(1), 16):08x} in work+{pc.group(2)} ()" in out
    assert out.count("Breakpoint 1, 0x") == 2


def test_the_program_file_is_served_as_loaded_not_reopened(tmp_path_factory, tmp_path):
    """The guest replaces its program file by a symbolic link to another host file:
    vFile of the program's path still gives the bytes pyvm loaded (it gave the link's
    target: any host file, pyvm's own /proc/self/maps)."""
    built = _build(tmp_path_factory, "replace_self")
    prog = str(tmp_path / "replace_self")
    shutil.copy(built, prog)
    with open(built, "rb") as f:
        original = f.read()
    secret = tmp_path / "secret.txt"
    secret.write_text("SECRET OUTSIDE\n")
    stub, c = _stub(prog, prog, str(secret))
    try:
        assert c.ask(b"vCont;c") == b"W00"
        assert os.path.islink(prog)             # (the guest did replace it)
        fd = c.ask(b"vFile:open:%s,0,0" % prog.encode().hex().encode())
        assert re.fullmatch(rb"F[0-9a-f]+", fd), fd
        got = b""
        while True:
            r = c.ask(b"vFile:pread:%s,1000,%x" % (fd[1:], len(got)))
            n, _, data = r.partition(b";")
            if n == b"F0":
                break
            got += re.sub(rb"}(.)", lambda m: bytes([m.group(1)[0] ^ 0x20]), data,
                          flags=re.S)
        assert got == original
        fst = c.ask(b"vFile:fstat:%s" % fd[1:])
        assert fst.startswith(b"F40;")
    finally:
        _end(stub)


def test_pread_offsets_pread_refuses_get_einval_and_the_stub_lives(thread_writes):
    """Offsets past off_t and negative counts/offsets: EINVAL as the host's own
    pread(2) gives (an offset of 2**64 killed the stub with an OverflowError)."""
    with open(thread_writes, "rb") as f:
        with pytest.raises(OSError) as e:
            os.pread(f.fileno(), 16, -1)
        assert e.value.errno == errno.EINVAL == 22      # (0x16, gdb's File-I/O EINVAL)
    stub, c = _stub(thread_writes)
    try:
        fd = c.ask(b"vFile:open:%s,0,0" % thread_writes.encode().hex().encode())[1:]
        maps = c.ask(b"vFile:open:%s,0,0" % b"/proc/2/maps".hex().encode())[1:]
        for f in (fd, maps):
            for args in (b"10,10000000000000000", b"10,8000000000000000", b"10,-1",
                         b"-10,0"):
                assert c.ask(b"vFile:pread:%s,%s" % (f, args)) == b"F-1,16", args
            assert c.ask(b"vFile:pread:%s,4,0" % f).startswith(b"F4;")
        assert c.ask(b"qC") == b"QC2"
    finally:
        _end(stub)


def test_an_unexpected_failure_in_one_packet_is_an_error_reply(thread_writes):
    """Any exception out of one packet's handling (here vFile's, made to fail) is an E
    reply and the stub serves the next packet (an OverflowError was a dead stub)."""
    import socket
    import threading

    from vm.debug.core import make_debugger
    from vm.debug.gdbstub import Connection, GdbStub
    from vm.debug.targets import load
    from vm.options import RunOptions
    with open(thread_writes, "rb") as f:
        data = f.read()
    dbg = make_debugger(load("elf", thread_writes, data, RunOptions()))
    ours, theirs = socket.socketpair()
    stub = GdbStub(dbg, Connection(ours))

    def fail(body: bytes) -> bytes:
        raise OverflowError("Python int too large to convert to C long")
    stub.hostio.handle = fail
    done = []
    server = threading.Thread(target=lambda: done.append(stub.serve()), daemon=True)
    server.start()
    theirs.settimeout(20)
    buf = b""

    def ask(payload: bytes) -> bytes:
        nonlocal buf
        theirs.sendall(b"$%s#%02x" % (payload, sum(payload) & 0xFF))
        while True:
            m = re.search(rb"\$([^#]*)#[0-9a-f]{2}", buf)
            if m:
                buf = buf[m.end():]
                return m.group(1)
            chunk = theirs.recv(4096)
            assert chunk, "the stub went away"
            buf += chunk
    try:
        assert ask(b"QStartNoAckMode") == b"OK"
        assert ask(b"vFile:pread:0,10,0") == b"E01"
        assert ask(b"qC") == b"QC2"
        theirs.sendall(b"$k#6b")
        server.join(timeout=30)
        assert done == [0]
    finally:
        theirs.close()
        ours.close()
        stub.close()
        dbg.close()
