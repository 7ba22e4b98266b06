"""A trace tree grows by several paths a translation (vm/x86/traces.py _add): a path
found twice is added with the paths found once since the trace was last translated
(interp's switch loop was translated 12 times for 13 paths, each time all its paths).
Eight cases through a jump table in a loop, stopped at step limits of odd lengths,
against Unicorn; the first pass of a tree that grew by several paths covers just
those (Translator.translate_trace's partial pass)."""

from __future__ import annotations

from flat32_harness import pyvm_state, unicorn_state
from test_x86_trace_onepass import _same, _sampled_loop

from vm.x86.compiler import Translator

DEFINED = 0xC5


def test_a_tree_grows_by_several_paths_in_one_translation(monkeypatch):
    top, done, emu, X, m = _sampled_loop(monkeypatch)
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
