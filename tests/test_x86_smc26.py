"""A write into code further down the running block takes effect at the very next
instruction, with no jump between (vm/x86/smc.py), as on the real CPU (P6 and later
refetch a written instruction) and in Unicorn: by a plain store, a read-modify-write,
``rep movsb``/``rep stosb`` (the bulk helper, which reports its write after making it),
``push``, ``pusha`` partly over the code, over a NOP (an instruction that compiles to no
code), in real mode and through the protected-mode MMU (another linear page mapped onto
the code's physical page). Each write must happen exactly once; an instruction writing its
own bytes runs as fetched; a fault after the write, in the same instruction, stays a
precise fault. Plain blocks, loop blocks, traces, the first tier and single-stepping.

Oracles: Unicorn running the same bytes (registers, flags, memory, instruction count)
and the native CPU running tests/linux/smc26_patch.c."""

from __future__ import annotations

import sys

import pytest
from conftest import require_module
from flat32_harness import pyvm, pyvm_state, unicorn, unicorn_state
from protected_kit import FLAT_SEGMENTS, Setup, run_pyvm, run_unicorn, uc_regs
from test_x86_cpu_asm import asm

from vm.x86 import compiler, traces
from vm.x86.smc import stop_running

CODE, DATA, STACK, MEMORY = 0x1000, 0x3000, 0x80000, 0x100000
DEFINED = 0xC5          # CF PF ZF SF
NEW_MOV = bytes([0xBB, 0x34, 0x12, 0, 0])          # mov ebx, 0x1234 (the new code)

# straight-line programs; each writes the instruction at ``patch`` (or the ones after)
STRAIGHT = {
    "store": """
        mov eax, 1
        mov byte [patch + 1], 7
patch:  mov ebx, 5
        add eax, ebx
""",
    "rmw": """
        mov eax, 1
        add byte [patch + 1], 3
patch:  mov ebx, 5
        add eax, ebx
""",
    "movsb": f"""
        mov esi, {DATA}
        mov edi, patch
        mov ecx, 5
        rep movsb
patch:  mov ebx, 5
        add eax, ebx
""",
    "stosb": """
        mov edi, patch
        mov ecx, 5
        mov eax, 0x90
        rep stosb
patch:  mov ebx, 5
        add eax, ebx
""",
    "nop": """
        mov byte [patch], 0x43
patch:  nop
        mov eax, ebx
""",
    "push": """
        mov edx, esp
        mov esp, patch + 5
        push dword 0x1234
        mov esp, edx
patch:  mov ebx, 5
        add eax, ebx
""",
    # pusha stores [patch - 24, patch + 8): ECX's bytes (inc eax x4) then EAX's (inc ecx
    # x4) over the eight INC EDI at patch, the code before it too (already run)
    "pusha": """
        mov eax, 0x41414141
        mov ecx, 0x40404040
        mov edx, esp
        mov esp, patch + 8
        pusha
patch:  inc edi
        inc edi
        inc edi
        inc edi
        inc edi
        inc edi
        inc edi
        inc edi
        mov esp, edx
""",
    # (a call is a jump: the block already stopped there; kept as a guard)
    "call": """
        mov edx, esp
        mov esp, patch + 5
        call next
next:   mov esp, edx
patch:  mov ebx, 5
        add eax, ebx
""",
}


def _both(src: str, tier0: bool = False, hook: bool = False):
    """Run src (then int3) in Unicorn and in pyvm, which must run as many instructions
    as Unicorn: (machine, emu, X, code)."""
    uc = require_module("unicorn")
    code = asm(src + "\n        int3\n", 32, CODE)
    done = CODE + len(code) - 1
    emu, X = unicorn(code, CODE, STACK, MEMORY)
    emu.mem_write(DATA, NEW_MOV)
    # the instructions run: Unicorn's hook sees a store into later code of its block
    # twice (QEMU runs it again alone); none of these programs has a one-instruction loop
    seen = [-1]
    emu.hook_add(uc.UC_HOOK_CODE,
                 lambda u, addr, size, _: seen.append(addr) if addr != seen[-1] else None)
    emu.emu_start(CODE, done)
    count = len(seen) - 1
    m = pyvm(code, CODE, STACK, MEMORY)
    m.load(DATA, NEW_MOV)
    if not tier0:
        m.tr.tier0 = None           # (cold) real blocks from the start
    if hook:
        m.hook_code(lambda *a: None)     # one instruction at a time
    # (no step limit near: a block's length before one, pyvm runs single instructions)
    stop = m.run(1_000_000)
    assert stop.reason == "fault" and m.eip == done + 1, (stop, hex(m.eip))
    assert m.steps == count + 1                 # (the int3 too)
    return m, emu, X, code


def _compare(m, emu, X, code) -> None:
    # (pyvm ran the int3, Unicorn stopped before it)
    assert {**pyvm_state(m, DEFINED), "eip": m.eip - 1} == unicorn_state(emu, X, DEFINED)
    assert m.read(CODE, len(code)) == bytes(emu.mem_read(CODE, len(code)))
    assert m.read(CODE, len(code)) != code, "the code was not written"


@pytest.mark.parametrize("kind", sorted(STRAIGHT))
@pytest.mark.parametrize("mode", ["blocks", "single"])
def test_write_further_down_the_running_block(kind, mode):
    m, emu, X, code = _both(STRAIGHT[kind], hook=mode == "single")
    _compare(m, emu, X, code)


# an instruction that writes its own immediate (doubling it, so a write done twice or a
# stale fetch shows): the CPU runs it as fetched, the change shows next time round
OWN = """
        mov ecx, 5
patch:  add byte [patch + 6], 1
        dec ecx
        jnz patch
        movzx eax, byte [patch + 6]
"""


@pytest.mark.parametrize("mode", ["blocks", "single", "tier0"])
def test_instruction_writing_its_own_bytes(mode):
    m, emu, X, code = _both(OWN, tier0=mode == "tier0", hook=mode == "single")
    _compare(m, emu, X, code)
    assert m.reg("eax") == 32


# a hot loop: every 256th iteration writes the immediate of `add eax` further down (the
# other ones write scratch data), with no jump between; with a branch in the body the
# loop is a trace
LOOP = """
        xor esi, esi
        xor eax, eax
        mov ebx, 0x12345
top:    imul ebx, ebx, 1103515245
        add ebx, 12345
        mov ecx, esi
        and ecx, 255
        cmp ecx, 200
        sete cl
        movzx ecx, cl
        imul ecx, ecx, patch + 2 - 0x9800
        mov edx, esi
        shr edx, 8
        mov [0x9800 + ecx], dl{branch}
patch:  add eax, strict byte 1
        add eax, esi
        inc esi
        cmp esi, 1200
        jne top
"""
BRANCH = """
        test ebx, 0x100
        jz .c
        sub eax, 3
.c:"""


@pytest.mark.parametrize("shape", ["loop", "trace"])
def test_hot_loop_writing_further_down_its_body(shape, monkeypatch):
    monkeypatch.setattr(traces, "SAMPLE", 0 if shape == "loop" else 23)
    monkeypatch.setattr(traces, "BACKOFF", 1)
    hit = []            # the running blocks the writes hit

    def spy(blocks, dead):
        f = sys._getframe(1)
        while f is not None and f.f_code.co_name != "_blk":
            f = f.f_back
        if f is not None:
            hit.append(f.f_locals.get("META"))
        stop_running(blocks, dead)

    monkeypatch.setattr(compiler, "stop_running", spy)
    m, emu, X, code = _both(LOOP.format(branch=BRANCH * (shape == "trace")),
                                   tier0=True)
    _compare(m, emu, X, code)
    assert any(meta is not None and meta.loop and meta.trace == (shape == "trace")
               for meta in hit), \
        "not the blocks meant"


def test_a_tracer_already_on_is_put_back():
    """Stopping the block uses the host's trace function for a moment: one set before
    (a debugger, coverage) is on again afterwards and saw the calls meanwhile."""
    seen = []

    def outer(frame, event, arg):
        seen.append(event)
        return None

    old = sys.gettrace()
    sys.settrace(outer)
    try:
        m, emu, X, code = _both(STRAIGHT["store"])
        assert sys.gettrace() is outer
    finally:
        sys.settrace(old)
    _compare(m, emu, X, code)
    assert "call" in seen


# rep stosb writes NOPs from `patch` on, over the block's later code, and faults on the
# next page (read-only) in the same instruction: the fault is reported as it is, with
# the count done so far, not taken for the end of the instruction
FAULTING = """
        mov edi, patch
        mov ecx, 0x2000
        mov eax, 0x90
        rep stosb
patch:  mov ebx, 5
        add eax, ebx
"""


def test_a_fault_after_the_write_in_the_same_instruction():
    U = require_module("unicorn")
    code = asm(FAULTING + "\n        int3\n", 32, CODE)
    emu, X = unicorn(code, CODE, STACK, MEMORY)
    emu.mem_protect(0x2000, 0x1000, U.UC_PROT_READ | U.UC_PROT_EXEC)
    with pytest.raises(U.UcError):
        emu.emu_start(CODE, CODE + len(code) - 1)
    m = pyvm(code, CODE, STACK, MEMORY)
    m.tr.tier0 = None
    m.map(0x2000, 0x1000, "rx")
    stop = m.run(1_000_000)
    assert stop.reason == "fault" and stop.fault.address == 0x2000, stop
    state = {**pyvm_state(m, DEFINED), "flags": 0}
    assert state == {**unicorn_state(emu, X, DEFINED), "flags": 0}
    assert m.read(CODE, 0x1000) == bytes(emu.mem_read(CODE, 0x1000))


REAL_MODE = """
        mov ax, 1
        mov byte [patch + 1], 7
        mov cx, 3
        mov di, patch2
        mov al, 0x90
        rep stosb
patch:  mov bx, 5
        add ax, bx
patch2: mov dx, 9
"""


def test_write_further_down_the_running_block_in_real_mode():
    uc = require_module("unicorn")
    from unicorn import x86_const as X

    from vm.x86.machine import Machine
    code = asm(REAL_MODE + "\n        hlt\n", 16, 0x7C00)
    done = 0x7C00 + len(code) - 1
    emu = uc.Uc(uc.UC_ARCH_X86, uc.UC_MODE_16)
    emu.mem_map(0, 1 << 20)
    emu.mem_write(0x7C00, code)
    emu.emu_start(0x7C00, done)
    m = Machine("real")
    m.load(0x7C00, code)
    m.set_segment("cs", 0)
    m.set_reg("eip", 0x7C00)
    assert m.run(10_000).reason == "halt"
    regs = ("eax", "ebx", "ecx", "edx", "edi")
    assert {n: m.reg(n) for n in regs} == \
        {n: emu.reg_read(getattr(X, f"UC_X86_REG_{n.upper()}")) for n in regs}
    assert m.read(0x7C00, len(code)) == bytes(emu.mem_read(0x7C00, len(code))) != code


# protected mode with paging: the store goes to linear page 0x200, mapped onto the
# body's physical page (0x10000), so only the physical address says it is code
PM_BODIES = {
    "store": f"""{FLAT_SEGMENTS}
mov eax, 1
mov byte [patch - 0x10000 + 0x200001], 7
patch: mov ebx, 5
add eax, ebx
""",
    "stosb": f"""{FLAT_SEGMENTS}
mov edi, patch - 0x10000 + 0x200000
mov ecx, 5
mov eax, 0x90
rep stosb
patch: mov ebx, 5
add eax, ebx
""",
}


@pytest.mark.parametrize("kind", sorted(PM_BODIES))
def test_write_through_another_linear_page_in_protected_mode(kind, tmp_path):
    s = Setup(PM_BODIES[kind], paging=True, pte={0x200: 0x10000 | 7})
    m = run_pyvm(tmp_path, s)
    uc = run_unicorn(tmp_path, s)
    assert uc.vector is None
    assert {n: m.reg(n) for n in ("eax", "ebx", "ecx", "edi")} == \
        {n: v for n, v in uc_regs(uc).items() if n in ("eax", "ebx", "ecx", "edi")}
    assert m.read(0x10000, 0x40) == bytes(uc.uc.mem_read(0x10000, 0x40))


@pytest.mark.parametrize("tier0", ["1", "0"])
def test_native_cpu_agrees(tier0):
    """tests/linux/smc26_patch.c: functions copied to an RWX page and called 400 times
    each, writing an instruction further down (store, add, rep stosb, over a NOP, and
    an instruction doubling its own immediate in a loop)."""
    from linux.kit import build, run_native
    from linux.kit import run_pyvm as run_linux
    exe = build("smc26_patch")
    native = run_native(exe)
    assert native.status == 0 and native.stdout.count(b"\n") == 5, native
    got = run_linux(exe, env={"PYVM_TIER0": tier0})
    assert (got.status, got.stdout) == (0, native.stdout), got
