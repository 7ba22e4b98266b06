"""Directives, sections, labels and data against nasm -f bin (byte-identical output)."""

from __future__ import annotations

import pytest
from test_asm_helpers import both, nasm, pyasm, split_cases, write

CASES = split_cases(r"""
db 1, 2, 3
dw 0x1234, -1
dd 0x12345678, -2
dq 0x123456789abcdef0, -3
----
db 'abc', 0, "de", `f\n`
dw 'abc', 1
dd 'abcde'
dq 'x'
dt 'ab'
----
db ?, 1, ?
dw ?
dd ?, ?
----
dd 1.5, -1.5, 3.14, 1.e10, 0x1.8p1, 1e10, 0.1, 1.0e-40
dq 3.14, 1.0e-300, 1.7976931348623157e308, 2.2250738585072014e-308, 4.9e-324
dt 1.0, 3.14159265358979323846, -0.0, 1.0e4000
dw 1.5, 65504.0, 6.0e-8
db 1.5
do 1.5
----
dd __?Infinity?__, -__?Infinity?__, __?QNaN?__, __?SNaN?__
dq __?Infinity?__, __?NaN?__
dt __?Infinity?__
----
times 10 db 1
times 510-($-$$) db 0
dw 0xAA55
----
times 3 dw $
times 2 db 1, 2, 3
times 0 db 5
x: times 4 db 1
y equ $-x
db y
----
org 0x100
db 1
section .data
db 2
dd $$, $
section .bss
resb 3
q:
section .other
db 3
dd q, $$
section .text
dd $$, $
----
org 0x7c00
start: dw start, end
section .data align=16
d1: dd d1
section .text
end: dw d1
----
section .a progbits
db 1
section .b nobits
resb 7
b_end:
section .c align=32
dd b_end
----
section .text
db 1
section .data start=0x40
d: db 2
section .x follows=.data
dd d, xl
xl:
----
section .text
dd v
section .data vstart=0x1000
v: dd v
----
bits 16
org 0x100
label:
.local: dw .local
other:
.local: dw .local, label.local
..@x: dw .local
$dw: dw $dw
----
x equ 5
y equ x * 2 + 1
z equ fwd - here
here: db x, y, z
fwd:
----
struc pt
.x resw 1
.y: resd 1
.z resb 3
endstruc
mystruc: istruc pt
at pt.x, dw 1
at pt.y, dd 2
iend
dd pt_size, pt.z
----
struc hdr, 8
.magic resd 1
endstruc
dd hdr.magic, hdr_size
----
absolute 0x100
foo resb 4
bar resw 2
baz:
section .text
dd foo, bar, baz
----
a: db 1
align 8
b: db 2
alignb 4
dd b - a
align 16, db 0xCC
----
section .data
db 1
align 16
db 2
section .text
db 3
----
section .bss
buf: resb 16
buf2: resw 3
resd 2
resq 1
rest 1
end_bss:
section .text
dd buf, buf2, end_bss
----
incbin "t.s"
incbin "t.s", 3
incbin "t.s", 2, 4
----
bits 32
use16
use32
[bits 16]
[BITS 32]
cpu 386
default abs
global g1, g2
g1:
g2: db 1
[section .data]
db 2
----
db 5 % 3, -7 / 2, -7 // 2, -7 %% 3, 7 %% -3, 1 << 3, 0x80 >> 1, ~0, !0, !5, 3^5, 3|4, 6&3
----
db 'a' + 1, "bc" - 0x6200
dd 'abcd' >> 8
----
db -1, 255, -128
dw -1, 65535
dd -1, 0xFFFFFFFF
dq -1, 0x7FFFFFFFFFFFFFFF
----
label_only
db 1
----
SECTION .data
Db 1
DW 2
TIMES 2 DB 3
""")


@pytest.mark.parametrize("name,text", CASES, ids=[c[0] for c in CASES])
def test_matches_nasm(tmp_path, name, text):
    nb, pb, _ = both(tmp_path, text)
    assert pb == nb


def test_large_mixed_file(tmp_path):
    """A few thousand lines mixing labels, data, times, equ and sections."""
    lines = ["org 0x1000", "section .text"]
    for i in range(600):
        lines.append(f"lab{i}: db {i % 256}, lab{i} - lab0 & 0xff")
        lines.append(f"c{i} equ lab{i} - $$ + {i}")
        lines.append(f"dd lab{i}, c{i}, ({i} * 3 + 7) / 2 - {i} %% 5")
        if i % 50 == 0:
            lines.append(f"times {i % 7} dw {i}")
            lines.append("section .data")
            lines.append(f"d{i}: dd lab{i}, d{i}")
            lines.append("section .text")
    nb, pb, _ = both(tmp_path, "\n".join(lines) + "\n")
    assert pb == nb


def test_instructions_and_jumps(tmp_path):
    """Forward/backward jumps relax to short forms over several passes, like nasm."""
    text = """bits 32
start:
    jmp fwd
    times 100 nop
fwd:
    jmp start
    jz fwd2
    times 200 db 0
fwd2: jnz start
    call fwd2
    loop start2
start2:
    mov eax, data1
    call other
    jmp other
    push start
    push 5
    mov ecx, [esi*4+ebx+data1-3]
    mov edx, [ebp*1+ebx]
section .data
data1: dd 5
section .text2
other: ret
"""
    nb, pb, _ = both(tmp_path, text)
    assert pb == nb


def test_jump_chain_converges(tmp_path):
    """Jumps whose size depends on other jumps' sizes (NASM's iterative optimisation)."""
    lines = ["bits 16"]
    for i in range(60):
        lines.append(f"l{i}: jmp l{(i * 7 + 13) % 60}")
        lines.append(f"times {(i * 5) % 11} db 0x90")
    nb, pb, _ = both(tmp_path, "\n".join(lines) + "\n")
    assert pb == nb


def test_samples_hello(tmp_path):
    import pathlib
    src = pathlib.Path(__file__).parent.parent / "samples" / "hello.s"
    text = src.read_text()
    nb, pb, _ = both(tmp_path, text, "hello.s")
    assert pb == nb
    assert b"Hello, world!\n" in pb


def test_long_chains_of_forward_jumps_match_nasm(tmp_path):
    """Thousands of forward and backward jumps near the short/near boundary, with data
    between them: NASM starts every unknown target short and grows what misses; the same
    bytes must come out (and quickly: this once took pyasm 70 passes)."""
    import random
    rng = random.Random(7)
    lines = ["bits 32"]
    for i in range(1500):
        lines.append(f"L{i}: " + rng.choice(["jnz", "jmp", "jc", "call"]) +
                     f" L{min(i + rng.randint(1, 3), 1499)}")
        lines.append(f"times {rng.randint(20, 70)} db {i % 256}")
        if i % 7 == 0:
            lines.append(f"jmp L{max(i - rng.randint(1, 4), 0)}")
        if i % 11 == 0:
            lines.append("jz .near\nnop\n.near: loop L" + str(i))
    nb, pb, _ = both(tmp_path, "\n".join(lines) + "\n")
    assert pb == nb


def _listing_rows(text: str) -> list:
    """The meaningful columns of a listing: line number, offset, bytes, macro level, source."""
    rows = []
    for line in text.splitlines():
        if "******************" in line:
            continue
        rows.append((line[:6].strip(), line[7:15].strip(), line[16:35].strip(),
                     line[35:40].strip(), line[40:].rstrip()))
    return rows


def test_listing_matches_nasm(tmp_path):
    inc = write(tmp_path, "inc.inc", "db 1\n")
    del inc
    text = """org 0x100
x equ 5
%define X 7
%macro m 1-2 9
db %1, %2
%endmacro
db 1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20
db "hello world, long string here"
times 3 db 0xAA
times 20 db 0xBB
%rep 2
dw 1
%endrep
%include "inc.inc"
label: align 8
dd label, x
m 3
m 4, 5
section .bss
buf resd 10
section .data
dq 1.5
incbin "inc.inc"
section .text
bits 32
mov eax, buf
call far_away
jmp label
section .far
far_away: ret
"""
    src = write(tmp_path, "l.s", text)
    rc, nb, err = nasm(src, "-l", str(tmp_path / "n.lst"))
    assert rc == 0, err
    status, pb, perr = pyasm(src, listing=str(tmp_path / "p.lst"))
    assert status == 0, perr
    assert pb == nb
    n_rows = _listing_rows((tmp_path / "n.lst").read_text())
    p_rows = _listing_rows((tmp_path / "p.lst").read_text())
    assert p_rows == n_rows


def test_listing_with_code_and_strucs(tmp_path):
    text = """bits 32
%macro save 1-*
%rep %0
push %1
%rotate 1
%endrep
%endmacro
%macro outer 1
mov eax, %1
save ebx, ecx
%endmacro
section .text
start:
outer 5
times 3 nop
times 2 mov eax, 1
align 16
jmp start
call far_fn
mov eax, [data1]
struc S
.a resd 1
.b resw 1
.c resb 20
endstruc
section .data
data1: dd 1, 2, 3
s1: istruc S
at S.a, dd 5
at S.b, dw 6
iend
section .bss
resb 3
resd 4
section .text
far_fn: ret
db "a long string that wraps over several listing rows", 0
"""
    src = write(tmp_path, "l2.s", text)
    rc, nb, err = nasm(src, "-l", str(tmp_path / "n.lst"))
    assert rc == 0, err
    status, pb, perr = pyasm(src, listing=str(tmp_path / "p.lst"))
    assert status == 0, perr
    assert pb == nb
    assert (tmp_path / "p.lst").read_text() == (tmp_path / "n.lst").read_text()
