"""NASM's SSE compare pseudo-ops (``cmpltps xmm0, xmm1`` = ``cmpps xmm0, xmm1, 1``): the
same bytes as nasm, the same rejected lines (sizes, CPU levels), in 16- and 32-bit code.
(Every table form of MMX/SSE/SSE2/SSE3 is in the generated corpus of
tests/test_asm_corpus.py and tests/test_nasm_parity_insns.py.)"""

from __future__ import annotations

import re
import subprocess
import sys

import pytest
from conftest import require_tool

PREDICATES = ["eq", "lt", "le", "unord", "neq", "nlt", "nle", "ord"]
SIZES = {"ps": "oword", "pd": "oword", "ss": "dword", "sd": "qword"}


def _lines(bits: int) -> list:
    base = "eax" if bits == 32 else "bx"
    out = []
    for p in PREDICATES:
        for s, size in SIZES.items():
            m = f"cmp{p}{s}"
            out += [f"{m} xmm1, xmm7", f"{m} xmm3, [{base}+8]", f"{m} xmm0, {size} [{base}]",
                    f"{m} xmm2, [es:{base}]"]
            out += [f"{m} xmm0, {'oword' if size != 'oword' else 'qword'} [{base}]",  # bad
                    f"{m} xmm0, xmm1, 3", f"{m} eax, xmm1"]                          # bad
    return out


def _run(tmp_path, cmd: list, src, out) -> tuple:
    r = subprocess.run(cmd + ["-f", "bin", str(src), "-o", str(out)], capture_output=True,
                       text=True)
    errors = {int(n) for n in re.findall(r":(\d+): error", r.stderr)}
    return errors, (out.read_bytes() if out.exists() else b"")


@pytest.mark.parametrize("cpu", ["p3", "p4", "prescott"])
@pytest.mark.parametrize("bits", [16, 32])
def test_compare_pseudo_ops_match_nasm(tmp_path, bits, cpu):
    nasm = require_tool("nasm")
    lines = _lines(bits)
    text = f"cpu {cpu}\nbits {bits}\n" + "\n".join(lines) + "\n"
    src = tmp_path / "c.asm"
    src.write_text(text)
    want_err, _ = _run(tmp_path, [nasm], src, tmp_path / "n.bin")
    got_err, _ = _run(tmp_path, [sys.executable, "-m", "asm.cli"], src, tmp_path / "p.bin")
    all_lines = text.splitlines()
    assert got_err == want_err, (
        f"nasm only: {[all_lines[n - 1] for n in sorted(want_err - got_err)][:8]}; "
        f"pyasm only: {[all_lines[n - 1] for n in sorted(got_err - want_err)][:8]}")
    assert want_err                                  # the bad lines are there
    good = [ln for k, ln in enumerate(all_lines, 1) if k not in want_err]
    src.write_text("\n".join(good) + "\n")
    _, want = _run(tmp_path, [nasm], src, tmp_path / "n.bin")
    _, got = _run(tmp_path, [sys.executable, "-m", "asm.cli"], src, tmp_path / "p.bin")
    assert len(want) > 100 and got == want
