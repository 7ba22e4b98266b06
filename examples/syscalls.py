"""A system-call logger, like strace: run a Linux i386 program (ELF, flat binary or .s
source) and print each ``int 0x80`` call with its arguments, then the program's output.

    python examples/syscalls.py samples/hello.s
"""

from __future__ import annotations

import sys

import vm

NAMES = {1: "exit", 3: "read", 4: "write", 5: "open", 6: "close", 45: "brk",
         90: "mmap", 91: "munmap", 122: "uname", 146: "writev", 192: "mmap2",
         243: "set_thread_area", 252: "exit_group", 258: "set_tid_address"}
ARGS = ("ebx", "ecx", "edx", "esi", "edi")


def main(argv: list[str]) -> int:
    if not argv:
        print(__doc__, file=sys.stderr)
        return 2
    log = []

    def on_int(m, vector: int, software: bool) -> bool:
        number = m.reg("eax")
        name = NAMES.get(number, f"syscall_{number}")
        args = [m.reg(r) for r in ARGS[:3 if name != "exit" else 1]]
        shown = ", ".join(str(a) if a < 0x10000 else hex(a) for a in args)
        log.append(f"{name}({shown})")
        return False                    # not handled here: the kernel carries it out

    def setup(m) -> None:
        if hasattr(m, "hook_interrupt"):
            m.hook_interrupt(on_int, 0x80, 0x81)
    result = vm.run(argv[0], args=argv[1:], setup=setup)
    for line in log:
        print(line)
    print(f"-- status {result.status}, output:")
    print(result.stdout.decode("utf-8", "replace"), end="")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
