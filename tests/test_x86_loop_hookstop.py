"""A hook's request_stop() inside a plain loop block (emit.py's loop mode, no trace)
stops the run at the end of the loop's iteration, as in a loop trace
(test_x86_trace_hookstop.py), not when the loop ends: the block's tail tested only its
copy of the step limit taken at entry, so a loop asked to stop at its 200th store ran
all 1,500 iterations. The state where it stopped is Unicorn's after as many steps."""

from __future__ import annotations

from test_x86_cpu_asm import asm
from test_x86_trace_hookstop import CODE, loop_source, same_as_unicorn, stopped_at_200th_store
from test_x86_trace_onepass import _no_code_cache

from vm.x86 import traces

K = 15                          # filler pairs: 2K+5 instructions an iteration (one block)


def test_a_hook_stops_a_plain_loop_block_within_an_iteration(monkeypatch):
    _no_code_cache(monkeypatch)
    monkeypatch.setattr(traces, "SAMPLE", 0)          # no traces: the plain loop block
    code = asm(loop_source(K), 32, CODE)
    m, writes = stopped_at_200th_store(code)
    loops = [fn.meta.n for fn in m.tr.cache.values() if fn.meta.loop]
    assert loops == [2 * K + 5], "the loop became no loop block"
    assert not any(fn.meta.trace for fn in m.tr.cache.values())
    same_as_unicorn(m, code, writes)
