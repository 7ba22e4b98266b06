"""``pyvm-tools bench --debug-overhead``: what the debugging core costs on a real program.

One of the real benchmark programs (qsort by default; see vm/bench/real.py) runs in a
child process four ways: plain (the kernel's own loop), under the debugging core with
nothing set, with one breakpoint that is never reached (``abort``), and with one write
watchpoint on data the program never writes (``_IO_2_1_stdin_``). Each is the median of
``repeat`` runs; the ratios are to the plain run. (``python -m vm.debug.bench`` does the
same on the loop kernels, with history recording too.)
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from typing import Callable, Optional

MODES = (
    ("plain", "plain run"),
    ("core", "debugging core, nothing set"),
    ("break", "one breakpoint, never reached"),
    ("watch", "one watchpoint, quiet data"),
)


def child(mode: str, path: str, args) -> None:
    """In the child: run the program one way; print the seconds on stderr."""
    from vm.debug.core import make_debugger
    from vm.debug.targets import load
    from vm.options import RunOptions
    with open(path, "rb") as f:
        data = f.read()
    target = load("elf", path, data, RunOptions(args=tuple(args)))
    t0 = time.perf_counter()
    if mode == "plain":
        target.kernel.run()
    else:
        d = make_debugger(target, history=False)
        if mode == "break":
            d.add_breakpoint(target.symbols.lookup("abort"))
        elif mode == "watch":
            d.add_watchpoint(target.symbols.lookup("_IO_2_1_stdin_"), 4)
        ev = d.cont()
        if ev.reason != "exited":
            raise SystemExit(f"stopped: {ev.reason}")
    print(f"seconds {time.perf_counter() - t0:.6f}", file=sys.stderr)


def run(selected=None, quick: bool = False, repeat: int = 3, json_file: Optional[str] = None,
        report: Callable = print) -> dict:
    import platform

    from vm.bench import real, save_json
    names = selected or ["qsort"]
    out = {"python": f"{platform.python_implementation()} {platform.python_version()}",
           "programs": {}}
    report(f"{out['python']}: debugger overhead (median of {repeat})")
    for name in names:
        full, short = next(((f, s) for n, f, s, _ in real.C_PROGRAMS if n == name),
                           (None, None))
        if full is None:
            raise RuntimeError(f"--debug-overhead takes a C program, not {name}")
        exe = str(real.build(name))
        args = short if quick else full
        runs: dict = {mode: [] for mode, _desc in MODES}
        for _ in range(repeat):
            # the modes take turns, so a burst of load on the machine hits all of them
            for mode, _desc in MODES:
                proc = subprocess.run(
                    [sys.executable, "-m", "vm.bench.debugcost", mode, exe, *args],
                    capture_output=True, env=real._env(), timeout=3600)
                err = proc.stderr.decode(errors="replace").strip().splitlines()
                if proc.returncode or not err or not err[-1].startswith("seconds "):
                    raise RuntimeError(f"{name} ({mode}): {err[-1:] or proc.returncode}")
                runs[mode].append(float(err[-1].split()[1]))
        times = {mode: statistics.median(r) for mode, r in runs.items()}
        for mode, desc in MODES:
            ratio = times[mode] / times["plain"]
            report(f"{name:<10} {desc:<32} {times[mode]:8.3f} s  x{ratio:5.2f}")
        out["programs"][name] = {m: round(t, 4) for m, t in times.items()}
    if json_file:
        save_json(json_file, out)
    return out


if __name__ == "__main__":
    os.environ.setdefault("PYVM_CODE_CACHE", "0")
    child(sys.argv[1], sys.argv[2], sys.argv[3:])
