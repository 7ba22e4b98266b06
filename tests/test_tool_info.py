"""``pyvm-tools info``: ELF executables and objects, B32 programs, flat binaries."""

from __future__ import annotations

import re

import pytest
from click.testing import CliRunner
from link.linkkit import nasm, pyld, readelf

from vm.tools import main as tools


def info(*args) -> tuple[int, str]:
    result = CliRunner().invoke(tools, ["info", *map(str, args)])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    return result.exit_code, result.output


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    out = tmp_path_factory.mktemp("info")
    nasm("nasm_a.asm", out / "a.o")
    nasm("nasm_b.asm", out / "b.o")
    assert pyld(out / "a.o", out / "b.o", "-o", out / "ab")[0] == 0
    return out


def test_info_on_an_executable(files):
    status, text = info(files / "ab")
    assert status == 0
    assert "ELF32 executable (EXEC), Intel 80386" in text
    entry = re.search(r"Entry point address:\s+(0x[0-9a-f]+)", readelf("-h", files / "ab"))
    assert f"entry:    {int(entry.group(1), 16):#010x}" in text
    loads = re.findall(r"LOAD\s+(0x[0-9a-f]+) (0x[0-9a-f]+)", readelf("-lW", files / "ab"))
    shown = re.findall(r"^  LOAD\s+(0x[0-9a-f]+) (0x[0-9a-f]+)", text, re.M)
    assert [(int(o, 16), int(v, 16)) for o, v in shown] == \
        [(int(o, 16), int(v, 16)) for o, v in loads]
    for name in ("_start", "func_b", "msg_b", "_end", ".text", ".data", ".bss", ".rodata"):
        assert name in text
    assert "R E" in text and "RW" in text


def test_info_on_an_object(files):
    status, text = info(files / "a.o")
    assert status == 0
    assert "ELF32 relocatable object (REL)" in text
    assert "relocations in .rel.text" in text and "R_386_PC32     func_b" in text
    assert re.search(r"UND func_b", text) and "segments" not in text


def test_info_on_a_b32_program(tmp_path):
    path = tmp_path / "prog.b32"
    path.write_bytes(b"B32" + (0x0200).to_bytes(2, "little") + (0x0204).to_bytes(2, "little")
                     + bytes(range(10)))
    status, text = info(path)
    assert status == 0
    assert "B32 program" in text and "origin:   $0200" in text and "entry:    $0204" in text
    assert "size:     10 bytes" in text


def test_info_on_a_flat_binary(tmp_path):
    path = tmp_path / "boot.bin"
    path.write_bytes(b"\xeb\xfe" + bytes(510))
    status, text = info(path)
    assert status == 0 and "flat binary" in text and "512 bytes" in text


def test_info_on_an_archive(files, tmp_path):
    from formats.ar import write_archive
    path = tmp_path / "lib.a"
    path.write_bytes(write_archive([("a.o", (files / "a.o").read_bytes()),
                                    ("b.o", (files / "b.o").read_bytes())]))
    status, text = info(path)
    assert status == 0 and "ar archive, 2 members" in text and "b.o" in text


def test_info_on_a_corrupt_elf(files, tmp_path):
    path = tmp_path / "cut.o"
    path.write_bytes((files / "a.o").read_bytes()[:100])
    status, text = info(path)
    assert status == 1
    assert "error:" in text and "truncated section header table" in text
    assert "Traceback" not in text
