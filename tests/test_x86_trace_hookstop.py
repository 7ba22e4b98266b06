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
SRC = """
        xor esi, esi
        xor edi, edi
top:    mov eax, esi
""" + "        lea edi, [edi + eax * 2 + 1]\n        rol edi, 3\n" * K + """
        mov [0x9000 + esi * 4], edi
        inc esi
        cmp esi, 1500
        jne top
done:   int3
"""


def test_a_hook_stops_a_loop_trace_within_an_iteration(monkeypatch):
    _no_code_cache(monkeypatch)
    monkeypatch.setattr(traces, "SAMPLE", 23)         # samples from the start, often
    monkeypatch.setattr(traces, "BACKOFF", 1)
    code = asm(SRC, 32, CODE)
    m = pyvm(code, CODE, STACK, MEMORY)
    m.tr.tier0 = None       # (cold) real blocks from the start
    writes: list = []

    def hook(machine, addr, data):
        writes.append(addr)
        if len(writes) == 200:
            machine.request_stop()

    m.hook_mem_write(hook, 0x9000, 0xB000)
    stop = m.run(1_000_000)
    assert stop.reason == "stopped"
    loops = [fn.meta.n for fn in m.tr.cache.values() if fn.meta.trace and fn.meta.loop]
    assert loops == [2 * K + 5], "the loop became no loop trace"
    # at the iteration's end: the 200th store and at most one more
    assert len(writes) <= 201, f"{len(writes) - 200} stores after the stop request"
    emu, X = unicorn(code, CODE, STACK, MEMORY)
    emu.steps = 0
    _same(m, emu, X)
    assert m.read(0x9000, 6000) == bytes(emu.mem_read(0x9000, 6000))
    assert pyvm_state(m, DEFINED)["esi"] == len(writes)
