"""An instruction-count profiler: run an x86 program (ELF, flat binary or .s source) and
print the addresses that executed most often, with their instructions.

    python examples/profile.py samples/factorials.s [--top 10]
"""

from __future__ import annotations

import argparse
import collections
import sys

import vm
from asm.x86.decoder import decode
from vm.x86.trace import disassemble


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("program")
    ap.add_argument("args", nargs="*")
    ap.add_argument("--top", type=int, default=10)
    opts = ap.parse_args(argv)
    counts: collections.Counter = collections.Counter()
    machines = []

    def setup(m) -> None:
        if hasattr(m, "hook_code"):             # x86 only
            machines.append(m)
            m.hook_code(lambda m, address: counts.update((address,)))
    result = vm.run(opts.program, args=opts.args, setup=setup)
    sys.stdout.buffer.write(result.stdout)
    total = sum(counts.values())
    print(f"-- {total} instructions, status {result.status}; hottest {opts.top}:")
    m = machines[0] if machines else None
    for address, n in counts.most_common(opts.top):
        text = ""
        if m is not None:
            try:
                text = disassemble(decode(m.mem.data, address, m.cpu.bits, address),
                                   m.cpu.bits)
            except Exception:       # memory reused since: the address is still useful
                text = "?"
        print(f"{n:10d}  {100 * n / max(total, 1):5.1f}%  0x{address:08x}  {text}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
