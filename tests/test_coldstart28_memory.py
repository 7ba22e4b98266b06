"""Memory.set_unreadable keeps ``rf`` (the read fast path's per-page flag) as the module
docstring defines it, rf[p] = unreadable[p] | unreadable[p + 1], now written at the
range's two ends only (the big-integer OR over the whole span was ~10 ms of a glibc hello
world). Oracle: an independent model, a set of unreadable pages, against which every read
(straddling page ends included) must succeed or fault at its first unreadable byte."""

from __future__ import annotations

import random

import pytest

from vm.x86.faults import MemoryFault
from vm.x86.memory import PAGE_SIZE, Memory

PAGES = 24


def _check(mem: Memory, bad: set) -> None:
    ur, rf = mem.unreadable, mem.rf
    assert [p for p in range(PAGES) if ur[p]] == sorted(bad)
    assert [p for p in range(PAGES) if rf[p]] == \
        [p for p in range(PAGES) if p in bad or p + 1 in bad]
    for page in range(PAGES):
        for addr, n in ((page * PAGE_SIZE, 4), (page * PAGE_SIZE + PAGE_SIZE - 2, 4),
                        (page * PAGE_SIZE + 5, PAGE_SIZE)):
            if addr + n > PAGES * PAGE_SIZE:
                continue
            first = next((a for a in range(addr, addr + n) if a // PAGE_SIZE in bad), None)
            if first is None:
                assert mem.read(addr, n) == bytes(n)
            else:
                with pytest.raises(MemoryFault) as e:
                    mem.read(addr, n)
                assert e.value.address == first


@pytest.mark.parametrize("seed", range(6))
def test_set_unreadable_matches_a_page_model(seed):
    rng = random.Random(seed)
    mem = Memory(PAGES * PAGE_SIZE)
    bad: set = set()
    for _ in range(40):
        start = rng.randrange(PAGES * PAGE_SIZE)
        end = min(start + rng.choice((1, PAGE_SIZE, 3 * PAGE_SIZE, 9 * PAGE_SIZE)),
                  PAGES * PAGE_SIZE + PAGE_SIZE)       # (past the end: clipped)
        flag = rng.random() < 0.5
        mem.set_unreadable(start, end, flag)
        pages = set(range(start // PAGE_SIZE, min(-(-end // PAGE_SIZE), PAGES)))
        bad = bad | pages if flag else bad - pages
        _check(mem, bad)


def test_set_unreadable_keeps_flags_of_pages_outside_the_range():
    """A page flagged by a hook or a read watchpoint (vm/x86/hooks.py) two pages away
    from the range keeps its flag."""
    mem = Memory(PAGES * PAGE_SIZE)
    mem.rf[3] = 1
    mem.rf[20] = 1
    mem.set_unreadable(8 * PAGE_SIZE, 12 * PAGE_SIZE, True)
    mem.set_unreadable(9 * PAGE_SIZE, 10 * PAGE_SIZE, False)
    assert [p for p in range(PAGES) if mem.rf[p]] == [3, 7, 8, 9, 10, 11, 20]
    assert mem.read(9 * PAGE_SIZE, 8) == bytes(8)
