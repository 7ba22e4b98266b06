"""``python -m vm.linux [options] PROGRAM [ARGS...]``: run a static i386 Linux program
without the click-based ``pyvm`` front end, e.g. under PyPy for heavy programs::

    PYTHONPATH=. pypy3 -m vm.linux --max-steps 1000000000 ./prog arg
"""

from __future__ import annotations

import sys

if __name__ == "__main__":
    from vm.x86.pypy_tuning import tune_gc
    tune_gc()                   # (PyPy) once more with a larger GC nursery
    import gc
    if hasattr(gc, "freeze"):   # (CPython) no passes over the modules imported now:
        gc.disable()            # quiet_gc turns it on

from vm.linux.runner import run_elf  # noqa: E402
from vm.options import RunOptions  # noqa: E402


def main(argv=None) -> int:
    import argparse  # (here, after tune_gc: PyPy's re-exec would import it twice)
    ap = argparse.ArgumentParser(prog="python -m vm.linux")
    ap.add_argument("program")
    ap.add_argument("args", nargs=argparse.REMAINDER)
    ap.add_argument("--max-steps", type=int)
    ap.add_argument("--trace", action="store_true")
    ap.add_argument("--trace-file")
    ap.add_argument("--regs", action="store_true")
    ap.add_argument("--stats", action="store_true",
                    help="print instructions, seconds and MIPS on stderr at exit")
    ap.add_argument("--env", action="append", default=[])
    ap.add_argument("--clear-env", action="store_true")
    ap.add_argument("--root")
    ap.add_argument("--allow-write", action="append", default=[])
    ap.add_argument("--seed", type=int, help="the guest's random bytes from this seed")
    ns = ap.parse_args(argv)
    try:
        with open(ns.program, "rb") as f:
            data = f.read()
    except OSError as e:
        print(f"pyvm: {ns.program}: {e.strerror or e}", file=sys.stderr)
        return 1
    opts = RunOptions(args=tuple(ns.args), max_steps=ns.max_steps, regs=ns.regs, stats=ns.stats,
                      trace=ns.trace, trace_file=ns.trace_file, env=ns.env,
                      clear_env=ns.clear_env, root=ns.root, allow_write=ns.allow_write,
                      seed=ns.seed)
    return run_elf(ns.program, data, opts)


if __name__ == "__main__":
    from vm.startup import run_entry
    run_entry(main)
