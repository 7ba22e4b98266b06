"""Session 27 mend of the sandbox budget for unix sockets and pipes (commit 2a6beb9),
each probe compared with the same program run natively (tests/security/sbxmend27.c):

- a sendmsg refused with ETOOMANYREFS takes nothing from the run's memory budget (it
  was charged first and never given back: 10,000 refused sends used the budget up,
  then sends failed with EAGAIN, mmap with ENOMEM);
- a socket whose only references sit in its own queue is collected when its last
  descriptor closes, as Linux's unix_gc (it kept its descriptors in flight, and later
  SCM_RIGHTS sends failed with ETOOMANYREFS);
- an empty pipe and an empty socket queue take a write when the budget is used up, as
  Linux always takes a first page (a writer waited forever: a reader could not progress)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from linux.kit import Result, build, run_native, run_pyvm  # noqa: E402

HERE = Path(__file__).parent
# Linux exempts a privileged process (CAP_SYS_RESOURCE) from the in-flight limit; a
# guest is never exempt, so the native oracle runs unprivileged
UNPRIVILEGED = ("setpriv", "--reuid=65534", "--regid=65534", "--clear-groups") \
    if os.geteuid() == 0 else ()
needs_setpriv = pytest.mark.skipif(os.geteuid() == 0 and not shutil.which("setpriv"),
                                   reason="the native oracle runs unprivileged (setpriv)")


def both(tmp_path, mode: str) -> tuple:
    exe = build("sbxmend27", where=HERE)
    if UNPRIVILEGED:
        native = Result(subprocess.run([*UNPRIVILEGED, str(exe), mode], cwd="/",
                                       capture_output=True, timeout=300))
    else:
        native = run_native(exe, [mode], cwd=tmp_path)
    return native, run_pyvm(exe, [mode], cwd=tmp_path, options=["--memory", "16M"])


@needs_setpriv
def test_refused_sends_take_no_budget(tmp_path):
    native, guest = both(tmp_path, "refused")
    assert native.stdout == b"sent 5 9995 0\nmmap ok\npipe write 8192 0\n", native
    assert guest.stdout == native.stdout, guest


@needs_setpriv
def test_sockets_queued_in_themselves_are_collected(tmp_path):
    native, guest = both(tmp_path, "cycle")
    assert native.stdout.startswith(b"cycles 100, fresh pair 1 0\n"), native
    assert guest.stdout == native.stdout, guest


@needs_setpriv
def test_closed_cycles_give_their_buffers_back(tmp_path):
    """Collected when the last descriptor closes, not only when ETOOMANYREFS is near:
    4000 such pairs of 4000 bytes (33 MB) under --memory 16M."""
    native, guest = both(tmp_path, "cyclebig")
    assert native.stdout == b"cycles 4000\nmmap ok\npipe write 8192 0\n", native
    assert guest.stdout == native.stdout, guest


def test_empty_buffers_take_a_page_with_the_budget_used_up(tmp_path):
    exe = build("sbxmend27", where=HERE)
    native = run_native(exe, ["fill"], cwd=tmp_path)
    assert native.stdout == b"pipe 4096 4096 1\nsocket 1000 1000 1\n", native
    guest = run_pyvm(exe, ["fill"], cwd=tmp_path, options=["--memory", "16M"])
    assert guest.status == 0 and guest.stdout == native.stdout, guest
