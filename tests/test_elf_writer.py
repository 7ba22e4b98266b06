"""The ELF32 writers: relocatable objects must come out as NASM writes them (byte for byte,
so readelf agrees on everything); executables built directly must run."""

from __future__ import annotations

import subprocess

import pytest
from link.linkkit import ld, nasm, pyld, readelf, run_native

from formats.elf import (
    ABS,
    COMMON,
    ElfError,
    ExecSection,
    ExecSegment,
    ObjReloc,
    ObjSection,
    ObjSymbol,
    build_executable,
    read_elf,
    section_defaults,
    write_relocatable,
)
from formats.elf.constants import (
    PF_R,
    PF_X,
    PT_LOAD,
    R_386_32,
    R_386_PC32,
    SHF_ALLOC,
    SHF_EXECINSTR,
    SHF_WRITE,
    SHN_ABS,
    SHN_COMMON,
    SHN_UNDEF,
    SHT_NOBITS,
    SHT_PROGBITS,
    SHT_REL,
    SHT_RELA,
    SHT_STRTAB,
    SHT_SYMTAB,
    STB_GLOBAL,
    STB_LOCAL,
    STB_WEAK,
    STT_FILE,
    STT_FUNC,
    STT_SECTION,
)
from formats.elf.structs import Elf32_Sym

NASM_SOURCES = ["writer_features.asm", "start.asm", "nasm_a.asm", "nasm_b.asm", "real16.asm",
                "real16b.asm", "pic_start.asm"]


def writer_inputs(data: bytes):
    """Turn an object back into the writer's inputs, the way an assembler would give them.

    Symbols are listed in the order NASM created them, recovered from their string-table
    offsets; relocations name their symbol (or section) and leave the addend in the bytes.
    """
    elf = read_elf(data)
    table = elf.symbol_table()
    symbols = elf.symbols()
    records = Elf32_Sym.unpack_table(table.data, 0, len(symbols))
    by_index = {}
    sections = [ObjSection(s.name, s.data, s.type, s.flags, s.align, s.entsize,
                           size=s.size if s.type == SHT_NOBITS else None)
                for s in elf.sections[1:]
                if s.type not in (SHT_SYMTAB, SHT_STRTAB, SHT_REL, SHT_RELA)]
    ordered = sorted((s for s in symbols[1:] if s.type not in (STT_SECTION, STT_FILE)),
                     key=lambda s: records[s.index].st_name)
    out_symbols = []
    for sym in ordered:
        special = {SHN_UNDEF: None, SHN_ABS: ABS, SHN_COMMON: COMMON}
        where = special[sym.shndx] if sym.shndx in special else elf.sections[sym.shndx].name
        by_index[sym.index] = ObjSymbol(sym.name, where, sym.value, sym.size, sym.bind,
                                        sym.type, sym.visibility)
        out_symbols.append(by_index[sym.index])
    relocs = []
    for rel_sec in elf.relocation_sections():
        target = elf.sections[rel_sec.info].name
        for r in elf.relocations(rel_sec):
            sym = symbols[r.symbol]
            relocs.append(ObjReloc(target, r.offset, r.type,
                                   sym.name if sym.is_section else by_index[r.symbol]))
    file_name = next((s.name for s in symbols if s.type == STT_FILE), None)
    return sections, out_symbols, relocs, file_name


@pytest.fixture(scope="module")
def nasm_objects(tmp_path_factory):
    out = tmp_path_factory.mktemp("elf_writer")
    return {src: nasm(src, out / src.replace(".asm", ".o")) for src in NASM_SOURCES}


@pytest.mark.parametrize("source", NASM_SOURCES)
def test_writer_reproduces_nasm_objects_byte_for_byte(nasm_objects, source, tmp_path):
    original = nasm_objects[source]
    rebuilt = write_relocatable(*writer_inputs(original.read_bytes()))
    out = tmp_path / "rebuilt.o"
    out.write_bytes(rebuilt)
    assert readelf("-aW", out) == readelf("-aW", original)
    assert rebuilt == original.read_bytes()


HELLO = """\
global _start
extern puts
section .text
_start: call puts
        mov eax, [value]
        ret
section .data
pad:    dd 0
value:  dd 42
section .bss
buf:    resb 16
"""


def test_writer_from_a_description_matches_nasm(tmp_path):
    """What an assembler hands over for HELLO gives NASM's object for HELLO."""
    nasm_obj = nasm(HELLO, tmp_path / "hello.o").read_bytes()
    text_type, text_flags, text_align, text_entsize = section_defaults(".text")
    sections = [
        ObjSection(".text", bytes.fromhex("e800000000 a100000000 c3"), text_type, text_flags,
                   text_align, text_entsize),
        ObjSection(".data", (0).to_bytes(4, "little") + (42).to_bytes(4, "little"),
                   *section_defaults(".data")),
        ObjSection(".bss", b"", *section_defaults(".bss"), size=16),
    ]
    symbols = [ObjSymbol("puts", bind="global"),
               ObjSymbol("_start", ".text", 0, bind="global"),
               ObjSymbol("pad", ".data", 0),
               ObjSymbol("value", ".data", 4),
               ObjSymbol("buf", ".bss", 0)]
    relocs = [ObjReloc(".text", 1, R_386_PC32, "puts", addend=-4),
              ObjReloc(".text", 6, R_386_32, "value", addend=0)]   # local: .data + 4
    ours = write_relocatable(sections, symbols, relocs, file_name="hello.asm")
    mine = tmp_path / "mine.o"
    mine.write_bytes(ours)
    assert readelf("-aW", mine) == readelf("-aW", tmp_path / "hello.o")
    assert ours == nasm_obj


def test_section_defaults_are_nasms(tmp_path):
    names = [".text", ".data", ".bss", ".rodata", ".lrodata", ".ldata", ".lbss", ".tdata",
             ".tbss", ".comment", ".init_array", ".fini_array", ".preinit_array", ".note",
             ".other", ".text.hot"]
    src = "".join(f"section {n}\n" for n in names)
    elf = read_elf(nasm(src, tmp_path / "sections.o").read_bytes())
    for name in names:
        sec = elf.section(name)
        assert (sec.type, sec.flags, sec.align, sec.entsize) == section_defaults(name), name


def test_written_object_links_and_runs(tmp_path):
    """An object made from scratch is one GNU ld (and pyld) can link into a program."""
    code = bytes.fromhex("8b1d 00000000"      # mov ebx, [answer]
                         "b8 01000000"        # mov eax, 1 (exit)
                         "cd80")              # int 0x80
    obj = write_relocatable(
        [ObjSection(".text", code, *section_defaults(".text")),
         ObjSection(".data", b"\0\0\0\0" + (42).to_bytes(4, "little"),
                    *section_defaults(".data"))],
        [ObjSymbol("_start", ".text", 0, bind="global", type=STT_FUNC, size=len(code)),
         ObjSymbol("answer", ".data", 4)],
        [ObjReloc(".text", 2, R_386_32, "answer", addend=0)],
        file_name="scratch.asm")
    (tmp_path / "scratch.o").write_bytes(obj)
    ld(tmp_path / "scratch.o", "-o", tmp_path / "by_ld")
    assert run_native(tmp_path / "by_ld")[0] == 42
    assert pyld(tmp_path / "scratch.o", "-o", tmp_path / "by_pyld") == (0, "")
    assert run_native(tmp_path / "by_pyld")[0] == 42


def test_symbol_table_order_and_bindings():
    elf = read_elf(write_relocatable(
        [ObjSection(".text", b"\x90" * 4, *section_defaults(".text"))],
        [ObjSymbol("g1", ".text", 1, bind="global"), ObjSymbol("l1", ".text", 2),
         ObjSymbol("w1", ".text", 3, bind="weak"), ObjSymbol("c1", COMMON, 8, size=4,
                                                            bind=STB_GLOBAL),
         ObjSymbol("k", ABS, 99)], [], file_name="t.asm"))
    table = elf.symbols()
    assert [(s.name, s.bind) for s in table[1:]] == [
        ("t.asm", STB_LOCAL), (".text", STB_LOCAL), ("l1", STB_LOCAL), ("k", STB_LOCAL),
        ("g1", STB_GLOBAL), ("w1", STB_WEAK), ("c1", STB_GLOBAL)]
    assert elf.symbol_table().info == 5          # index of the first non-local symbol
    assert table[-1].shndx == SHN_COMMON and table[-1].value == 8
    assert table[4].shndx == SHN_ABS and table[4].value == 99


@pytest.mark.parametrize("build,message", [
    (lambda: write_relocatable([ObjSection(".a"), ObjSection(".a")], []), "given twice"),
    (lambda: write_relocatable([], [ObjSymbol("x", ".nowhere")]), "unknown section"),
    (lambda: write_relocatable([ObjSection(".text", b"\0" * 4)], [],
                               [ObjReloc(".text", 0, R_386_32, "ghost")]), "unknown symbol"),
    (lambda: write_relocatable([ObjSection(".text", b"\0" * 4)], [ObjSymbol("x")],
                               [ObjReloc(".text", 2, R_386_32, "x", addend=1)]),
     "outside the section"),
    (lambda: write_relocatable([], [ObjSymbol("x", bind="strong")]), "unknown binding"),
], ids=["duplicate section", "symbol section", "reloc symbol", "reloc offset", "binding"])
def test_writer_rejects_inconsistent_input(build, message):
    with pytest.raises(ElfError, match=message):
        build()


def test_executable_writer_builds_a_runnable_program(tmp_path):
    """build_executable on a hand-made layout: one read+execute segment with the code."""
    base, offset = 0x08048000, 0x1000
    code = bytes.fromhex("bb 07000000 b8 01000000 cd80")     # exit(7)
    elf = build_executable(
        base + offset,
        [ExecSection(".text", base + offset, offset, code, SHT_PROGBITS,
                     SHF_ALLOC | SHF_EXECINSTR, 16)],
        [ExecSegment(PT_LOAD, PF_R | PF_X, base + offset, offset, len(code), len(code))],
        [ObjSymbol("_start", ".text", base + offset, bind="global")])
    exe = tmp_path / "tiny"
    exe.write_bytes(elf.to_bytes())
    exe.chmod(0o755)
    assert run_native(exe) == (7, b"")
    again = read_elf(exe.read_bytes())
    assert again.entry == base + offset and again.segments[0].data == code
    assert [s.name for s in again.symbols()] == ["", "_start"]
    headers = readelf("-lW", exe)
    assert "LOAD           0x001000 0x08049000" in headers


def test_executable_writer_rejects_incongruent_segments():
    with pytest.raises(ElfError, match="not congruent"):
        build_executable(0, [ExecSection(".text", 0x1000, 0x1004, b"\x90",
                                         flags=SHF_ALLOC | SHF_WRITE)],
                         [ExecSegment(PT_LOAD, PF_R, 0x1000, 0x1004, 1, 1)])


def test_nasm_is_the_oracle():
    """Guard: the NASM this suite compares against understands elf32."""
    out = subprocess.run(["nasm", "-hf"], capture_output=True, text=True).stdout
    assert "elf32" in out
