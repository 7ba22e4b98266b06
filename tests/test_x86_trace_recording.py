"""Recording hot paths (vm/x86/traces.py) through the straight traces already built: a
straight trace that leaves its path at a side exit has run the first n instructions of
it (n its step count), and the recording goes on from where it left. Here the loop's
head is a straight trace along the loop's first iteration, which every later iteration
leaves at its second branch: a recording that stopped there would never come back to
where it started, and the loop would get no trace of its own. Oracle: Unicorn, for the
state after runs of odd lengths and single steps inside the traces."""

from __future__ import annotations

import struct

from flat32_harness import pyvm, pyvm_state, unicorn, unicorn_state
from test_x86_cpu_asm import asm

from vm.x86 import traces

CODE, STACK, MEMORY = 0x1000, 0x80000, 0x100000
DEFINED = 0xC5

# top..first: the first iteration's way, made a straight trace below; later iterations
# take the jnz (a side exit) and a switch of four cases (the loop trace's paths)
LOOP = """
        xor esi, esi
        xor edi, edi
top:    mov eax, esi
        imul eax, eax, 7
        add edi, eax
        test esi, esi
        jnz later
first:  add edi, 100
later:  mov ecx, esi
        and ecx, 3
        jmp [cases + ecx * 4]
c0:     add edi, 1
        jmp join
c1:     xor edi, 0x55
        jmp join
c2:     rol edi, 3
        jmp join
c3:     lea edi, [edi + esi * 2]
join:   mov [0x9000 + esi * 4], edi
        inc esi
        cmp esi, 1500
        jne top
done:   int3
cases:  dd c0, c1, c2, c3
labels: dd top, first, later, done
"""


def _same(m, emu, X) -> None:
    emu.emu_start(emu.reg_read(X.UC_X86_REG_EIP), 0xFFFFFFF0, count=m.steps - emu.steps)
    emu.steps = m.steps
    assert pyvm_state(m, DEFINED) == unicorn_state(emu, X, DEFINED), f"after {m.steps}"


def test_a_loop_through_a_straight_trace_that_side_exits_gets_a_tree(monkeypatch):
    code = asm(LOOP, 32, CODE)
    top, first, later, done = struct.unpack_from("<4I", code, len(code) - 16)
    emu, X = unicorn(code, CODE, STACK, MEMORY)
    emu.steps = 0
    m = pyvm(code, CODE, STACK, MEMORY)
    m.tr.tier0 = None       # (cold) real blocks from the start
    # the first iteration's way from top (jnz not taken) as a straight trace, before
    # any sample: every later iteration leaves it after its first five instructions
    assert m.run(2).reason == "limit" and m.eip == top
    path = [top, top + 2, top + 5, top + 7, top + 9, first]
    trace = m.tr.translate_trace(top, path)
    assert trace.meta.trace and not trace.meta.loop
    monkeypatch.setattr(traces, "SAMPLE", 23)         # samples from the start, often
    monkeypatch.setattr(traces, "BACKOFF", 1)
    for n in [1, 5, 40, 3, 97, 13, 250, 7, 64, 31, 500, 11, 29, 120, 2000] + [1] * 30:
        assert m.run(n).reason == "limit"
        _same(m, emu, X)
    loops = [fn.meta for fn in m.tr.cache.values() if fn.meta.trace and fn.meta.loop]
    assert loops, "no loop trace: the recordings stopped at the straight trace's side exit"
    assert max(len(meta.paths) for meta in loops) >= 2, "the loop trace got no second path"
    assert m.run(1_000_000).reason == "fault" and m.eip == done + 1
    emu.emu_start(emu.reg_read(X.UC_X86_REG_EIP), done)
    assert dict(pyvm_state(m, DEFINED), eip=done) == unicorn_state(emu, X, DEFINED)
    assert m.read(0x9000, 6000) == bytes(emu.mem_read(0x9000, 6000))



# a loop too long for a loop trace (more than MAX_LOOP instructions, here 48: straight
# traces only) reading through a pointer that leaves memory at iteration 301, in the
# middle of the straight trace of its tail, sampled so often that most instructions run
# inside recordings: the fault leaves a straight trace that a recording runs
FAULT = """
        xor esi, esi
        xor edi, edi
top:    mov eax, esi
        imul eax, eax, 7
        add edi, eax
""" + "        lea edi, [edi + eax * 2 + 1]\n" * 48 + """
        test esi, 1
        jnz odd
        add edi, 5
odd:    cmp esi, 301
        sbb ebx, ebx
        not ebx
        and ebx, 0x400000
        mov edx, [0x9000 + ebx]
        add edi, edx
        mov [0x9000 + esi * 4], edi
        inc esi
        cmp esi, 1000
        jne top
done:   int3
labels: dd top, done
"""


def _running_trace(e: BaseException) -> bool:
    """Whether e left a straight trace (a block's META is among its frame's locals)."""
    tb = e.__traceback__
    while tb is not None:
        f = tb.tb_frame
        meta = f.f_locals.get("META") if f.f_code.co_filename.startswith("<x86") else None
        if meta is not None and meta.trace and not meta.loop:
            return True
        tb = tb.tb_next
    return False


def test_a_fault_inside_a_straight_trace_a_recording_runs(monkeypatch):
    from unicorn import UcError
    code = asm(FAULT, 32, CODE)
    top, done = struct.unpack_from("<2I", code, len(code) - 8)
    emu, X = unicorn(code, CODE, STACK, MEMORY)
    m = pyvm(code, CODE, STACK, MEMORY)
    m.tr.tier0 = None
    monkeypatch.setattr(traces, "SAMPLE", 2)          # a recording at almost every block
    monkeypatch.setattr(traces, "BACKOFF", 1)
    monkeypatch.setattr(traces, "MAX_LOOP", 48)
    faulted = []
    record = traces._record

    def recording(*args):
        try:
            return record(*args)
        except Exception as e:
            faulted.append(_running_trace(e))
            raise

    monkeypatch.setattr(traces, "_record", recording)
    stop = m.run(1_000_000)
    assert stop.reason == "fault" and stop.fault.vector == 14, stop
    assert faulted == [True], "the fault did not leave a straight trace a recording ran"
    try:
        emu.emu_start(CODE, done)
        raise AssertionError("Unicorn ran past the load")
    except UcError:
        pass
    assert pyvm_state(m, DEFINED) == unicorn_state(emu, X, DEFINED)
    assert m.read(0x9000, 1200) == bytes(emu.mem_read(0x9000, 1200))
