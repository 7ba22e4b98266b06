"""ELF32 objects byte-identical to nasm's: symbol types, sizes, visibility and binding
from `global name:spec`, %pragma gprefix/lprefix, bin-only section attributes."""

from __future__ import annotations

import subprocess

import pytest
from conftest import require_tool
from nasm_parity import diagnostics
from test_asm_helpers import write

from asm import cli

CASES = {
    "symbol-specials": "global f:function, d:data, h:function hidden, w:data (w_end - w)\n"
                       "global p:protected, i:internal\nglobal wk:weak\nsection .text\n"
                       "f: ret\nh: nop\np: nop\ni: nop\nwk: nop\nsection .data\nd: dd 1\n"
                       "w: dd 1,2\nw_end:\n",
    "size-forward": "global f:function (f.end - f)\nf: nop\nnop\n.end:\n",
    "object-notype": "global a:object, b:notype, c:function\na: db 1\nb: db 2\nc: ret\n",
    "gprefix": "%pragma elf gprefix _\n%pragma elf lprefix L_\nglobal f\nextern g\n"
               "f: call g\nloc: ret\n",
    "output-prefix": "%pragma output lprefix L\nglobal f\nf: ret\nl: ret\n",
    "postfix-ignored": "%pragma elf gpostfix @1\n%pragma output lpostfix _x\nglobal f\n"
                       "f: ret\nl: ret\n",
    "empty-text": "section .data\ndb 1\n",
    "no-sections": "global x\n",
    "bin-attributes": "section .text start=5 vstart=3 vfollows=x\nnop\n",
    "self-follows": "section .text follows=.text\nnop\n",
    "common-alignment": "common s 4:4\ncommon t 4\nCOMMON u 16:8\n",
    "common-bad-alignment": "common s 4:3\n",
    "attributes-align": "section .data write\ndb 1\nsection .bss foo\nresb 1\n"
                        "section .rodata align=8 progbits\ndb 2\nsection .text\nnop\n"
                        "section .text exec\nnop\nsection mys exec\nnop\n",
    # a relative branch to an absolute address: a PC-relative relocation against symbol 0
    "branch-absolute-32": "bits 32\ng equ 1234\njmp g\ncall g\njz g\njmp near g\n"
                          "jmp 1234+h\nh equ 3\ncall 0x100\njmp -5\njmp 0xffffffff\n"
                          "jmp dword 5\njmp strict 5\nl: jmp l\njmp $$+2\n",
    "branch-absolute-short": "bits 32\ng equ 1234\njmp short g\nloop 5\njecxz g\n"
                             "jmp short 5\n",
    "branch-absolute-16": "bits 16\ng equ 1234\njmp g\ncall g\njz g\nloop g\njcxz g\n"
                          "jmp dword 0x12345\ncall word 5\njmp short 0x300\n",
    "branch-absolute-sections": "absolute 0x300\nlab: resb 1\nsection .data\njmp 5\n"
                                "section .text\njmp lab\ncall lab\njmp 0\n",
}


@pytest.mark.parametrize("name", [n for n in CASES if n.startswith("branch-absolute")])
def test_branch_to_absolute_relocations(tmp_path, name):
    """readelf's view of the relocations (type, symbol 0, field) equals nasm's."""
    exe = require_tool("nasm")
    readelf = require_tool("readelf")
    src = write(tmp_path, "t.asm", CASES[name])
    subprocess.run([exe, "-f", "elf32", str(src), "-o", str(tmp_path / "n.o")], check=True)
    assert cli.run(str(src), fmt="elf32", output=str(tmp_path / "p.o")) == 0
    shown = [subprocess.run([readelf, "-r", "-x", ".text", str(tmp_path / o)],
                            capture_output=True, text=True, check=True).stdout
             for o in ("n.o", "p.o")]
    assert "R_386_PC" in shown[0]
    assert shown[1] == shown[0]


@pytest.mark.parametrize("name", list(CASES))
def test_elf_parity(tmp_path, name):
    exe = require_tool("nasm")
    src = write(tmp_path, "t.asm", CASES[name])
    n = subprocess.run([exe, "-f", "elf32", str(src), "-o", str(tmp_path / "n.o")],
                       capture_output=True, text=True, cwd=tmp_path)
    import io
    err = io.StringIO()
    status = cli.run(str(src), fmt="elf32", output=str(tmp_path / "p.o"), stderr=err)
    assert status == n.returncode
    assert diagnostics(err.getvalue()) == diagnostics(n.stderr)
    if status == 0:
        assert (tmp_path / "p.o").read_bytes() == (tmp_path / "n.o").read_bytes()


def test_self_following_section_in_bin(tmp_path):
    exe = require_tool("nasm")
    src = write(tmp_path, "t.asm", "section .text follows=.text\nnop\n")
    n = subprocess.run([exe, "-f", "bin", str(src), "-o", str(tmp_path / "n.bin")],
                       capture_output=True, text=True)
    import io
    err = io.StringIO()
    status = cli.run(str(src), fmt="bin", output=str(tmp_path / "p.bin"), stderr=err)
    assert n.returncode == status == 1
    assert "is self following" in n.stderr and "is self following" in err.getvalue()
    assert "internal error" not in err.getvalue()
