"""Built-in benchmark programs for the x86 engine (``pyvm-tools bench``; under PyPy:
``PYTHONPATH=. pypy3 -m vm.bench``).

Each program is a NASM source (``*.s``) whose machine code is kept in ``programs.py``
(produced by NASM and checked against it by the test suite), so running the benchmark
needs no assembler. Instructions retired count architectural instructions: a REP string
instruction is one instruction however many bytes it moves.
"""

from __future__ import annotations

import math
import time
from typing import Optional

# name, description, mode, expected result (exit status; BX at HLT in real mode), as
# computed by Unicorn running the same bytes
PROGRAMS = (
    ("alu", "register ALU loop", "flat32", 20),
    ("sieve", "byte sieve of 8192, 30 times", "flat32", 1028 & 0xFF),
    ("bytesum", "byte sum over 64 KiB, 8 passes", "flat32", 0),
    ("memcpy", "64 KiB copied by 64-byte rep movsb, 40 times", "flat32", 0),
    ("calls", "recursive fib(24)", "flat32", 46368 & 0xFF),
    ("loop16", "16-bit real-mode loop with LOOP", "real", 0xC),
)


def program(name: str) -> bytes:
    from vm.bench.programs import CODE
    return bytes.fromhex(CODE[name])


class Result:
    def __init__(self, name: str, instructions: int, seconds: float, status: Optional[int]):
        self.name, self.instructions, self.seconds, self.status = \
            name, instructions, seconds, status

    @property
    def mips(self) -> float:
        return self.instructions / self.seconds / 1e6 if self.seconds else 0.0


def run_program(name: str, mode: str) -> Result:
    """Run one program to its end; returns instructions, seconds and exit status."""
    from vm.x86.machine import Machine
    code = program(name)
    if mode == "real":
        m = Machine("real")
        m.load(0x7C00, code)
        m.set_reg("eip", 0x7C00)
        m.set_reg("esp", 0x7000)
    else:
        from vm.linux.flat import LinuxFlat
        m = Machine("flat32", 16 << 20)
        m.load(0, code)
        m.set_reg("eip", 0)
        m.set_reg("esp", 16 << 20)
        LinuxFlat(m, 0x800000, 0xF00000)
    t0 = time.perf_counter()
    stop = m.run(200_000_000)
    seconds = time.perf_counter() - t0
    if stop.reason not in ("exit", "halt"):
        raise RuntimeError(f"benchmark {name} did not finish: {stop}")
    status = stop.status if mode != "real" else m.reg("bx")
    return Result(name, m.steps, seconds, status)


def run_all(names=None, report=print) -> list:
    results = []
    for name, desc, mode, expected in PROGRAMS:
        if names and name not in names:
            continue
        res = run_program(name, mode)
        if res.status != expected:
            raise RuntimeError(f"benchmark {name} computed {res.status}, not {expected}")
        results.append(res)
        report(f"{name:<9} {res.instructions:>11,} instr {res.seconds:8.3f} s "
               f"{res.mips:8.2f} MIPS   {desc}")
    if results:
        g = geomean([r.mips for r in results])
        report(f"{'geomean':<9} {'':>17} {'':>10} {g:8.2f} MIPS")
    return results


def save_json(path: str, record: dict) -> None:
    """Write a --json record (whole or not at all); RuntimeError naming the file when it
    cannot be written, which the front ends show in one line."""
    import json

    from formats.outputs import write_atomic
    try:
        write_atomic(path, (json.dumps(record, indent=1) + "\n").encode())
    except OSError as e:
        raise RuntimeError(f"cannot write {path}: {e.strerror or e}") from None


def geomean(values) -> float:
    values = [v for v in values if v > 0]
    if not values:
        return 0.0
    return math.exp(sum(math.log(v) for v in values) / len(values))
