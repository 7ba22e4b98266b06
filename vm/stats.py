"""``pyvm --stats``: instructions retired, wall time and MIPS of a run, on stderr."""

from __future__ import annotations

import time
from typing import TextIO


class RunClock:
    """Started when the guest starts; ``report`` prints one line after it ends."""

    def __init__(self) -> None:
        self.start = time.perf_counter()

    def report(self, steps: int, err: TextIO) -> None:
        seconds = time.perf_counter() - self.start
        mips = steps / seconds / 1e6 if seconds > 0 else 0.0
        # three significant digits, however short the run: never "0.00 MIPS"
        print(f"pyvm: {steps} instructions in {_sig(seconds)} s: {_sig(mips)} MIPS",
              file=err)


def _sig(value: float) -> str:
    """``value`` to three significant digits, without an exponent (0.000123, 45.6)."""
    if value <= 0:
        return "0"
    import math
    decimals = max(0, 2 - math.floor(math.log10(value)))
    return f"{value:.{decimals}f}"
