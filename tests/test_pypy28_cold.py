"""Translation under PyPy runs with the JIT held off (vm/x86/pypy_tuning.cold), and
that includes the way in: no machine code PyPy compiles may contain the translator.

PyPy counts a function's entries while its counters run and, after
``function_threshold`` of them, traces the function with what it calls inlined. When the
holding-off was done inside the opaque call (a wrapper that set the thresholds and then
called the translator), the wrapper's own entry was counted before it held anything
off: the JIT traced it with translate() and tier0.instance inlined (~1,000 operations in
a glibc hello world), and every later translation entered that code and left it at a
failing guard. The compile hook's operations name the code each came from (inlined
calls too), so the oracle is PyPy itself: with held-off translation, none is the
translator's; the control (translation not held off) shows that the thresholds are low
enough for it to be compiled. The program's end state is checked against Unicorn."""

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
GROUPS = 150        # distinct instructions: 4 per group, each start translated anew

# tiny thresholds; every operation of every compiled loop and bridge, by the code it
# came from (file, function)
CHILD = """
import json, os, sys
import pypyjit
from vm.x86 import pypy_tuning
pypy_tuning.configure(function_threshold=7, threshold=11, trace_eagerness=3)
if sys.argv[1] == "plain":          # the control: translating as if not held off
    pypy_tuning.TRANSLATING.update(pypy_tuning.RUNNING)
seen = set()
def hook(info):
    for op in info.operations:
        code = getattr(op, "pycode", None)
        if code is not None:
            seen.add((os.path.basename(code.co_filename), code.co_name))
pypyjit.set_compile_hook(hook)""" + flat_run("2_000_000") + """print(json.dumps({"stop": stop.reason, "state": state, "seen": sorted(seen)}))
"""

# functions that only translation runs
TRANSLATOR = {("compiler.py", "translate"), ("compiler.py", "_build"),
              ("compiler.py", "_install"), ("compiler.py", "fetch"),
              ("tier0.py", "instance"), ("tier0.py", "_install"), ("tier0.py", "_make"),
              ("decoder.py", "decode")}


def _program(tmp: Path) -> tuple:
    """A loop over many distinct instructions (so many starts to translate), then INT3:
    (code, the INT3's address)."""
    nasm = require_tool("nasm")
    body = "\n".join(f"add eax, {0x1234567 * k & 0x7FFFFFFF}\n"
                     f"xor ebx, {0x9E3779B * k & 0x7FFFFFFF}\n"
                     f"lea edx, [eax + ebx * 2 + {k * 40503}]\n"
                     f"add esi, edx" for k in range(1, GROUPS + 1))
    src = f"bits 32\norg {CODE:#x}\nmov ecx, 30\ntop:\n{body}\ndec ecx\njnz top\ndone:\nint3\n"
    (tmp / "loop.asm").write_text(src)
    subprocess.run([nasm, "-f", "bin", "-o", str(tmp / "loop.bin"), str(tmp / "loop.asm")],
                   check=True)
    code = (tmp / "loop.bin").read_bytes()
    return code, CODE + len(code) - 1


@pytest.mark.parametrize("mode", ["held", "plain"])
def test_no_compiled_code_holds_the_translator(mode, tmp_path):
    """Many translations under tiny thresholds: blocks are JIT-compiled, and none of
    the translator's code is (inlined anywhere) unless translation is not held off."""
    code, done = _program(tmp_path)
    out = json.loads(run_pypy(CHILD, mode, code.hex(),
                              json.dumps([CODE, STACK, MEMORY, REGS, DEFINED])))
    emu, X = unicorn(code, CODE, STACK, MEMORY)
    emu.emu_start(CODE, done)
    assert out["stop"] == "fault" and out["state"]["eip"] == done + 1     # INT3 at done
    out["state"]["eip"] = done
    assert out["state"] == unicorn_state(emu, X, DEFINED)
    seen = {tuple(x) for x in out["seen"]}
    assert any(f.startswith("<x86 block") for f, _ in seen), "no block was compiled"
    if mode == "held":
        assert not seen & TRANSLATOR, sorted(seen & TRANSLATOR)
    else:
        assert seen & TRANSLATOR
