"""pyasm under PyPy, round 29: the ELF writer's symbol table in few loops
(formats/elf/relocatable.py build_relocatable). Each loop the JIT meets is a trace of its
own, compiled for one run; the symbol table was 13 of them. Oracles: PyPy's compile hook
(which loops it compiles) and nasm (the bytes of objects with many symbols)."""

from __future__ import annotations

import subprocess

from conftest import require_tool

from asm import cli

# PyPy's compile hook: the loops compiled while writing a 10,000-symbol object whose
# code is the ELF writer's (or a builtin's such as sum/any that it calls)
LOOP_PROBE = """
import collections, pypyjit
from asm import pypy_gc
pypy_gc.tune_jit()
seen = collections.Counter()
def hook(info):
    key = info.greenkey and info.greenkey[0]
    if info.type == "loop" and hasattr(key, "co_filename"):
        name = key.co_filename.rsplit("/", 1)[-1]
        if name in ("relocatable.py", "app_functional.py"):
            seen[name, key.co_name] += 1
pypyjit.set_compile_hook(hook)
from formats.elf.constants import R_386_32
from formats.elf.relocatable import (ObjReloc, ObjSection, ObjSymbol, section_defaults,
                                     write_relocatable)
n = 10000
syms = [ObjSymbol("L%d" % i, ".text", i, bind="global" if i % 7 == 0 else "local")
        for i in range(n)]
relocs = [ObjReloc(".text", 4 * i, R_386_32, ".bss" if i % 2 else syms[i])
          for i in range(n // 2)]
secs = [ObjSection(".text", bytes(4 * n), *section_defaults(".text")),
        ObjSection(".bss", b"", *section_defaults(".bss"), size=4)]
write_relocatable(secs, syms, relocs, "t.asm")
pypyjit.set_compile_hook(None)
print(sum(seen.values()), sorted(seen.items()))
"""


def test_symbol_table_is_written_in_few_jit_loops():
    from pypy_probe import run_pypy
    out = run_pypy(LOOP_PROBE, clean_env=True, timeout=300).decode()
    count = int(out.split()[0])
    # (13 before: a comprehension or sum/any per property of the symbols, then a loop to
    # escape section indexes and one to pack; now names, entries and relocations)
    assert 0 < count <= 4, out


def _source(count: int) -> str:
    """Labels local and global, in .text and .data, relocations against both, an extern,
    a common and an absolute global: every kind of symbol-table entry. `global g10` comes
    first: pyasm creates g10 before the labels defined above it (then reorders them)."""
    lines = ["global g10", "extern ext", "common comm 8", "global absval", "absval equ 1234",
             "section .text"]
    for i in range(count):
        if i % 5 == 0:
            before = f"l{i - 1}" if i else "absval"
            lines.append(f"global g{i}")
            lines.append(f"g{i}: dd {before}, ext, comm")
        else:
            lines.append(f"l{i}: dd g{i - i % 5}, l{i} + 3")
        if i % 97 == 0:
            lines += ["section .data", f"d{i}: dd d{i}, g0, l1", "section .text"]
    return "\n".join(lines) + "\n"


def test_many_symbols_object_is_nasms(tmp_path):
    nasm = require_tool("nasm")
    src = tmp_path / "t.asm"
    src.write_text(_source(3000))
    r = subprocess.run([nasm, "-f", "elf32", str(src), "-o", str(tmp_path / "n.o")],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert cli.main(["-f", "elf32", str(src), "-o", str(tmp_path / "p.o")]) == 0
    assert (tmp_path / "p.o").read_bytes() == (tmp_path / "n.o").read_bytes()
