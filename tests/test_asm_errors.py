"""Errors: whatever nasm rejects, pyasm rejects too, at the same line, with exit status 1,
``file:line: error:`` on stderr and no output file left behind."""

from __future__ import annotations

import pytest
from test_asm_helpers import error_lines, nasm, pyasm, split_cases, write

CASES = split_cases(r"""
db 1
dd undefined_sym
----
times -1 db 0
----
db 1/0
----
db 10 %% 0
----
db "abc
----
db `abc
----
dd label*2
label:
----
dw label/2
label:
----
dd label >> 1
label:
----
x: db 1
x: db 2
----
y equ 1
y equ 2
----
extern foo
dd foo
----
common buf 16
----
%error custom message
----
%fatal stop here
db undefined
----
%include "nonexistent.inc"
----
incbin "nonexistent.bin"
----
db 1 +
----
%macro m 1
db %1
db undefined_sym
%endmacro
m 1
m 2
----
%macro outer 0
db 1
inner
%endmacro
%macro inner 0
dw undefined_a
%endmacro
outer
----
%rep 2
dw undefined2
%endrep
----
times fwd db 0
fwd equ 3
----
%if label
%endif
label:
----
%if
%endif
----
%endif
----
%if 1
db 1
----
%macro m 0
db 1
----
%rmacro r 0
r
%endmacro
r
----
%rep 2000000
%endrep
----
dd 1.5 + 1
----
section .data nobits
db 1
----
%assign x
----
org 5
org 6
----
bits 17
----
eax: db 1
----
%define
----
%macro
----
[foo]
----
bits 32
mov eax, ebx, ecx
----
bits 32
mov [eax], 1
----
bits 32
jmp short far_away
times 200 nop
far_away:
----
bits 32
mov al, 0x100 + undefined_thing
----
bits 32
add eax, [ebx*3+ecx*2]
----
bits 16
mov ax, [eax+ebx+ecx]
----
bits 32
movzx eax, ebx
----
resb undefined
----
absolute 0
db 1
----
%assign n 1/0
----
%substr s "abc"
----
%strlen n 5
----
db 1
db 2
dq undefined_at_end
""")


@pytest.mark.parametrize("name,text", CASES, ids=[c[0] for c in CASES])
def test_rejected_like_nasm(tmp_path, name, text):
    src = write(tmp_path, "e.s", text)
    rc, _, nerr = nasm(src)
    assert rc != 0, "nasm accepted the source"
    status, data, perr = pyasm(src)
    assert status == 1, perr
    assert data is None and not (tmp_path / "e.pyasm.bin").exists()
    assert "Traceback" not in perr
    want = error_lines(nerr)
    got = error_lines(perr)
    assert want and got, (nerr, perr)
    assert want[0] in got, (nerr, perr)
    for line in perr.splitlines():
        # NASM's `file:line: error:` lines; pyasm's source and caret lines after them
        assert line.startswith(str(src)) or line.startswith("    "), line


def test_error_format_and_macro_notes(tmp_path):
    src = write(tmp_path, "n.s", "%macro m 0\ndb nope\n%endmacro\n\nm\n")
    status, _, err = pyasm(src)
    assert status == 1
    lines = err.splitlines()
    assert lines[0] == f"{src}:5: error: symbol `nope' not defined"
    assert lines[1] == "    m"          # the source line, then a caret under the token
    assert lines[2] == "    ^"
    assert lines[3] == f"{src}:2: ... from macro `m' defined here"


def test_several_errors_in_one_run(tmp_path):
    src = write(tmp_path, "s.s", "db a1\ndb 2\ndb a2\ndw a3\n")
    rc, _, nerr = nasm(src)
    status, _, perr = pyasm(src)
    assert rc != 0 and status == 1
    assert error_lines(perr) == error_lines(nerr) == [1, 3, 4]


def test_failed_run_removes_the_output_as_nasm_does(tmp_path):
    """NASM deletes its output file when assembly fails, an older one included, so a
    makefile never sees a stale object as up to date; pyasm does the same. The real
    nasm is the oracle."""
    import io
    import subprocess

    from conftest import require_tool

    from asm import cli
    nasm = require_tool("nasm")
    src = write(tmp_path, "c.s", "db undefined\n")
    for tool in ("nasm", "pyasm"):
        out = tmp_path / f"{tool}.bin"
        out.write_bytes(b"precious")
        if tool == "nasm":
            status = subprocess.run([nasm, "-f", "bin", str(src), "-o", str(out)],
                                    capture_output=True).returncode
        else:
            status = cli.run(str(src), output=str(out), stderr=io.StringIO())
        assert status == 1 and not out.exists(), tool
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.s"]


def test_warnings_do_not_fail(tmp_path):
    src = write(tmp_path, "w.s", "db 300\n%warning careful\nlabel_alone\n")
    rc, nb, nerr = nasm(src)
    status, pb, perr = pyasm(src)
    assert rc == 0 and status == 0 and pb == nb
    assert "warning:" in perr and "error:" not in perr
