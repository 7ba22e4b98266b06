"""pyld's errors: one clear ``pyld: error:`` line each, exit status 1, no output file, and
never a Python traceback, whatever the input."""

from __future__ import annotations

import random
import subprocess
from pathlib import Path

import pytest
from conftest import require_tool
from link.linkkit import gcc_c, nasm, pyld

from formats.ar import write_archive
from formats.elf import ObjReloc, ObjSection, ObjSymbol, section_defaults, write_relocatable
from formats.elf.constants import R_386_32, R_386_COPY, R_386_TLS_LE

START = "global _start\n_start: mov eax, 1\n int 0x80\n"


def fails(tmp_path: Path, *args) -> list[str]:
    """Run pyld expecting failure; return its error lines. Checks exit 1 and no output."""
    out = tmp_path / "out"
    status, err = pyld(*args, "-o", out)
    assert status == 1, err
    assert not out.exists(), "an output file was left behind"
    assert not list(tmp_path.glob(".pyld-*")), "a temporary file was left behind"
    lines = err.strip().splitlines()
    assert lines and all(line.startswith("pyld: error: ") for line in lines), err
    assert "Traceback" not in err
    return [line[len("pyld: error: "):] for line in lines]


def test_undefined_symbol_names_symbol_object_section_and_offset(tmp_path):
    obj = nasm("global _start\nextern missing, other\nsection .text\n_start: nop\n"
               " call missing\nsection .data\n dd 0, other\n", tmp_path / "u.o")
    errors = fails(tmp_path, obj)
    assert f"undefined symbol 'missing', referenced in {obj}(.text+0x2) (in _start)" in errors
    assert any(e.startswith(f"undefined symbol 'other', referenced in {obj}(.data+0x4)")
               for e in errors)
    assert len(errors) == 2


def test_undefined_weak_symbol_is_zero_not_an_error(tmp_path):
    obj = tmp_path / "w.o"
    obj.write_bytes(write_relocatable(
        [ObjSection(".text", b"\xb8\0\0\0\0\xc3", *section_defaults(".text"))],
        [ObjSymbol("_start", ".text", 0, bind="global"), ObjSymbol("maybe", bind="weak")],
        [ObjReloc(".text", 1, R_386_32, "maybe", addend=0)]))
    status, err = pyld(obj, "-o", tmp_path / "w")
    assert status == 0, err


def test_stale_output_is_removed_on_error(tmp_path):
    obj = nasm("global _start\nextern missing\n_start: call missing\n", tmp_path / "s.o")
    (tmp_path / "out").write_bytes(b"old program")
    fails(tmp_path, obj)


def test_duplicate_definition_names_both_objects(tmp_path):
    one = nasm(START, tmp_path / "one.o")
    two = nasm(START, tmp_path / "two.o")
    assert fails(tmp_path, one, two) == [
        f"duplicate definition of '_start': defined in {one}(.text) and in {two}(.text)"]


def test_weak_and_strong_definitions_do_not_clash(tmp_path):
    weak = tmp_path / "weak.o"
    weak.write_bytes(write_relocatable(
        [ObjSection(".text", b"\xc3", *section_defaults(".text"))],
        [ObjSymbol("_start", ".text", 0, bind="weak")]))
    strong = nasm(START, tmp_path / "strong.o")
    assert pyld(weak, strong, "-o", tmp_path / "ok")[0] == 0


@pytest.mark.parametrize("source,reloc", [
    ("global _start\n_start: dw _start\n", "R_386_16"),
    ("global _start\n_start: db _start\n", "R_386_8"),
    ("global _start\nextern far_away\n_start: jmp short far_away\n", "R_386_PC8"),
])
def test_relocation_overflow(tmp_path, source, reloc):
    obj = nasm(source, tmp_path / "o.o")
    far = nasm("global far_away\ntimes 300 nop\nfar_away: ret\n", tmp_path / "far.o")
    [error] = fails(tmp_path, obj, far)
    assert error.startswith(f"{obj}(.text+0x")
    assert f"relocation {reloc} against" in error and "out of range" in error
    assert f"does not fit in {8 if reloc.endswith('8') else 16} bits" in error


@pytest.mark.parametrize("rtype,name", [(R_386_TLS_LE, "R_386_TLS_LE"),
                                        (R_386_COPY, "R_386_COPY"), (200, "type 200")])
def test_unsupported_relocation_type(tmp_path, rtype, name):
    obj = tmp_path / "r.o"
    obj.write_bytes(write_relocatable(
        [ObjSection(".text", b"\xb8\0\0\0\0\xc3", *section_defaults(".text"))],
        [ObjSymbol("_start", ".text", 0, bind="global"), ObjSymbol("thing", bind="global")],
        [ObjReloc(".text", 1, rtype, "thing")]))
    assert fails(tmp_path, obj) == [
        f"{obj}(.text+0x1): unsupported relocation type {name} ({rtype}) against 'thing'"]


def test_not_an_object(tmp_path):
    text = tmp_path / "notes.txt"
    text.write_text("just words\n")
    assert fails(tmp_path, text) == [
        f"{text}: not an ELF32 relocatable object or archive (unknown file format)"]


def test_executable_is_not_a_relocatable_object(tmp_path):
    obj = nasm(START, tmp_path / "s.o")
    assert pyld(obj, "-o", tmp_path / "exe")[0] == 0
    assert fails(tmp_path, tmp_path / "exe") == [
        f"{tmp_path / 'exe'}: not an ELF32 relocatable object (e_type is EXEC)"]


def test_elf64_object(tmp_path):
    require_tool("gcc")
    src = tmp_path / "x.c"
    src.write_text("int f(void) { return 1; }\n")
    subprocess.run(["gcc", "-c", str(src), "-o", str(tmp_path / "x64.o")], check=True)
    assert fails(tmp_path, tmp_path / "x64.o") == [
        f"{tmp_path / 'x64.o'}: not an ELF32 file (it is ELF64)"]


def test_truncated_object(tmp_path):
    obj = nasm(START, tmp_path / "s.o")
    cut = tmp_path / "cut.o"
    cut.write_bytes(obj.read_bytes()[:200])
    [error] = fails(tmp_path, cut)
    assert error.startswith(f"{cut}: ") and "truncated section header table" in error


def _archive_with(tmp_path: Path) -> bytes:
    obj = nasm("global helper\nhelper: ret\n", tmp_path / "h.o")
    return write_archive([("h.o", obj.read_bytes())])


@pytest.mark.parametrize("damage,message", [
    (lambda a: a[:-10], "corrupt archive: member at offset 0x"),
    (lambda a: a[:60], "corrupt archive: truncated member header at offset 0x"),
    (lambda a: a.replace(b"`\n", b"??", 1), "corrupt archive: bad member header at offset 0x8"),
    (lambda a: a[:8 + 48] + b"12ab      " + a[8 + 58:], "has a bad size field"),
    (lambda a: b"!<thin>\n" + a[8:], "thin archives are not supported"),
], ids=["truncated member", "truncated header", "bad header magic", "bad number", "thin"])
def test_corrupt_archive(tmp_path, damage, message):
    start = nasm("global _start\nextern helper\n_start: call helper\n", tmp_path / "s.o")
    archive = tmp_path / "libh.a"
    archive.write_bytes(damage(_archive_with(tmp_path)))
    errors = fails(tmp_path, start, archive)
    assert len(errors) == 1 and errors[0].startswith(f"{archive}: ")
    assert message in errors[0]


def test_archive_index_pointing_nowhere(tmp_path):
    start = nasm("global _start\nextern helper\n_start: call helper\n", tmp_path / "s.o")
    good = _archive_with(tmp_path)
    at = good.index(b"/               ") + 60 + 4        # first offset in the "/" index
    archive = tmp_path / "libh.a"
    archive.write_bytes(good[:at] + (12345).to_bytes(4, "big") + good[at + 4:])
    [error] = fails(tmp_path, start, archive)
    assert "corrupt archive: the symbol index points at offset 0x3039" in error


def test_corrupt_member_is_named(tmp_path):
    start = nasm("global _start\nextern helper\n_start: call helper\n", tmp_path / "s.o")
    member = nasm("global helper\nhelper: ret\n", tmp_path / "h.o").read_bytes()
    archive = tmp_path / "libh.a"
    archive.write_bytes(write_archive([("h.o", member[:100])], {"h.o": ["helper"]}))
    [error] = fails(tmp_path, start, archive)
    assert error.startswith(f"{archive}(h.o): ")


def test_thread_local_storage_is_refused(tmp_path):
    src = "int main(void); __thread int t;\nint get(void) { return t; }\n"
    (tmp_path / "tls.c").write_text(src)
    require_tool("gcc")
    subprocess.run(["gcc", "-m32", "-c", "-O2", "-fno-pie", str(tmp_path / "tls.c"), "-o",
                    str(tmp_path / "tls.o")], check=True)
    [error] = fails(tmp_path, tmp_path / "tls.o")
    assert "thread-local storage" in error and "not supported" in error


def test_overlapping_sections(tmp_path):
    obj = nasm("global _start\n_start: ret\nsection .rodata\ndb 1\nsection .data\ndb 2\n",
               tmp_path / "s.o")
    [error] = fails(tmp_path, obj, "-Ttext", "0x8000", "-Tdata", "0x9000")
    assert "overlaps section" in error


@pytest.mark.parametrize("args,message", [
    ([], "no input files"),
    (["missing.o"], "cannot open missing.o: No such file or directory"),
    (["-lnothere"], "cannot find -lnothere"),
    (["--frobnicate"], "unrecognised option '--frobnicate'"),
    (["-Ttext", "zz"], "invalid address 'zz' for Ttext"),
    (["-m", "elf_x86_64"], "unsupported emulation 'elf_x86_64' (pyld links elf_i386)"),
    (["--oformat", "srec"], "unsupported output format 'srec' (use elf or binary)"),
    (["-e"], "option '-e' requires an argument"),
])
def test_command_line_errors(tmp_path, args, message):
    status, err = pyld(*args, "-o", tmp_path / "out") if args != ["-e"] else pyld("-e")
    assert status == 1
    assert err.splitlines()[0] == f"pyld: error: {message}"
    assert not (tmp_path / "out").exists()


def test_unwritable_output(tmp_path):
    obj = nasm(START, tmp_path / "s.o")
    status, err = pyld(obj, "-o", tmp_path / "no" / "such" / "dir" / "out")
    assert status == 1 and err.startswith("pyld: error: cannot write")


def test_mangled_objects_never_crash(tmp_path):
    """Random damage to real objects gives a link or a clean error, never an exception."""
    start = nasm("start.asm", tmp_path / "start.o").read_bytes()
    prog = gcc_c("prog.c", tmp_path / "prog.o").read_bytes()
    rng = random.Random(20240611)
    for round_ in range(60):
        victim = bytearray(prog if round_ % 2 else start)
        for _ in range(rng.randint(1, 4)):
            pos = rng.randrange(len(victim))
            victim[pos] = rng.randrange(256)
        if round_ % 7 == 0:
            del victim[rng.randrange(len(victim)):]
        damaged = tmp_path / "damaged.o"
        damaged.write_bytes(bytes(victim))
        other = tmp_path / ("prog.o" if round_ % 2 == 0 else "start.o")
        status, err = pyld(damaged, other, "-o", tmp_path / "out", "--oformat",
                           "binary" if round_ % 3 == 0 else "elf")
        assert status in (0, 1), err
        if status:
            assert err and all(line.startswith("pyld: ") for line in err.splitlines()), err
