"""``pyvm-tools bench --asm``: pyasm against nasm on one generated source.

The source is deterministic and looks like real code: labels, short and near jumps
forward and back (so the jump-sizing passes have work), calls, every addressing form,
immediates of every width, data lines and local labels.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from typing import Callable, Optional

_BODY = (
    "mov eax, [ebx+{d}]",
    "add ecx, {imm}",
    "lea edx, [esi+edi*4+{d}]",
    "cmp eax, {small}",
    "jne L{fwd}",
    "push esi",
    "mov byte [edi+{d}], {small}",
    "sub dword [ebp-{d}], {imm}",
    "jmp L{back}",
    "xor eax, eax",
    "shl edx, 3",
    "call L{far}",
    "movzx eax, word [ecx+{d}]",
    "imul eax, ebx, {imm}",
    "pop esi",
    "test al, 1",
    "jz .skip",
    "inc dword [counter]",
    ".skip: ret",
    'db "text {d}", 0',
)


def generate(lines: int) -> str:
    """A ``bits 32`` source of exactly ``lines`` lines."""
    out = ["bits 32", "section .text"]
    n = len(_BODY)
    labels = (lines - 4) // n + 1
    i = 0
    while len(out) < lines - 2:
        k = i // n
        t = _BODY[i % n]
        line = t.format(d=(i * 37) % 2000, imm=(i * 7919) % 100000, small=i % 100,
                        fwd=min(k + 1, labels - 1), back=max(k - 1, 0),
                        far=(k * 131) % labels)
        if i % n == 0:
            line = f"L{k}: " + line
        out.append(line)
        i += 1
    out += ["section .bss", "counter: resd 1"]
    return "\n".join(out[:lines]) + "\n"


def run(lines: int, echo: Callable[[str], None]) -> int:
    """Assemble the same source with pyasm (in this process) and nasm; prints both."""
    from asm.cli import run as pyasm
    src = generate(lines)
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "bench.asm")
        with open(path, "w") as f:
            f.write(src)
        t0 = time.perf_counter()
        status = pyasm(path, fmt="elf32", output=os.path.join(tmp, "py.o"))
        ours = time.perf_counter() - t0
        if status:
            raise RuntimeError(f"pyasm failed on the generated source (status {status})")
        echo(f"{lines} lines, elf32 output")
        echo(f"pyasm  {ours:8.2f} s  {lines / ours:10,.0f} lines/s")
        theirs: Optional[float] = None
        nasm = shutil.which("nasm")
        if nasm is not None:
            t0 = time.perf_counter()
            subprocess.run([nasm, "-f", "elf32", path, "-o", os.path.join(tmp, "nasm.o")],
                           check=True)
            theirs = time.perf_counter() - t0
            echo(f"nasm   {theirs:8.2f} s  {lines / theirs:10,.0f} lines/s")
            echo(f"pyasm takes {ours / theirs:.1f}x nasm's time")
        else:
            echo("nasm not found: no comparison")
    return 0
