"""The x86 samples do what their comments say: pyasm and nasm assemble each to the same
bytes, and ``pyvm`` runs both the binary and the source with the exact output and exit
status the program is written to produce."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import require_tool

from asm.assembler import assemble

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "samples"

FACTORIALS = "".join(f"{n}! = {f}\n" for n, f in enumerate(
    [1, 1, 2, 6, 24, 120, 720, 5040, 40320, 362880, 3628800, 39916800, 479001600]))

# sample -> (binary name, pyvm options for the binary, stdin, expected stdout, status)
CASES = {
    "hello.s": ("hello.bin", [], b"", b"Hello, world!\n", 0),
    "factorials.s": ("factorials.bin", [], b"", FACTORIALS.encode(), 0),
    "dos/hello.asm": ("hello.com", [], b"", b"Hello, world!\r\n", 0),
    "dos/upcase.asm": ("upcase.com", [], b"Hello, DOS!\nabc xyz 123 {}\n" * 40,
                       b"HELLO, DOS!\nABC XYZ 123 {}\n" * 40, 0),
    "bios/boot.s": ("boot.bin", ["--bits", "16"], b"", b"Hello from the boot sector!\r\n", 0),
}


def pyvm(*args, stdin: bytes = b"", cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "vm.cli", *map(str, args)], input=stdin,
                          capture_output=True, cwd=cwd, timeout=60,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})


def test_every_x86_sample_has_a_case():
    found = {str(p.relative_to(SAMPLES)) for pattern in ("*.s", "dos/*.asm", "bios/*.s")
             for p in SAMPLES.glob(pattern)}
    assert found == set(CASES)


@pytest.mark.parametrize("name", sorted(CASES))
def test_pyasm_and_nasm_agree(name, tmp_path):
    nasm = require_tool("nasm")
    src = SAMPLES / name
    out = tmp_path / "nasm.bin"
    subprocess.run([nasm, "-f", "bin", str(src), "-o", str(out)], check=True)
    ours = assemble(src.read_text(), str(src)).image()
    assert ours == out.read_bytes()


@pytest.mark.parametrize("name", sorted(CASES))
def test_binary_runs(name, tmp_path):
    nasm = require_tool("nasm")
    binary, options, stdin, expected, status = CASES[name]
    out = tmp_path / binary
    subprocess.run([nasm, "-f", "bin", str(SAMPLES / name), "-o", str(out)], check=True)
    r = pyvm(*options, out, stdin=stdin)
    assert (r.stdout, r.returncode, r.stderr) == (expected, status, b"")


@pytest.mark.parametrize("name", sorted(CASES))
def test_source_runs(name):
    _, _, stdin, expected, status = CASES[name]
    r = pyvm(SAMPLES / name, stdin=stdin)
    assert (r.stdout, r.returncode, r.stderr) == (expected, status, b"")


def test_boot_sector_is_one_signed_sector():
    image = assemble((SAMPLES / "bios/boot.s").read_text(), "boot.s").image()
    assert len(image) == 512 and image[-2:] == b"\x55\xaa"


@pytest.mark.parametrize("name", sorted(CASES))
def test_roundtrip(name):
    roundtrip = pytest.importorskip("asm.x86.roundtrip")
    assert not roundtrip.roundtrip_file(str(SAMPLES / name))


def test_pyvm_tools_roundtrip_over_every_sample():
    """`pyvm-tools roundtrip` as a user runs it in a checkout: every sample survives,
    including samples/os's boot sector (16- then 32-bit code) and its ELF entry code."""
    r = subprocess.run([sys.executable, "-m", "vm.tools", "roundtrip"], cwd=SAMPLES.parent,
                       capture_output=True, text=True)
    assert r.returncode == 0 and " 0 differ" in r.stdout, r.stdout + r.stderr
    assert "samples/os/boot.asm: ok" in r.stdout and "samples/os/entry.asm: ok" in r.stdout


def test_roundtrip_disassembles_each_part_in_its_own_mode(tmp_path):
    # a source that switches modes was refused before ("one mode per file")
    src = tmp_path / "mixed.asm"
    src.write_text("bits 16\nmov ax, 2\njmp x\nbits 32\nx: mov eax, 1\nmov ebx, [eax+4]\n"
                   "bits 16\nmov bx, [bx+si+2]\n")
    from asm.x86.roundtrip import roundtrip_file
    assert roundtrip_file(str(src)) is None
