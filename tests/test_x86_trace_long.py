"""Loop traces longer than a block (vm/x86/traces.py MAX_LOOP): a loop of two blocks
whose iteration runs more than MAX_BLOCK instructions (sha256's round loop: 56) becomes a
loop trace too. A block may run at most MAX_BLOCK instructions where it is called (the
step limit's margin), so such a trace entered nearer its step limit than one iteration
runs its plain block instead: runs stopped at step limits of every length around an
iteration's leave pyvm where Unicorn is after as many instructions. Oracle: Unicorn."""

from __future__ import annotations

import struct

from flat32_harness import pyvm, pyvm_state, unicorn, unicorn_state
from test_x86_cpu_asm import asm

from vm.x86 import codecache, traces
from vm.x86.emit import MAX_BLOCK

CODE, STACK, MEMORY = 0x1000, 0x80000, 0x100000
DEFINED = 0xC5

# 2 + 30 + 2 + 2 (or 1) + 30 + 4 = 70 instructions an iteration, in blocks of at most 36;
# the if/else gives the trace a second path (an arm)
LOOP = """
        xor esi, esi
        xor edi, edi
        mov ebx, 0x1234
top:    mov eax, esi
        imul eax, eax, 7
""" + "        lea edi, [edi + eax * 2 + 1]\n        rol edi, 3\n" * 15 + """
        test esi, 4
        jnz odd
        add edi, 5
        jmp join
odd:    xor edi, ebx
join:
""" + "        add edi, esi\n        ror edi, 5\n" * 15 + """
        mov [0x9000 + esi * 4], edi
        inc esi
        cmp esi, 1500
        jne top
done:   int3
labels: dd top, done, join
"""


def _run(m, emu, X, n: int) -> None:
    """n instructions in pyvm, exactly, then as many in Unicorn: the same state."""
    steps = m.steps
    assert m.run(n).reason == "limit"
    assert m.steps == steps + n, f"{m.steps - steps} instructions run for a limit of {n}"
    emu.emu_start(emu.reg_read(X.UC_X86_REG_EIP), 0xFFFFFFF0, count=m.steps - emu.steps)
    emu.steps = m.steps
    assert pyvm_state(m, DEFINED) == unicorn_state(emu, X, DEFINED), f"after {m.steps}"


def test_a_loop_longer_than_a_block_is_a_loop_trace_that_keeps_step_limits(monkeypatch):
    monkeypatch.setattr(codecache, "_opened", True)     # (no warm cache: traces built)
    monkeypatch.setattr(codecache, "_cache", None)
    code = asm(LOOP, 32, CODE)
    top, done, join = struct.unpack_from("<3I", code, len(code) - 12)
    emu, X = unicorn(code, CODE, STACK, MEMORY)
    emu.steps = 0
    m = pyvm(code, CODE, STACK, MEMORY)
    m.tr.tier0 = None       # (cold) real blocks from the start
    monkeypatch.setattr(traces, "SAMPLE", 23)         # samples from the start, often
    monkeypatch.setattr(traces, "BACKOFF", 1)
    for n in [1, 5, 40, 3, 97, 13, 250, 7, 64, 31, 500, 11, 29, 120, 2000, 3000]:
        _run(m, emu, X, n)
    loops = [fn.meta for fn in m.tr.cache.values() if fn.meta.trace and fn.meta.loop]
    assert loops, "no loop trace: its iteration is longer than a block"
    assert max(fn.n for fn in loops) > MAX_BLOCK
    # limits within one iteration of the trace's entry: its plain block runs instead
    for n in list(range(MAX_BLOCK - 2, 80)) + [141, 139, 211, 1, 70, 69, 71, 35]:
        _run(m, emu, X, n)
    # a stop inside the trace's iteration (as a breakpoint), then on
    for _ in range(3):
        assert m.run(until=join).reason == "until" and m.eip == join
        emu.emu_start(emu.reg_read(X.UC_X86_REG_EIP), join)
        emu.steps = m.steps
        assert pyvm_state(m, DEFINED) == unicorn_state(emu, X, DEFINED)
        _run(m, emu, X, 1)
    assert m.run(1_000_000).reason == "fault" and m.eip == done + 1
    emu.emu_start(emu.reg_read(X.UC_X86_REG_EIP), done)
    assert dict(pyvm_state(m, DEFINED), eip=done) == unicorn_state(emu, X, DEFINED)
    assert m.read(0x9000, 6000) == bytes(emu.mem_read(0x9000, 6000))


# one basic block of 2 + 50 + 4 = 56 instructions an iteration (sha256's round loop):
# its block is cut after MAX_BLOCK instructions, in the straight code, and a loop path
# recorded from there comes back to where it started without a branch
STRAIGHT = """
        xor esi, esi
        xor edi, edi
top:    mov eax, esi
        imul eax, eax, 7
""" + "        lea edi, [edi + eax * 2 + 1]\n        rol edi, 3\n" * 25 + """
        mov [0x9000 + esi * 4], edi
        inc esi
        cmp esi, 1500
        jne top
done:   int3
labels: dd top, done
"""


def test_a_loop_sampled_where_its_block_is_cut_is_a_loop_trace_from_its_branch(monkeypatch):
    monkeypatch.setattr(codecache, "_opened", True)     # (no warm cache: traces built)
    monkeypatch.setattr(codecache, "_cache", None)
    code = asm(STRAIGHT, 32, CODE)
    top, done = struct.unpack_from("<2I", code, len(code) - 8)
    emu, X = unicorn(code, CODE, STACK, MEMORY)
    emu.steps = 0
    m = pyvm(code, CODE, STACK, MEMORY)
    m.tr.tier0 = None       # (cold) real blocks from the start
    monkeypatch.setattr(traces, "SAMPLE", 1 << 40)    # no sample but the one below
    _run(m, emu, X, 2 + 3 * 56)     # three iterations: top's block is made
    _run(m, emu, X, MAX_BLOCK)      # to where it is cut
    cut = m.eip
    assert m.tr.cache[top].meta.n == MAX_BLOCK and cut != top
    m.tr.lim[0] = 1 << 62
    key = traces.sample(m.tr, cut, 1 << 61, [1 << 61])
    trace = m.tr.cache[top].meta
    assert trace.trace and trace.loop and trace.n == 56, "no loop trace from the branch"
    assert not getattr(m.tr.cache.get(cut), "meta", trace).trace, "a straight trace"
    m.cpu.eip = key         # (the recording ran on: Unicorn as far)
    emu.emu_start(emu.reg_read(X.UC_X86_REG_EIP), 0xFFFFFFF0, count=m.steps - emu.steps)
    emu.steps = m.steps
    assert pyvm_state(m, DEFINED) == unicorn_state(emu, X, DEFINED)
    for n in [1, 97, 13, 250, 7] + list(range(MAX_BLOCK - 2, 60)) + [3000]:
        _run(m, emu, X, n)
    assert m.run(1_000_000).reason == "fault" and m.eip == done + 1
    emu.emu_start(emu.reg_read(X.UC_X86_REG_EIP), done)
    assert dict(pyvm_state(m, DEFINED), eip=done) == unicorn_state(emu, X, DEFINED)
    assert m.read(0x9000, 6000) == bytes(emu.mem_read(0x9000, 6000))
