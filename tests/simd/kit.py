"""One SSE/MMX instruction run on the real CPU (``oracle.c``, built with gcc -m32) and on
pyvm's CPU with the same registers: XMM0, XMM1, MXCSR, ECX, MM0, MM1 (EDX points at 32
bytes holding XMM1's value twice, for memory operands)."""

from __future__ import annotations

import hashlib
import os
import subprocess
import tempfile
from pathlib import Path

import pytest

HERE = Path(__file__).parent
CACHE = Path(tempfile.gettempdir()) / f"pyvm-simd-{os.getuid()}"

# where pyvm runs the instruction (flat 32-bit machine)
CODE, SCRATCH, MAPPED = 0x1000, 0x4000, 0x10000


def oracle() -> Path:
    from conftest import require_tool
    gcc = require_tool("gcc")
    src = HERE / "oracle.c"
    key = hashlib.sha256(src.read_bytes()).hexdigest()[:16]
    out = CACHE / key / "oracle"
    if not out.exists():
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_name(f".oracle.{os.getpid()}")
        proc = subprocess.run([gcc, "-m32", "-O1", "-o", str(tmp), str(src)],
                              capture_output=True, text=True)
        if proc.returncode:
            pytest.fail(f"gcc failed for oracle.c:\n{proc.stderr}")
        os.replace(tmp, out)
    return out


def native(cases: list) -> list:
    """cases: (code bytes, xmm0, xmm1, mxcsr, ecx, mm0, mm1) -> result tuples."""
    lines = "".join(f"{c.hex()} {x0:032x} {x1:032x} {mx:08x} {cx:08x} {m0:016x} {m1:016x}\n"
                    for c, x0, x1, mx, cx, m0, m1 in cases)
    proc = subprocess.run([str(oracle())], input=lines, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr
    out = []
    for line in proc.stdout.splitlines():
        f = line.split()
        out.append((int(f[0], 16), int(f[1], 16), int(f[2], 16), int(f[3], 16),
                    int(f[4], 16), int(f[5], 16), int(f[6], 16), int(f[7]), int(f[8])))
    assert len(out) == len(cases)
    return out


def ours(case: tuple) -> tuple:
    from vm.x86 import mmx
    from vm.x86.machine import Machine
    code, x0, x1, mx, cx, m0, m1 = case
    m = Machine("flat32", MAPPED)
    m.load(CODE, code)
    m.load(SCRATCH, x1.to_bytes(16, "little") * 2)
    m.set_reg("ecx", cx)
    m.set_reg("edx", SCRATCH)
    m.set_reg("esp", 0x8000)
    m.cpu.xmm[0], m.cpu.xmm[1] = x0, x1
    m.cpu.mxcsr = mx
    fpu = m.fpu()
    mmx.put(fpu, 0, m0)             # the oracle loads them with movq: MMX state
    mmx.put(fpu, 1, m1)
    m.set_reg("eip", CODE)
    eflags0 = m.reg("eflags")
    stop = m.run(1)
    sig = code_ = 0
    if stop.reason == "fault":
        sig = 8 if stop.fault.vector == 19 else -stop.fault.vector
        code_ = getattr(stop.fault, "si_code", 0)
    mm = [mmx.get(fpu, 0), mmx.get(fpu, 1)]
    flags = (m.reg("eflags") if not sig else eflags0) & 0x8D5
    return (m.cpu.xmm[0], m.cpu.xmm[1], m.cpu.mxcsr, m.reg("ecx"), flags, mm[0], mm[1], sig,
            code_)


FIELDS = ("xmm0", "xmm1", "mxcsr", "ecx", "eflags", "mm0", "mm1", "signal", "si_code")


def describe(case: tuple, want: tuple, got: tuple, text: str = "") -> str:
    code, x0, x1, mx, cx, *_ = case
    diff = [f"{n}: cpu {w:#x} pyvm {g:#x}" for n, w, g in zip(FIELDS, want, got) if w != g]
    return (f"{code.hex()} {text} xmm0={x0:032x} xmm1={x1:032x} mxcsr={mx:#06x} "
            f"ecx={cx:#x}: " + "; ".join(diff))
