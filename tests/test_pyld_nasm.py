"""NASM objects linked by pyld and by GNU ld: same programs, same addresses, and flat
binaries identical byte for byte."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from link.linkkit import ld, nasm, pyld, readelf, run_native

from formats.elf import read_elf
from formats.elf.constants import PT_LOAD


@pytest.fixture(scope="module")
def objs(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("pyld_nasm")
    for name in ("nasm_a", "nasm_b", "real16", "real16b"):
        nasm(f"{name}.asm", out / f"{name}.o")
    return out


def _globals(path: Path) -> dict[str, int]:
    return {s.name: s.value for s in read_elf(path.read_bytes()).symbols() if s.bind}


def _locals(path: Path) -> list[tuple[str, int]]:
    return [(s.name, s.value) for s in read_elf(path.read_bytes()).symbols()
            if s.bind == 0 and s.name and s.type != 4]


def test_cross_referencing_objects_run_like_ld(objs):
    inputs = [objs / "nasm_a.o", objs / "nasm_b.o"]
    ld(*inputs, "-o", objs / "ab_ld")
    assert pyld(*inputs, "-o", objs / "ab_pyld") == (0, "")
    expected = run_native(objs / "ab_ld")
    assert run_native(objs / "ab_pyld") == expected
    assert expected == (5 + 30 + 5, b"linked by two linkers\n")


def test_layout_equals_lds(objs):
    """Same section addresses, segments, and symbol values as ld for NASM objects."""
    inputs = [objs / "nasm_a.o", objs / "nasm_b.o"]
    ld(*inputs, "-o", objs / "ab_ld")
    pyld(*inputs, "-o", objs / "ab_pyld")
    ours, theirs = objs / "ab_pyld", objs / "ab_ld"
    assert _globals(ours) == _globals(theirs)
    assert _locals(ours) == _locals(theirs)

    def loads(p):
        return [(s.offset, s.vaddr, s.filesz, s.memsz, s.flags)
                for s in read_elf(p.read_bytes()).segments if s.type == PT_LOAD]
    assert loads(ours) == loads(theirs)

    def sections(p):
        return sorted(re.findall(r"\] (\.\w+)\s+(?:PROGBITS|NOBITS)\s+([0-9a-f]{8}) [0-9a-f]{6} "
                                 r"([0-9a-f]{6})", readelf("-SW", p)))
    assert sections(ours) == sections(theirs)
    assert read_elf(ours.read_bytes()).entry == read_elf(theirs.read_bytes()).entry


@pytest.mark.parametrize("options", [
    ["-Ttext", "0x1000"], ["-Ttext=0x7c00"], ["-Ttext", "100"], ["-Ttext", "0x7c01"],
    [], ["-Tdata", "0x0804c000"], ["-Ttext", "0x1000", "-Tdata", "0x3000", "-Tbss", "0x5000"],
], ids=lambda o: " ".join(o) or "default")
def test_flat_binary_equals_lds(objs, options):
    inputs = [objs / "nasm_a.o", objs / "nasm_b.o"]
    ld(*inputs, *options, "--oformat", "binary", "-o", objs / "flat_ld")
    status, err = pyld(*inputs, *options, "--oformat", "binary", "-o", objs / "flat_pyld")
    assert status == 0, err
    assert (objs / "flat_pyld").read_bytes() == (objs / "flat_ld").read_bytes()


@pytest.mark.parametrize("options", [["-Ttext", "0x400000"], ["-Ttext=08100000"],
                                     ["-Ttext", "0x400000", "-Tdata", "0x500000"], []],
                         ids=lambda o: " ".join(o) or "default")
def test_moved_programs_run_like_lds(objs, options):
    inputs = [objs / "nasm_a.o", objs / "nasm_b.o"]
    ld(*inputs, *options, "-o", objs / "t_ld")
    assert pyld(*inputs, *options, "-o", objs / "t_pyld")[0] == 0
    assert run_native(objs / "t_pyld") == run_native(objs / "t_ld")
    assert _globals(objs / "t_pyld") == _globals(objs / "t_ld")


@pytest.mark.parametrize("options", [["-Ttext", "0x1000"], ["-Ttext", "0x7c00"],
                                     ["-Ttext", "0x8000", "-Tdata", "0xb000"]],
                         ids=lambda o: " ".join(o))
def test_low_addresses_match_lds_symbols(objs, options):
    """Addresses below mmap_min_addr cannot run natively; compare the layout instead."""
    inputs = [objs / "nasm_a.o", objs / "nasm_b.o"]
    ld(*inputs, *options, "-o", objs / "low_ld")
    assert pyld(*inputs, *options, "-o", objs / "low_pyld")[0] == 0
    assert _globals(objs / "low_pyld") == _globals(objs / "low_ld")
    for seg in read_elf((objs / "low_pyld").read_bytes()).segments:
        assert seg.offset % 0x1000 == seg.vaddr % 0x1000


def test_16_bit_boot_style_binary_equals_lds(objs):
    """Real-mode code at 0x7c00: R_386_16 / R_386_PC16 and NOP padding between objects."""
    inputs = [objs / "real16.o", objs / "real16b.o"]
    args = ["-Ttext", "0x7c00", "--oformat", "binary", "-e", "start16"]
    ld(*inputs, *args, "-o", objs / "boot_ld")
    assert pyld(*inputs, *args, "-o", objs / "boot_pyld") == (0, "")
    data = (objs / "boot_pyld").read_bytes()
    assert data == (objs / "boot_ld").read_bytes()
    assert b"real mode\0" in data and data[:1] == b"\xbe"       # mov si, imm16


def test_map_lists_every_section_and_symbol(objs):
    inputs = [objs / "nasm_a.o", objs / "nasm_b.o"]
    assert pyld(*inputs, "-o", objs / "m", "-Map=" + str(objs / "m.map"))[0] == 0
    text = (objs / "m.map").read_text()
    symbols = _globals(objs / "m")
    for name in ("_start", "func_b", "data_a", "data_b", "buf_a", "buf_b", "msg_b"):
        assert re.search(rf"0x{symbols[name]:08x} +{name}\n", text), name
    for line in ("Memory map", "Program headers", "_end (linker)", "msg_b_len"):
        assert line in text
    for out in (".text", ".rodata", ".data", ".bss"):
        assert re.search(rf"^\{out} +0x[0-9a-f]{{8}}", text, re.M), out


LINKER_SYMBOLS = ("_etext", "_edata", "__bss_start", "_end", "etext", "edata", "end",
                  "__executable_start")


@pytest.mark.parametrize("with_data", [True, False], ids=["text+data+bss", "text only"])
@pytest.mark.parametrize("options", [[], ["-Ttext", "0x1000"],
                                     ["-Ttext", "0x7c00", "-Tdata", "0x9000"]],
                         ids=lambda o: " ".join(o) or "default")
def test_linker_defined_symbols_equal_lds(tmp_path, with_data, options):
    names = ", ".join(LINKER_SYMBOLS)
    src = f"global _start\nextern {names}\nsection .text\n_start: ret\ndd {names}\n"
    if with_data:
        src += "section .data\ndb 1\nsection .bss\nresb 5\n"
    obj = nasm(src, tmp_path / "syms.o")
    for fmt in ("binary", "elf32-i386"):
        ld(obj, *options, "--oformat", fmt, "-o", tmp_path / "l")
        assert pyld(obj, *options, "--oformat", fmt, "-o", tmp_path / "p")[0] == 0
        if fmt == "binary":
            assert (tmp_path / "p").read_bytes() == (tmp_path / "l").read_bytes()
        else:
            def text(path):
                return read_elf(path.read_bytes()).section(".text").data
            assert text(tmp_path / "p") == text(tmp_path / "l")
            ours, theirs = _globals(tmp_path / "p"), _globals(tmp_path / "l")
            assert {k: ours[k] for k in ("_edata", "__bss_start", "_end")} == \
                {k: theirs[k] for k in ("_edata", "__bss_start", "_end")}
