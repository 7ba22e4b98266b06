"""Fixes from the review of 1c9136d (sbx33). Oracle: the native run of sbx33_mend.c
(gcc -m32 -static), each run in a directory of its own. Before:
- gp: a far jmp/call/ret to a bad selector reported #GP with err 0 (native: the
  selector without its RPL, 0x1234; 0x28 for the data selector 0x2b);
- threads: RLIMIT_NPROC counted processes only: 10 threads under a limit of 4
  (native: 3, then EAGAIN; Linux counts every task of the user);
- mremap: the pages an mremap growth of a MAP_PRIVATE file mapping added past the
  file's end read zeros (native SIGBUS);
- shrink: a file cut below a private mapping's pages left them readable with their old
  bytes (native SIGBUS, a written page too, in every process mapping it), and after it
  grew again they kept the stale bytes (native: the file's new ones);
- stack, stackthread: lowering RLIMIT_STACK unmapped the stack pages already grown
  into (by the main thread, or while another thread set it): SIGSEGV on the next
  return; Linux keeps them and only refuses further growth.
"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from linux.kit import _env, build  # noqa: E402

HERE = Path(__file__).parent


def _both(tmp_path, case: str) -> tuple:
    exe = build("sbx33_mend", opt="O1", where=HERE)
    (tmp_path / "n").mkdir()
    (tmp_path / "p").mkdir()
    native = subprocess.run([str(exe), case], cwd=tmp_path / "n", capture_output=True,
                            timeout=60, stdin=subprocess.DEVNULL)
    ours = subprocess.run([sys.executable, "-m", "vm.cli", str(exe), case],
                          cwd=tmp_path / "p", env=_env({"PYVM_CODE_CACHE": "0"}),
                          capture_output=True, timeout=300, stdin=subprocess.DEVNULL)
    return native, ours


@pytest.mark.parametrize("case, expect", [
    ("gp", [b"ljmp 0x1234: sig 11 trap 13 err 1234", b"lcall 0x2b (data): sig 11 trap 13 err 28",
            b"lret 0x1237: sig 11 trap 13 err 1234"]),
    ("threads", [b"threads 3 then Resource temporarily unavailable", b"fork after join: ok"]),
    ("mremap", [b"grown page 2: sig 7 at +8192", b"moved page 40: sig 7 at +163840",
                b"page 1 after grow: read 98"]),
    ("shrink", [b"written p1 after shrink: sig 7 at +4097", b"child p1: sig 7 at +4096",
                b"p1 regrown: read 99", b"p2 regrown by ftruncate: read 0",
                b"moved p2: read 100", b"p1 after O_TRUNC: sig 7 at +4096"]),
    ("code", [b"calls: 12600", b"call after shrink: sig 7 at +4096"]),
    ("stack", [b"deep write ok", b"again 104", b"deeper: sig 11"]),
])
def test_as_natively(tmp_path, case, expect):
    native, ours = _both(tmp_path, case)
    assert native.returncode == 0, native
    for line in expect:
        assert line in native.stdout.splitlines(), native
    assert ours.stdout == native.stdout, ours.stderr.decode()[-2000:]
    assert ours.returncode == 0, ours.stderr.decode()[-2000:]


def test_stack_limit_set_by_another_thread(tmp_path):
    native, ours = _both(tmp_path, "stackthread")
    assert native.returncode == 0 and native.stdout == b"rec -231\n", native
    assert (ours.returncode, ours.stdout) == (0, native.stdout), ours.stderr.decode()[-2000:]
