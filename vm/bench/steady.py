"""The real programs' steady state (``python -m vm.bench --steady K``): how fast pyvm
runs a program's instructions once its code is translated and, under PyPy, compiled.

A run of the real suite (vm/bench/real.py) is mostly fixed cost under PyPy: glibc's
start-up, translating every block (with the JIT held off), JIT tracing. So each program
runs twice here, on its usual input and on one ``K`` times as large (a C program's count
argument, the busybox text's lines), both outputs checked against the native runs, and
the report gives the CPU time of each child process (user + system: unlike the wall
time ``--stats`` prints, it does not count the minutes another process had the CPU) and
the *marginal* rate, the extra instructions over the extra CPU time: what the code runs
at once warm. The fixed cost is the 1x run's CPU time less its instructions at that rate.
"""

from __future__ import annotations

import platform
import resource
import statistics
import sys
import time
from typing import Callable, List, Optional

from vm.bench.real import Skip, programs, run_native, run_pyvm


def _cpu_children() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def measure_cpu(argv: List[str], stdin: bytes, repeat: int) -> tuple:
    """(instructions, median CPU seconds) of ``repeat`` pyvm runs, each output checked
    against the native run's."""
    expected = run_native(argv, stdin)
    steps, cpu = 0, []
    for _ in range(repeat):
        c0 = _cpu_children()
        out, steps, _ = run_pyvm(argv, stdin)
        cpu.append(_cpu_children() - c0)
        if out != expected:
            raise RuntimeError(f"output differs from the native run: {out[:120]!r} "
                               f"instead of {expected[:120]!r}")
    return steps, statistics.median(cpu)


def marginal(small: tuple, large: tuple) -> float:
    """MIPS of the instructions the large run adds: (steps, cpu) pairs."""
    steps, cpu = large[0] - small[0], large[1] - small[1]
    return steps / cpu / 1e6 if cpu > 0 and steps > 0 else 0.0


def run_steady(selected=None, scale: int = 5, repeat: int = 1,
               json_file: Optional[str] = None, report: Callable = print,
               quick: bool = False) -> dict:
    """Each selected program at 1x and ``scale``x its input (``quick``: the small
    inputs, for the tests); one line each and a record (written to ``json_file``)."""
    from vm.bench import geomean, save_json
    impl = f"{platform.python_implementation()} {platform.python_version()}"
    report(f"{impl}: steady state ({'quick' if quick else 'full'} inputs and {scale}x, median of {repeat}, CPU time "
           f"of the child, code cache off)")
    rows, skipped = [], {}
    for (name, _desc, argv1, stdin1), (_, _, argvk, stdink) in zip(programs(quick),
                                                                  programs(quick, scale)):
        if selected and name not in selected:
            continue
        try:
            small = measure_cpu(argv1(), stdin1, repeat)
            large = measure_cpu(argvk(), stdink, repeat)
        except Skip as e:
            skipped[name] = str(e)
            report(f"{name:<10} skipped: {e}")
            continue
        except RuntimeError as e:
            raise RuntimeError(f"{name}: {e}") from None
        rate = marginal(small, large)
        fixed = small[1] - small[0] / rate / 1e6 if rate else 0.0
        row = {"name": name, "instructions": small[0], "cpu_seconds": round(small[1], 4),
               "mips": round(small[0] / small[1] / 1e6, 3),
               "large_instructions": large[0], "large_cpu_seconds": round(large[1], 4),
               "large_mips": round(large[0] / large[1] / 1e6, 3),
               "steady_mips": round(rate, 3), "fixed_seconds": round(fixed, 4)}
        rows.append(row)
        report(f"{name:<10} {small[0]:>12,} instr {small[1]:6.2f} s {row['mips']:7.2f} MIPS | "
               f"{scale}x {large[0]:>13,} instr {large[1]:6.2f} s {row['large_mips']:7.2f} MIPS"
               f" | steady {rate:7.2f} MIPS, fixed {fixed:5.2f} s")
    g = {k: geomean([r[k] for r in rows]) for k in ("mips", "large_mips", "steady_mips")}
    report(f"{'geomean':<10} {g['mips']:>36.2f} MIPS | {g['large_mips']:>40.2f} MIPS | "
           f"steady {g['steady_mips']:7.2f} MIPS")
    record = {"python": impl, "executable": sys.executable, "machine": platform.machine(),
              "time": time.strftime("%Y-%m-%dT%H:%M:%S"), "quick": quick, "scale": scale, "repeat": repeat,
              "programs": rows, "geomean": {k: round(v, 3) for k, v in g.items()},
              "skipped": skipped}
    if json_file:
        save_json(json_file, record)
    return record
