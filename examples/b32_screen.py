"""A B32 screen renderer driven from Python: assemble a B32 program, run it on the CPU
step by step, and print the 80x25 text screen (memory at $A000) as plain text, with
the number of screen writes seen.

    python examples/b32_screen.py samples/b32/hello.asm
"""

from __future__ import annotations

import sys
from pathlib import Path

import asm
from vm.b32.cpu import B32CPU

SCREEN, COLS, ROWS = 0xA000, 80, 25


def render(cpu: B32CPU) -> str:
    cells = cpu.read(SCREEN, COLS * ROWS * 2)
    lines = []
    for row in range(ROWS):
        chars = cells[row * COLS * 2:(row + 1) * COLS * 2:2]
        lines.append("".join(chr(c) if 32 <= c < 127 else " " for c in chars).rstrip())
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    if not argv:
        print(__doc__, file=sys.stderr)
        return 2
    program = asm.assemble(Path(argv[0]).read_text(), fmt="b32", filename=argv[0])
    cpu = B32CPU()
    cpu.load(program.data)
    before = bytes(cpu.read(SCREEN, COLS * ROWS * 2))
    steps = cpu.run(max_steps=1_000_000)
    after = cpu.read(SCREEN, COLS * ROWS * 2)
    changed = sum(a != b for a, b in zip(before, after))
    print(render(cpu))
    print(f"-- {steps} instructions, {changed} screen bytes changed, "
          f"registers {cpu.regs()}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
