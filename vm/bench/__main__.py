"""``python -m vm.bench [options] [NAME...]``: the benchmark without the click-based CLI
(PyPy). Options as ``pyvm-tools bench``: --real, --quick, --repeat N, --json FILE,
--debug-overhead, --asm [LINES] (with --python EXE, --rep-count N); and --steady K:
the real programs' steady state, each also on a K times larger input (vm/bench/steady.py)."""

import argparse
import platform
import sys

from vm.bench import run_all


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m vm.bench")
    ap.add_argument("names", nargs="*")
    ap.add_argument("--real", action="store_true", help="the real-program suite")
    ap.add_argument("--quick", action="store_true", help="small inputs (real suite)")
    ap.add_argument("--repeat", type=int, default=None)
    ap.add_argument("--asm", nargs="?", type=int, const=100_000, default=None,
                    metavar="LINES", help="pyasm against nasm (see vm/bench/assembler.py)")
    ap.add_argument("--python", action="append", default=[], metavar="EXE",
                    help="with --asm: run pyasm under this interpreter (repeatable)")
    ap.add_argument("--rep-count", type=int, default=1_000_000)
    ap.add_argument("--json")
    ap.add_argument("--debug-overhead", action="store_true")
    ap.add_argument("--steady", type=int, default=None, metavar="K",
                    help="real programs at 1x and Kx input: CPU time and marginal MIPS")
    ns = ap.parse_args(argv)
    if ns.steady is not None and ns.steady < 2:
        ap.error("--steady needs K >= 2")
    if ns.asm is not None and ns.asm < 10:
        ap.error("--asm needs at least 10 lines")
    if ns.names and (ns.real or ns.steady is not None):
        from vm.bench.real import names
        unknown = [n for n in ns.names if n not in names()]
        if unknown:     # (a misspelt name ran nothing and printed a geomean of 0)
            ap.error(f"no real program {unknown[0]!r} (there are: {', '.join(names())})")
    try:
        return _run(ns)
    except RuntimeError as e:       # a program that failed, a --json file not written
        print(f"python -m vm.bench: error: {e}", file=sys.stderr)
        return 1


def _run(ns: argparse.Namespace) -> int:
    if ns.asm is not None:
        from vm.bench.assembler import run as asm_run
        return asm_run(ns.asm, print, repeat=max(ns.repeat or 3, 1), pythons=ns.python,
                       rep_count=max(ns.rep_count, 0))
    ns.repeat = ns.repeat or 1
    if ns.debug_overhead:
        from vm.bench.debugcost import run as debug_run
        debug_run(ns.names or None, ns.quick, max(ns.repeat, 1), ns.json)
        return 0
    if ns.steady is not None:
        from vm.bench.steady import run_steady
        run_steady(ns.names or None, ns.steady, max(ns.repeat, 1), ns.json, quick=ns.quick)
        return 0
    if ns.real:
        from vm.bench.real import run_suite
        run_suite(ns.names or None, ns.quick, max(ns.repeat, 1), ns.json)
        return 0
    print(f"{platform.python_implementation()} {platform.python_version()}")
    run_all(ns.names or None)
    return 0


if __name__ == "__main__":
    sys.exit(main())
