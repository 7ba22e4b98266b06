"""Code a fork child is given (vm/linux/codeshare.py) and the first tier's globals
(vm/x86/tier0.py) under PyPy.

- A block whose stack check failed (emit.SlowPath) is made again with its slow paths
  inline; codeshare kept the direct one and gave it to every later process, where it
  failed the same check once each. The failed keys are kept now, and no process is
  given a block there that leaves by unwinding.
- A block naming a Machine's method the builder binds on first use (``SPAN``,
  Memory.span_ok: a check over two pages) was never shared: the new Machine had not
  bound it yet. It is bound to the new Machine's memory now.
- PyPy: shared blocks ran with a plain dict of globals, first-tier instances with the
  translator's namespace, which gains names during a run (each new key throws away the
  JIT's compiled loops that read it); both get module dicts never written after
  (Translator.block_globals'), as translated blocks do.

The oracle is the native run of a gcc -m32 program that forks."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import require_tool

ROOT = Path(__file__).resolve().parent.parent

SOURCE = r"""
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <sys/wait.h>
/* word stores and loads through one pointer: pyvm checks its alignment once a block */
__attribute__((noinline)) long work(int *p, int n, int v) {
    long s = 0;
    for (int i = 0; i < n; i++) {
        p[0] = v + i; p[1] = v - i; p[2] = v ^ i;
        s += p[0] + p[1] * 3 + p[2];
    }
    return s;
}
static char buf[64] __attribute__((aligned(16)));
int main(int argc, char **argv) {
    int n = argc > 1 ? atoi(argv[1]) : 4;
    long s = 0;
    for (int i = 0; i < 50; i++) s += work((int *)buf, 3, i);     /* aligned: hot */
    printf("parent %ld\n", s);
    fflush(stdout);
    /* one child at a time (its Machine kept for the next), then n at once (new ones) */
    for (int round = 0; round < 2; round++) {
        int kids = round ? n : 1;
        pid_t pids[16];
        for (int c = 0; c < kids; c++) {
            pid_t pid = fork();
            if (pid == 0) {
                long t = 0;
                for (int i = 0; i < 5; i++)
                    t += work((int *)(buf + 1 + (c & 1) * 2), 3, i + c);  /* unaligned */
                printf("child %d.%d %ld\n", round, c, t);
                fflush(stdout);
                _exit(c);
            }
            pids[c] = pid;
            if (!round) {
                int st;
                waitpid(pid, &st, 0);
                printf("status %d\n", WEXITSTATUS(st));
                fflush(stdout);
            }
        }
        for (int c = 0; round && c < kids; c++) {
            int st;
            waitpid(pids[c], &st, 0);
            printf("status %d\n", WEXITSTATUS(st));
            fflush(stdout);
        }
    }
    return 0;
}
"""

# run the program; count failed stack checks per Machine, note the blocks each Machine
# was given by codeshare, and describe the globals of those and of first-tier instances
SCRIPT = """
import json, sys
from types import FunctionType
from vm.x86 import compiler, machine
from vm.linux import codeshare
if sys.implementation.name == "pypy":
    from __pypy__ import strategy
else:
    strategy = lambda d: type(d).__name__
lo, hi = int(sys.argv[3], 16), int(sys.argv[4], 16)
slow = {}
plain_slow = machine.Machine._slow_path
def slow_path(self, e):
    slow[id(self)] = slow.get(id(self), 0) + 1
    return plain_slow(self, e)
machine.Machine._slow_path = slow_path
given = []
plain_install = codeshare.MappedCode.install
def install(self, m, aspace=None):
    tr = m.tr
    first = tr.nextid
    out = plain_install(self, m, aspace)
    fns = [tr.blocks[b][4] for b in range(first, tr.nextid) if b in tr.blocks]
    given.append((id(m), tr, fns))
    return out
codeshare.MappedCode.install = install
made = []
plain_init = compiler.Translator.__init__
def init(self, m):
    plain_init(self, m)
    made.append(self)
compiler.Translator.__init__ = init
from vm.linux.runner import run_elf
from vm.options import RunOptions
exe, out = sys.argv[1], sys.argv[2]
with open(out, "wb") as f, open("/dev/null", "rb") as null:
    status = run_elf(exe, open(exe, "rb").read(),
                     RunOptions(args=("4",), std_fds=(null.fileno(), f.fileno(), f.fileno())))
parent = given[0][0]
work, span = {}, {}      # child Machine -> blocks of work() given (naming SPAN)
for m, tr, fns in given:
    if m != parent:
        mine = [fn for fn in fns if lo <= fn.meta.key < hi]
        work[m] = work.get(m, 0) + len(mine)
        span[m] = span.get(m, 0) + sum(1 for fn in mine if "SPAN" in fn.__code__.co_names)
span = list(span.values())
work = list(work.values())
kinds = sorted({strategy(fn.__globals__) for m, tr, fns in given for fn in fns})
on_ns = sum(1 for m, tr, fns in given for fn in fns if fn.__globals__ is tr.ns)
t0 = [(tr, fn) for tr in made if tr.tier0 is not None for fn in tr.tier0.fns.values()]
print(json.dumps({"status": status, "work": work, "span": span,
                  "child_slow": sum(n for m, n in slow.items() if m != parent),
                  "kinds": kinds, "on_ns": on_ns,
                  "t0": len(t0), "t0_kinds": sorted({strategy(fn.__globals__) for _, fn in t0}),
                  "t0_on_ns": sum(1 for tr, fn in t0 if fn.__globals__ is tr.ns)}))
"""


@pytest.fixture(scope="module")
def program(tmp_path_factory) -> tuple:
    """(the executable, work()'s address range, its native run's output lines)."""
    gcc = require_tool("gcc")
    tmp = tmp_path_factory.mktemp("tier0share")
    src, exe = tmp / "forks.c", tmp / "forks"
    src.write_text(SOURCE)
    proc = subprocess.run([gcc, "-m32", "-static", "-O2", "-o", str(exe), str(src)],
                          capture_output=True, text=True)
    if proc.returncode:
        pytest.skip(f"gcc -m32 -static failed: {proc.stderr.strip()[-200:]}")
    nm = subprocess.run([require_tool("nm"), "-S", str(exe)], capture_output=True, text=True)
    m = re.search(r"^([0-9a-f]+) ([0-9a-f]+) [tT] work$", nm.stdout, re.M)
    assert m, nm.stdout[-500:]
    lo = int(m.group(1), 16)
    native = subprocess.run([str(exe), "4"], capture_output=True, timeout=30)
    assert native.returncode == 0
    return exe, (lo, lo + int(m.group(2), 16)), native.stdout


def _run(python: str, program: tuple) -> dict:
    exe, (lo, hi), native = program
    out = exe.with_suffix(f".{os.path.basename(python)}.out")
    env = dict(os.environ, PYTHONPATH=str(ROOT), PYVM_CODE_CACHE="0")
    proc = subprocess.run([python, "-c", SCRIPT, str(exe), str(out), f"{lo:x}", f"{hi:x}"],
                          capture_output=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")[-2000:]
    result = json.loads(proc.stdout.decode().splitlines()[-1])
    # (the children of the second round run at once: their lines in any order)
    assert result["status"] == 0
    assert sorted(out.read_bytes().splitlines()) == sorted(native.splitlines())
    return result


def test_children_get_the_parents_blocks_and_a_failed_check_once(program):
    result = _run(sys.executable, program)
    # every child's Machine (one kept for the next child) is given the parent's blocks
    # of work() (SPAN bound to its memory) ...
    assert len(result["work"]) >= 4 and min(result["work"]) > 0, result
    # (the first child is given the one that checks two pages: Memory.span_ok)
    assert result["span"][0] > 0, result
    # ... and one child's failed check keeps the others from the block that failed
    assert result["child_slow"] <= 1, result
    assert result["kinds"] == ["dict"] and result["on_ns"] == 0, result
    assert result["t0"] > 0 and result["t0_kinds"] == ["dict"], result


def test_shared_blocks_and_first_tier_have_module_globals_under_pypy(program):
    result = _run(require_tool("pypy3"), program)
    assert len(result["work"]) >= 4 and min(result["work"]) > 0, result
    assert result["child_slow"] <= 1, result
    assert result["kinds"] == ["ModuleDictStrategy"] and result["on_ns"] == 0, result
    assert result["t0"] > 0 and result["t0_kinds"] == ["ModuleDictStrategy"], result
    assert result["t0_on_ns"] == 0, result
