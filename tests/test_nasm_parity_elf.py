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
}


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
