"""``python -m vm.debug.bench``: the cost of the debugger on the built-in benchmark
programs (vm/bench): a plain run, then the same program under the debugging core with
nothing set, with one breakpoint (never reached), with one watchpoint (on a page the
program does not write, and on one it writes all the time) and with the reverse
history recording."""

from __future__ import annotations

import sys
import time
from typing import Callable, List, Optional


def _machine(name: str):
    from vm.bench import program
    from vm.linux.flat import LinuxFlat
    from vm.x86.machine import Machine
    m = Machine("flat32", 16 << 20)
    code = program(name)
    m.load(0, code)
    m.set_reg("eip", 0)
    m.set_reg("esp", 16 << 20)
    LinuxFlat(m, 0x800000, 0xF00000)
    return m, len(code)


def _time(name: str, setup: Optional[Callable] = None, history: bool = False) -> float:
    from vm.debug.core import X86Debugger
    from vm.debug.targets import FlatTarget, Symbols
    m, size = _machine(name)
    if setup is None:
        t0 = time.perf_counter()
        stop = m.run(200_000_000)
        assert stop.reason == "exit", stop
        return time.perf_counter() - t0
    d = X86Debugger(FlatTarget(m, Symbols(), name), history=history)
    setup(d, size)
    t0 = time.perf_counter()
    ev = d.cont()
    assert ev.reason == "exited", ev
    return time.perf_counter() - t0


CASES = [
    ("core attached, nothing set", lambda d, n: None, False),
    ("one breakpoint (not reached)", lambda d, n: d.add_breakpoint(n + 0x100), False),
    ("one watchpoint, quiet page", lambda d, n: d.add_watchpoint(0x600000, 4), False),
    ("one watchpoint, stack page", lambda d, n: d.add_watchpoint(0xFFF000, 4), False),
    ("reverse history recording", lambda d, n: None, True),
]


def main(argv: List[str]) -> int:
    names = argv or ["alu", "sieve", "bytesum", "calls"]
    print(f"{'program':<10}{'plain s':>9}  " + "  ".join(f"{c[0]:>30}" for c in CASES))
    for name in names:
        base = min(_time(name) for _ in range(2))
        cells = []
        for _, setup, hist in CASES:
            t = min(_time(name, setup, hist) for _ in range(2))
            cells.append(f"{t:>8.3f}s ({100 * (t / base - 1):+6.1f}%)".rjust(30))
        print(f"{name:<10}{base:>8.3f}s  " + "  ".join(cells))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
