"""ELF record types (formats/elf/records.py declare) make their __init__, __repr__ and
__eq__ on first use, not when declared: compiling them for all eight at every start was
~3% of a warm glibc hello world, which uses half of them. They must still behave as the
dataclasses they stand in for. Oracles: CPython's own compile() (counted while the
package is imported) and dataclasses (a dataclass with the same fields)."""

from __future__ import annotations

import copy
import dataclasses
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

COUNT = """
import builtins
calls = []
plain = builtins.compile
builtins.compile = lambda *a, **k: calls.append(a[1]) or plain(*a, **k)
import formats.elf
builtins.compile = plain
print(len(calls))
"""


def test_importing_the_elf_package_compiles_nothing():
    r = subprocess.run([sys.executable, "-c", COUNT], capture_output=True, text=True,
                       cwd=ROOT, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["0"]


def test_a_record_behaves_as_a_dataclass_of_its_fields():
    from formats.elf.structs import Elf32_Rela, Elf32_Sym

    @dataclasses.dataclass
    class Sym:                              # (the oracle)
        st_name: int = 0
        st_value: int = 0
        st_size: int = 0
        st_info: int = 0
        st_other: int = 0
        st_shndx: int = 0

    made = copy.copy(Elf32_Sym.unpack_from(bytes(range(16))))   # (no __init__ run)
    oracle = Sym(*Elf32_Sym.struct.unpack(bytes(range(16))))
    assert repr(made) == "Elf32_Sym(" + repr(oracle).split("(", 1)[1]
    assert made == Elf32_Sym(*dataclasses.astuple(oracle)) and made != Elf32_Sym(1)
    assert (made == oracle) is False        # (another class: NotImplemented both ways)
    assert Elf32_Rela(r_addend=-4).pack() == bytes(8) + (-4).to_bytes(4, "little", signed=True)
    for bad in ((1, 2, 3, 4, 5, 6, 7), ()):
        try:
            Elf32_Sym(*bad, nope=1)
        except TypeError as e:
            assert "Elf32_Sym.__init__()" in str(e)
        else:
            raise AssertionError("a wrong argument was accepted")
