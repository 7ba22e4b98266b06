"""The ELF32 reader against readelf, on objects made by NASM and GCC and executables made
by ld: exact re-serialisation, re-laid-out files, decoded tables, and validation errors."""

from __future__ import annotations

import re
import struct

import pytest
from link.linkkit import FREESTANDING, PIC, gcc_c, ld, libgcc, nasm, readelf, without_offsets

from formats.ar import read_archive
from formats.elf import ElfError, read_elf
from formats.elf.constants import (
    NT_GNU_PROPERTY_TYPE_0,
    R_386_NAMES,
    SHN_NAMES,
    SHT_NAMES,
    SHT_REL,
    SHT_RELA,
    STB_NAMES,
    STT_NAMES,
    section_flags_text,
)
from formats.elf.structs import Elf32_Ehdr, Elf32_Rel, Elf32_Rela, Elf32_Shdr

NASM_SOURCES = ["start.asm", "nasm_a.asm", "nasm_b.asm", "real16.asm", "pic_start.asm"]
GCC_SOURCES = [("prog.c", FREESTANDING), ("util.c", FREESTANDING), ("pic_a.c", PIC)]


@pytest.fixture(scope="module")
def objects(tmp_path_factory) -> dict[str, bytes]:
    """Name -> bytes of NASM objects, GCC objects, a libgcc member and an ld executable."""
    out = tmp_path_factory.mktemp("elf_reader")
    files = {}
    for src in NASM_SOURCES:
        files[src] = nasm(src, out / (src + ".o")).read_bytes()
    for src, flags in GCC_SOURCES:
        files[src] = gcc_c(src, out / (src + ".o"), flags).read_bytes()
    archive = read_archive(open(libgcc(), "rb").read())
    files["_udivdi3.o"] = next(m.data for m in archive.members if m.name == "_udivdi3.o")
    exe = out / "nasm_ab"
    ld(out / "nasm_a.asm.o", out / "nasm_b.asm.o", "-o", exe)
    files["nasm_ab"] = exe.read_bytes()
    for name, data in files.items():
        (out / f"{name}.bin").write_bytes(data)
    files["_dir"] = str(out).encode()
    return files


ALL = NASM_SOURCES + [s for s, _ in GCC_SOURCES] + ["_udivdi3.o", "nasm_ab"]


def path_of(objects, name: str) -> str:
    return f"{objects['_dir'].decode()}/{name}.bin"


@pytest.mark.parametrize("name", ALL)
def test_untouched_file_reserialises_to_identical_bytes(objects, name):
    data = objects[name]
    assert read_elf(data).to_bytes() == data


@pytest.mark.parametrize("name", [n for n in ALL if n != "nasm_ab"])
def test_relaid_out_object_reads_the_same_in_readelf(objects, name, tmp_path):
    elf = read_elf(objects[name])
    elf.relayout()
    out = tmp_path / "relaid.o"
    out.write_bytes(elf.to_bytes())
    original = readelf("-aW", path_of(objects, name))
    assert without_offsets(readelf("-aW", out)) == without_offsets(original)


def _readelf_symbols(text: str) -> list[tuple]:
    rows = []
    for line in text.splitlines():
        m = re.match(r"\s+(\d+): ([0-9a-f]{8})\s+(\d+) (\S+)\s+(\S+)\s+(\S+)\s+(\S+) ?(.*)$", line)
        if m:
            num, value, size, typ, bind, _vis, ndx, name = m.groups()
            rows.append((int(num), int(value, 16), int(size), typ, bind, ndx, name))
    return rows


@pytest.mark.parametrize("name", ALL)
def test_symbols_match_readelf(objects, name):
    elf = read_elf(objects[name])
    expected = _readelf_symbols(readelf("-sW", path_of(objects, name)))
    got = []
    for sym in elf.symbols():
        ndx = SHN_NAMES.get(sym.shndx, str(sym.shndx))
        # readelf names section symbols after their section
        got.append((sym.index, sym.value, sym.size, STT_NAMES[sym.type], STB_NAMES[sym.bind],
                    ndx, sym.name))
    assert got == expected


@pytest.mark.parametrize("name", ALL)
def test_sections_match_readelf(objects, name):
    elf = read_elf(objects[name])
    rows = re.findall(r"\[\s*(\d+)\] (\S*)\s+(\S+)\s+([0-9a-f]{8}) ([0-9a-f]{6}) ([0-9a-f]{6}) "
                      r"[0-9a-f]{2}\s+([A-Za-z]*)\s+\d+\s+\d+\s+(\d+)",
                      readelf("-SW", path_of(objects, name)))
    assert len(rows) == len(elf.sections)
    for sec, (index, sname, stype, addr, off, size, flags, align) in zip(elf.sections, rows):
        assert (sec.index, sec.name, sec.addr, sec.offset, sec.size, sec.align) == \
            (int(index), sname, int(addr, 16), int(off, 16), int(size, 16), int(align))
        assert SHT_NAMES.get(sec.type, "") == stype or sec.type == 0 and stype == "NULL"
        assert section_flags_text(sec.flags) == flags


@pytest.mark.parametrize("name", [n for n in ALL if n != "nasm_ab"])
def test_relocations_match_readelf(objects, name):
    elf = read_elf(objects[name])
    symbols = elf.symbols()
    expected = re.findall(r"^([0-9a-f]{8})\s+([0-9a-f]{8}) (R_386_\w+)\s+[0-9a-f]{8}\s+(\S+)",
                          readelf("-rW", path_of(objects, name)), re.M)
    got = []
    for rel_sec in elf.relocation_sections():
        for r in elf.relocations(rel_sec):
            got.append((f"{r.offset:08x}", f"{(r.symbol << 8 | r.type):08x}",
                        R_386_NAMES[r.type], symbols[r.symbol].name))
    assert got == expected
    assert got, "every test object has relocations"


def test_executable_segments_match_readelf(objects):
    elf = read_elf(objects["nasm_ab"])
    rows = re.findall(r"LOAD\s+0x([0-9a-f]+) 0x([0-9a-f]+) 0x[0-9a-f]+ 0x([0-9a-f]+) "
                      r"0x([0-9a-f]+) ([RWE ]{3})", readelf("-lW", path_of(objects, "nasm_ab")))
    loads = [s for s in elf.segments if s.type == 1]
    assert [(s.offset, s.vaddr, s.filesz, s.memsz) for s in loads] == \
        [tuple(int(x, 16) for x in row[:4]) for row in rows]
    assert elf.entry == elf.symbols()[[s.name for s in elf.symbols()].index("_start")].value
    for seg in loads:
        assert len(seg.data) == seg.filesz


def test_notes_of_a_gcc_object(objects):
    notes = read_elf(objects["_udivdi3.o"]).notes()
    assert [(n.name, n.type) for n in notes] == [("GNU", NT_GNU_PROPERTY_TYPE_0)]
    assert read_elf(_elf_with_note(notes[0])).notes() == notes


def _elf_with_note(note) -> bytes:
    """A minimal ELF holding one note section, built with the declared structures."""
    from formats.elf import ElfFile, Section, new_header
    from formats.elf.constants import ET_REL, SHT_NOTE, SHT_STRTAB

    body = note.to_bytes()
    names = b"\0.note\0.shstrtab\0"
    elf = ElfFile(new_header(ET_REL), [
        Section("", Elf32_Shdr()),
        Section(".note", Elf32_Shdr(sh_name=1, sh_type=SHT_NOTE, sh_size=len(body),
                                    sh_addralign=4), body),
        Section(".shstrtab", Elf32_Shdr(sh_name=7, sh_type=SHT_STRTAB, sh_size=len(names),
                                        sh_addralign=1), names)])
    elf.header.e_shstrndx = 2
    elf.relayout()
    return elf.to_bytes()


def test_rela_sections_are_decoded_with_explicit_addends(objects, tmp_path):
    """Turn NASM's REL into RELA (addend moved out of the bytes) and compare with readelf."""
    elf = read_elf(objects["nasm_a.asm"])
    for sec in elf.relocation_sections():
        target = elf.sections[sec.info]
        entries = []
        for r in elf.relocations(sec):
            addend = struct.unpack_from("<i", target.data, r.offset)[0]
            entries.append(Elf32_Rela(r.offset, r.symbol << 8 | r.type, addend).pack())
        sec.data = b"".join(entries)
        sec.header.sh_type = SHT_RELA
        sec.header.sh_size = len(sec.data)
        sec.header.sh_entsize = Elf32_Rela.size
    elf.relayout()
    out = tmp_path / "rela.o"
    out.write_bytes(elf.to_bytes())
    again = read_elf(out.read_bytes())
    rows = [(offset, int(sign + value, 16)) for offset, sign, value in re.findall(
        r"^([0-9a-f]{8})\s+[0-9a-f]{8} R_386_\w+\s+[0-9a-f]{8}\s+\S+ ([+-]) ([0-9a-f]+)",
        readelf("-rW", out), re.M)]
    got = [(f"{r.offset:08x}", r.addend) for s in again.relocation_sections()
           for r in again.relocations(s)]
    assert got == rows and got
    assert all(s.type == SHT_RELA for s in again.relocation_sections())
    assert Elf32_Rel.size == 8 and Elf32_Rela.size == 12


# ---- validation ---------------------------------------------------------------------------

def _patch(data: bytes, offset: int, fmt: str, value) -> bytes:
    out = bytearray(data)
    struct.pack_into(fmt, out, offset, value)
    return bytes(out)


def _shdr_offset(data: bytes, index: int, field: str) -> int:
    hdr = Elf32_Ehdr.unpack_from(data)
    return hdr.e_shoff + index * Elf32_Shdr.size + Elf32_Shdr.offsets[field]


CORRUPTIONS = [
    ("empty", lambda d: b"", "not an ELF32 file"),
    ("text", lambda d: b"hello, world\n" * 5, "not an ELF32 file (bad magic)"),
    ("elf64", lambda d: d[:4] + b"\x02" + d[5:], "not an ELF32 file (it is ELF64)"),
    ("big-endian", lambda d: d[:5] + b"\x02" + d[6:], "big-endian"),
    ("short header", lambda d: d[:40], "truncated ELF header"),
    ("cut section table", lambda d: d[:Elf32_Ehdr.unpack_from(d).e_shoff + 50],
     "truncated section header table"),
    ("entry size", lambda d: _patch(d, Elf32_Ehdr.offsets["e_shentsize"], "<H", 32),
     "bad section header entry size"),
    ("shstrndx", lambda d: _patch(d, Elf32_Ehdr.offsets["e_shstrndx"], "<H", 300),
     "out of range"),
    ("section past end", lambda d: _patch(d, _shdr_offset(d, 1, "sh_size"), "<I", 1 << 20),
     "run past the end of the file"),
    ("name offset", lambda d: _patch(d, _shdr_offset(d, 1, "sh_name"), "<I", 1 << 16),
     "past the end of the section name string table"),
]


@pytest.mark.parametrize("what,corrupt,message", CORRUPTIONS, ids=[c[0] for c in CORRUPTIONS])
def test_corrupt_files_raise_clear_errors(objects, what, corrupt, message):
    with pytest.raises(ElfError) as info:
        read_elf(corrupt(objects["nasm_a.asm"]))
    assert message in str(info.value)


def test_truncated_program_header_table(objects):
    data = objects["nasm_ab"]
    with pytest.raises(ElfError, match="truncated program header table"):
        read_elf(_patch(data, Elf32_Ehdr.offsets["e_phoff"], "<I", len(data) - 10))


def test_relocation_symbol_out_of_range(objects):
    data = bytearray(objects["nasm_a.asm"])
    elf = read_elf(bytes(data))
    rel = next(s for s in elf.sections if s.type == SHT_REL)
    struct.pack_into("<I", data, rel.offset + 4, (999 << 8) | 1)
    bad = read_elf(bytes(data))
    with pytest.raises(ElfError, match="refers to symbol 999"):
        bad.relocations(bad.sections[rel.index])
