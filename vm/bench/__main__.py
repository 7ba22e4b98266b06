"""``python -m vm.bench [options] [NAME...]``: the benchmark without the click-based CLI
(PyPy). Options as ``pyvm-tools bench``: --real, --quick, --repeat N, --json FILE,
--debug-overhead."""

import argparse
import platform
import sys

from vm.bench import run_all


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m vm.bench")
    ap.add_argument("names", nargs="*")
    ap.add_argument("--real", action="store_true", help="the real-program suite")
    ap.add_argument("--quick", action="store_true", help="small inputs (real suite)")
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--json")
    ap.add_argument("--debug-overhead", action="store_true")
    ns = ap.parse_args(argv)
    if ns.debug_overhead:
        from vm.bench.debugcost import run as debug_run
        debug_run(ns.names or None, ns.quick, max(ns.repeat, 1), ns.json)
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
