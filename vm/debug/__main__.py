"""``python -m vm.debug [--gdb [HOST:]PORT] [options] PROGRAM [ARGS...]``."""

from __future__ import annotations

import argparse
import sys
from typing import List, Optional


def main(argv: Optional[List[str]] = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m vm.debug",
                                 description="Debug a program pyvm runs: commands on stdin, "
                                 "or a GDB remote stub with --gdb.")
    ap.add_argument("--gdb", metavar="[HOST:]PORT", help="serve the GDB remote protocol "
                    "(default host 127.0.0.1)")
    ap.add_argument("--input", metavar="FILE", help="the program's stdin (the debugger's "
                    "commands come from stdin)")
    ap.add_argument("--no-history", action="store_true",
                    help="no reverse execution (nothing recorded)")
    ap.add_argument("--format", dest="fmt", help="override format detection")
    ap.add_argument("--bits", type=int, choices=(16, 32), default=32,
                    help="flat binaries: 32 (Linux int 0x80) or 16 (BIOS)")
    ap.add_argument("--org", type=lambda s: int(s, 0), help="flat binary load address")
    ap.add_argument("program")
    ap.add_argument("args", nargs=argparse.REMAINDER)
    ns = ap.parse_args(argv)
    from formats import detect
    from formats.inputs import InputError, read_input
    from vm.options import RunOptions
    try:
        data = read_input(ns.program)       # (bounded, as every tool's input)
    except OSError as e:
        print(f"pyvm: {ns.program}: {e.strerror or e}", file=sys.stderr)
        return 1
    except InputError as e:
        print(f"pyvm: {ns.program}: {e}", file=sys.stderr)
        return 1
    opts = RunOptions(args=tuple(ns.args), bits=ns.bits, org=ns.org)
    kind = ns.fmt or detect(ns.program, data)
    from vm.debug import launch
    return launch(kind, ns.program, data, opts, gdb=ns.gdb, program_input=ns.input,
                  history=not ns.no_history)


if __name__ == "__main__":
    sys.exit(main())
