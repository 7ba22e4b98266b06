"""pyasm under PyPy, round 30: the ELF writer's symbol order (asm/elf_output.py
_definition_order) in one loop over the symbols when no extern or common needs the
relocations (it was four: a set of the relocations' symbols, the segment bases, the
symbols written, then their source lines). Oracles: PyPy's compile hook (the loops it
compiles) and nasm (the bytes, with externs and commons in their declared places)."""

from __future__ import annotations

import subprocess

from conftest import require_tool

from asm import cli

# the loops PyPy compiles in elf_output.py while ordering 12,000 labels (6,000 of them
# with a relocation against .bss) of what the assembler hands over (its fields that
# _definition_order reads: the probe's PyPy has no lark to assemble with)
LOOP_PROBE = """
import collections, pypyjit
from types import SimpleNamespace as NS
from asm import elf_output, pypy_gc
pypy_gc.tune_jit()
bss = NS(name=".bss")
fixups = [NS(reloc=NS(symbol=None, section=bss)) for i in range(6000)]
symbols = {"L%d" % i: NS(name="L%d" % i, kind="label", value=i, seg_base=None,
                         defined_at=("t.asm", i + 1)) for i in range(12000)}
result = NS(symbols=symbols, sections=[NS(name=".text", fixups=fixups), NS(name=".bss",
                                                                           fixups=[])])
seen = collections.Counter()
def hook(info):
    key = info.greenkey and info.greenkey[0]
    if info.type == "loop" and hasattr(key, "co_filename"):
        if key.co_filename.endswith("elf_output.py"):
            seen[key.co_name] += 1
pypyjit.set_compile_hook(hook)
order = elf_output._definition_order(result, None, "t.asm")
pypyjit.set_compile_hook(None)
assert order == list(symbols.values())
print(sum(seen.values()), sorted(seen.items()))
"""


def test_symbol_order_in_one_jit_loop():
    from pypy_probe import run_pypy
    out = run_pypy(LOOP_PROBE, clean_env=True, timeout=300).decode()
    assert int(out.split()[0]) == 1, out


def test_externs_and_commons_keep_nasms_order(tmp_path):
    """Externs written only when used or `required`, in declaration order among the
    labels; commons likewise; a label created early by `global` in its defined place."""
    nasm = require_tool("nasm")
    src = tmp_path / "t.asm"
    src.write_text("global late\nextern unused, used1\nsection .text\na: dd used1\n"
                   "extern used2\ncommon c1 4\nb: dd used2, c1\nrequired req\n"
                   "late: dd a\ncommon c2 8:4\nextern used3\nc: call used3\n")
    r = subprocess.run([nasm, "-f", "elf32", str(src), "-o", str(tmp_path / "n.o")],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert cli.main(["-f", "elf32", str(src), "-o", str(tmp_path / "p.o")]) == 0
    assert (tmp_path / "p.o").read_bytes() == (tmp_path / "n.o").read_bytes()
