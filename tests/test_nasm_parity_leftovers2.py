"""NASM parity for issue 13's second round of leftovers: push immediates under a `cpu`
below the 386, NASM's messages for operands of a wrong size (mismatch, 64-bit mode forms),
`jmp 0x10:` and a size keyword with no operand, floats inside data expressions, and data
items the way NASM's parse_eops reads them (`dup` groups with an extra token, a string
followed by a string, empty groups, the zeroing warning per run). Each case runs through
nasm (the oracle) and pyasm."""

from __future__ import annotations

import io
import subprocess

import pytest
from conftest import require_tool
from nasm_parity import check, diagnostics, elf_dumps
from test_asm_helpers import split_cases, write

from asm import cli
from asm.x86.table import by_mnemonic

# ---- push imm under `cpu 186`/`286` in 32-bit mode: NASM's 6A ib (no operand size)

PUSH = """
bits 32
cpu 186
o32 push 5
push 5
o16 push 5
push byte 5
o32 push strict byte 5
push -1
x: o32 push x
push word 5
-----
bits 32
cpu 286
push 500
push 255
push -129
-----
bits 32
cpu 186
push 5
cpu 386
push 5
cpu 186
push 5
push 5
-----
bits 32
cpu 186
push fwd
fwd:
-----
bits 16
cpu 186
o32 push 5
-----
bits 32
cpu 186
push dword 5
-----
bits 32
cpu 8086
push 5
"""


@pytest.mark.parametrize("name,text", split_cases(PUSH))
@pytest.mark.parametrize("opt", ["-Ox", "-O0"])
def test_push_below_386(tmp_path, name, text, opt):
    check(tmp_path, text, opt, optimize=0 if opt == "-O0" else 2)


def test_push_below_386_elf(tmp_path):
    """The same in an object file, a relocated operand included (objdump -dr of both)."""
    theirs, ours = elf_dumps(tmp_path, "bits 32\ncpu 186\nextern x\nsection .data\nd: dd 0\n"
                                       "section .text\npush x\npush d\npush 5\no16 push 7\n")
    assert ours == theirs


# ---- a memory operand of the wrong size: NASM's message per form

_FILL = {"xmm": "xmm1", "mm": "mm1", "r32": "eax", "r16": "ax", "r8": "al", "imm8": "1",
         "imm16": "1", "imm32": "1", "simm8": "1", "sreg": "ds", "sti": "st1", "creg": "cr0",
         "dreg": "dr0", "treg": "tr6", "one": "1"}
_SIZES = ("byte", "word", "dword", "qword", "tword", "oword")
_VECTOR = frozenset(("xmmrm", "xmmrm32", "xmmrm64", "mmrm", "m128"))
_GENERAL = frozenset(("rm8", "rm16", "rm32", "m8", "m16", "m32", "m64", "m80", "m"))
_IMMEDIATE = frozenset(("imm8", "imm16", "imm32", "simm8"))
# the other operands of an immediate's form: memory of the form's size
_IMM_FILL = {**_FILL, "rm8": "byte [ebx]", "rm16": "word [ebx]", "rm32": "dword [ebx]",
             "m": "[ebx]", "m8": "byte [ebx]", "m16": "word [ebx]", "m32": "dword [ebx]",
             "m64": "qword [ebx]", "xmmrm": "xmm2", "xmmrm32": "xmm2", "mmrm": "mm2"}


def _sized_lines(types: frozenset) -> list:
    """Every table form with an operand of ``types``, that operand given each size."""
    imm = types is _IMMEDIATE
    lines: list = []
    for mnemonic, forms in sorted(by_mnemonic().items()):
        for form in forms:
            at = [i for i, t in enumerate(form.operands) if t in types]
            if "na" in form.flags or not at:
                continue
            for size in _SIZES[:4] if imm else _SIZES:
                ops = [(f"{size} 1" if imm else f"{size} [ebx]") if i == at[0]
                       else (_IMM_FILL if imm else _FILL).get(t, t)
                       for i, t in enumerate(form.operands)]
                line = f"{mnemonic} {', '.join(ops)}"
                if line not in lines:
                    lines.append(line)
    return lines


def _first_diagnostics(tmp_path, lines: list, bits: int) -> tuple:
    """Both assemblers' first diagnostic per line of one source of ``lines``."""
    exe = require_tool("nasm")
    src = write(tmp_path, "t.asm", f"bits {bits}\n" + "\n".join(lines) + "\n")
    r = subprocess.run([exe, "-f", "bin", str(src), "-o", str(tmp_path / "n.bin")],
                       capture_output=True, text=True)
    err = io.StringIO()
    cli.run(str(src), output=str(tmp_path / "p.bin"), stderr=err)
    got: tuple = ({}, {})
    for out, text in zip(got, (r.stderr, err.getvalue())):
        for line, kind, message in diagnostics(text):
            out.setdefault(line, (kind, message))
    return got


@pytest.mark.parametrize("bits", [16, 32])
@pytest.mark.parametrize("types", ["vector", "general", "immediate"])
def test_operand_size_messages(tmp_path, types, bits):
    """Every form, every size: the same acceptance and message as NASM (one source of
    all the lines: they are all final-pass errors, so NASM reports each)."""
    lines = _sized_lines({"vector": _VECTOR, "general": _GENERAL,
                          "immediate": _IMMEDIATE}[types])
    want, got = _first_diagnostics(tmp_path, lines, bits)
    bad = [(line, want.get(k), got.get(k)) for k, line in enumerate(lines, 2)
           if want.get(k) != got.get(k)]
    assert not bad, bad[:20]
    # pyasm no longer accepts what NASM refuses (`fldcw byte [x]`, `pshufd xmm0, oword..`)
    assert not [line for k, line in enumerate(lines, 2) if want.get(k) and not got.get(k)]


SIZE_MESSAGES = """
cpu p3
cmpeqpd xmm0, qword [bx]
cmpeqps xmm0, qword [bx]
addpd xmm0, dword [bx]
paddb mm0, oword [bx]
pshufd xmm0, oword [bx], 1
pshufw mm0, qword [bx], 1
cvtsi2ss xmm0, qword [bx]
cvtsi2ss xmm0, byte [bx]
add eax, word [bx]
inc qword [bx]
inc tword [bx]
fldcw byte [bx]
fldcw word [bx]
lgdt qword [bx]
bound ax, dword [bx]
lea ax, byte [bx]
movzx eax, dword [bx]
seto word [bx]
-----
bits 32
call qword [ebx]
mov eax, bl
jmp qword [ebx]
-----
x: loop word x, cx
loop byte x
jcxz word x
jmp byte x
loop x, word cx
"""


@pytest.mark.parametrize("name,text", split_cases(SIZE_MESSAGES))
def test_size_messages(tmp_path, name, text):
    check(tmp_path, text)


# ---- address size: a16/a32 on jcxz/loop, against the registers, inside the brackets

ADDRESS = """
bits 16
x: a32 jcxz x
a32 loop x, cx
a16 loop x, ecx
a16 jcxz x
a32 jecxz x
-----
bits 32
x: a16 jecxz x
a32 jcxz x
a32 jecxz x
-----
bits 16
a32 mov ax, [bx]
mov eax, bl
-----
bits 32
a32 lea ax, [bx+si]
-----
bits 16
mov ax, [a32 ebx]
mov ax, [a32 0x10]
lea eax, [a16 0x10]
a32 mov ax, [a32 ebx+4]
mov [a32 eax*2+1], byte 3
-----
bits 32
mov ax, [a16 bx+si]
mov eax, [a16 0x1234]
-----
bits 16
mov ax, [a32 bx]
-----
bits 16
mov ax, [lock bx]
"""


@pytest.mark.parametrize("name,text", split_cases(ADDRESS))
@pytest.mark.parametrize("opt", ["-Ox", "-O0"])
def test_address_size(tmp_path, name, text, opt):
    check(tmp_path, text, opt, optimize=0 if opt == "-O0" else 2)


# ---- immediates: sizes, NASM's bounds warnings, shifts, TIMES, reservations, `cs:[bx]`

MISC = """
mov al, word 5
mov ax, byte 5
int word 3
out word 5, al
test ax, byte 5
push qword 1
-----
enter word 4, byte 0
-----
shld ax, bx, byte 1
-----
xor ax, 65535
xor ax, 65536
add ax, byte 500
add ax, -65537
imul ax, bx, 65535
add word [bx], byte 0xff
-----
bits 32
add eax, 0x1_0000_0000
add eax, byte -200
cpu 186
push 0x1_0000_0000
push 0xffffffff
-----
db -129, 256, -257, 255, -128
dw -32769, 65536, -65536, -65537
dd 0x1_0000_0000, -0x8000_0001, -0x1_0000_0000, -0x1_0000_0001
-----
dd 1 << 64
dq 1 << 65
dd 1 << -1
dd 256 >> 66
dd -1 >>> 65
dd -8 >> 1
dq -8 >> 1
-----
times 2 times 3 db 1
times 3 times 2 db 2
-----
resb 0
db 1
alignb 4
alignb 4, resb 1
resb 2
-----
section .data
db 1
alignb 4
-----
mov al, cs:[bx]
mov cs:[bx], al
mov al, es:[bx+si+4]
lea ax, ss:[bp]
mov word cs:[bx], 5
-----
bits 32
mov eax, fs:[eax*4+8]
-----
mov al, cs:[ds:bx]
-----
mov al, ax:[bx]
-----
mov al, [word bx+40000]
mov al, [word bx-65536]
mov al, [word bx-65537]
mov al, [byte bx+127]
mov al, [byte bx+128]
mov al, [byte bx-256]
mov al, [bx+70000]
mov al, [word 70000]
mov al, [byte bx+x]
x equ 300
-----
bits 32
mov al, [dword ebx+0x1_0000_0000]
mov al, [ebx+0x1_0000_0000]
mov al, [byte ebx+y]
y:
-----
mov al, [dword bx+1]
-----
bits 32
mov al, [word ebx+1]
-----
mov al, [ds:fs:bx]
-----
bits 32
mov [es:fs:eax], al
-----
db 1
align 3
-----
sectalign 3
-----
db 1
alignb 3
-----
section .text align=3
-----
mov al, [bx-si]
-----
bits 32
mov al, [ebx-esi]
"""


@pytest.mark.parametrize("name,text", split_cases(MISC))
def test_misc(tmp_path, name, text):
    check(tmp_path, text)


# ---- messages of lines that end early

ENDS = """
jmp 0x10:
-----
call 0x10:
-----
x: jmp 0x10:
-----
lock jmp 0x10:
-----
jmp far 0x10:
-----
jmp 0x10:
mov eax, bl
-----
jmp 0x10:
mov eax, [ebx
-----
mov eax, dword
-----
push dword
-----
inc dword
-----
jmp short
-----
jmp near
-----
push strict
-----
mov eax, strict dword
"""


@pytest.mark.parametrize("name,text", split_cases(ENDS))
def test_line_ends_early(tmp_path, name, text):
    check(tmp_path, text)


# ---- floats: a whole data item only ([+-]FLOAT), never inside an expression

FLOATS = ["dd 1.0 + 2", "dd 1.0 - 2", "dd -1.0 + 2", "dq 1.5e3 + 1", "dd 1.0 * 2",
          "dd (1.0)", "dd +(1.5)", "dd -(1.5)", "dw (1.5)", "dd ((1.5))", "db 1, (2.5), 3",
          "dd 1.0, 2 + 1.0", "mov eax, 1.0", "mov eax, 2 + 1.0", "db 1 + 1.0",
          "times 1.5 db 0", "x equ 1.5", "dd (1.5) + 1", "dd __float32__(1.5) + 1.5",
          "%if 1.5\n%endif", "dd --1.5", "dd -1.5, +2.5", "dd 2 dup (1.5)", "dd 2 dup -1.5",
          "dd 2 dup (-1.5, 1)", "dd __float32__(-1.5) + 1"]


@pytest.mark.parametrize("line", FLOATS)
def test_float_items(tmp_path, line):
    check(tmp_path, f"{line}\n")


# ---- data items as NASM's parse_eops reads them

DATA = """
db 2 dup (1 2)
-----
db 2 dup (1 2, 3)
-----
db 2 dup (1 2) 3
-----
db 2 dup 1 2
-----
db %(1 2), 3
-----
db 3 dup (2 dup (1 2) ), 5
-----
dd 2 dup (1.5 2)
-----
db 2 dup ("ab" 3)
-----
db 2 dup ("ab" "c", 5)
-----
db 2 dup (1, 2
-----
db 2 dup
-----
db 0 dup (1)
-----
db 2 dup ()
-----
db 1, 2 dup (), 3
-----
db
-----
db "ab" "c", 5
-----
db "ab" "c"
-----
db "a" "c", 5
-----
dw "ab" "c", 5
-----
db 7, "ab" "c", 5
-----
db "ab" "", 5
-----
db "ab" "1 2", 5
-----
db "ab" "+", 5
-----
db "ab" "+1", 5
-----
db "ab" "c" "d"
-----
db "a", "b" "c", 7
-----
db `ab` `c`, 5
-----
db "a" "(", 5
-----
times 2 db 1 2, 3 dup (4 5)
-----
db 1, 2 dup (3 x), 4
x:
-----
db ?, 1, ?
-----
db 2 dup (?, 1)
-----
db ?, ?, 1, ?, ?
-----
db 2 dup (2 dup (?), 1)
-----
db ?, 2 dup (?)
"""


@pytest.mark.parametrize("name,text", split_cases(DATA))
def test_data_items(tmp_path, name, text):
    check(tmp_path, text)


# an element size override (`db word 5`) and the string functions without parentheses
SIZED = """
db word 5
-----
db 1, word 5, 2
-----
dw byte 300
-----
db 2 dup (word 1)
-----
db word 2 dup (1)
-----
db 2 dup word 1
-----
db word ?
-----
db word "ab", 1
-----
dd word 1.5
-----
db dword x
x:
-----
db byte word 5
-----
dd qword 5, 6
-----
db word
-----
db 1, word -1, 2 dup (byte 3, word 4)
-----
dq tword 1.0
-----
db word 2 dup (1, byte 2)
-----
db word %(1, 2)
-----
db 2 dup (word 1 2), 3
-----
resb word 2
mov eax, bl
resw dword 1
-----
db __utf16__ "ab"
-----
dw __utf16be__ "ab", 1
-----
dd __utf32__ "a" 5
-----
db 1, __utf16__ 'ab', 2
"""


@pytest.mark.parametrize("name,text", split_cases(SIZED))
def test_data_element_sizes(tmp_path, name, text):
    check(tmp_path, text)


def test_data_items_elf(tmp_path):
    """Relocated items under a size override and NASM's odd items, in an object file
    (objdump -sr of both)."""
    theirs, ours = elf_dumps(tmp_path, "section .data\nextern e\n"
                                       "db 1, dword e, 2 dup (word e)\n"
                                       "x: dw byte 5, dword x\ndb \"ab\" \"c\", 5\n"
                                       "db 2 dup (1 2)\n", "-sr")
    assert ours == theirs


@pytest.mark.parametrize("text", ["section .text align=3\n", "section .data align=6\n"])
def test_section_align_message_elf(tmp_path, text):
    """NASM's elf32 message for a section alignment that is not a power of two."""
    exe = require_tool("nasm")
    src = write(tmp_path, "t.asm", text)
    r = subprocess.run([exe, "-f", "elf32", str(src), "-o", str(tmp_path / "n.o")],
                       capture_output=True, text=True)
    err = io.StringIO()
    status = cli.run(str(src), fmt="elf32", output=str(tmp_path / "p.o"), stderr=err)
    assert (status, diagnostics(err.getvalue())) == (r.returncode, diagnostics(r.stderr))


def test_db_empty_class(tmp_path):
    """`db` alone: NASM's warning names its class, and -w-db-empty hides it."""
    check(tmp_path, "db\ndb 1\n", "-w-db-empty", warnings=["-db-empty"])
