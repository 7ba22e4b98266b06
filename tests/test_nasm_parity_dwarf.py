"""``pyasm -f elf32 -g -F dwarf|stabs`` against nasm 2.16.01: the same object bytes (so
``readelf --debug-dump=decodedline`` and ``readelf -wi`` agree too), pyld keeping and
relocating the debug sections exactly as GNU ld does, and a real gdb stopping on a
source line of a pyasm-assembled, pyld-linked program run natively."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import require_tool

from asm import cli
from asm.link import cli as pyld_cli

INC = """\
    inc eax
    dec eax
%macro bar 1
    mov ecx, %1
    add ecx, 1
%endmacro
"""

DATA_INC = "section .data\nincd: dd 5\nsection .bss\nincb: resb 4\n"

CASES = {
    # special opcodes, a macro body (its definition's lines), `times`, a data section
    "basic": "section .text\nglobal _start\n_start:\n    mov eax, 1\n    mov ebx, 0\n"
             "%macro foo 0\n    nop\n    nop\n%endmacro\n    foo\n    int 0x80\n"
             "section .data\nmsg: db \"hi\", 10\nsection .text\nafter:\n    ret\n",
    # %include (file table, DW_LNS_set_file), a macro defined there, %rep (lines going
    # back), align (a built-in macro: the invoking line), a second executable section
    "include-rep-sections": "section .text\nglobal _start\n_start:\n    mov eax, 1\n"
                            "%include \"inc.inc\"\n    bar 5\n%rep 3\n    nop\n    inc ebx\n"
                            "%endrep\n    times 2 nop\n    nop\nsection .data\nd1: dd 1.0\n"
                            "section .text\n    int 0x80\nsection .other exec\n    cld\n"
                            "    std\nsection .text\n    hlt\n    align 16\n    ret\n",
    # DW_LNS_advance_line/advance_pc/copy, and NASM's one-byte end-of-sequence operand
    "long-gaps": "section .text\n_start:\n    times 300 nop\n    mov eax, 1\n" + "\n" * 18 +
                 "    int 0x80\n    jmp _start\n%macro up 0\n    inc eax\n%endmacro\n"
                 "    up\n    times 200 nop\n",
    # relocations in .text next to the debug ones; an extern nothing uses is not written
    "extern-call": "extern puts, unused_ext\nsection .data\nmsg: db \"hi\", 0\nsection .text\n"
                   "global main\nmain:\n    push msg\n    call puts\n    add esp, 4\n    ret\n",
    # an included file with data only: in the file table, without rows
    "data-include": "section .text\n%include \"data.inc\"\nsection .text\nglobal f\n"
                    "f:  push ebp\n    mov ebp, esp\na1: db 1\n    pop ebp\ng2: ret\n"
                    "section .text2 exec\n    nop\nsection .text\n    nop\n",
    # nothing executable: every debug section written empty
    "data-only": "struc pt\n.x: resd 1\n.y: resw 1\nendstruc\nsection .data\nq: istruc pt\n"
                 "at pt.x, dd 1\nat pt.y, dw 2\niend\nz: do 1.0\nr: reso 1\nw: dd \"ab\", 1.0\n",
    # a global label or an EQU relative to a section takes the place of the last label
    "global-and-equ-labels": "section .text\nmain:\n    call .x\n.x: pop ebx\n    ret\n"
                             "section .data\nglobal gv\ngv: dd 5\nhere equ gv + 4\n"
                             "    dd here\n",
    # NASM's debug_typevalue: the last local label before data becomes an STT_OBJECT
    "symbol-types": "section .data\nglobal gg\ncommon cm 4\na: db 1\nequx equ 5\n   db 2\n"
                    "gg: nop\n   dw 3\nx1:\nsection .text\n   dd 9\nsection .data\n   resb 0\n"
                    ".loc: db 1\nff: dd 1.0, 2\nhh: db 1, 2.0\nsection .bss\nr: resb 10\n"
                    "s: resd 3\nsection .text\nlab: nop\n     db 5\nlab2: dd 7\n",
    # output of no bytes (an empty string, a zero reservation, an align already met)
    # tells NASM's debug back end nothing; incbin and data in .text count as a line
    "zero-length": "section .text\n    nop\n    db \"\"\n    nop\n    times 0 nop\n    nop\n"
                   "    align 4\n    align 4\n    nop\n    resb 0\n    nop\n"
                   "    incbin \"blob.bin\"\n    nop\n    dd 0\n    nop\nlbl:\n    nop\n",
    # `%line N+M file` (preprocessed sources): the rows, file table and symbols follow it;
    # NASM takes it as the file is read (a false %if, a %rep body too); an %include and
    # a macro keep their own numbers
    "line-directive": "section .text\nglobal _start\n_start:\n    nop\n"
                      "%line 100+1 other.asm\n    mov eax, ebx\n    nop\n"
                      "%line 5+2 \"third x.asm\"\n    nop\nl3: nop\n%line 50\n    ret\n"
                      "%include \"inc.inc\"\n    bar 3\n%if 0\n%line 7 gone.asm\n%endif\n"
                      "%rep 2\n%line 300+0 rep.asm\n    inc eax\n%endrep\n    hlt\n",
}
FILES = {"inc.inc": INC, "data.inc": DATA_INC, "blob.bin": "abc"}


def _write_case(tmp_path: Path, name: str) -> Path:
    for fname, text in FILES.items():
        (tmp_path / fname).write_text(text)
    src = tmp_path / "t.asm"
    src.write_text(CASES[name])
    return src


def _nasm(tmp_path: Path, *args: str, src: str = "t.asm", out: str = "n.o") -> bytes:
    exe = require_tool("nasm")
    r = subprocess.run([exe, "-f", "elf32", *args, src, "-o", out], capture_output=True,
                       text=True, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    return (tmp_path / out).read_bytes()


def _pyasm(tmp_path: Path, *args: str, src: str = "t.asm", out: str = "p.o") -> bytes:
    """The pyasm command line, in-process, from the source's directory (the file name and
    DW_AT_comp_dir come out as nasm's)."""
    old = os.getcwd()
    os.chdir(tmp_path)
    try:
        status = cli.main(["-f", "elf32", *args, src, "-o", out])
    finally:
        os.chdir(old)
    assert status == 0
    return (tmp_path / out).read_bytes()


def _readelf(path: Path, *args: str) -> str:
    exe = require_tool("readelf")
    r = subprocess.run([exe, *args, str(path)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    return r.stdout


@pytest.mark.parametrize("options", [("-g", "-F", "dwarf"), ("-g",), ("-F", "stabs")],
                         ids=["g-dwarf", "g", "stabs"])
@pytest.mark.parametrize("name", list(CASES))
def test_debug_object_is_nasms(tmp_path, name, options):
    _write_case(tmp_path, name)
    n = _nasm(tmp_path, *options)
    p = _pyasm(tmp_path, *options)
    if p != n:      # say where, in readelf's words
        for args in (("--debug-dump=decodedline",), ("-wi",), ("-S", "-s", "-r")):
            assert _readelf(tmp_path / "p.o", *args) == _readelf(tmp_path / "n.o", *args)
    assert p == n


# random programs: instructions, data, reservations, labels (local, global, EQU),
# sections, macros, %rep, %include, times, align, long gaps
_POOL = ["    nop", "    mov eax, 12345", "    db 1, 2", "    dw 7", "    dd 1.5", "    dq 3",
         "    resb 3", "    resd 2", "    times 3 nop", "    align 8", "    ret", "    jmp {L}",
         "    call {L}", "    dd {L}", "{N}:", "{N}: db 'x'", "{N}: nop", "global {N}\n{N}:",
         "section .data", "section .text", "section .bss", "section .t2 exec",
         "section .rodata", "    m1", "    m2 {n}", '%include "fz.inc"',
         "%rep 2\n    inc eax\n    dec eax\n%endrep", "", "; comment", "{N} equ {L} + 2",
         "    im 5", "    times 200 db 0", "\n" * 10]
_FZ_INC = "    inc esi\n%macro im 1\n    mov edx, %1\n    db %1\n%endmacro\nincl: dd 3\n"


def _random_program(seed: int) -> str:
    import random
    r = random.Random(seed)
    labels = [f"l{i}" for i in range(8)]
    out = ["%macro m1 0\n    push eax\n    pop eax\n%endmacro",
           "%macro m2 1\n    mov ebx, %1\n    add ebx, %1\n    nop\n%endmacro",
           "section .text", "l0: nop", "l1: nop"]
    used = {"l0", "l1"}
    for _ in range(r.randint(5, 40)):
        t = r.choice(_POOL)
        name = r.choice(labels)
        if "{N}" in t:
            if name in used:
                continue
            used.add(name)
        if "{L}" in t:
            t = t.replace("{L}", r.choice(sorted(used)))
        out.append(t.replace("{N}", name).replace("{n}", str(r.randint(0, 300))))
    return "\n".join(out) + "\n"


def _random_sweep(tmp_path: Path, seeds: range, wanted: int) -> int:
    exe = require_tool("nasm")
    (tmp_path / "fz.inc").write_text(_FZ_INC)
    done = 0
    for seed in seeds:
        (tmp_path / "t.asm").write_text(_random_program(seed))
        if subprocess.run([exe, "-f", "elf32", "t.asm", "-o", "x.o"], cwd=tmp_path,
                          capture_output=True).returncode:
            continue                    # (the generator also writes what nasm rejects)
        for options in (("-g",), ("-F", "stabs")):
            assert _pyasm(tmp_path, *options) == _nasm(tmp_path, *options), (seed, options)
        done += 1
        if done == wanted:
            break
    return done


def test_random_programs_sample(tmp_path):
    assert _random_sweep(tmp_path, range(40), 10) == 10


@pytest.mark.slow
def test_random_programs_many(tmp_path):
    assert _random_sweep(tmp_path, range(1000, 1600), 250) >= 200


def test_line_table_and_info_dumps_match(tmp_path):
    """What the issue asks for literally: readelf's decoded line table and -wi output."""
    _write_case(tmp_path, "include-rep-sections")
    _nasm(tmp_path, "-g", "-F", "dwarf")
    _pyasm(tmp_path, "-g", "-F", "dwarf")
    lines = _readelf(tmp_path / "p.o", "--debug-dump=decodedline")
    assert lines == _readelf(tmp_path / "n.o", "--debug-dump=decodedline")
    assert re.search(r"inc\.inc\s+4\s+0x7\s", lines)        # the macro body's own line
    assert _readelf(tmp_path / "p.o", "-wi") == _readelf(tmp_path / "n.o", "-wi")


def test_without_g_no_debug_sections(tmp_path):
    _write_case(tmp_path, "basic")
    assert _pyasm(tmp_path) == _nasm(tmp_path)
    assert ".debug" not in _readelf(tmp_path / "p.o", "-S")


def test_section_order_declared_in_an_included_file(tmp_path):
    """NASM orders ELF sections by first declaration, also one in an %included file
    (a `section .text` there puts .text before the sections declared after it)."""
    (tmp_path / "d.inc").write_text("section .data\nincd: dd 5\nsection .bss\nincb: resb 4\n"
                                    "section .text\n")
    (tmp_path / "t.asm").write_text("section .rodata\ndb 1\n%include \"d.inc\"\nglobal f\n"
                                    "f:  push ebp\n    ret\nsection .text2 exec\n    nop\n")
    for options in ((), ("-g",)):
        assert _pyasm(tmp_path, *options) == _nasm(tmp_path, *options), options


def test_unreferenced_extern_is_not_written(tmp_path):
    (tmp_path / "t.asm").write_text("extern ex, used\nglobal g\ncommon cm 4\nsection .text\n"
                                    "g: call used\n")
    assert _pyasm(tmp_path) == _nasm(tmp_path)
    assert " ex\n" not in _readelf(tmp_path / "p.o", "-s")


# --------------------------------------------------------------------------- pyld

PROG = """\
section .text
global _start
_start:
    mov eax, 1
    mov ebx, 7
    call helper
%include "step.inc"
    int 0x80
helper:
    add ebx, 1
    ret
"""
STEP_INC = "    add ebx, 2\n    sub ebx, 2\n"


def _pyld(tmp_path: Path, *args: str) -> Path:
    out = tmp_path / "prog"
    old = os.getcwd()
    os.chdir(tmp_path)
    try:
        status = pyld_cli.main([*args, "-o", str(out)])
    finally:
        os.chdir(old)
    assert status == 0
    return out


def _section(path: Path, name: str) -> bytes:
    exe = require_tool("objcopy")
    out = path.with_suffix(".sec")
    subprocess.run([exe, "-O", "binary", f"--only-section={name}", str(path), str(out)],
                   check=True)
    return out.read_bytes()


def test_pyld_keeps_and_relocates_debug_sections_like_ld(tmp_path):
    (tmp_path / "prog.asm").write_text(PROG)
    (tmp_path / "step.inc").write_text(STEP_INC)
    (tmp_path / "more.asm").write_text("section .text\nglobal more\nmore:\n    nop\n    ret\n")
    _pyasm(tmp_path, "-g", src="prog.asm", out="prog.o")
    _pyasm(tmp_path, "-g", src="more.asm", out="more.o")
    ld = require_tool("ld")
    subprocess.run([ld, "-m", "elf_i386", "prog.o", "more.o", "-o", "prog.ld"], cwd=tmp_path,
                   check=True)
    prog = _pyld(tmp_path, "prog.o", "more.o")
    ref = tmp_path / "prog.ld"
    for name in (".text", ".debug_aranges", ".debug_info", ".debug_abbrev", ".debug_line"):
        assert _section(prog, name) == _section(ref, name), name
    for args in (("--debug-dump=decodedline",), ("-wi",)):
        assert _readelf(prog, *args) == _readelf(ref, *args)
    assert ".debug_line" in _readelf(prog, "-S")
    stripped = _pyld(tmp_path, "-s", "prog.o", "more.o")
    assert ".debug" not in _readelf(stripped, "-S")            # ld -s drops them too


def test_gdb_breaks_on_an_assembly_source_line(tmp_path):
    """A pyasm -g object linked by pyld, run natively under gdb: `break file:line` stops
    there, in the right function, also on a line of an %included file."""
    gdb = require_tool("gdb")
    (tmp_path / "prog.asm").write_text(PROG)
    (tmp_path / "step.inc").write_text(STEP_INC)
    _pyasm(tmp_path, "-g", "-F", "dwarf", src="prog.asm", out="prog.o")
    prog = _pyld(tmp_path, "prog.o")
    r = subprocess.run([gdb, "-batch", "-nx", "-ex", "break prog.asm:10", "-ex",
                        "break step.inc:2", "-ex", "run", "-ex", "info line *$pc", "-ex",
                        "bt", "-ex", "continue", "-ex", "info line *$pc", "-ex", "kill",
                        str(prog)], capture_output=True, text=True, cwd=tmp_path, timeout=120)
    out = r.stdout
    assert "Breakpoint 1 at 0x" in out and "file prog.asm, line 10." in out, out + r.stderr
    assert re.search(r"Breakpoint 1, helper \(\) at prog\.asm:10\n10\s+add ebx, 1", out), out
    assert re.search(r'Line 10 of "prog\.asm" starts at address 0x[0-9a-f]+ <helper>', out)
    assert re.search(r"#0\s+helper \(\) at prog\.asm:10", out)
    assert re.search(r"Breakpoint 2, _start \(\) at step\.inc:2\n2\s+sub ebx, 2", out), out
    assert 'Line 2 of "step.inc"' in out


# --------------------------------------------------------------------------- sections

def _many_sections(count: int, extra: str = "") -> str:
    return ("global start\n" + "".join(f"section s{i}\n" for i in range(count)) +
            "section .text\nstart: nop\n" + extra)


def test_extended_section_numbering_is_nasms(tmp_path):
    """More than 65,279 sections: e_shnum 0 and the count in section 0's sh_size,
    e_shstrndx SHN_XINDEX and the index in its sh_link, st_shndx SHN_XINDEX and the
    index in .symtab_shndx, a relocation against a section past 0xff00."""
    (tmp_path / "t.asm").write_text(_many_sections(65290, "section s65285\nlab: dd lab\n"))
    n = _nasm(tmp_path)
    p = _pyasm(tmp_path)
    assert p == n
    head = _readelf(tmp_path / "p.o", "-h")
    assert re.search(r"Number of section headers:\s+0 \(65297\)", head)
    assert re.search(r"Section header string table index:\s+65535 \(65292\)", head)


@pytest.mark.slow
@pytest.mark.parametrize("count", [65273, 65274, 65276, 65278, 65279])
def test_extended_numbering_boundaries(tmp_path, count):
    (tmp_path / "t.asm").write_text(_many_sections(count))
    assert _pyasm(tmp_path) == _nasm(tmp_path)


@pytest.mark.slow
def test_exactly_0xff00_sections_gets_a_readable_count(tmp_path):
    """At exactly 65,280 sections nasm 2.16.01 writes e_shnum 0 and leaves section 0's
    sh_size 0 too (readelf: "0 (0)", a file no tool can read); pyasm writes the count
    there and is otherwise byte-identical."""
    (tmp_path / "t.asm").write_text(_many_sections(65275))
    n, p = _nasm(tmp_path), _pyasm(tmp_path)
    at = 0x40 + 20                      # section 0's sh_size
    assert int.from_bytes(n[at:at + 4], "little") == 0
    assert int.from_bytes(p[at:at + 4], "little") == 65280
    assert p[:at] + p[at + 4:] == n[:at] + n[at + 4:]


# --------------------------------------------------------------------------- pyvm --debug

def test_pyvm_debug_shows_the_source_line_gdb_shows(tmp_path):
    """``pyvm --debug`` reads the DWARF line table: `break FILE:LINE` lands where gdb puts
    the breakpoint, and the stop names the file, line and source text gdb names."""
    gdb = require_tool("gdb")
    (tmp_path / "prog.asm").write_text(PROG)
    (tmp_path / "step.inc").write_text(STEP_INC)
    _pyasm(tmp_path, "-g", src="prog.asm", out="prog.o")
    prog = _pyld(tmp_path, "prog.o")
    ref = subprocess.run([gdb, "-batch", "-nx", "-ex", "break prog.asm:10", "-ex",
                          "break step.inc:2", str(prog)], capture_output=True, text=True,
                         cwd=tmp_path, timeout=120).stdout
    expected = re.findall(r"Breakpoint \d+ at (0x[0-9a-f]+): file (\S+), line (\d+)\.", ref)
    assert len(expected) == 2, ref
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    r = subprocess.run([sys.executable, "-m", "vm.cli", "--debug", str(prog)],
                       input="break prog.asm:10\nbreak step.inc:2\ncontinue\nbt\n"
                             "continue\ninfo line\ncontinue\n",
                       capture_output=True, text=True, timeout=120, cwd=tmp_path,
                       env={**os.environ, "PYTHONPATH": root})
    out = r.stdout
    got = re.findall(r"Breakpoint \d+ at (0x[0-9a-f]+) <[^>]*>: file (\S+), line (\d+)\.",
                     out)
    assert got == expected, out + r.stderr
    assert re.search(r"Breakpoint 1, 0x[0-9a-f]+ in helper \(\) at prog\.asm:10\n"
                     r"10\t    add ebx, 1\n", out), out
    assert re.search(r"#0  0x[0-9a-f]+ in helper \(\) at prog\.asm:10\n"
                     r"#1  0x[0-9a-f]+ in _start\+\d+ \(\) at prog\.asm:6\n", out), out
    assert re.search(r"Breakpoint 2, 0x[0-9a-f]+ in _start\+\d+ \(\) at step\.inc:2\n"
                     r"2\t    sub ebx, 2\n", out), out
    assert 'Line 2 of "step.inc"' in out
    native = subprocess.run([str(prog)], timeout=60).returncode
    assert f"exited with code 0{native:o}]" in out, out


def test_gdb_through_pyvms_stub_breaks_on_a_source_line(tmp_path):
    """The same program run by pyvm's GDB stub: gdb, reading the DWARF pyasm wrote and
    pyld kept, stops at prog.asm:10 and reports the exit status the native run has."""
    gdb = require_tool("gdb")
    (tmp_path / "prog.asm").write_text(PROG)
    (tmp_path / "step.inc").write_text(STEP_INC)
    _pyasm(tmp_path, "-g", src="prog.asm", out="prog.o")
    prog = _pyld(tmp_path, "prog.o")
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    stub = subprocess.Popen([sys.executable, "-m", "vm.debug", "--input", "/dev/null",
                             "--gdb", "127.0.0.1:0", str(prog)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, cwd=root)
    try:
        line = stub.stderr.readline().decode()
        m = re.search(r"listening for gdb on 127\.0\.0\.1:(\d+)", line)
        assert m, line
        r = subprocess.run([gdb, "-batch", "-nx", "-ex", f"target remote 127.0.0.1:{m[1]}",
                            "-ex", "break prog.asm:10", "-ex", "continue", "-ex", "bt",
                            "-ex", "continue", str(prog)], capture_output=True, text=True,
                           cwd=tmp_path, timeout=120)
    finally:
        stub.kill()
        stub.wait()
    out = r.stdout
    assert re.search(r"Breakpoint 1, helper \(\) at prog\.asm:10\n10\s+add ebx, 1", out), \
        out + r.stderr
    assert re.search(r"#0\s+helper \(\) at prog\.asm:10", out), out
    native = subprocess.run([str(prog)], timeout=60).returncode
    assert f"exited with code 0{native:o}]" in out, out


def test_pyld_links_gcc_debug_info_gdb_reads_it(tmp_path):
    """gcc's own DWARF (version 5: .debug_str, .debug_line_str, .debug_frame) through
    pyld: the decoded line table is ld's, and gdb finds lines, frames and variables."""
    gcc, ld, gdb = require_tool("gcc"), require_tool("ld"), require_tool("gdb")
    (tmp_path / "f.c").write_text(
        "static int add(int a, int b) {\n    int c = a + b;\n    return c;\n}\n"
        "void _start(void) {\n    int r = add(3, 4);\n"
        "    __asm__ volatile (\"int $0x80\" :: \"a\"(1), \"b\"(r));\n}\n")
    subprocess.run([gcc, "-m32", "-g", "-O0", "-ffreestanding", "-fno-pic", "-c", "f.c",
                    "-o", "f.o"], cwd=tmp_path, check=True, timeout=120)
    subprocess.run([ld, "-m", "elf_i386", "f.o", "-o", "f.ld"], cwd=tmp_path, check=True)
    prog = _pyld(tmp_path, "f.o")
    assert (_readelf(prog, "--debug-dump=decodedline") ==
            _readelf(tmp_path / "f.ld", "--debug-dump=decodedline"))
    r = subprocess.run([gdb, "-batch", "-nx", "-ex", "break f.c:3", "-ex", "run", "-ex", "bt",
                        "-ex", "print c", "-ex", "kill", str(prog)], capture_output=True,
                       text=True, cwd=tmp_path, timeout=120)
    assert re.search(r"Breakpoint 1, add \(a=3, b=4\) at f\.c:3", r.stdout), r.stdout + r.stderr
    assert re.search(r"#1\s+0x[0-9a-f]+ in _start \(\) at f\.c:6", r.stdout), r.stdout
    assert "$1 = 7" in r.stdout
    # pyvm --debug reads the same DWARF 5 line table: gdb's address for f.c:3
    at = re.search(r"Breakpoint 1 at (0x[0-9a-f]+): file f\.c, line 3\.", r.stdout)
    assert at, r.stdout
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    v = subprocess.run([sys.executable, "-m", "vm.cli", "--debug", str(prog)],
                       input="break f.c:3\ncontinue\nbt\ncontinue\n", capture_output=True,
                       text=True, timeout=120, cwd=tmp_path,
                       env={**os.environ, "PYTHONPATH": root})
    assert f"Breakpoint 1 at {at[1]} <add+" in v.stdout, v.stdout + v.stderr
    assert re.search(r"in add\+\d+ \(\) at f\.c:3\n3\t    return c;\n", v.stdout), v.stdout
    assert re.search(r"#1  0x[0-9a-f]+ in _start\+\d+ \(\) at f\.c:6", v.stdout), v.stdout
    assert "exited with code 07]" in v.stdout
