"""ELF record types (formats/elf/records.py declare) make their __init__, __repr__ and
__eq__ on first use, not when declared: compiling them for all eight at every start was
~3% of a warm glibc hello world, which uses half of them. They must still behave as the
dataclasses they stand in for. Oracles: CPython's own compile() (counted while the
package is imported) and dataclasses (a dataclass with the same fields)."""

from __future__ import annotations

import copy
import dataclasses
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# (generated sources only, named "<...>": the import system compiles the package's own
# files too where no __pycache__ can be read, as in a fresh checkout with
# PYTHONDONTWRITEBYTECODE=1)
COUNT = """
import builtins
calls = []
plain = builtins.compile
builtins.compile = lambda *a, **k: calls.append(str(a[1])) or plain(*a, **k)
import formats.elf
builtins.compile = plain
print(len(calls), sum(name.startswith("<") for name in calls))
"""


def test_importing_the_elf_package_compiles_nothing(tmp_path):
    """Run twice: as the tree is, and from a copy of its sources without any
    __pycache__ (each module then compiled by the import system, which is not counted)."""
    fresh = tmp_path / "fresh"
    for package in ("formats",):
        shutil.copytree(ROOT / package, fresh / package,
                        ignore=shutil.ignore_patterns("__pycache__"))
    for where in (ROOT, fresh):
        r = subprocess.run([sys.executable, "-c", COUNT], capture_output=True, text=True,
                           cwd=where, timeout=60,
                           env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1",
                                "PYTHONPATH": str(where)})
        assert r.returncode == 0, r.stderr
        sources, generated = map(int, r.stdout.split())
        assert generated == 0, where
    assert sources > 0      # (the import system's calls were seen: the copy was fresh)


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
