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
        print(f"pyvm: {steps} instructions in {seconds:.3f} s: {mips:.2f} MIPS", file=err)
