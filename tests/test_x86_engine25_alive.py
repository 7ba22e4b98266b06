"""Code written inside a block after its ALIVE cell was already checked
(vm/x86/emit.py, Builder.has_store): a followed jump or the back edge checks ALIVE only
when a store or a helper call came since the last check, so a second write, after a
checked jump, must arm the check again. Each loop below stores to its data and then
follows a jump (a check), then, at iteration WRITE, writes over the immediate of the
instruction after the next jump: by a plain store, by ``enter`` (a helper call pushing
EBP onto a stack moved over the code) and by ``rep stosb``. Run as plain blocks, as
traces and one instruction at a time. Oracle: Unicorn running the same bytes, compared
at step counts before, around and after the write."""

from __future__ import annotations

import pytest
from flat32_harness import pyvm, pyvm_state, unicorn, unicorn_state
from test_x86_cpu_asm import asm

from vm.x86 import traces

CODE, STACK, MEMORY = 0x1000, 0x80000, 0x100000
DEFINED = 0xC5
WRITE = 300

HEAD = """
        xor esi, esi
        xor edi, edi
        mov ebx, 0x12345
top:    imul ebx, ebx, 1103515245
        add ebx, 12345
        mov [0x9000 + esi * 4], ebx
        jmp .a
.a:     cmp esi, {write}
        sete cl
        movzx ecx, cl
"""
TAIL = """
        jmp .b
.b:
patch:  add edi, strict dword 0x1000
        add edi, ebx{branch}
        inc esi
        cmp esi, 900
        jne top
done:   int3
"""
# the write over patch's immediate (patch + 2 .. patch + 5) at iteration WRITE, else
# over data at 0x9800
WRITES = {
    "store": """
        imul ecx, ecx, patch + 2 - 0x9800
        mov byte [0x9800 + ecx], 0x30
""",
    "helper": """
        imul ecx, ecx, patch + 6 - 0x9810
        lea esp, [0x9810 + ecx]
        mov edx, ebp
        mov ebp, 0x30
        enter 0, 0
        mov ebp, edx
        mov esp, 0x80000
""",
    "rep": """
        imul ecx, ecx, patch + 2 - 0x9800
        mov edx, edi
        lea edi, [0x9800 + ecx]
        mov eax, 0x31
        mov ecx, 1
        rep stosb
        mov edi, edx
""",
}


# a branch: the loop is a trace (a plain block ends there)
BRANCH = """
        test ebx, 0x100
        jz .c
        sub edi, 3
.c:"""


def program(kind: str, branch: bool = False) -> tuple:
    """(the code, the step count at which iteration WRITE starts, at most)."""
    src = HEAD.format(write=WRITE) + WRITES[kind] + TAIL.format(branch=BRANCH * branch)
    lines = [x.split(":")[-1].strip() for x in src.split("\n")]
    top = next(i for i, x in enumerate(src.split("\n")) if x.startswith("top:"))
    body = [x for x in lines[top:] if x][:-1]           # (to jne top)
    start = len([x for x in lines[:top] if x])
    return asm(src, 32, CODE), start + WRITE * len(body)


def compare(kind: str, single: bool = False, blocks=None, branch: bool = False) -> None:
    """Run a program in pyvm and Unicorn, comparing at step counts around the write
    (single: one instruction at a time there) and at the end; blocks(fn.meta) holds
    for a block in the cache before the write."""
    code, at = program(kind, branch)
    emu, X = unicorn(code, CODE, STACK, MEMORY)
    m = pyvm(code, CODE, STACK, MEMORY)
    m.tr.tier0 = None       # (cold) real blocks from the start
    steps = 0
    chunks = [at - 60] + [1] * 120 if single else \
        [2000, at - 2700, 1, 3, 7, 100, 300, 500, 2000]
    for k, n in enumerate(chunks):
        if k == 2 and blocks:
            assert any(blocks(fn.meta) for fn in m.tr.cache.values()), "not the blocks meant"
        assert m.run(n).reason == "limit"
        if kind == "rep":
            continue        # (Unicorn counts REP STOSB as two steps: the end only)
        emu.emu_start(emu.reg_read(X.UC_X86_REG_EIP), 0xFFFFFFF0, count=m.steps - steps)
        steps = m.steps
        assert pyvm_state(m, DEFINED) == unicorn_state(emu, X, DEFINED), f"after {steps}"
    done = CODE + len(code) - 1
    assert m.run(1_000_000).reason == "fault" and m.eip == done + 1
    emu.emu_start(emu.reg_read(X.UC_X86_REG_EIP), done)     # (Unicorn stops before int3)
    assert {**pyvm_state(m, DEFINED), "eip": done} == unicorn_state(emu, X, DEFINED)
    assert m.read(0x9000, 0x1000) == bytes(emu.mem_read(0x9000, 0x1000))
    assert m.read(0x1000, len(code)) == bytes(emu.mem_read(0x1000, len(code)))
    assert m.read(0x1000, len(code)) != code, "the code was not written"


@pytest.mark.parametrize("kind", sorted(WRITES))
def test_second_write_after_a_checked_jump_in_a_plain_block(kind, monkeypatch):
    monkeypatch.setattr(traces, "SAMPLE", 0)          # no traces: plain blocks
    compare(kind, blocks=lambda meta: meta.loop and not meta.trace)


@pytest.mark.parametrize("kind", sorted(WRITES))
def test_second_write_after_a_checked_jump_in_a_trace(kind, monkeypatch):
    monkeypatch.setattr(traces, "SAMPLE", 23)         # samples from the start, often
    monkeypatch.setattr(traces, "BACKOFF", 1)
    compare(kind, blocks=lambda meta: meta.loop and meta.trace, branch=True)


@pytest.mark.parametrize("kind", sorted(WRITES))
def test_second_write_single_stepped(kind, monkeypatch):
    monkeypatch.setattr(traces, "SAMPLE", 0)
    compare(kind, single=True)
