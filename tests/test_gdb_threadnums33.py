"""The GDB stub numbers threads as gdb does on the native run: a thread that starts and
ends between two stops still takes its number (the stub reports each new thread as
gdbserver's thread-created event; gdb only learnt of threads alive at a stop, so the
next one was Thread 2 where natively it is Thread 3). With QThreadEvents:1 thread exits
are reported too (w replies, as gdbserver's)."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

from tests.test_debug_gdb import gdb_session
from tests.test_gdb_threads import Raw, build_threaded, native

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="module")
def twice(tmp_path_factory) -> str:
    return build_threaded(tmp_path_factory, "twice", "threadnums33")


def _hits(out: str) -> list:
    return re.findall(r'^Thread (\d+) "twice" hit Breakpoint 1, (work \(id=2\))', out, re.M)


def _rows(out: str) -> list:
    return re.findall(r"^(\*| ) +(\d+) +Thread ", out, re.M)


def test_a_thread_that_lived_between_two_stops_keeps_its_number(twice):
    script = ["break work", "continue", "info threads", "continue"]
    ours, theirs = gdb_session(twice, script), native(twice, script)
    assert _hits(theirs) == [("3", "work (id=2)")]
    assert _hits(ours) == _hits(theirs), ours
    assert _rows(ours) == _rows(theirs) == [(" ", "1"), ("*", "3")]
    # each thread announced as it starts ([New Thread ...]), as natively
    assert len(re.findall(r"^\[New Thread ", ours, re.M)) == \
        len(re.findall(r"^\[New Thread ", theirs, re.M)) == 2
    assert "exited normally" in ours


def test_next_over_pthread_create_stays_in_main(twice):
    """The new thread's event in the middle of `next`: gdb goes on stepping main."""
    script = ["break main", "continue"] + ["next"] * 5 + ["info threads", "continue"]
    ours, theirs = gdb_session(twice, script), native(twice, script)
    lines = lambda out: re.findall(r"^(\d+)\t", out, re.M)  # noqa: E731
    assert lines(theirs) == ["24", "25", "26", "27", "28", "29"]
    assert lines(ours) == lines(theirs)
    assert _rows(ours) == _rows(theirs) == [("*", "1")]


def test_qthreadevents_reports_creations_and_exits(twice):
    stub = subprocess.Popen([sys.executable, "-m", "vm.debug", "--input", "/dev/null",
                             "--gdb", "127.0.0.1:0", twice], cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        port = int(re.search(r":(\d+)", stub.stderr.readline().decode()).group(1))
        c = Raw(port)
        assert b"QThreadEvents+" in c.ask(b"qSupported:multiprocess+;QThreadEvents+")
        assert c.ask(b"QThreadEvents:2") == b"E22"
        assert c.ask(b"QThreadEvents:1") == b"OK"
        got = [c.ask(b"vCont;c") for _ in range(5)]
        pid = b"%x" % int(re.search(rb"p([0-9a-f]+)\.", got[0]).group(1), 16)
        first, second = (re.search(rb"\.([0-9a-f]+);", got[k]).group(1) for k in (0, 2))
        assert got == [b"T05create:;thread:p%s.%s;" % (pid, first),
                       b"w00;p%s.%s" % (pid, first),
                       b"T05create:;thread:p%s.%s;" % (pid, second),
                       b"w00;p%s.%s" % (pid, second), b"W00;process:%s" % pid]
    finally:
        stub.kill()
        stub.wait(timeout=10)
        stub.stderr.close()


def test_detach_lets_a_threaded_program_run_to_its_end(twice):
    """After detach no thread event stops the program (it ran on to its end)."""
    out = gdb_session(twice, ["detach"])
    assert "detached]" in out and "done\n" in out
