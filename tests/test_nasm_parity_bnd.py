"""NASM parity for `default bnd` / `default nobnd`: the F2 (BND) prefix on every
instruction whose form has NASM's BND flag (near call/jmp/ret/retn, Jcc) unless the line
says `nobnd`; none on `jmp short`, far forms or the others. NASM's setting lasts from the
end of one pass into the next, so lines above the directive get F2 too. Each case runs
through nasm (the oracle) and pyasm, with -Ox and -O0, to bin (bytes and diagnostics),
elf32 (objdump -dr) and a listing."""

from __future__ import annotations

import pytest
from nasm_parity import check, elf_dumps, same_listing
from test_asm_helpers import split_cases

CASES = """
bits 32
default bnd
ret 1000
-----
bits 32
ret
default bnd
ret
call x
x: jmp x
jmp short x
je x
nobnd call x
-----
bits 32
ret
default bnd
ret
default nobnd
ret
-----
bits 32
call y
jmp y
y: ret
default bnd
-----
bits 32
x: ret
default bnd
jmp x
je x
jne near x
-----
bits 16
default bnd
ret
call x
x: jmp x
jz near x
call far [bx]
jmp far [bx]
call [bx]
jmp [bx]
call 1:2
jmp 1:2
retf
retn
retn 4
-----
bits 32
default bnd
x: jmp short x
bnd jmp x
nobnd jmp x
nobnd jmp near x
jmp near x
jmp strict near x
-----
bits 32
default bnd
bnd jmp short x
x:
-----
bits 32
default bnd
nobnd ret
nobnd nop
-----
bits 32
default bnd
%rep 3
ret
call $
%endrep
-----
bits 32
default rel
ret
call x
x:
-----
bits 32
default bnd
rep ret
xacquire ret
lock call x
x: o16 ret
ds jmp x
-----
bits 32
default bnd
repne ret
-----
bits 16
cpu 186
default bnd
jz x
times 200 nop
x:
-----
bits 32
default bnd
times 3 ret
times 2 jmp $
nop
mov eax, 1
dd x
x: jmp eax
call [eax+4]
-----
bits 32
start:
times 126 nop
jmp start
default bnd
-----
bits 32
jmp fwd
times 125 nop
fwd: ret
je start
default bnd
start: ret
-----
bits 32
default bnd
ret
ret
default nobnd
ret
ret
default bnd
ret
-----
bits 32
default bnd , x
ret
-----
bits 32
[DEFAULT BND]
ret
[default nobnd]
call $
default Bnd ; on again
je $
-----
bits 32
default bnd
loop $
jecxz $
call eax
jmp dword [x]
x: dd 0
"""

OPTS = pytest.mark.parametrize("opt", ["-Ox", "-O0"])


@OPTS
@pytest.mark.parametrize("name,text", split_cases(CASES))
def test_default_bnd(tmp_path, name, text, opt):
    check(tmp_path, text, opt, optimize=0 if opt == "-O0" else 2)


def test_default_bnd_after_the_same_lines_without(tmp_path):
    """The lines' encodings learned without `default bnd` (the line caches, shapes,
    memos, kept across assemblies) are not lent to the same lines under it, nor back."""
    plain = "bits 32\nret\nret 1000\nret 2000\ncall $\nje $\nnop\n" * 3
    check(tmp_path, plain)
    check(tmp_path, plain + "default bnd\n")
    check(tmp_path, "bits 32\ndefault bnd\n" + plain)
    check(tmp_path, plain)


ELF = """
bits 32
extern f
ret
call f
default bnd
jmp f
call f
jz f
x: jmp x
section .data
dd x
"""


def test_default_bnd_elf32(tmp_path):
    ours, theirs = elf_dumps(tmp_path, ELF)
    assert ours == theirs


def test_default_bnd_listing(tmp_path):
    same_listing(tmp_path, "bits 32\nret\ndefault bnd\nret\ncall x\nx: jmp x\njz x\n")


# `nobnd` is refused where `bnd` is (whatever the `default`), and takes no F2
NOBND = """
bits 32
x: nobnd jmp short x
-----
bits 32
x: nobnd je short x
nobnd je x
nobnd jmp x
-----
bits 32
nobnd call far [eax]
-----
bits 32
x: nobnd loop x
-----
bits 32
nobnd nop
-----
bits 32
nobnd ret
nobnd call $
"""


@pytest.mark.parametrize("name,text", split_cases(NOBND))
def test_nobnd_refused_where_bnd_is(tmp_path, name, text):
    check(tmp_path, text)


@pytest.mark.parametrize("n", [122, 123, 124, 125, 126])
def test_distances_the_prefix_changes(tmp_path, n):
    """F2 on a Jcc and on the calls between a jump and its label moves them across the
    short jump's reach (the directive at the end: NASM's first pass has no F2)."""
    text = (f"bits 32\nback: times {n} nop\nje back\njmp back\nje fwd\n"
            f"times {n // 5} call back\nfwd: ret\ndefault bnd\n")
    check(tmp_path, text)
    check(tmp_path, text.replace("default bnd\n", "default bnd\ndefault nobnd\n"))
