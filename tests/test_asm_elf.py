"""``pyasm -f elf32`` against the oracles: nasm's object for the same source (bytes, then
``readelf -aW``), GNU ld / gcc linking our objects, and pyld linking them; the linked
programs run natively with the same output and status as the nasm-built ones."""

from __future__ import annotations

import io
import subprocess
from pathlib import Path

import pytest

from asm.cli import run as pyasm_run
from tests.conftest import require_tool

HERE = Path(__file__).parent / "asm_elf"
SOURCES = ["hello.asm", "extcall.asm", "named.asm", "symbols.asm", "provider.asm",
           "nodata.asm", "pic.asm"]

# small sources for NASM's section and symbol ordering rules
SNIPPETS = {
    "text_declared_first": "section .text\nsection .data\nv: dd 1\n",
    "text_label_only": "start:\nsection .data\nv: dd start\n",
    "text_declared_late": "section .data\nv: dd 1\nsection .text\n",
    "empty_sections": "section .data\nv: dd 1\nsection .bss\nsection .foo\n",
    "implicit_text_code": "mov eax,1\nsection .data\nv: dd 1\n",
    "text_between": "section .data\nv: dd 1\nsection .bss\nsection .text\nnop\n"
                    "section .foo\nsection .text\n",
    "equ_only": "x equ 3\nsection .data\nv: dd 1\n",
    "global_before_extern": "global s\nextern a\nsection .text\ns: call a\nextern b\n"
                            "call b\nglobal t\nt: ret\n",
    "pcrel_cross_section": "section .text\ncall f\njmp f\nsection .other exec\nf: ret\n"
                           "jmp $$\ncall g\nsection .text\ng: ret\n",
    "bits16_pcrel": "bits 16\nextern e\ncall e\njmp e\nsection .t2 exec\nbits 16\n"
                    "x: call e\ndw x, e\ndb e\n",
    "common_and_global_equ": "global k\ncommon c1 8\nk equ 0x10\ncommon c2 1\n"
                             "section .data\ndd c1, c2 + 4, k\n",
    "data_sections": "section .rodata\nr: db 'ro'\nsection .tdata\nt: dd r\n"
                     "section .init_array\ndd f\nsection .text\nf: ret\n",
}


def _pyasm(src: Path, out: Path) -> tuple:
    err = io.StringIO()
    status = pyasm_run(str(src), fmt="elf32", output=str(out), stderr=err)
    return status, err.getvalue()


def _nasm(src: Path, out: Path) -> None:
    require_tool("nasm")
    subprocess.run(["nasm", "-f", "elf32", str(src), "-o", str(out)], check=True,
                   capture_output=True)


def _readelf(path: Path) -> str:
    require_tool("readelf")
    return subprocess.run(["readelf", "-aW", str(path)], check=True, capture_output=True,
                          text=True).stdout


def _build_pair(src: Path, tmp: Path) -> tuple:
    """(pyasm object, nasm object) for ``src``."""
    ours, theirs = tmp / (src.stem + ".py.o"), tmp / (src.stem + ".nasm.o")
    status, err = _pyasm(src, ours)
    assert status == 0, err
    _nasm(src, theirs)
    return ours, theirs


def _same_object(ours: Path, theirs: Path) -> None:
    a, b = ours.read_bytes(), theirs.read_bytes()
    if a != b:
        assert _readelf(ours) == _readelf(theirs)
        pytest.fail("readelf -aW agrees but the bytes differ")


@pytest.mark.parametrize("name", SOURCES)
def test_object_matches_nasm(name, tmp_path):
    # the file symbol is the path as given: use the same path for both assemblers
    ours, theirs = _build_pair(HERE / name, tmp_path)
    _same_object(ours, theirs)


@pytest.mark.parametrize("name", sorted(SNIPPETS))
def test_snippet_matches_nasm(name, tmp_path):
    src = tmp_path / f"{name}.asm"
    src.write_text(SNIPPETS[name])
    ours, theirs = _build_pair(src, tmp_path)
    _same_object(ours, theirs)


def _run(exe: Path) -> tuple:
    p = subprocess.run([str(exe)], capture_output=True, timeout=20)
    return p.returncode, p.stdout


def _ld(objs, out: Path) -> Path:
    require_tool("ld")
    subprocess.run(["ld", "-m", "elf_i386", *map(str, objs), "-o", str(out)], check=True,
                   capture_output=True)
    return out


def _gcc(objs, out: Path, *flags) -> Path:
    require_tool("gcc")
    p = subprocess.run(["gcc", "-m32", *flags, *map(str, objs), "-o", str(out)],
                       capture_output=True, text=True)
    if p.returncode and "cannot find" in p.stderr:
        pytest.skip("gcc -m32 cannot link 32-bit programs here")
    assert p.returncode == 0, p.stderr
    return out


def _objects(names, tmp_path):
    ours, theirs = [], []
    for n in names:
        a, b = _build_pair(HERE / n, tmp_path)
        ours.append(a)
        theirs.append(b)
    return ours, theirs


LD_PROGRAMS = {
    "hello": (["hello.asm"], (42, b"hello, elf\n2a\n")),
    "symbols": (["symbols.asm", "provider.asm"], (14, b"")),
}


@pytest.mark.parametrize("prog", sorted(LD_PROGRAMS))
def test_ld_and_pyld_link_and_run(prog, tmp_path):
    names, expected = LD_PROGRAMS[prog]
    ours, theirs = _objects(names, tmp_path)
    ref = _run(_ld(theirs, tmp_path / "ref"))
    assert ref == expected
    assert _run(_ld(ours, tmp_path / "ours")) == ref
    from asm.link.cli import run as pyld_run
    assert pyld_run([*map(str, ours), "-o", str(tmp_path / "ours_pyld")]) == 0
    assert _run(tmp_path / "ours_pyld") == ref


def test_gcc_links_libc_calls(tmp_path):
    ours, theirs = _objects(["extcall.asm"], tmp_path)
    ref = _run(_gcc(theirs, tmp_path / "ref", "-no-pie"))
    assert ref == (7, b"n=3\nn=2\nn=1\nn=12\nlen=12\n")
    assert _run(_gcc(ours, tmp_path / "ours", "-no-pie")) == ref


def test_gcc_links_pic(tmp_path):
    ours, theirs = _objects(["pic.asm"], tmp_path)
    ref = _run(_gcc(theirs, tmp_path / "ref", "-pie"))
    assert ref == (5, b"pic hello\n")
    assert _run(_gcc(ours, tmp_path / "ours", "-pie")) == ref


def test_output_name_selects_elf32_and_errors_write_nothing(tmp_path):
    src = tmp_path / "ok.asm"
    src.write_text("global _start\n_start: mov eax, 1\nint 0x80\n")
    out = tmp_path / "ok.o"
    assert pyasm_run(str(src), output=str(out), stderr=io.StringIO()) == 0
    assert out.read_bytes()[:4] == b"\x7fELF"
    bad = tmp_path / "bad.asm"
    bad.write_text("section .text\nmov eax, undefined_thing\n")
    err = io.StringIO()
    assert pyasm_run(str(bad), output=str(tmp_path / "bad.o"), stderr=err) == 1
    assert "undefined_thing" in err.getvalue()
    assert not (tmp_path / "bad.o").exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".pyasm-")] == []


def test_wrt_relocation_types():
    """The wrt forms, independent of the driver's parser: fixups as the driver would
    report them -> relocation types, targets and in-place addends as NASM writes them."""
    from asm.assembler import Assembly, Reloc, Section, SectionFixup, Symbol
    from asm.elf_output import elf32_object
    from formats.elf import read_elf

    text = Section(".text", 0, data=bytearray(24), size=24)
    data = Section(".data", 1, data=bytearray(8), size=8)
    got = Symbol("_GLOBAL_OFFSET_TABLE_", kind="extern", value=0)
    puts = Symbol("puts", kind="extern", value=0)
    gvar = Symbol("gvar", value=0, section=data, offset=4, is_global=True,
                  defined_at=("t.asm", 9))
    text.fixups = [
        SectionFixup(2, 4, Reloc(symbol=got, wrt="..gotpc"), False, -1, 6),
        SectionFixup(8, 4, Reloc(section=data, wrt="..gotoff"), False, 4, 12),
        SectionFixup(13, 4, Reloc(symbol=puts, wrt="..plt"), True, 0, 17),
        SectionFixup(19, 4, Reloc(section=data, wrt="..got"), False, 4, 23),
    ]
    data.fixups = [SectionFixup(0, 4, Reloc(section=data, wrt="..sym"), False, 6, 0)]
    asm = Assembly([text, data], {s.name: s for s in (got, puts, gvar)}, None, "elf32", [],
                   [])
    elf = read_elf(elf32_object(asm, "t.asm"))
    syms = elf.symbols()
    rels = {}
    for sec in elf.sections:
        if sec.name.startswith(".rel"):
            for r in elf.relocations(sec):
                rels[(sec.name, r.offset)] = (r.type, syms[r.symbol].name or
                                              elf.sections[syms[r.symbol].shndx].name)
    from formats.elf.constants import R_386_32, R_386_GOT32, R_386_GOTOFF, R_386_GOTPC, R_386_PLT32
    assert rels == {
        (".rel.text", 2): (R_386_GOTPC, "_GLOBAL_OFFSET_TABLE_"),
        (".rel.text", 8): (R_386_GOTOFF, ".data"),
        (".rel.text", 13): (R_386_PLT32, "puts"),
        (".rel.text", 19): (R_386_GOT32, "gvar"),
        (".rel.data", 0): (R_386_32, "gvar"),
    }
    body = {s.name: s.data for s in elf.sections}

    def field(sec, off):
        return int.from_bytes(body[sec][off:off + 4], "little", signed=True)

    assert field(".text", 2) == 1          # -1 + field offset 2 (GOT relative to $)
    assert field(".text", 8) == 4
    assert field(".text", 13) == -4
    assert field(".text", 19) == 0
    assert field(".data", 0) == 2          # gvar + 2
