"""A trace tree's arms start from the flags the branch left pending (TraceBuilder._save):
a shift by CL or a BT leaves its CF as an expression of its own (emit.Lazy.cf) that the
arm's ADC/SBB/SETC read, and a count of 0 keeps the flags before it. A loop whose
iterations part on PF/ZF after such an instruction runs as one trace with arms, compared
with Unicorn after runs of odd lengths and at the end."""

from __future__ import annotations

import struct

import pytest
from flat32_harness import pyvm, pyvm_state, unicorn, unicorn_state
from test_x86_cpu_asm import asm

from vm.x86 import traces

CODE, STACK, MEMORY = 0x1000, 0x80000, 0x100000
DEFINED = 0xC5      # CF PF ZF SF


def _source(op: str, split: str) -> str:
    """op's count (bit index) is ECX (EDX for BT, where ECX is 1 every other iteration
    for a JECXZ: BT leaves PF SF OF undefined)."""
    return f"""
        xor esi, esi
        xor ebx, ebx
top:    imul edi, esi, 0x9e3779b1
        mov ecx, esi
        and ecx, 31
        mov edx, ecx
        and ecx, {1 if op.startswith("bt") else 31}
        {op}
        {split} other
        adc ebx, esi
        setc al
        jmp next
other:  sbb ebx, edi
        setc al
        rcl ebx, 1
next:   mov [0x9000 + esi * 4], ebx
        mov [0xa000 + esi], al
        inc esi
        cmp esi, 900
        jne top
done:   int3
labels: dd done
"""


def _same(m, emu, X, defined: int) -> None:
    emu.emu_start(emu.reg_read(X.UC_X86_REG_EIP), 0xFFFFFFF0, count=m.steps - emu.steps)
    emu.steps = m.steps
    assert pyvm_state(m, defined) == unicorn_state(emu, X, defined), f"after {m.steps}"


@pytest.mark.parametrize("op,split", [("shr edi, cl", "jp"), ("sar edi, cl", "js"),
                                      ("shl edi, cl", "jnp"), ("bt edi, edx", "jecxz"),
                                      ("bts edi, edx", "jecxz"), ("btc edi, edx", "jecxz")])
def test_arms_read_a_pending_carry_as_unicorn(monkeypatch, op, split):
    defined = 0x01 if op.startswith("bt") else DEFINED
    code = asm(_source(op, split), 32, CODE)
    (done,) = struct.unpack_from("<I", code, len(code) - 4)
    monkeypatch.setattr(traces, "SAMPLE", 23)         # samples from the start, often
    monkeypatch.setattr(traces, "BACKOFF", 1)
    emu, X = unicorn(code, CODE, STACK, MEMORY)
    m = pyvm(code, CODE, STACK, MEMORY)
    m.tr.tier0 = None       # (cold) real blocks from the start
    emu.steps = 0
    assert m.run(3000).reason == "limit"
    paths = max(len(getattr(fn.meta, "paths", ())) for fn in m.tr.cache.values())
    assert paths >= 2, "no arm in the loop's trace: the runs below would not test one"
    for n in [1, 7, 40, 3, 97, 13, 250, 5, 64]:
        assert m.run(n).reason == "limit"
        _same(m, emu, X, defined)
    assert m.run(1_000_000).reason == "fault" and m.eip == done + 1
    emu.emu_start(emu.reg_read(X.UC_X86_REG_EIP), done)
    assert dict(pyvm_state(m, DEFINED), eip=done) == unicorn_state(emu, X, DEFINED)
    assert m.read(0x9000, 3600) == bytes(emu.mem_read(0x9000, 3600))
    assert m.read(0xa000, 900) == bytes(emu.mem_read(0xa000, 900))
