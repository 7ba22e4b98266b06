"""Under PyPy a front end's start-up (imports, argument parsing, loading the program:
code that runs once) is not JIT-compiled: pypy_tuning.tune_gc, which every front end
calls first, sets high thresholds until the first translation (pypy_tuning.STARTING).

Before, PyPy traced the loops of that one-time code at the running thresholds: in a
glibc hello world, sre's parser on the patterns modules compile at import and
importlib's path walks were 30% of the operations the JIT compiled. The oracle is PyPy
itself: its compile hook names the code of every operation it compiled. A loop run once
at start-up (5,000 iterations: an import's) is compiled when tune_gc is not called (the
control) and not after it; an interpreter loop that keeps running (a machine that never
translates: B32, V16) still is; and after the first translation the guest's blocks are
compiled at the running thresholds, the guest's end state checked against Unicorn."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from conftest import require_tool
from flat32_harness import REGS, unicorn, unicorn_state
from pypy_probe import flat_run, run_pypy

CODE, STACK, MEMORY = 0x1000, 0x80000, 0x100000
DEFINED = 0x8D5     # CF PF AF ZF SF OF

CHILD = """
import json, os, sys
os.environ["PYPY_GC_NURSERY"] = "64MB"      # (set: tune_gc does not re-execute)
import pypyjit
from vm.x86 import pypy_tuning
seen = set()
def hook(info):
    for op in info.operations:
        code = getattr(op, "pycode", None)
        if code is not None:
            seen.add(code.co_name)
pypyjit.set_compile_hook(hook)
if sys.argv[1] == "front":
    pypy_tuning.tune_gc()
def startup_once():
    t = 0
    for i in range(5000):
        t = (t * 31 + i) & 0xFFFF
    return t
def interpreter(n):
    t = 0
    for i in range(n):
        t = (t * 7 + i) & 0xFFFF
    return t
startup_once()
phase1 = sorted(seen)
interpreter(300000)
phase2 = sorted(seen)""" + flat_run("5_000_000") + """print(json.dumps({"stop": stop.reason, "state": state, "phase1": phase1,
                  "phase2": phase2, "phase3": sorted(seen)}))
"""


def _program(tmp: Path) -> tuple:
    """A hot guest loop, then INT3: (code, the INT3's address)."""
    nasm = require_tool("nasm")
    src = (f"bits 32\norg {CODE:#x}\nmov ecx, 60000\nxor eax, eax\ntop:\nadd eax, ecx\n"
           "rol eax, 3\nxor ebx, eax\ndec ecx\njnz top\nint3\n")
    (tmp / "loop.asm").write_text(src)
    subprocess.run([nasm, "-f", "bin", "-o", str(tmp / "loop.bin"), str(tmp / "loop.asm")],
                   check=True)
    code = (tmp / "loop.bin").read_bytes()
    return code, CODE + len(code) - 1


@pytest.mark.parametrize("mode", ["front", "library"])
def test_startup_is_not_compiled(mode, tmp_path):
    code, done = _program(tmp_path)
    out = json.loads(run_pypy(CHILD, mode, code.hex(),
                              json.dumps([CODE, STACK, MEMORY, REGS, DEFINED]),
                              clean_env=True))
    emu, X = unicorn(code, CODE, STACK, MEMORY)
    emu.emu_start(CODE, done)
    assert out["stop"] == "fault" and out["state"]["eip"] == done + 1     # INT3 at done
    out["state"]["eip"] = done
    assert out["state"] == unicorn_state(emu, X, DEFINED)
    if mode == "front":
        assert "startup_once" not in out["phase1"], out["phase1"]
    else:       # (the control: the running thresholds compile it)
        assert "startup_once" in out["phase1"], out["phase1"]
    assert "interpreter" in out["phase2"], out["phase2"]
    assert "_blk" in out["phase3"], "no guest block was compiled"
