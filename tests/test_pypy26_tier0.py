"""The first tier's cheaper making and running (vm/x86/tier0.py, session 26), under CPython
and PyPy: templates canonicalised from per-line parts kept for the process (many
templates share lines: a literal's parameter number and a local's new name depend on
the lines before it), decoded instructions copied without dataclasses.replace, and
an instance is a small class rather than a functools.partial (Python code under PyPy).

Oracle: Unicorn, for the registers, flags and memory after a program of many shapes
(every register pair, zero and nonzero constants, several literals per line and per
template) and at a fault in an instance's first run. pyvm runs in a child of each
interpreter (a fresh process: no template made by another test), the code cache off."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import require_module, require_tool
from flat32_harness import unicorn, unicorn_state
from test_x86_cpu_asm import asm

ROOT = Path(__file__).resolve().parent.parent
CODE, DATA, STACK, MEMORY = 0x1000, 0x8000, 0x80000, 0x100000
DEFINED = 0x8D5     # CF PF AF ZF SF OF
REGS = ("eax", "ecx", "edx", "ebx", "esi", "edi")

CHILD = """
import json, sys
from vm.x86 import tier0
from vm.x86.machine import Machine
code = bytes.fromhex(sys.argv[1])
CODE, STACK, MEMORY, DATA, DEFINED, LIMIT = map(int, sys.argv[2:8])
m = Machine("flat32", MEMORY)
m.load(CODE, code)
m.set_reg("esp", STACK)
m.set_reg("eip", CODE)
stop = m.run(LIMIT)
state = {n: m.reg(n) for n in ("eax", "ecx", "edx", "ebx", "esp", "ebp", "esi", "edi",
                                "eip")}
state["flags"] = m.reg("eflags") & DEFINED
insn = stop.fault.insn if stop.fault is not None else None
print(json.dumps({"stop": stop.reason, "steps": m.steps, "state": state,
                  "insn": insn and [insn.address, insn.form.mnemonic, insn.length],
                  "memory": m.read(DATA - 0x100, 0x400).hex(),
                  "first_tier": len(m.tr.tier0.seen),
                  "kept": sum(getattr(f.meta, "tier0", False) for f in m.tr.cache.values()),
                  "made": len(tier0._shared), "lines": len(tier0._lines)}))
"""


def _pythons() -> list:
    return ["cpython", "pypy"]


def _run(python: str, code: bytes, limit: int) -> dict:
    exe = sys.executable if python == "cpython" else require_tool("pypy3")
    env = dict(os.environ, PYTHONPATH=str(ROOT), PYVM_CODE_CACHE="0",
               PYVM_TIER0_LIBRARY="0")
    args = [code.hex(), *map(str, (CODE, STACK, MEMORY, DATA, DEFINED, limit))]
    proc = subprocess.run([exe, "-c", CHILD, *args], capture_output=True, env=env,
                          timeout=600)
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")[-2000:]
    return json.loads(proc.stdout)


# two more operations for each register pair, of forms of their own (their flags are
# set again by the cmp after them): the per-count shift templates made as many before
# session 32, when a count became a template parameter
EXTRA = ("sbb {a}, {b}", "xor {a}, [ebp + {k}]", "and [ebp + {k}], {b}", "or {a}, 0x12",
         "test {a}, {b}", "neg {a}", "not {b}", "inc {a}", "dec {b}", "imul {a}, {b}",
         "imul {a}, {b}, 7", "movzx {a}, word [ebp + {k}]", "movsx {b}, byte [ebp + {k}]",
         "xchg {a}, {b}", "bswap {a}", "rol {a}, 3", "ror {b}, 5", "sar {a}, 2",
         "shr {b}, 7", "rcl {a}, 1", "bts {a}, 5", "cmovz {a}, {b}", "setc [ebp + {k}]",
         "add word [ebp + {k}], 0x1234", "sub {a}, [ebp + {k}]", "cmp [ebp + {k}], {a}",
         "lea {a}, [{b} + 8]", "adc {a}, 0x77", "shld {a}, {b}, 3", "shrd {b}, {a}, 5",
         "btr {b}, 9", "btc {a}, 1", "bt {a}, {b}", "cmovc {b}, {a}",
         "cmovnz {a}, [ebp + {k}]", "setz [ebp + {k}]", "mul {b}",
         "movzx {a}, byte [ebp + {k}]", "movsx {a}, word [ebp + {k}]",
         "xadd [ebp + {k}], {a}", "cmpxchg [ebp + {k}], {b}", "sub dword [ebp + {k}], 3",
         "rcr {b}, 1", "sbb {a}, 0x99", "lea {a}, [{a} + {b}]",
         "test dword [ebp + {k}], 0x80")


def _shapes() -> str:
    """Many shapes sharing lines: every ordered register pair through a few operations
    with constants zero and not, three times round (each start's first run, then kept
    runs under HOT), ending at an int3."""
    lines = ["mov ebp, 0x8000", "mov eax, 0x12345678", "mov ecx, 0x9abcdef0",
             "mov edx, 0x0fedcba9", "mov ebx, 0x87654321", "mov esi, 0x11111111",
             "mov edi, 0x7ffffff0", "mov dword [ebp - 4], 3", "again:"]
    for i, a in enumerate(REGS):
        for j, b in enumerate(REGS):
            if a == b:
                continue
            k = 4 * (i * len(REGS) + j)
            n = i * (len(REGS) - 1) + j - (j > i)      # (the pair's number: 0 to 29)
            lines += [f"add {a}, {b}", f"mov [ebp + {k}], {a}", f"sub {b}, [ebp + {k}]",
                      f"lea {a}, [{a} + {b} * 4 + {0x100 + k}]", f"xor {b}, {0x5a5a + k}",
                      f"and {a}, 0", f"or {a}, {b}", f"add {b}, 0x7f",
                      f"shl {a}, {1 + (i + j) % 5}",
                      EXTRA[n % len(EXTRA)].format(a=a, b=b, k=k),
                      EXTRA[(n + 30) % len(EXTRA)].format(a=a, b=b, k=k),
                      f"cmp {a}, {b}",
                      f"mov [ebp + {0x200 + k}], {b}", f"adc {a}, [ebp + {k}]"]
    lines += ["dec dword [ebp - 4]", "jnz again", "int3"]
    return "\n".join(f"        {x}" for x in lines) + "\n"


@pytest.fixture(scope="module")
def shapes_oracle():
    code = asm(_shapes(), 32, CODE)
    emu, X = unicorn(code, CODE, STACK, MEMORY)
    emu.emu_start(CODE, CODE + len(code) - 1)       # up to the int3
    want = unicorn_state(emu, X, DEFINED)
    want["eip"] += 1                                # (pyvm stops after the trap)
    return code, want, bytes(emu.mem_read(DATA - 0x100, 0x400))


@pytest.mark.parametrize("python", _pythons())
def test_many_shapes_sharing_lines_match_unicorn(shapes_oracle, python):
    code, want, memory = shapes_oracle
    got = _run(python, code, 1_000_000)
    assert got["stop"] == "fault" and got["state"] == want
    assert bytes.fromhex(got["memory"]) == memory
    # (the run exercised what it is for: many templates from shared lines; fewer than
    # shapes of register pairs since registers are template parameters)
    assert got["first_tier"] > 300 and got["made"] > 50 and got["lines"] > 50
    assert got["kept"] > 100        # (instances run again, counting towards HOT)


@pytest.mark.parametrize("python", _pythons())
@pytest.mark.parametrize("fault", ["load", "store", "rmw"])
def test_fault_in_a_first_run_is_precise(python, fault):
    """The faulting instruction is its start's first run: registers, flags and eip are
    those before it, as Unicorn reports them."""
    access = {"load": "mov ebx, [esi + 0x10]", "store": "mov [esi + 0x10], ecx",
              "rmw": "add [esi + 0x10], ecx"}
    src = f"""
        mov ecx, 5
        add ecx, 0x7ffffffe
        mov esi, 0x{MEMORY + 0x40:x}
        {access[fault]}
        int3
"""
    code = asm(src, 32, CODE)
    uc = require_module("unicorn")
    emu, X = unicorn(code, CODE, STACK, MEMORY)
    with pytest.raises(uc.UcError):
        emu.emu_start(CODE, CODE + len(code))
    got = _run(python, code, 100)
    assert got["stop"] == "fault" and got["steps"] == 3
    assert got["state"] == unicorn_state(emu, X, DEFINED)
    # the faulting instruction, as the precise-fault unwinding names it
    start = CODE + len(asm(src.rsplit(access[fault], 1)[0], 32, CODE))
    assert got["insn"] == [start, access[fault].split()[0],
                           len(asm(access[fault], 32, start))]
    assert got["first_tier"] == 4      # (each instruction ran as a first-tier instance)
