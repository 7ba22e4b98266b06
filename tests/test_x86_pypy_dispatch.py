"""The dispatcher under PyPy (vm/x86/machine.py): there it calls each block through
``pypyjit.residual_call``, so that every block is JIT-compiled as its own function
instead of hanging off one megamorphic call site. The same guarantees must hold once the
blocks and traces run as compiled machine code: the programs of test_x86_traces (a
``ret`` to a modified return address, an indirect call whose target changes, code
written after a trace ran it, a fault in the middle of a trace) against their native
runs, and step limits, single steps and breakpoints inside traces against Unicorn.

The PyPy child runs with tiny JIT thresholds, so that blocks, traces and their side
exits are compiled within the few thousand instructions these programs run.

Translation runs with the JIT held off (vm/x86/pypy_tuning.py): PyPy's own compile hook
is the oracle that nothing of the translator is compiled then, while blocks are."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from conftest import require_tool
from flat32_harness import REGS
from pypy_probe import flat_run
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
from vm.x86 import machine, pypy_tuning, traces
pypy_tuning.configure(function_threshold=7, threshold=11, trace_eagerness=3)
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


# the compile hook records what PyPy's JIT compiles: (file, function) of each loop or
# function entry; TRANSLATOR: functions only translation runs
HOOKED = """
import json, os, sys
import pypyjit
from vm.x86 import pypy_tuning
pypy_tuning.configure(function_threshold=7, threshold=11, trace_eagerness=3)
if sys.argv[1] == "plain":          # the control: translating as if not held off
    pypy_tuning.TRANSLATING.update(pypy_tuning.RUNNING)
seen = set()
def hook(info):
    code = info.greenkey[0] if info.greenkey else None
    if hasattr(code, "co_filename"):
        seen.add((os.path.basename(code.co_filename), code.co_name))
pypyjit.set_compile_hook(hook)
"""
TRANSLATOR = {("decoder.py", "decode"), ("compiler.py", "_build"),
              ("compiler.py", "_install"), ("compiler.py", "translate"),
              ("tier0.py", "instance"), ("tier0.py", "_make"), ("emit.py", "emit")}

HELD = HOOKED + """
def spin(n, k):
    t = 0
    for i in range(n):
        t += i * k & 7
    return t
def fails():
    spin(50, 5)
    raise ValueError("in a translation")
def nested():
    pypy_tuning.cold(spin, 10, 9)
    return spin(5000, 11), pypy_tuning.translating()
out = {"cold": pypy_tuning.cold(spin, 5000, 3)}
out["after cold"] = sorted(n for _, n in seen)
out["nested"] = pypy_tuning.cold(nested)
out["after nested"] = sorted(n for _, n in seen)
try:
    pypy_tuning.cold(fails)
except ValueError as e:
    out["raised"] = str(e)
out["translating"] = pypy_tuning.translating()
out["plain"] = spin(5000, 3) + spin(5000, 5)
out["after plain"] = sorted(n for _, n in seen)
print(json.dumps(out))
"""


def test_cold_calls_hold_the_jit_off_and_restore_it():
    """A loop run through pypy_tuning.cold (nested too) is not compiled, the JIT is on
    again after one (also when it raised), and the same loops run plainly are."""
    pypy = require_tool("pypy3")
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.run([pypy, "-c", HELD, "held"], capture_output=True, env=env,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")[-2000:]
    out = json.loads(proc.stdout)
    spins = sum(i * 3 & 7 for i in range(5000))
    assert out["cold"] == spins
    assert "spin" not in out["after cold"] and "spin" not in out["after nested"]
    assert out["nested"] == [sum(i * 11 & 7 for i in range(5000)), True]
    assert out["raised"] == "in a translation" and out["translating"] is False
    assert out["plain"] == spins + sum(i * 5 & 7 for i in range(5000))
    assert "spin" in out["after plain"]


RUN_LOOP = """""" + flat_run("1_000_000") + """print(json.dumps({"stop": stop.reason, "state": state, "seen": sorted(seen),
                  "memory": m.read(0x9000, 1600).hex()}))
"""


@pytest.mark.parametrize("mode", ["held", "plain"])
def test_translation_is_not_jit_compiled_under_pypy(mode):
    """Running test_x86_traces' LOOP program with tiny thresholds: its blocks are
    JIT-compiled either way; the translator's functions only when translation is not
    held off (the control shows the thresholds are low enough for them)."""
    pypy = require_tool("pypy3")
    code, _, done = _program()
    env = dict(os.environ, PYTHONPATH=str(ROOT), PYVM_CODE_CACHE="0")
    proc = subprocess.run([pypy, "-c", HOOKED + RUN_LOOP, mode, code.hex(),
                           json.dumps([CODE, STACK, MEMORY, REGS, DEFINED])],
                          capture_output=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")[-2000:]
    out = json.loads(proc.stdout)
    emu, X = _unicorn(code)
    _uc_run(emu, X, until=done)
    assert out["stop"] == "fault" and out["state"]["eip"] == done + 1     # INT3 at done
    out["state"]["eip"] = done
    assert out["state"] == _state_uc(emu, X)
    assert bytes.fromhex(out["memory"]) == bytes(emu.mem_read(0x9000, 1600))
    seen = {tuple(x) for x in out["seen"]}
    assert any(f.startswith("<x86 block") for f, _ in seen), "no block was compiled"
    if mode == "held":
        assert not seen & TRANSLATOR, seen & TRANSLATOR
    else:
        assert seen & TRANSLATOR
