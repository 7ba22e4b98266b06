"""Fixes from the review of the first tier's shifts and PyPy globals (session 32).

- A shift or rotate of memory by an immediate count that masks to 0 (0, 32, 64; 32 of
  a byte too) reads and writes its operand on the hardware, as by CL: a read-only or
  unmapped page faults. Real blocks did no access (the first tier, whose count is a
  template parameter, did): the same instruction faulted while cold only, 8 times of
  300 (vm/x86/semantics.py shifts, shift_dbl).
- Under PyPy first-tier templates run with a copy of the translator's names
  (tier0.Tier0.globs), written when a template's function is made and kept across
  flushes: the debugger's read watch rebinds READ and flushes, and code that had run
  before went on calling the old READ (rwatch never stopped there). Translator.flush
  re-syncs the copy now (tier0.Tier0.sync).

Oracles: the native run of a gcc -m32 program (the faults, cold and hot), native gdb
(where a read watchpoint stops)."""

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

# each form runs `n` times (argv[1]) on a read-only page, then on an unmapped one; a
# fault longjmps out of the handler
FAULTS = r"""
#include <stdio.h>
#include <stdlib.h>
#include <signal.h>
#include <setjmp.h>
#include <sys/mman.h>
#include <string.h>
static sigjmp_buf jb;
static void h(int s) { siglongjmp(jb, 1); }
static char *p;
static int n;
#define T(name, insn) do { int segv = 0, ok = 0; \
    for (int i = 0; i < n; i++) { \
        if (!sigsetjmp(jb, 1)) { \
            asm volatile(insn :: "r"(p) : "memory", "cc", "ecx"); ok++; \
        } else segv++; } \
    printf("%s: segv %d ok %d\n", name, segv, ok); } while (0)
#define SH(mn) \
    T(mn "b 0", mn "b $0, (%0)"); T(mn "b 32", mn "b $32, (%0)"); \
    T(mn "w 0", mn "w $0, (%0)"); T(mn "w 32", mn "w $32, (%0)"); \
    T(mn "l 0", mn "l $0, (%0)"); T(mn "l 32", mn "l $32, (%0)"); \
    T(mn "l 64", mn "l $64, (%0)")
static void all(void) {
    SH("shl"); SH("shr"); SH("sar"); SH("rol"); SH("ror"); SH("rcl"); SH("rcr");
    T("shldw 0", "shldw $0, %%cx, (%0)"); T("shldw 32", "shldw $32, %%cx, (%0)");
    T("shldl 0", "shldl $0, %%ecx, (%0)"); T("shldl 32", "shldl $32, %%ecx, (%0)");
    T("shrdw 0", "shrdw $0, %%cx, (%0)"); T("shrdw 32", "shrdw $32, %%cx, (%0)");
    T("shrdl 0", "shrdl $0, %%ecx, (%0)"); T("shrdl 32", "shrdl $32, %%ecx, (%0)");
    T("shll cl=0", "xor %%ecx, %%ecx; shll %%cl, (%0)");
    T("shll 1", "shll $1, (%0)");
}
int main(int argc, char **argv) {
    n = atoi(argv[1]);
    signal(SIGSEGV, h);
    p = mmap(0, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    memset(p, 0x55, 16);
    mprotect(p, 4096, PROT_READ);
    printf("read-only\n");
    all();
    munmap(p, 4096);
    printf("unmapped\n");
    all();
    /* a page that can be written: count 0 changes nothing */
    p = mmap(0, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    memset(p, 0x55, 16);
    asm volatile("shll $32, (%0); shrdl $0, %%ecx, (%0); rclb $0, 4(%0)"
                 :: "r"(p) : "memory", "cc", "ecx");
    printf("writable %08x %08x\n", *(unsigned *)p, *(unsigned *)(p + 4));
    return 0;
}
"""

RW = r"""
#include <stdio.h>
#include <unistd.h>
#include <sys/syscall.h>
volatile int g = 42;
__attribute__((noinline)) int f(void) { return g; }
int main(void) {
    int s = f();            /* f runs once (first tier) before the watchpoint is set */
    syscall(SYS_getppid);
    s += f();
    printf("%d\n", s);
    return 0;
}
"""


def _build(tmp: Path, name: str, source: str) -> Path:
    gcc = require_tool("gcc")
    src, exe = tmp / f"{name}.c", tmp / name
    src.write_text(source)
    proc = subprocess.run([gcc, "-m32", "-static", "-O1", "-o", str(exe), str(src)],
                          capture_output=True, text=True)
    if proc.returncode:
        pytest.skip(f"gcc -m32 -static failed: {proc.stderr.strip()[-200:]}")
    return exe


@pytest.fixture(scope="module")
def faults(tmp_path_factory) -> Path:
    return _build(tmp_path_factory.mktemp("t0mend"), "faults", FAULTS)


def _pyvm(python: str, args: list, stdin: str = "") -> str:
    env = dict(os.environ, PYTHONPATH=str(ROOT), PYVM_CODE_CACHE="0")
    proc = subprocess.run([python, *args], input=stdin, capture_output=True, text=True,
                          env=env, timeout=900, cwd=str(ROOT))
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout


@pytest.mark.parametrize("runs", [24, pytest.param(300, marks=pytest.mark.slow)])
def test_shift_by_a_count_masking_to_0_faults_cold_and_hot(faults, runs):
    """Every form faults every time, as natively: its first runs (the first tier: a
    start is hot after tier0.HOT = 16) and then its real block."""
    native = subprocess.run([str(faults), str(runs)], capture_output=True, text=True,
                            timeout=60)
    assert native.returncode == 0 and f"shll 32: segv {runs} ok 0" in native.stdout
    got = _pyvm(sys.executable, ["-m", "vm.linux", str(faults), str(runs)])
    assert got == native.stdout


def _watch_stop(text: str) -> tuple:
    """(the value, the address) of each read watchpoint stop in a debugger's output."""
    return tuple(re.findall(r"Value = (\d+)\n(0x[0-9a-f]+) in f", text))


@pytest.fixture(scope="module")
def rwatch(tmp_path_factory) -> tuple:
    """(the program, its native gdb run's read watchpoint stops)."""
    exe = _build(tmp_path_factory.mktemp("t0rwatch"), "rw", RW)
    gdb = require_tool("gdb")
    native = subprocess.run([gdb, "-batch", "-nx", "-ex", "catch syscall getppid",
                             "-ex", "run", "-ex", "delete", "-ex", "rwatch *(int *)&g",
                             "-ex", "continue", "-ex", "continue", str(exe)],
                            capture_output=True, text=True, timeout=120)
    stops = _watch_stop(native.stdout)
    assert stops and "84" in native.stdout, native.stdout + native.stderr
    return exe, stops


@pytest.mark.parametrize("python", ["cpython", "pypy"])
def test_read_watch_stops_in_code_run_before_it_was_set(rwatch, python):
    """f's load of g ran in the first tier before the watchpoint; it stops there on
    the second call, as in gdb (under PyPy it never stopped)."""
    exe, stops = rwatch
    py = sys.executable if python == "cpython" else require_tool("pypy3")
    out = _pyvm(py, ["-m", "vm.debug", str(exe)],
                "catch syscall 64\ncontinue\ndelete\nrwatch g\n"
                "continue\ncontinue\nquit\n")
    assert _watch_stop(out) == stops, out
    assert "\n84\n" in out


# the debugger's read watch as vm/debug/core.py makes it: READ rebound, a flush, then
# back (detach) and a flush; the same load (its template's function made before) runs
# after each
REBIND = """
import json, sys
from vm.x86.machine import Machine
CODE, STACK, MEMORY = 0x1000, 0x80000, 0x100000
m = Machine("flat32", MEMORY)
m.load(CODE, bytes.fromhex(sys.argv[1]))
m.set_reg("esp", STACK)
m.map(0x70000, 0x1000, "")          # (an unreadable page: memory is guarded)
m.write(0x5000, bytes(range(16)))
m.mem.rf[0x5] = 1                   # (loads there go through READ)
tr = m.tr
orig = tr.ns["READ"]
seen = []
def read(addr, size):
    seen.append(addr)
    return orig(addr, size)
out = []
for step in ("before", "watch", "detach"):
    if step == "watch":
        tr.ns["READ"] = read
        m.flush_translations()
    elif step == "detach":
        tr.ns["READ"] = orig
        m.flush_translations()
    n = len(seen)
    m.set_reg("eip", CODE)
    stop = m.run(100)
    out.append([step, stop.reason, m.reg("ebx"), len(seen) - n])
print(json.dumps({"runs": out, "first_tier": len(tr.tier0.seen)}))
"""


@pytest.mark.parametrize("python", ["cpython", "pypy"])
def test_a_rebound_name_reaches_first_tier_code_made_before(python):
    """The load runs in the first tier each time (its start is not hot), from the same
    template: the rebound READ sees its load, the restored one is called again."""
    from test_x86_cpu_asm import asm
    code = asm("mov ebx, [0x5004]\nint3\n", 32, 0x1000)
    py = sys.executable if python == "cpython" else require_tool("pypy3")
    env = dict(os.environ, PYTHONPATH=str(ROOT), PYVM_CODE_CACHE="0",
               PYVM_TIER0_LIBRARY="0")
    proc = subprocess.run([py, "-c", REBIND, code.hex()], capture_output=True, text=True,
                          env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    got = json.loads(proc.stdout)
    value = int.from_bytes(bytes(range(4, 8)), "little")
    assert got["runs"] == [["before", "fault", value, 0], ["watch", "fault", value, 1],
                           ["detach", "fault", value, 0]], got
    assert got["first_tier"] > 0
