"""A trace tree grows by several paths a translation (vm/x86/traces.py _add): a path
found twice is added with the paths found once since the trace was last translated
(interp's switch loop was translated 12 times for 13 paths, each time all its paths).
Eight cases through a jump table in a loop, stopped at step limits of odd lengths,
against Unicorn; the first pass of a tree that grew by several paths covers just
those (Translator.translate_trace's partial pass)."""

from __future__ import annotations

import struct

from flat32_harness import pyvm, pyvm_state, unicorn, unicorn_state
from test_x86_cpu_asm import asm
from test_x86_trace_onepass import LOOP, _no_code_cache, _same

from vm.x86 import traces
from vm.x86.compiler import Translator

CODE, STACK, MEMORY = 0x1000, 0x80000, 0x100000
DEFINED = 0xC5


def test_a_tree_grows_by_several_paths_in_one_translation(monkeypatch):
    _no_code_cache(monkeypatch)
    code = asm(LOOP, 32, CODE)
    top, done = struct.unpack_from("<2I", code, len(code) - 8)
    emu, X = unicorn(code, CODE, STACK, MEMORY)
    emu.steps = 0
    m = pyvm(code, CODE, STACK, MEMORY)
    m.tr.tier0 = None       # (cold) real blocks from the start
    monkeypatch.setattr(traces, "SAMPLE", 23)         # samples from the start, often
    monkeypatch.setattr(traces, "BACKOFF", 1)
    grown: list = []        # paths of the loop trace at top after each translation
    translate_trace = Translator.translate_trace

    def counting_trace(self, key, path):
        fn = translate_trace(self, key, path)
        if key == top and fn.meta.loop:
            grown.append(len(fn.meta.paths))
        return fn

    monkeypatch.setattr(Translator, "translate_trace", counting_trace)
    for n in [1, 5, 40, 3, 97, 13, 250, 7, 64, 31, 500, 11, 29, 120, 2000] + [1] * 30:
        assert m.run(n).reason == "limit"
        _same(m, emu, X)
    assert m.run(1_000_000).reason == "fault" and m.eip == done + 1
    emu.emu_start(emu.reg_read(X.UC_X86_REG_EIP), done)
    assert dict(pyvm_state(m, DEFINED), eip=done) == unicorn_state(emu, X, DEFINED)
    assert m.read(0x9000, 12000) == bytes(emu.mem_read(0x9000, 12000))
    steps = [b - a for a, b in zip(grown, grown[1:])]
    assert grown and grown[-1] >= 6, grown
    assert max(steps, default=0) >= 2, f"one path a translation: {grown}"
