"""formats.elf.dwarfline against readelf's decoded line table: NASM's DWARF 2 objects
(pyasm writes the same bytes) and gcc's DWARF 3, 4 and 5 (directories, several files,
DWARF 5's described file tables with .debug_line_str names...)."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest
from conftest import require_tool

from formats.elf import read_elf
from formats.elf.dwarfline import line_rows

ROOT = Path(__file__).resolve().parent.parent
_ROW = re.compile(r"^(\S+)\s+(\d+)\s+(0x[0-9a-f]+|0)\s", re.M)


def _readelf_rows(path: Path) -> list:
    exe = require_tool("readelf")
    out = subprocess.run([exe, "--debug-dump=decodedline", str(path)], capture_output=True,
                         text=True, check=True).stdout
    return [(os.path.basename(f), int(n), int(a, 16)) for f, n, a in _ROW.findall(out)]


def _our_rows(path: Path) -> list:
    elf = read_elf(path.read_bytes())
    strs = [elf.section(n) for n in (".debug_line_str", ".debug_str")]
    rows = line_rows(bytes(elf.section(".debug_line").data),
                     *(bytes(s.data) if s is not None else b"" for s in strs))
    return [(os.path.basename(r.file), r.line, r.address) for r in rows
            if not r.end_sequence]


@pytest.mark.parametrize("version", ["-gdwarf-3", "-gdwarf-4", "-gdwarf-5"])
def test_gcc_line_tables(tmp_path, version):
    gcc = require_tool("gcc")
    obj = tmp_path / "prog.o"
    subprocess.run([gcc, "-m32", "-O1", version, "-c", str(ROOT / "tests/debug/prog.c"),
                    "-o", str(obj)], check=True, timeout=120)
    expected = _readelf_rows(obj)
    assert len(expected) > 10
    assert _our_rows(obj) == expected


def test_nasm_line_table(tmp_path):
    nasm = require_tool("nasm")
    (tmp_path / "inc.inc").write_text("    inc eax\n%macro m 0\n    nop\n%endmacro\n")
    (tmp_path / "t.asm").write_text("section .text\n    mov eax, 1\n%include \"inc.inc\"\n"
                                    + "\n" * 30 + "    m\n    times 300 nop\n    ret\n"
                                    "section .t2 exec\n    nop\n")
    subprocess.run([nasm, "-f", "elf32", "-g", "t.asm", "-o", "t.o"], cwd=tmp_path,
                   check=True)
    expected = _readelf_rows(tmp_path / "t.o")
    assert _our_rows(tmp_path / "t.o") == expected
    assert ("inc.inc", 3, 6) in expected


def test_damaged_line_tables_never_raise(tmp_path):
    """A debugger reads whatever a program carries: damaged tables decode partly or not
    at all, never with an exception."""
    import random
    nasm = require_tool("nasm")
    (tmp_path / "t.asm").write_text("section .text\n    nop\n%rep 20\n    inc eax\n%endrep\n")
    subprocess.run([nasm, "-f", "elf32", "-g", "t.asm", "-o", "t.o"], cwd=tmp_path,
                   check=True)
    good = bytes(read_elf((tmp_path / "t.o").read_bytes()).section(".debug_line").data)
    five = bytearray(good)
    five[4] = 5                         # claims DWARF 5: other header, described tables
    r = random.Random(7)
    for src in (good, bytes(five)):
        for _ in range(1500):
            data = bytearray(src)
            for _ in range(r.randint(1, 6)):
                data[r.randrange(len(data))] = r.randrange(256)
            line_rows(bytes(data), b"x\0", b"")
