"""Helpers shared by the pyld / ELF tests: build inputs with the real tools, link with pyld
(in process, for speed) and with GNU ld, run the results natively."""

from __future__ import annotations

import contextlib
import io
import re
import subprocess
from pathlib import Path

from conftest import require_tool

from asm.link.cli import run as pyld_run

HERE = Path(__file__).resolve().parent
FREESTANDING = ["-m32", "-c", "-O2", "-fno-pie", "-ffreestanding", "-fno-stack-protector"]
PIC = ["-m32", "-c", "-O2", "-fpie", "-ffreestanding", "-fno-stack-protector"]


def nasm(source: str, out: Path, *flags: str) -> Path:
    """Assemble ``source`` (a file name under tests/link, or NASM text) with nasm -f elf32."""
    require_tool("nasm")
    src = HERE / source
    if "\n" in source or not src.is_file():
        src = out.with_suffix(".asm")
        src.write_text(source)
    # run where the source is so the object's file symbol is its bare name, as usual
    subprocess.run(["nasm", "-f", "elf32", *flags, src.name, "-o", str(Path(out).resolve())],
                   check=True, capture_output=True, cwd=src.parent)
    return out


def gcc_c(source: str, out: Path, flags=FREESTANDING) -> Path:
    require_tool("gcc")
    src = HERE / source
    subprocess.run(["gcc", *flags, str(src), "-o", str(out)], check=True, capture_output=True)
    return out


def libgcc() -> str:
    require_tool("gcc")
    path = subprocess.run(["gcc", "-m32", "-print-libgcc-file-name"], check=True,
                          capture_output=True, text=True).stdout.strip()
    assert Path(path).is_file(), f"gcc -m32 has no libgcc.a ({path}); is gcc-multilib there?"
    return path


def pyld(*args) -> tuple[int, str]:
    """Run pyld in this process; return (exit status, stderr)."""
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        status = pyld_run([str(a) for a in args])
    return status, err.getvalue()


def ld(*args) -> None:
    require_tool("ld")
    subprocess.run(["ld", "-m", "elf_i386", *[str(a) for a in args]], check=True,
                   capture_output=True)


def run_native(exe: Path) -> tuple[int, bytes]:
    proc = subprocess.run([str(exe)], capture_output=True, timeout=10)
    return proc.returncode, proc.stdout


def readelf(*args) -> str:
    require_tool("readelf")
    return subprocess.run(["readelf", *[str(a) for a in args]], check=True,
                          capture_output=True, text=True).stdout


_OFFSET_RULES = [
    (re.compile(r"(Start of section headers:\s+)\d+"), r"\1N"),
    (re.compile(r"at offset 0x[0-9a-f]+"), "at offset N"),
    # the Off column of ``readelf -S -W``: Addr Off Size
    (re.compile(r"(\s[0-9a-f]{8}) [0-9a-f]{6}( [0-9a-f]{6} [0-9a-f]{2} )"), r"\1 OFFSET\2"),
]


def without_offsets(text: str) -> str:
    """readelf output with file offsets masked (for comparing re-laid-out files)."""
    for pattern, repl in _OFFSET_RULES:
        text = pattern.sub(repl, text)
    return text
