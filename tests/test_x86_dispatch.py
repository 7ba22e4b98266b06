"""The dispatcher's loop (Machine._dispatch): a translation miss is the cache's KeyError,
so a KeyError raised while a block runs (from a hook) must reach the caller once, with
the state at the instruction that raised, not be taken for a miss (which would
translate and run the block again)."""

from __future__ import annotations

import pytest

from vm.x86.machine import Machine

# 0x00 mov ecx, 5 / 0x05 l: inc ebx / 0x06 int 0x80 / 0x08 loop l / 0x0a jmp $
CODE = bytes.fromhex("b905000000" "43" "cd80" "e2fb" "ebfe")


@pytest.mark.parametrize("tier0", [True, False])
def test_keyerror_from_a_hook_is_not_a_cache_miss(tier0):
    m = Machine("flat32", 1 << 20)
    m.load(0, CODE)
    m.set_reg("eip", 0)
    m.set_reg("esp", 0x8000)
    if not tier0:
        m.tr.tier0 = None       # (cold) real blocks from the start
    calls = []

    def hook(machine, vector, software):
        calls.append(vector)
        if len(calls) == 3:     # the third time: the block at l runs from the cache
            raise KeyError("from the hook")
        return True

    m.on_interrupt = hook
    with pytest.raises(KeyError, match="from the hook"):
        m.run(100)
    assert len(calls) == 3
    assert (m.eip, m.steps, m.reg("ebx"), m.reg("ecx")) == (0x06, 8, 3, 3)
    # the run goes on from the INT (handled now) to the end of the loop
    assert m.run(8).reason == "limit"
    assert len(calls) == 6
    assert (m.eip, m.steps, m.reg("ebx"), m.reg("ecx")) == (0x0A, 16, 5, 0)


def test_blocks_translated_on_a_miss_run_once():
    # a loop of 1,000 iterations: every block is a miss once, then a hit
    # mov ecx, 1000 / xor eax, eax / l: inc eax / loop l / jmp $
    code = bytes.fromhex("b9e8030000" "31c0" "40" "e2fd" "ebfe")
    m = Machine("flat32", 1 << 20)
    m.load(0, code)
    m.set_reg("eip", 0)
    assert m.run(2 + 2 * 1000).reason == "limit"
    assert (m.eip, m.reg("eax"), m.reg("ecx")) == (0x0A, 1000, 0)


def test_dispatch_stats_count_every_block_call():
    # PYVM_DISPATCH_STATS's counting cache: a loop of 1,000 iterations, run with real
    # blocks from the start (no first tier): every dispatch is a block of the loop
    from vm.x86.dispatchstats import KINDS, install
    # mov ecx, 1000 / xor eax, eax / l: inc eax / dec ecx / jnz l / jmp $
    code = bytes.fromhex("b9e8030000" "31c0" "40" "49" "75fc" "ebfe")
    m = Machine("flat32", 1 << 20)
    m.load(0, code)
    m.set_reg("eip", 0)
    m.tr.tier0 = None
    stats = install(m, at_exit=False)
    assert m.run(2 + 3 * 1000).reason == "limit"
    assert (m.eip, m.reg("eax"), m.reg("ecx")) == (0x0B, 1000, 0)
    stats._account()
    assert sum(stats.insns) == m.steps == 3002
    # the start (mov, xor, then the loop's first pass) and the loop as one block
    assert stats.calls[KINDS.index("block")] >= 1
    assert stats.calls[KINDS.index("loop block")] >= 1
    assert sum(stats.calls) <= 10, stats.calls
