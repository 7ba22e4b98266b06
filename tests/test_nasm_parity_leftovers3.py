"""NASM parity for issue 13's third round of leftovers: `a:b` outside brackets (a jmp/call's
far pointer, elsewhere a segment override), lines NASM reports more than one error on,
character constants longer than four bytes, the zeroing and nobits warnings per item,
shift counts of a wrong size, size keywords on registers (NASM's regsize warning, `far`),
lines of prefixes alone, the messages of lines that do not start with a label or an
instruction, and `resb -1` (NASM's assertion: exit status 3). Each case runs through nasm
(the oracle) and pyasm."""

from __future__ import annotations

import pytest
from nasm_parity import check, diagnostics, elf_dumps, same_diagnostics, same_listing
from test_asm_helpers import nasm, pyasm, split_cases, write

# nasm's -Ox and -O0 against pyasm's optimize levels 2 and 0
OPTS = pytest.mark.parametrize("opt", ["-Ox", "-O0"])


def check_at(tmp_path, text: str, opt: str) -> None:
    check(tmp_path, text, opt, optimize=0 if opt == "-O0" else 2)


# ---- `a:b` outside brackets: jmp/call read it as seg:offset, the others as an override

COLONS = """
jmp cs:[bx]
-----
call cs:[bx]
-----
jmp word cs:[bx]
-----
jmp far cs:[bx]
-----
jmp short cs:[bx]
-----
jmp strict cs:[bx]
-----
jmp byte cs:[bx]
jmp dword cs:[bx]
-----
bits 32
jmp ds:[ebx]
call dword fs:[ebx]
jmp word cs:[bx]
-----
jmp cs:5
jmp cs:bx
jmp 5:bx
jmp 5:[bx]
jmp far 5:[bx]
jmp far cs:5
jmp near cs:5
call tword cs:5
jmp 5:bx+1
-----
jmp cs:x
x:
-----
jmp x:[bx]
x:
-----
jmp far 0x10:5
-----
jmp 0x10:5
call 0x10:x
x:
-----
push cs:[bx]
push word cs:[bx]
inc word cs:[bx]
mov ax, cs:[bx]
loop cs:[bx]
jz cs:[bx]
-----
mov ax, es:5
mov ax, es:bx
mov ax, fs:bx+5
lea ax, ss:5
mov es:5, ax
inc word es:5
mov ax, es:x
x:
-----
bits 32
mov eax, gs:[eax*4+8]
mov eax, gs:eax*4+8
-----
push es:5
-----
mov ax, 5:6
-----
push 0x10:5
-----
mov ax, eax:5
-----
mov ax, [5:bx]
-----
jmp [5:bx]
-----
mov ax, [eax:bx]
-----
mov ax, [x:bx]
x:
-----
mov al, [ds:fs:bx]
"""


@pytest.mark.parametrize("name,text", split_cases(COLONS))
@OPTS
def test_colons(tmp_path, name, text, opt):
    check_at(tmp_path, text, opt)


def test_colons_elf(tmp_path):
    """`mov eax, fs:x` in an object file: the override and the relocation (objdump -dr)."""
    theirs, ours = elf_dumps(tmp_path, "bits 32\nextern x\nsection .data\nd: dd 0\n"
                                       "section .text\nmov eax, fs:x\nmov ebx, es:d+4\n"
                                       "mov es:d, ecx\n")
    assert ours == theirs


# ---- lines NASM reports two or three errors on

ERRORS = """
push 0x10:
-----
mov ax, 0x10:
-----
add ax, 0x10:
-----
x equ 1:
-----
x equ 1:2
-----
a32 mov ax,[a16 bx]
-----
a16 mov ax,[a32 ebx]
-----
mov ax, [a32 a16 bx]
-----
mov ax, [a16 a32 bx]
-----
mov ax, [a16 a32 ebx]
-----
a16 mov ax, [a32 ebx+ecx]
-----
bits 32
a16 mov ax,[a32 ebx]
-----
a32 lea ax, [a16 bx]
-----
a32 mov ax,[a16 0]
-----
a16 lea eax,[ebx*2]
-----
bits 32
a16 lea eax,[ebx*2]
-----
mov ax, [a16 eax]
-----
a16 mov ax, [eax]
-----
a16 mov ax, [eax*2+ebx]
-----
a16 jmp [eax]
-----
bits 32
a16 mov ax, [eax]
"""


@pytest.mark.parametrize("name,text", split_cases(ERRORS))
def test_several_errors(tmp_path, name, text):
    check(tmp_path, text)


# ---- character constants: NASM keeps four bytes and warns about the others

CHARS = """
bits 32
mov eax, "abcde"
mov eax, "abcde"
push "abcde"
mov eax, "abcde"+1
mov eax, "abcdefghi"
add eax, "abcde"
mov eax, ("abcde")
mov eax, -"abcde"
mov eax, "abcdefgh"
mov ebx, [eax+"abcde"]
mov eax, "abcd"
mov ax, "abcd"
mov ax, "abcde"
mov eax, 0x6564636261
-----
dd "abcde"+0
dq "abcdefghij"+0
dd "abcde", "abcdefgh"
dd "abcd\\0\\0\\0"+0
cmp al, "abcd\\0"
db "abcde"+0
x equ "abcdefghi"
dd x
-----
times 3 mov eax, "abcde"
times 2 db 256, "abcdef"+1
y: times 2 dd y+"abcdef"
-----
%macro m 1
mov ebx, %1
%endmacro
m "abcdef"
m "abcdef"
-----
%assign x "abcdefgh"
dd x
%if "abcdef" = 0x64636261
db 1
%endif
-----
mov eax, "abcde"
5
"""


@pytest.mark.parametrize("name,text", split_cases(CHARS))
@OPTS
def test_character_constants(tmp_path, name, text, opt):
    check_at(tmp_path, text, opt)


# ---- data in .bss: a warning per item; `?` in .text: one per reservation NASM makes

NOBITS = """
section .bss
db 1,2
dw 3
db 'abc', 4
times 2 db 1
db 2 dup (1)
dd ?, 5
db 2 dup (1,2), 'ab', ''
x: dd x
-----
section .text
db 1,2
section .bss
db 1,2
times 3 db 1,2
db 2 dup (1,?), 3 dup (word 5)
-----
section .bss
db ?
db 3
-----
section foo nobits
db 1
-----
section .bss
db 1
5
"""

ZEROING = """db ?, ?
db ?, ?, ?
db 1, ?, ?
db 2 dup (?)
db 3 dup (?), ?
db 2 dup (1, ?), ?
db 2 dup (?, 1)
db 2 dup (?, ?)
db ?, 2 dup (?)
db 2 dup (1, ?)
db 2 dup (1, 2 dup (?))
dw ?, word ?
db ?, 1, ?
db 0 dup (?)
db 1, 0 dup (?)
db %(?, ?), ?
db 1 dup (1, ?), ?
db ?, word ?
db ?, 2 dup (word ?)
db 2 dup (2 dup (?), 1)
db 2 dup (1), ?
db 1, 0 dup (1), ?
db ?, 0 dup (1), ?
db ?, %(1), ?
db ?, %(?), ?
db 2 dup (?, 0 dup (1))
db ?, '', ?
db 2 dup (?, word ?)
db ?, 2 dup (0 dup (1)), ?
db 2 dup (?), 1, 2 dup (?)
dw 2 dup (?), word ?
times 2 db 2 dup (1, ?), ?
"""


@pytest.mark.parametrize("name,text", split_cases(NOBITS))
@pytest.mark.parametrize("fmt", ["bin", "elf32"])
def test_nobits_data(tmp_path, name, text, fmt):
    if fmt == "bin":
        check(tmp_path, text)
        return
    same_diagnostics(tmp_path, text)


@pytest.mark.parametrize("line", ZEROING.splitlines())
def test_zeroing_per_reservation(tmp_path, line):
    check(tmp_path, line + "\n")


# ---- shift and rotate counts with a size: NASM's imm8 and unity rows

SHIFTS = """
shl ax, word 3
-----
shl ax, dword 3
-----
shl word [bx], word 3
-----
shl ax, strict word 3
-----
rcl eax, qword 2
-----
shl ax, word 1
-----
shl ax, dword 1
-----
shl word [bx], word 1
-----
shl al, word 1
-----
shl eax, word 1
-----
shl ax, byte 3
shl ax, byte 1
shl ax, 1
shl word [bx], byte 1
shl byte [bx], byte 1
shl ax, strict byte 1
rol al, word 1
"""


@pytest.mark.parametrize("name,text", split_cases(SHIFTS))
@OPTS
def test_shift_sizes(tmp_path, name, text, opt):
    check_at(tmp_path, text, opt)


# ---- size keywords on registers: ignored with a warning; `far` outside jmp/call refused

REGSIZE = """
push near ax
push short ax
push strict ax
push word ax
push dword ax
jmp near ax
jmp short ax
jmp far ax
jmp dword ax
call word ax
mov cr0, word eax
mov word cr0, eax
mov word es, ax
mov dword es, ax
mov byte ax, 1
inc byte ax
push word cs
push dword cs
shl ax, word cl
-----
bits 32
push dword cs
push word es
x: mov word eax, x
-----
mov word eax, 1
mov eax, 1
mov word eax, 1
mov eax, 1
-----
mov byte ax, 1000
mov ax, 1000
mov byte ax, 1001
-----
mov ax, 1000
mov byte ax, 1000
-----
times 2 push dword ax
-----
fld qword eax
-----
fld dword eax
-----
push dword ax
fld qword eax
-----
mov word eax, bl
-----
inc qword eax
-----
push far ax
-----
mov far ax, 1
-----
mov ax, far 1
"""


@pytest.mark.parametrize("name,text", split_cases(REGSIZE))
@OPTS
def test_register_sizes(tmp_path, name, text, opt):
    check_at(tmp_path, text, opt)


# ---- prefixes alone on a line: their bytes in NASM's order, its warnings and errors

PREFIXES = """
rep
lock rep
rep lock
o32 rep
rep o32
a32 o32
o32 a32
es rep
rep es
es o32 a32 lock
a32 o32 es rep
repne
repe
xrelease
xacquire
a16
o16
times 3 o32
x: rep
a32 a32
lock lock
a16 rep
nop
rep
nop
-----
bits 32
o16 a16
a16
a32
-----
cpu 8086
o32
fs
-----
bnd
-----
nobnd
-----
rep repne
-----
cs ds
-----
a16 a32
-----
section .bss
rep
-----
absolute 0
rep
o32
y:
section .text
dw y
-----
absolute 0
nop
nop nop nop
"""


@pytest.mark.parametrize("name,text", split_cases(PREFIXES))
def test_prefixes_alone(tmp_path, name, text):
    check(tmp_path, text)


def test_prefixes_alone_elf(tmp_path):
    theirs, ours = elf_dumps(tmp_path, "bits 32\nsection .text\nrep\nnop\nes o16\nnop\n")
    assert ours == theirs


# ---- lines that do not start with a label, an instruction or a prefix

STARTS = [
    "-----", "-", "+5", "5", "(x)", '"str"', "$", "$$", ":", ",", "5: nop", "~x", "!",
    "*", "%", "equ 5", "x equ", "x equ 1, 2", "x: equ 3", "x equ 1 2", "x equ (1",
    "x equ 1 +", "x equ [1]", "byte 5", "strict nop", "seg x", "?", "x: 5", "x 5",
    "x: (5)", "nop: 5", "a16 5", "rep eax", "times 2 5", "callf cs:[bx]", "x: rep eax",
    "times nop", "times db 1", "x: times nop", "times resb 1", "times times 2 nop",
    "eax equ 1", "eax equ bx : * 0x10", "es equ 1", "eax", "eax, 5", "al: nop", "st0",
    "cr0 5", "x: eax", "rep es equ 1",
]


# ---- prefixes on a data line: NASM ignores them (but for two of one slot)

@pytest.mark.parametrize("line", ["rep db 1", "o32 dw 5", "a32 db 1", "x: rep db 1",
                                  "rep times 2 db 1", "lock dd 1.5", "rep repne db 1",
                                  "cs dd", "a16 dd - 5", "rep db", "cs db 1, 2",
                                  "a16 dd 2 dup (1)"])
def test_data_prefixes(tmp_path, line):
    check(tmp_path, line + "\n")


@pytest.mark.parametrize("line", STARTS)
def test_line_starts(tmp_path, line):
    check(tmp_path, line + "\n")


# ---- `resb -1`: NASM fails an assertion (exit status 3, no output), pyasm says why

@pytest.mark.parametrize("text", [
    "resb -1\n", "resw -1\n", "resd -2\n", "section .bss\nresb -1\n", "x equ -1\nresb x\n",
    "resb x\nx equ -1\n", "times 2 resb -1\n", "db 0\nresb -1\ndb 1\n",
    "absolute 0\nresb -1\n", "resb -1\nmov ax, undefined\n",
])
def test_negative_reservation(tmp_path, text):
    src = write(tmp_path, "t.asm", text)
    rc, nb, nerr = nasm(src)
    status, pb, perr = pyasm(src)
    assert rc == status == 3, (rc, nerr, status, perr)
    assert nb is None and pb is None
    assert "panic:" in nerr and "assertion" in nerr
    assert [(kind, msg.split(" value ")[1]) for _, kind, msg in diagnostics(perr)] == [
        ("error", f"{text.split('res')[1].split()[1].replace('x', '-1')} is negative")]


def test_negative_reservation_after_a_pass_one_error(tmp_path):
    """A line NASM refuses in pass 1 ends it before the final pass that would fail."""
    check(tmp_path, "resb -1\n5\n")


# ---- labels named like special symbols (`..start`: the obj format's, refused elsewhere)

SPECIALS = """
..start: nop
-----
..start:
dd ..start
-----
x:
..x: nop
-----
..y equ 1
-----
global ..z
..z:
-----
..start
-----
..: nop
-----
..start: nop
5
-----
..@x: nop
dd ..@x
jmp ..start
-----
..gotpc: nop
..tlsie: nop
"""


@pytest.mark.parametrize("name,text", split_cases(SPECIALS))
@pytest.mark.parametrize("fmt", ["bin", "elf32"])
def test_special_symbol_labels(tmp_path, name, text, fmt):
    if fmt == "bin":
        check(tmp_path, text)
        return
    same_diagnostics(tmp_path, text)


# ---- the new warnings follow -w like NASM's

WARNED = ("bits 32\nmov eax, \"abcde\"\npush dword ax\nsection .bss\ndb 1, 2\nsection .text\n"
          "db ?\nx\n")


@pytest.mark.parametrize("options", [["-w-other"], ["-w-regsize"], ["-w-all"], ["-w-zeroing"],
                                     ["-w+all"], ["-w-all", "-w+regsize"]])
def test_warning_options(tmp_path, options):
    check(tmp_path, WARNED, *options, warnings=[o[2:] for o in options])


# ---- memory operands: `strict` inside the brackets, registers that cannot address

EFFECTIVE = """
mov eax, [strict byte eax+0]
-----
mov eax, [strict eax]
-----
mov eax, [byte strict eax+0]
-----
mov eax, [strict dword 5]
-----
mov eax, [strict 5]
-----
mov eax, [nosplit strict eax*2]
-----
mov ax, [cs]
mov ax, [al]
mov ax, [cr0]
mov ax, [st0]
mov ax, [xmm0]
mov ax, [mm0]
mov ax, [bx+al]
mov ax, [es+bx]
a32 mov ax, [cs]
-----
bits 32
mov ax, [cs]
mov ax, [eax+cl]
a16 mov ax, [dr0]
"""


@pytest.mark.parametrize("name,text", split_cases(EFFECTIVE))
def test_effective_addresses(tmp_path, name, text):
    check(tmp_path, text)


# ---- `x - $` with x in another section or external: NASM's self-relative reference
# (a PC-relative relocation in an object file, a number in a flat binary)

SELF_RELATIVE = [
    "dd b - $", "dd ext - $", "dd b - g", "mov eax, ext - g", "dd b - $ + 4", "dw b - $",
    "db b - $", "dd b - g - 4", "dd b - $$", "mov eax, [ebx + ext - $]", "push ext - $",
    "times 2 dd b - $", "dd 4 + b - g", "dd -g + b", "x: dd b - x\ndd b - x",
    "dd (b - $) * 2", "dd g - b",
]


@pytest.mark.parametrize("body", SELF_RELATIVE)
def test_self_relative_elf(tmp_path, body):
    text = f"bits 32\nextern ext\nsection .data\nb: dd 1\nsection .text\ng: nop\n{body}\n"
    if same_diagnostics(tmp_path, text) == 0:
        theirs, ours = elf_dumps(tmp_path, text)
        assert ours == theirs


def test_self_relative_bin_and_listing(tmp_path):
    text = ("bits 32\nsection .data\nb: dd 1\nsection .text\ng: nop\ndd b - $\n"
            "mov eax, b - g\ndd b - $$\nsection .data\nc: dd g - $\n")
    check(tmp_path, text)
    same_listing(tmp_path, text, "elf32")


# ---- a decimal float literal too large for its field: NASM's float-overflow warning

FLOATS = ["dd 1.0e40", "dd -1.0e40", "dw 65520.0", "dw 65519.0", "db 1.0e10", "dq 1.0e400",
          "dt 1.0e5000", "do 1.0e5000", "times 2 dd 1.0e40", "dd 1.0e40, 1.0e40",
          "dd 3.4028235e38", "dd 3.4028236e38", "dd 0x1p128", "dd __Infinity__",
          "dd 0d1.0e40", "dd 1.0e40\n5", "dd __NaN__", "dt 1.0e4932", "dt 1.2e4932"]


@pytest.mark.parametrize("text", FLOATS)
def test_float_overflow(tmp_path, text):
    check(tmp_path, text + "\n")


# ---- NASM's unsigned byte immediates (`ib,u`): a negative value warns

UNSIGNED = ["int -1", "int -128", "int 255", "int -129", "int -256", "int -257", "in al, -1",
            "out -1, al", "enter 1, -1", "enter -1, 1", "ret -1", "aam -1", "shl ax, -1",
            "bt ax, -1", "push byte -1", "mov al, -1", "pshufw mm0, mm1, -1",
            "cmpps xmm0, xmm1, -1", "shl ax, 255", "shl ax, 256", "shld ax, bx, -1",
            "psrlw mm1, -1", "pextrw eax, mm1, -1", "shufps xmm1, xmm2, -128"]


@pytest.mark.parametrize("line", UNSIGNED)
@OPTS
def test_unsigned_byte_immediates(tmp_path, line, opt):
    check_at(tmp_path, "cpu all\n" + line + "\n", opt)


# ---- the control and test registers NASM names beyond the documented ones

REGISTERS = ["mov eax, cr1", "mov eax, cr5", "mov cr6, eax", "mov eax, cr7", "mov eax, tr0",
             "mov tr1, eax", "mov eax, tr2", "bits 16\nmov eax, cr5", "cpu 386\nmov eax, tr0",
             "cpu 486\nmov tr2, eax", "cpu 586\nmov tr2, eax", "push cr5", "mov ax, cr5",
             "mov eax, [cr5]", "mov word cr5, eax", "cr5: nop"]


@pytest.mark.parametrize("line", REGISTERS)
def test_more_registers(tmp_path, line):
    check(tmp_path, "bits 32\n" + line + "\n")


# ---- `lea reg, value`: NASM reads the value as the memory operand's displacement

LEA = ["lea ax, 5", "lea ax, x\nx:", "bits 32\nlea eax, x\nx:", "lea ax, word 5",
       "lea ax, byte 5", "lea ax, 70000", "bits 32\nlea eax, 5", "bits 32\nlea ax, 5",
       "lea eax, 5", "lea ax, strict 5", "lea ax, x+bx\nx:", "lea ax, -1", "lea ax, short 5",
       "lea ax, far 5", "lea 5, ax", "lea ax, 0x10:5"]


@pytest.mark.parametrize("text", LEA)
@OPTS
def test_lea_value(tmp_path, text, opt):
    check_at(tmp_path, text + "\n", opt)


def test_lea_value_elf(tmp_path):
    theirs, ours = elf_dumps(tmp_path, "bits 32\nextern e\nsection .text\nlea eax, e\n"
                                       "lea eax, d+4\nsection .data\nd: dd 0\n")
    assert ours == theirs


# ---- brackets: nested, and what follows a memory operand (NASM names the token's number)

AFTER_BRACKET = ["[[bx]]", "[bx]]", "[bx][si]", "[bx]+2", "[bx] 2", "[bx], [si]]", "[[bx]",
                 "[bx+[si]]", "[bx] x", "[bx] cx", '[bx] "s"', "[bx] 1.5", "[bx] nop",
                 "[bx] (", "[bx] -", "[bx] *", "[bx] $", "[bx] word", "[bx] :", "[bx] ?",
                 "[bx] rep", "[bx] es", "[bx] strict", "[bx] ~", "[bx] seg", "[bx] <<",
                 "[bx] )", "[bx] $$", "[bx] dup", "[bx] db", "[bx] far", "[bx] times",
                 "[bx] equ", "[bx] >>", "[bx] //", "[bx] %%", "[bx] ==", "[bx] <>",
                 "[bx] !=", "[bx] <=", "[bx] >=", "[bx] &&", "[bx] ||", "[bx] ^^",
                 "[bx] <=>", "[bx] >>>", "[bx] <<<", "[bx] =", "[bx] /"]


@pytest.mark.parametrize("operand", AFTER_BRACKET)
def test_after_brackets(tmp_path, operand):
    check(tmp_path, f"mov ax, {operand}\n")


# ---- a directive's name alone is a label (its macro takes no empty argument), and the
# warning about a macro's parameter count is worded and classed as NASM's

DIRECTIVE_NAMES = ["bits", "use16", "use32", "section", "segment", "absolute", "global",
                   "extern", "common", "static", "required", "cpu", "default", "org",
                   "sectalign", "warning", "float", "map", "list", "debug", "pragma",
                   "bits ; c", "x: bits", "section\nnop", "bits\njmp bits",
                   "%macro m 1\nnop\n%endmacro\nm", "%macro m 1\nnop\n%endmacro\nm 1, 2"]


@pytest.mark.parametrize("text", DIRECTIVE_NAMES)
def test_directive_names_alone(tmp_path, text):
    check(tmp_path, text + "\n")


@pytest.mark.parametrize("option", ["-w-pp-macro-params-multi", "-w-pp-macro-params", "-w-pp",
                                    "-w-macro-params", "-w-macro-params-multi",
                                    "-w-macro-params-single"])
def test_macro_params_warning_options(tmp_path, option):
    check(tmp_path, "%macro m 1\nnop\n%endmacro\nm\n", option, warnings=[option[2:]])


# ---- `dup` of a `dup` without parentheses, and `dup` as a symbol's name

DUPS = ["db dup", "db dup 1", "db dup, 1", "db (dup)", "dup: db dup", "db 2 dup dup",
        "db 1 dup 2 dup (3, 4)", "db 2 dup 2 dup 2 dup 5", "db 2 dup word 2 dup 3",
        "db 2 dup 2 dup ?", "db 2 dup 2 dup 3, 4", "db 1 dup 2 dup 3",
        "db 2 dup (2 dup 3 dup 1), 2 dup 2 dup 9", "db word 2 dup 3", "db 2 dup word 3",
        "dw 2 dup byte 2 dup 3, 4", "db 2 dup (1), 2 dup 2 dup 1"]


@pytest.mark.parametrize("text", DUPS)
def test_dup_chains(tmp_path, text):
    check(tmp_path, text + "\n")


# ---- incbin: NASM's messages for a missing file and a negative offset

@pytest.mark.parametrize("args", ['"data.bin"', '"data.bin", 2', '"data.bin", 2, 3',
                                  '"data.bin", 10', '"data.bin", 2, 100', '"data.bin", -1',
                                  '"nonexist.bin"', "'data.bin'", "`data.bin`"])
def test_incbin_messages(tmp_path, args):
    (tmp_path / "data.bin").write_bytes(b"ABCDEFGH")
    check(tmp_path, f"incbin {args}\n")


# ---- NASM's displacement[regs] syntax: `5[bx]` is `[5+bx]`

DISPLACEMENTS = ["mov ax, 5[bx]", "mov ax, x[bx]\nx:", "mov ax, x[bx+si+2]\nx:",
                 "mov ax, word 5[bx]", "mov 5[bx], ax", "mov ax, es:5[bx]", "mov ax, 5[es:bx]",
                 "bits 32\nmov eax, 4[ebx*4]", "bits 32\nmov eax, 4[ebp]",
                 "bits 32\nmov eax, x[ebx+ecx*2]\nx:", "lea ax, 5[bx]", "jmp 5[bx]",
                 "mov ax, 5[bx][si]", "mov ax, (1+2)[bx]", "mov ax, -2[bx]", "mov ax, 5 [bx]",
                 "push word 5[bx]", "mov ax, [bx]5", "db 5[bx]", "mov ax, 5[bx] + 1",
                 "mov ax, 5[5]", "mov ax, 5[a32 ebx]", "mov ax, es:x[bx]\nx:",
                 "jmp cs:5[bx]", "mov ax, 5:5[bx]", "mov ax, es:5[ds:bx]"]


@pytest.mark.parametrize("text", DISPLACEMENTS)
@OPTS
def test_displacement_brackets(tmp_path, text, opt):
    check_at(tmp_path, text + "\n", opt)


def test_displacement_brackets_elf(tmp_path):
    theirs, ours = elf_dumps(tmp_path, "bits 32\nextern e\nsection .text\n"
                                       "mov eax, e[ebx*4]\nmov eax, d+4[esi]\n"
                                       "section .data\nd: dd 0\n")
    assert ours == theirs


# ---- listings of `?` and reservations (`??`, a run as one piece, `<res Nh>` past 8 bytes)
# and of data in a nobits section

LISTED = [
    "db 2 dup (1, ?)\ntimes 2 db ?, 1\ndw ?, 5\ndd 1, ?, ?\nsection .bss\ndb 2 dup (?, 2)\ndw ?\n",
    "db 1, 2, ?, ?, ?, ?, ?, ?, ?, ?, ?, 3\ndb 20 dup (?), 1\ndb 8 dup (?), 1\ndb 9 dup (?)\n"
    "dw ?,?,?,?,?\nresb 9\nresb 15\n",
    "section .bss\ndb 1, 2, ?, ?, ?, ?, ?, ?, ?, ?, ?, 3\ndq ?, ?, 1\ndb 20 dup (?), 1\n"
    "db 9 dup (?)\ndw ?,?,?,?,?\nresb 9\nresb 15\nresb 8\nresw 8\nresd 3\n",
    "rep\no32\nnop\nsection .bss\ndb 1, 2\nnop\nx: dd x\ntimes 2 db 3\ndb 2 dup (1, ?)\n"
    "section .data\ndd 1.0e40\nmov ax, 5[bx]\n",
]


@pytest.mark.parametrize("text", LISTED)
@pytest.mark.parametrize("fmt", ["bin", "elf32"])
def test_listings(tmp_path, text, fmt):
    same_listing(tmp_path, text, fmt)
