"""Found by the session-29 last read of pyasm, nasm 2.16.01 the oracle: a WRT over a long
chain and a SEG deep in a long prefix run lost their own context in the chain loops;
common symbols took the global affixes (NASM gives them the local ones)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from conftest import require_tool
from test_nasm_parity_leftovers9 import same

ROOT = Path(__file__).resolve().parent.parent

CASES = [
    "dw seg y" + "+0" * 70 + " wrt 5\ny:\n",
    "dw seg y" + "+0" * 70 + " wrt y\ny:\n",
    "dw seg y" + "+0" * 3 + " wrt 5\ny:\n",
    "dw " + "-" * 70 + "seg seg y\ny:\n",
    "dw " + "-" * 70 + "seg (seg y + 1)\ny:\n",
    "%if ) " + "+".join(["1"] * 200) + "\ndb 1\n%endif\n",
]


@pytest.mark.parametrize("text", CASES, ids=range(len(CASES)))
def test_long_chains_keep_wrt_and_seg_contexts(tmp_path, text):
    same(tmp_path, text)


def _symbols(obj: Path) -> list:
    out = subprocess.run([require_tool("readelf"), "-sW", str(obj)], capture_output=True,
                         text=True, check=True).stdout
    return sorted(line.split()[-1] for line in out.splitlines()[3:]
                  if len(line.split()) == 8 and line.split()[-1] not in ("", "t.asm"))


@pytest.mark.parametrize("opts", [["--gpostfix", "_G"], ["--lpostfix", "_L"],
                                  ["--gprefix", "G_", "--lprefix", "L_"]])
def test_common_symbols_take_the_local_affixes(tmp_path, opts):
    nasm = require_tool("nasm")
    src = tmp_path / "t.asm"
    src.write_text("global g\nextern e\ncommon c 4\nsection .text\ng: dd e\nl: dd c\n")
    subprocess.run([nasm, "-f", "elf32", *opts, str(src), "-o", str(tmp_path / "n.o")],
                   check=True)
    subprocess.run([sys.executable, "-m", "asm.cli", "-f", "elf32", *opts, str(src), "-o",
                    str(tmp_path / "p.o")], check=True, cwd=ROOT)
    assert _symbols(tmp_path / "p.o") == _symbols(tmp_path / "n.o")
