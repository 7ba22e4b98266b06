"""Reverse execution once a program has a second thread stays refused (its history is
the Machine's, which the threads share), and gdb shows why: the stub's error reply
carries the reason (gdb printed "Remote failure reply: E01"); before the second thread
starts, reverse-stepi still works."""

from __future__ import annotations

from tests.test_debug_gdb import gdb_session
from tests.test_gdb_threads import turns  # noqa: F401  (the fixture)


def test_reverse_after_a_second_thread_says_why(turns):  # noqa: F811
    out = gdb_session(turns, ["break main", "continue", "stepi", "reverse-stepi",
                              "break work", "continue", "reverse-stepi",
                              "kill"])
    # (one thread: reverse-stepi goes back to main's breakpoint, no failure reply)
    assert out.count("Breakpoint 1, main () at ") == 2
    assert out.count("Remote failure reply") == 1
    assert "warning: Remote failure reply: E.reverse execution is not supported once " \
        "the program has started a second thread" in out, out
    assert "E01" not in out
