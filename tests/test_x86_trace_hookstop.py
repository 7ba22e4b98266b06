"""A hook's request_stop() inside a loop trace stops the run at the end of the loop's
iteration (emit.STOP_TEST), not when the loop ends: a loop trace may run
MAX_LOOP instructions an iteration, its tail checked only its copy of the step limit
(a 65-instruction loop stopped at its end, 97,502 steps, for a stop requested at the
200th store, ~13,000). The state where it stopped is Unicorn's after as many steps."""

from __future__ import annotations

from flat32_harness import pyvm, pyvm_state, unicorn
from test_x86_cpu_asm import asm
from test_x86_trace_onepass import DEFINED, _no_code_cache, _same

from vm.x86 import traces

CODE, STACK, MEMORY = 0x1000, 0x80000, 0x100000
K = 30                          # filler pairs: 2K+5 instructions an iteration


def loop_source(k: int) -> str:
    """A loop of 2k+5 instructions an iteration storing one dword each, 1,500 times."""
    return """
        xor esi, esi
        xor edi, edi
top:    mov eax, esi
""" + "        lea edi, [edi + eax * 2 + 1]\n        rol edi, 3\n" * k + """
        mov [0x9000 + esi * 4], edi
        inc esi
        cmp esi, 1500
        jne top
done:   int3
"""


SRC = loop_source(K)


def stopped_at_200th_store(code: bytes):
    """Run ``code`` (real blocks from the start) with a write hook that asks to stop at
    the 200th store: (machine, the stores seen)."""
    m = pyvm(code, CODE, STACK, MEMORY)
    m.tr.tier0 = None       # (cold) real blocks from the start
    writes: list = []

    def hook(machine, addr, data):
        writes.append(addr)
        if len(writes) == 200:
            machine.request_stop()

    m.hook_mem_write(hook, 0x9000, 0xB000)
    assert m.run(1_000_000).reason == "stopped"
    return m, writes


def same_as_unicorn(m, code: bytes, writes: list) -> None:
    """At the iteration's end (the 200th store and at most one more), in Unicorn's state
    after as many steps."""
    assert len(writes) <= 201, f"{len(writes) - 200} stores after the stop request"
    emu, X = unicorn(code, CODE, STACK, MEMORY)
    emu.steps = 0
    _same(m, emu, X)
    assert m.read(0x9000, 6000) == bytes(emu.mem_read(0x9000, 6000))
    assert pyvm_state(m, DEFINED)["esi"] == len(writes)


def test_a_hook_stops_a_loop_trace_within_an_iteration(monkeypatch):
    _no_code_cache(monkeypatch)
    monkeypatch.setattr(traces, "SAMPLE", 23)         # samples from the start, often
    monkeypatch.setattr(traces, "BACKOFF", 1)
    code = asm(SRC, 32, CODE)
    m, writes = stopped_at_200th_store(code)
    loops = [fn.meta.n for fn in m.tr.cache.values() if fn.meta.trace and fn.meta.loop]
    assert loops == [2 * K + 5], "the loop became no loop trace"
    same_as_unicorn(m, code, writes)
