"""DIV and IDIV run divmod inline when the high half is 0 (IDIV: both operands positive)
and call the helper otherwise (vm/x86/semantics.py, div). A loop divides a table of
(high, low, divisor) triples, each edge of the inline test on both sides, and stores
every quotient and remainder; its last entry divides by zero (#DE: the registers at the
faulting instruction). Run as compiled blocks (and loop traces). Oracle: Unicorn."""

from __future__ import annotations

import pytest
from flat32_harness import pyvm, pyvm_state, unicorn, unicorn_state
from test_x86_cpu_asm import asm

CODE, STACK, MEMORY = 0x1000, 0x80000, 0x100000
TABLE, OUT = 0x3000, 0x6000
DEFINED = 0      # DIV/IDIV leave the flags undefined

PROGRAM = """
        mov esi, {table:#x}
        mov edi, {out:#x}
top:    mov edx, [esi]
        mov eax, [esi + 4]
        mov ecx, [esi + 8]
        {op} {divisor}
        mov [edi], eax
        mov [edi + 4], edx
        add esi, 12
        add edi, 8
        jmp top
"""

B31, B32 = 1 << 31, 1 << 32
# (high, low, divisor): high 0 or not, low and divisor on each side of 2**31 (2**15),
# divisor 1, a low of 0, the largest values (the rows that fault as the op are left out:
# each table ends at its division by zero)
ROWS32 = [(0, 5000, 37), (0, B31 - 1, 1), (0, B31 - 1, B31 - 1), (0, B31, 3), (0, B32 - 1, 7),
          (0, 12345, B31), (0, 12345, B32 - 1), (0, 0, 5), (1, 5, 7), (B32 - 1, B32 - 5, 3),
          (B32 - 1, B32 - 5, B32 - 3), (0, 99, B31 + 1), (6, 0, 7), (0, 7, 7), (0, 6, 7),
          (0, B32 - 1, 1), (0, B31, 1), (0, B31 + 8, 2)]
ROWS16 = [(0, 5000, 37), (0, 0x7FFF, 1), (0, 0x8000, 3), (0, 0xFFFF, 0x7FFF), (0, 5, 0x8000),
          (0, 5, 0xFFFF), (1, 5, 7), (0xFFFF, 0xFFF0, 3), (0xFFFF, 0xFFF0, 0xFFFD), (5, 0, 9),
          (0, 0xFFFF, 1), (0, 0x8000, 1)]


def _fits(op: str, bits: int, row) -> bool:
    """Whether the row divides without #DE (to pick rows; the results come from Unicorn)."""
    hi, lo, d = row
    if op == "div":
        return d != 0 and (hi << bits | lo) // d < 1 << bits
    n, d = (hi << bits | lo) - ((hi >> (bits - 1)) << 2 * bits), d - ((d >> (bits - 1)) << bits)
    q = abs(n) // abs(d) if d else None
    return q is not None and -(1 << (bits - 1)) <= (q if (n < 0) == (d < 0) else -q) < 1 << (bits - 1)


def _table(rows) -> bytes:
    return b"".join(b"".join(v.to_bytes(4, "little") for v in row) for row in rows)


def _run(op: str, divisor: str, rows):
    code = asm(PROGRAM.format(table=TABLE, out=OUT, op=op, divisor=divisor), 32, CODE)
    data = _table(rows + [(0, 1, 0)])
    emu, X = unicorn(code, CODE, STACK, MEMORY)
    emu.mem_write(TABLE, data)
    m = pyvm(code, CODE, STACK, MEMORY)
    m.tr.tier0 = None           # (compiled blocks from the start)
    m.write(TABLE, data)
    stop = m.run(1_000_000)
    try:
        emu.emu_start(CODE, 0xFFFFFFF0)
    except Exception:           # unicorn.UcError: the registers are at the fault
        pass
    assert stop.reason == "fault"
    assert pyvm_state(m, DEFINED) == unicorn_state(emu, X, DEFINED)
    n = 8 * len(rows)
    assert m.read(OUT, n) == bytes(emu.mem_read(OUT, n))
    return m


@pytest.mark.parametrize("op", ["div", "idiv"])
@pytest.mark.parametrize("divisor", ["ecx", "dword [esi + 8]"])
def test_div32_matches_unicorn_on_each_side_of_the_inline_test(op, divisor):
    rows = [r for r in ROWS32 if _fits(op, 32, r)] * 3     # (three rounds: compiled)
    m = _run(op, divisor, rows)
    assert m.reg("eip") == CODE + 0x12        # (at the division by zero)
    assert m.reg("esi") == TABLE + 12 * len(rows)


@pytest.mark.parametrize("op", ["div", "idiv"])
def test_div16_matches_unicorn(op):
    rows = [r for r in ROWS16 if _fits(op, 16, r)] * 3
    m = _run(op, "cx", rows)
    assert m.reg("esi") == TABLE + 12 * len(rows)


@pytest.mark.parametrize("bits, row", [(32, (0, B31, 1)), (32, (0, B32 - 1, 1)),
                                       (16, (0, 0x8000, 1)), (16, (5, 0, 9))])
def test_idiv_overflow_with_a_zero_high_half_faults_like_unicorn(bits, row):
    rows = [r for r in (ROWS32 if bits == 32 else ROWS16)[:3] if _fits("idiv", bits, r)]
    m = _run("idiv", "ecx" if bits == 32 else "cx", rows * 3 + [row])
    assert m.reg("esi") == TABLE + 12 * 3 * len(rows)
