"""The GDB stub and a thread waiting in a system call (main in pthread_join's futex
while the worker stops at a breakpoint): as on the native run, its PC is after the
int 0x80, orig_eax is the call's number and eax Linux's restart code (-ERESTARTSYS),
and the backtrace goes through __kernel_vsyscall to main. (pyvm keeps such a thread at
its int 0x80 with eax the number, to run the call again: the stub showed that.)"""

from __future__ import annotations

import os
import re

import pytest

from tests.test_debug_gdb import gdb_session
from tests.test_gdb_threads import build_threaded, native

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPT = ["break work", "continue", "thread 1", "info registers eax orig_eax", "bt",
          "x/i $pc-2", "continue"]


@pytest.fixture(scope="module")
def blocked(tmp_path_factory) -> str:
    return build_threaded(tmp_path_factory, "blocked", "blocked33")


def _regs(out: str) -> list:
    return re.findall(r"^(eax|orig_eax) +(0x[0-9a-f]+) ", out, re.M)


def _backtrace(out: str) -> list:
    """The frames of the first backtrace (from its #1 back to the #0 before it)."""
    rows = re.findall(r"^#(\d+) +(?:0x[0-9a-f]+ in )?(\S+) \(", out, re.M)
    i = next(k for k, r in enumerate(rows) if r[0] == "1") - 1
    out = [rows[i][1]]
    for n, name in rows[i + 1:]:
        if n == "0":
            break
        out.append(name)
    return out


def test_a_thread_waiting_in_futex_shows_what_linux_shows(blocked):
    ours, theirs = gdb_session(blocked, SCRIPT), native(blocked, SCRIPT)
    want = [("eax", "0xfffffe00"), ("orig_eax", "0xf0")]
    assert _regs(theirs)[:2] == want
    assert _regs(ours)[:2] == want, ours
    frames = ["__kernel_vsyscall", "__libc_do_syscall", "__futex_abstimed_wait_common",
              "__pthread_clockjoin_ex", "pthread_join", "main"]
    assert _backtrace(theirs) == frames
    assert _backtrace(ours) == frames, ours
    # the instruction before the PC is the int 0x80 (the vDSOs differ: not the offset)
    int80 = re.compile(r"^   0x[0-9a-f]+ <__kernel_vsyscall(?:\+\d+)?>:\tint    \$0x80$", re.M)
    assert int80.search(theirs) and int80.search(ours), ours
    assert "exited normally" in ours


def _shown(out: str) -> list:
    """Each `info registers eip eax orig_eax`: (eip's symbol, eax, orig_eax)."""
    rows = re.findall(r"^eip +0x[0-9a-f]+ +0x[0-9a-f]+ <(\S+)>\neax +(0x[0-9a-f]+) .*\n"
                      r"orig_eax +(0x[0-9a-f]+) ", out, re.M)
    return rows


CALL = ["break work", "continue", "thread 1", "info registers eip eax orig_eax",
        "p helper(21)", "info registers eip eax orig_eax", "continue"]


def test_a_function_called_in_a_waiting_thread_then_the_call_goes_on(blocked):
    """gdb's `call` in the waiting thread writes orig_eax -1, runs the function, then
    writes back eip (after the int 0x80), eax (-ERESTARTSYS) and orig_eax: Linux then
    restarts the call. The stub applied eax to a thread no longer waiting, the futex
    "returned" -512 and glibc aborted (and a gdb call returns to a no-execute stack:
    that fault, which gdb does not pass on, was delivered too)."""
    ours, theirs = gdb_session(blocked, CALL), native(blocked, CALL)
    want = [("0xfffffe00", "0xf0")] * 2
    assert [(e, o) for _s, e, o in _shown(theirs)] == want
    assert [(e, o) for _s, e, o in _shown(ours)] == want, ours
    for out in (theirs, ours):
        assert "$1 = 42" in out, out
        assert "join=0 r=1 counter=1\n" in out, out
        assert "exited normally" in out


def test_eax_written_in_a_waiting_thread_is_what_its_call_returns(blocked):
    """`set $eax = -4` (EINTR) in the waiting thread: gdb shows it back and the futex
    returns it (pthread_join waits again), as natively."""
    script = ["break work", "continue", "thread 1", "set $eax = -4",
              "info registers eip eax orig_eax", "continue"]
    ours, theirs = gdb_session(blocked, script), native(blocked, script)
    assert [(e, o) for _s, e, o in _shown(theirs)] == [("0xfffffffc", "0xf0")]
    assert [(e, o) for _s, e, o in _shown(ours)] == [("0xfffffffc", "0xf0")], ours
    assert "join=0 r=1 counter=1\n" in theirs and "join=0 r=1 counter=1\n" in ours


@pytest.fixture(scope="module")
def waits(tmp_path_factory) -> str:
    return build_threaded(tmp_path_factory, "waits", "waits33")


@pytest.mark.parametrize("mode,eax,result", [
    ("epoll", "0xfffffffc", "epoll_wait=-1 errno=4\n"),         # EINTR, not restarted
    ("absleep", "0xfffffdfe", "clock_nanosleep=0\n"),           # -ERESTARTNOHAND
])
def test_what_other_waiting_calls_show(waits, mode, eax, result):
    from tests.test_gdb_exec33 import _native, _ours
    script = ["break work", "continue", "thread 1", "info registers eip eax orig_eax",
              "continue"]
    ours, theirs = _ours([waits, mode], script), _native([waits, mode], script)
    nat = _shown(theirs)
    assert len(nat) == 1 and nat[0][1] == eax, theirs
    assert [(e, o) for _s, e, o in _shown(ours)] == [nat[0][1:]], ours
    assert result in theirs and result in ours, ours
