"""NASM parity, round 11 mended (the review of 6fdaa9b): nasm 2.16 is the oracle for
the exit status, the diagnostics in order and, for ELF, readelf's section headers."""

from __future__ import annotations

import subprocess

import pytest
from nasm_parity import diagnostics_in_order
from test_asm_helpers import nasm, pyasm, write
from test_nasm_parity_leftovers9 import same

# ---- `$ptr` is a symbol, never the word NASM's scanner warns about (with -w+error=ptr
# a valid program failed)

PTR_ESCAPED = [
    "$ptr: dd $ptr\n", "$ptr equ 3\ndd $ptr\n", "$PTR: dd $Ptr\n$Ptr:\n",
    "mov eax, [$ptr]\n$ptr: dd 0\n", "ptr: dd $ptr\n", "$ptr: dd ptr\n",
    # guards: the word itself still warns, once where it is written
    "ptr: dd ptr\n", "db 'ptr' ; ptr\n",
]


@pytest.mark.parametrize("text", PTR_ESCAPED)
@pytest.mark.parametrize("fmt", ["bin", "elf32"])
def test_escaped_ptr_is_a_symbol(tmp_path, text, fmt):
    same(tmp_path, text, fmt)


def test_escaped_ptr_under_warning_as_error(tmp_path):
    src = write(tmp_path, "t.asm", "$ptr: dd $ptr\n")
    rc, _, nerr = nasm(src, "-w+error=ptr")
    status, _, perr = pyasm(src, out=tmp_path / "p.bin", warnings=["+error=ptr"])
    assert (rc, diagnostics_in_order(nerr)) == (status, diagnostics_in_order(perr)) == (0, [])


# ---- ELF sections: the array default (entsize and alignment 4) comes from an array
# TYPE word only (a flag word on .init_array leaves alignment 1); `merge` takes the
# name's entry size; a size word's `*N` wraps as NASM's (never an internal error); a
# redeclaration keeps the first declaration, grows the alignment, gives an entry size
# only where there was none and warns as NASM compares (the flags it names, the type,
# a different entry size)

ELF_SECTIONS = [
    "section .init_array write", "section .init_array alloc", "section .fini_array exec",
    "section .preinit_array nomerge", "section .init_array readonly",
    "section .fini_array strings", "section .init_array noalloc",
    "section .init_array merge", "section .init_array noalloc merge",
    "section .init_array nomerge merge", "section .init_array merge nostrings",
    "section .fini_array merge", "section foo init_array merge",
    "section .data dword*-1", "section .data dword*99999999999", "section .data qword*-3",
    "section .data dword*-1 merge", "section .data dword*999999999999999999999999",
    "section .data dword*-999999999999999999999999",
    "section .data dword*0x1ffffffffffffffff\nsection .data dword*0x1ffffffffffffffff",
    "section foo dword\nsection foo alloc", "section .data byte\nsection .data word",
    "section foo merge dword\nsection foo alloc", "section foo write\nsection foo alloc",
    "section foo\nsection foo qword", "section foo qword\nsection foo byte",
    "section foo byte\nsection foo qword", "section foo qword\nsection foo align=2",
    "section foo\nsection foo merge", "section foo strings\nsection foo merge",
    "section foo merge strings\nsection foo merge", "section .data align=16\nsection .data byte",
    "section foo progbits align=4\nsection foo nobits align=16",
    "section foo dword\nsection foo bogus",
    # guards
    "section .init_array", "section foo init_array", "section .init_array init_array",
    "section .data dword*0", "section foo merge", "section foo dword\nsection foo merge",
    "section foo align=8\nsection foo byte", "section foo dword\nsection foo dword",
    "section foo\nsection foo write", "section .bss\nsection .bss progbits",
    "section foo\nsection foo note",
]


def _headers(path) -> list:
    out = subprocess.run(["readelf", "-SW", str(path)], capture_output=True, text=True,
                         check=True).stdout
    return [line.split("]", 1)[1].split() for line in out.splitlines()
            if "]" in line and (" foo " in line or "_array " in line or " .data " in line
                                or " .bss " in line)]


@pytest.mark.parametrize("text", ELF_SECTIONS)
def test_elf_section_declarations(tmp_path, text):
    src = write(tmp_path, "t.asm", text + "\ndb 1\n")
    rc, _, nerr = nasm(src, "-f", "elf32", out=tmp_path / "n.o")
    status, _, perr = pyasm(src, out=tmp_path / "p.o", fmt="elf32")
    assert (rc, diagnostics_in_order(nerr)) == (status, diagnostics_in_order(perr)), perr
    if rc == 0:
        assert _headers(tmp_path / "p.o") == _headers(tmp_path / "n.o")


# ---- %aliases reads its first token only (`on off` is on); %unmacro reads its counts
# as %macro does (an inverted range clamped and reported, then that macro removed)

@pytest.mark.parametrize("text", [
    "%aliases on off\n", "%aliases on,\n", "%aliases\n", "%aliases on+1\n",
    "%aliases yes(1)\n", "%aliases off x\n",
    "%macro m 2-1\nnop\n%endmacro\n%unmacro m 2-1\nm\n",
    "%macro m 3-1\ndb 1\n%endmacro\n%unmacro m 3-2\nm 1,2,3\n",
    "%macro m 2-1+\nnop\n%endmacro\n%unmacro m 2-1+\nm 1,2\n",
    "%macro m 0\nnop\n%endmacro\n%unmacro m\nm\n", "%unmacro m 1 - 2\n",
    "%unmacro m 1 junk\n",
    # guards
    "%aliases 1 2\n", "%aliases x\n", "%aliases (1\n", "%unmacro\n", "%unmacro m x\n",
    "%macro m 1\nnop\n%endmacro\n%unmacro m 1.nolist\nm 1\n",
    "%macro m 2-1\nnop\n%endmacro\n%unmacro m 2-2\nm 1,2\n",
])
def test_aliases_and_unmacro(tmp_path, text):
    same(tmp_path, text)


# ---- %use fp's bfloat16(): float32's exponent with 7 mantissa bits, rounded as NASM
# (denormals, overflow to infinity with its warning, the special values)

def test_use_fp_bfloat16(tmp_path):
    values = ["1.5", "-2.0", "3.14159", "0.0", "-0.0", "1e38", "3.5e38", "1e-40", "1e-45",
              "Inf", "NaN", "SNaN", "65504.0", "0x1.8p3", "1.00390625", "1.01171875",
              "1.0078125", "2.998e8", "9.2e-41", "1.0e39"]
    same(tmp_path, "%use fp\n" + "".join(f"dw bfloat16({v})\n" for v in values))
