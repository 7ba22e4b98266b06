"""A guest taking fault after fault leaves nothing for the cyclic collector: pyvm runs
it seldom (vm/startup.py quiet_gc: young collections after 1,000,000 allocations), so a
reference cycle made per guest event is host memory a hostile guest grows at will. Each
fault made one: Stop("fault", fault=e) -> e.__traceback__ -> run()'s frame (and its
caller's, through f_back) -> the Stop, ~20 objects per fault (a SIGSEGV loop of 80,000
faults: max RSS 64 -> 228 MB); a fault in a first-tier block made another (the
instance's frame held the template frame's traceback entry, whose f_back it is). Each
process did too (Process -> its fd table -> a limit closure -> the Process): every exited
child (its address space, 768 KiB of page table alone) stayed until a collection, and
an unreaped one (a zombie) kept it in any case.

Oracles: CPython's collector itself (gc.DEBUG_SAVEALL keeps what a collection found
unreachable), the kernel's account of the pyvm process's peak memory (wait4's
ru_maxrss) and the native run of the same program (the guest's output must not
change)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import require_tool
from linux.kit import peak_rss

ROOT = Path(__file__).resolve().parent.parent

# SIGSEGV (a PROT_NONE page), SIGILL (ud2) and SIGTRAP (int3), each caught and left with
# siglongjmp, N times
GUEST = r"""
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
static sigjmp_buf jb;
static void h(int s) { siglongjmp(jb, s); }
int main(int argc, char **argv) {
    int n = atoi(argv[1]);
    volatile int got[3] = {0, 0, 0};
    char *b = mmap(0, 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    signal(SIGSEGV, h); signal(SIGILL, h); signal(SIGTRAP, h);
    for (volatile int i = 0; i < n; i++) {
        int s = sigsetjmp(jb, 1);
        if (s) { got[s == SIGSEGV ? 0 : s == SIGILL ? 1 : 2]++; continue; }
        switch (i % 3) {
        case 0: (void)*(volatile char *)(b + (i & 4095)); break;
        case 1: __asm__ volatile("ud2"); break;
        default: __asm__ volatile("int3"); break;
        }
    }
    printf("segv %d ill %d trap %d\n", got[0], got[1], got[2]);
    return 0;
}
"""

# the guest run in-process through the Python API with the collector off, then one
# collection keeping what it found
RUNNER = """
import collections, gc, json, sys
from vm.linux.runner import run_elf
from vm.options import RunOptions
exe = sys.argv[1]
data = open(exe, "rb").read()
gc.collect()
gc.freeze()
gc.disable()
status = run_elf(exe, data, RunOptions(args=tuple(sys.argv[2:])))
sys.stdout.flush()
gc.set_debug(gc.DEBUG_SAVEALL)
unreachable = gc.collect()
kinds = collections.Counter(type(o).__name__ for o in gc.garbage)
print(json.dumps({"status": status, "unreachable": unreachable,
                  "kinds": dict(kinds.most_common(8))}), file=sys.stderr)
"""

FAULTS = 1500


@pytest.fixture(scope="module")
def guest(tmp_path_factory):
    gcc = require_tool("gcc")
    d = tmp_path_factory.mktemp("faultgc")
    (d / "faults.c").write_text(GUEST)
    exe = d / "faults"
    r = subprocess.run([gcc, "-m32", "-static", "-O2", "-o", str(exe), str(d / "faults.c")],
                       capture_output=True)
    if r.returncode:
        pytest.fail(f"gcc -m32 -static failed: {r.stderr.decode()[-300:]}")
    return exe


@pytest.mark.skipif(sys.implementation.name != "cpython", reason="CPython's collector")
def test_faults_caught_by_the_guest_leave_no_cycles(guest):
    native = subprocess.run([str(guest), str(FAULTS)], capture_output=True, timeout=60)
    assert native.stdout == b"segv 500 ill 500 trap 500\n"
    env = {**os.environ, "PYVM_CODE_CACHE": "0", "PYTHONPATH": str(ROOT)}
    r = subprocess.run([sys.executable, "-c", RUNNER, str(guest), str(FAULTS)],
                       capture_output=True, env=env, cwd=guest.parent, timeout=600)
    assert r.stdout == native.stdout, r.stderr[-800:]
    found = json.loads(r.stderr.splitlines()[-1])
    assert found["status"] == native.returncode
    kinds = found["kinds"]
    # (before: 20 objects per fault, 7 of them frames, 6 tracebacks)
    assert "frame" not in kinds and "traceback" not in kinds, found
    assert found["unreachable"] < FAULTS // 10, found


# N children, each reaped at once (forks) or left a zombie until the end (zombies: waitid
# with WNOWAIT sees it exit), one alive at a time
FORKS = r"""
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/wait.h>
int main(int argc, char **argv) {
    int n = atoi(argv[1]), kept = !strcmp(argv[2], "zombies"), ok = 0;
    for (int i = 0; i < n; i++) {
        pid_t pid = fork();
        if (pid == 0) _exit(i & 0x7f);
        siginfo_t si;
        int st;
        if (kept) {
            if (waitid(P_PID, pid, &si, WEXITED | WNOWAIT) == 0 && si.si_status == (i & 0x7f))
                ok++;
        } else if (waitpid(pid, &st, 0) == pid && WEXITSTATUS(st) == (i & 0x7f)) {
            ok++;
        }
    }
    int st;
    while (wait(&st) > 0)
        ;
    printf("%s %d of %d\n", argv[2], ok, n);
    return 0;
}
"""


def _peak_kib(exe: Path, *args: str) -> tuple:
    """(stdout, max RSS in KiB) of ``python -m vm.linux exe args`` (pyvm's own entry
    point: its collector settings), the code cache off (no forked saver)."""
    out, status, peak = peak_rss([sys.executable, "-m", "vm.linux", exe, *args], exe.parent,
                                 env={"PYVM_CODE_CACHE": "0"})
    assert status == 0
    return out, peak


@pytest.mark.parametrize("mode, few, many, most", [
    ("forks", 30, 230, 40_000),         # (before: +154 MB)
    ("zombies", 5, 50, 12_000),         # (before: +35 MB; --max-procs is 64)
])
def test_exited_children_leave_no_host_memory(tmp_path, mode, few, many, most):
    gcc = require_tool("gcc")
    (tmp_path / "forks.c").write_text(FORKS)
    exe = tmp_path / "forks"
    r = subprocess.run([gcc, "-m32", "-static", "-O2", "-o", str(exe), str(tmp_path / "forks.c")],
                       capture_output=True)
    if r.returncode:
        pytest.fail(f"gcc -m32 -static failed: {r.stderr.decode()[-300:]}")
    peaks = []
    for n in (few, many):
        native = subprocess.run([str(exe), str(n), mode], capture_output=True, timeout=60)
        assert native.stdout == f"{mode} {n} of {n}\n".encode()
        out, peak = _peak_kib(exe, str(n), mode)
        assert out == native.stdout
        peaks.append(peak)
    assert peaks[1] - peaks[0] < most, peaks
