"""The dispatcher under PyPy (vm/x86/machine.py): there it calls each block through
``pypyjit.residual_call``, so that every block is JIT-compiled as its own function
instead of hanging off one megamorphic call site. The same guarantees must hold once the
blocks and traces run as compiled machine code: the programs of test_x86_traces (a
``ret`` to a modified return address, an indirect call whose target changes, code
written after a trace ran it, a fault in the middle of a trace) against their native
runs, and step limits, single steps and breakpoints inside traces against Unicorn.

The PyPy child runs with tiny JIT thresholds, so that blocks, traces and their side
exits are compiled within the few thousand instructions these programs run."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from conftest import require_tool
from flat32_harness import REGS
from test_x86_traces import (
    ALL,
    CODE,
    DEFINED,
    MEMORY,
    STACK,
    TRACED,
    _program,
    _state_uc,
    _uc_run,
    _unicorn,
)

ROOT = Path(__file__).resolve().parent.parent

# JIT-compile almost at once; sample for traces every 23 instructions from the start
PRELUDE = """
import json, sys
import pypyjit
pypyjit.set_param("function_threshold=7,threshold=11,trace_eagerness=3")
from vm.x86 import machine, traces
from vm.x86.compiler import Translator
traces.SAMPLE, traces.BACKOFF = 23, 1
built = []
plain = Translator.translate_trace
def counting(self, key, path):
    built.append(key)
    return plain(self, key, path)
Translator.translate_trace = counting
assert machine._opaque_call is not None, "not the PyPy dispatcher"
"""

RUN_ELF = PRELUDE + """
from vm.linux.runner import run_elf
from vm.options import RunOptions
for exe, out in zip(sys.argv[1::2], sys.argv[2::2]):
    before = len(built)
    with open(out, "wb") as f, open("/dev/null", "rb") as null:
        status = run_elf(exe, open(exe, "rb").read(),
                         RunOptions(std_fds=(null.fileno(), f.fileno(), f.fileno())))
    print(json.dumps({"status": status, "traces": len(built) - before}))
"""

# the steps of test_x86_traces' LOOP program: runs of odd lengths, single steps, then
# breakpoints at `even` (a label in the middle of the loop's traces) and the run to its
# end; one line of state after each
STEPPING = PRELUDE + """
from vm.x86.machine import Machine
code, even = bytes.fromhex(sys.argv[1]), int(sys.argv[2])
CODE, STACK, MEMORY, REGS, DEFINED = json.loads(sys.argv[3])
m = Machine("flat32", MEMORY)       # as test_x86_traces._ours
m.load(CODE, code)
m.set_reg("esp", STACK)
m.set_reg("eip", CODE)
def _state(m):
    out = {n: m.reg(n) for n in REGS}
    out["flags"] = m.reg("eflags") & DEFINED
    return out
def show(stop, what):
    print(json.dumps({"what": what, "stop": stop.reason if stop else None,
                      "steps": m.steps, "state": _state(m)}))
for n in RUNS:
    show(m.run(n), ["run", n])
for _ in range(SINGLE):
    show(m.step(), ["step"])
for _ in range(3):
    show(m.run(until=even), ["until"])
    show(m.step(), ["step"])
stop = m.run(1_000_000)
show(stop, ["end", stop.fault.vector if stop.fault else None])
print(json.dumps({"traces": len(built), "memory": m.read(0x9000, 1600).hex()}))
"""
RUNS = [1, 5, 40, 3, 97, 13, 250, 7, 64, 31, 500, 11, 29, 120]
SINGLE = 120


def _pypy(script: str, *args: str) -> list:
    pypy = require_tool("pypy3")
    env = dict(os.environ, PYTHONPATH=str(ROOT), PYVM_CODE_CACHE="0")
    proc = subprocess.run([pypy, "-c", script, *args], capture_output=True, env=env,
                          timeout=600)
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")[-2000:]
    return [json.loads(line) for line in proc.stdout.decode().splitlines()]


@pytest.fixture(scope="module")
def pypy_runs(tmp_path_factory) -> dict:
    """name -> (native run, pyvm's status and traces under PyPy, pyvm's output)."""
    nasm, ld = require_tool("nasm"), require_tool("ld")
    tmp = tmp_path_factory.mktemp("pypy")
    natives, args = {}, []
    for name in sorted(ALL):
        src = tmp / f"{name}.asm"
        src.write_text(ALL[name])
        obj, exe = tmp / f"{name}.o", tmp / name
        subprocess.run([nasm, "-f", "elf32", str(src), "-o", str(obj)], check=True)
        omagic = ["-N"] if "write" in ALL[name] else []     # writable text
        subprocess.run([ld, "-m", "elf_i386", *omagic, str(obj), "-o", str(exe)],
                       check=True, capture_output=True)
        natives[name] = subprocess.run([str(exe)], capture_output=True, timeout=10)
        args += [str(exe), str(tmp / f"{name}.out")]
    results = _pypy(RUN_ELF, *args)
    return {name: (natives[name], result, (tmp / f"{name}.out").read_bytes())
            for name, result in zip(sorted(ALL), results)}


@pytest.mark.parametrize("name", sorted(ALL))
def test_traced_programs_match_native_under_pypy(pypy_runs, name):
    native, result, out = pypy_runs[name]
    assert native.returncode == 0 and native.stdout, native
    assert (result["status"], out) == (native.returncode, native.stdout)
    if name in TRACED:
        assert result["traces"], "no trace was built: the test would not exercise them"


def test_steps_single_steps_and_breakpoints_under_pypy():
    code, even, done = _program()
    script = STEPPING.replace("RUNS", repr(RUNS)).replace("SINGLE", str(SINGLE))
    lines = _pypy(script, code.hex(), str(even),
                  json.dumps([CODE, STACK, MEMORY, REGS, DEFINED]))
    emu, X = _unicorn(code)
    *states, last = lines
    assert last["traces"], "no trace was built"
    done_steps = 0
    for line in states:
        what = line["what"]
        if what[0] == "run":
            assert line["stop"] == "limit"
            _uc_run(emu, X, what[1])
            done_steps += what[1]
            assert line["steps"] == done_steps
        elif what[0] == "step":
            assert line["stop"] is None
            _uc_run(emu, X, 1)
        elif what[0] == "until":
            assert line["stop"] == "until" and line["state"]["eip"] == even
            _uc_run(emu, X, until=even)
        else:       # the end: INT3 (a trap: eip is past it)
            assert line["stop"] == "fault" and what[1] == 3
            assert line["state"]["eip"] == done + 1
            _uc_run(emu, X, until=done)
            line["state"]["eip"] = done
        assert line["state"] == _state_uc(emu, X), line["what"]
    assert bytes.fromhex(last["memory"]) == bytes(emu.mem_read(0x9000, 1600))
