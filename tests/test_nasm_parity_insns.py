"""Instructions that used to be silently wrong (exit 0, wrong or no bytes): sized returns,
int01, the HLE prefixes, prefix conflicts, the `cpu` level; each against nasm."""

from __future__ import annotations

import re
import subprocess

import pytest
import x86_corpus as xc
from conftest import require_tool
from nasm_parity import check

from asm.x86.decoder import decode
from asm.x86.disasm import disassemble

RETS = ["retw", "retnw", "retfw", "retd", "retnd", "retfd", "ret", "retn", "retf"]


@pytest.mark.parametrize("bits", [16, 32])
@pytest.mark.parametrize("mnemonic", RETS)
def test_sized_returns(tmp_path, bits, mnemonic):
    check(tmp_path, f"bits {bits}\n{mnemonic}\n{mnemonic} 4\n{mnemonic} 0x1234\n")


CASES = [
    "bits 16\nint01\nint1\nicebp\n",
    "bits 32\nint01\n",
    "cpu 8086\nint01\n",
    "cpu 8086\nretd\nretfd 2\nretw\n",
    "cpu 386\nrdtsc\n",
    "cpu 586\nrdtsc\ncpuid\n",
    "cpu 486\ncmpxchg [bx], ax\nxadd [bx], ax\n",
    "cpu 286\nleave\nud2\nclts\nfsetpm\nfsin\n",
    "cpu 186\npush 5\npusha\nbswap eax\n",
    "cpu 686\nendbr32\n",
    "cpu 286\nbits 32\n",
    "cpu foo\nnop\n",
    "[cpu 386]\nbits 32\nrdtsc\n[cpu all]\nrdtsc\n",
    "bits 32\nxacquire lock add [eax], ebx\nxrelease lock xchg [eax], ebx\n"
    "xacquire xchg [eax], ebx\nxrelease mov [eax], ebx\nxrelease mov byte [eax], 1\n"
    "xrelease mov [0], eax\nlock xacquire add [eax], ebx\nxacquire lock inc dword [eax]\n",
    "bits 32\nxacquire nop\nxrelease add eax, ebx\nxacquire mov [eax], ebx\n"
    "xacquire add [eax], ebx\nxacquire lock add eax, ebx\n",
    "bits 32\nrep xacquire lock add [eax], ebx\n",
    "bits 32\nxacquire xrelease lock add [eax], ebx\n",
    "bits 32\nlock rep add [eax], ebx\nrep lock add [eax], ebx\n",
    "bits 32\nrep rep movsb\nlock lock add [eax], ebx\nes es nop\n",
    "bits 32\nrep repne movsb\n",
    "bits 32\nrepe repz cmpsb\n",
    "bits 32\nes ds mov eax, [eax]\n",
    "bits 32\no16 o32 nop\n",
    "bits 32\nlock mov [0], eax\nlock add eax, ebx\n",
]


@pytest.mark.parametrize("text", CASES, ids=[c.replace("\n", "|")[:50] for c in CASES])
def test_instruction_parity(tmp_path, text):
    check(tmp_path, text)


def test_sized_returns_disassemble():
    """The table gives the decoder the same rows: 66 C3 in 32-bit code is retw."""
    lines = [ln.text for ln in disassemble(bytes.fromhex("66c3c366ca0400f1"), 32)]
    assert lines == ["retw", "ret", "retfw 0x4", "int1"]
    assert decode(bytes.fromhex("66ca0400"), 0, 32, 0).form.mnemonic == "retfw"
    assert decode(bytes.fromhex("f1"), 0, 16, 0).form.display == "int1"


LEVELS = ["8086", "186", "286", "386", "486", "586", "686", "p3", "p4", "prescott"]


@pytest.mark.parametrize("level", LEVELS)
def test_cpu_levels_match_nasm(tmp_path, level):
    """Every instruction form of the table under `cpu LEVEL`: the lines nasm rejects are
    the lines pyasm rejects (32-bit code needs a 386: nasm refuses `bits 32` below it)."""
    exe = require_tool("nasm")
    items = list(xc.items(seed=3, per_form=1, bits_list=(16, 32)))
    for bits in (16, 32):
        if bits == 32 and LEVELS.index(level) < 3:
            continue
        lines = [it.text for it in items if it.bits == bits]
        src = tmp_path / f"c{bits}.asm"
        src.write_text(f"cpu {level}\nbits {bits}\n" + "\n".join(lines) + "\n")
        r = subprocess.run([exe, "-f", "bin", str(src), "-o", str(tmp_path / "n.bin")],
                           capture_output=True, text=True)
        p = subprocess.run(["python3", "-m", "asm.cli", "-f", "bin", str(src), "-o",
                            str(tmp_path / "p.bin")], capture_output=True, text=True)
        want = {int(n) for n in re.findall(r":(\d+): error", r.stderr)}
        got = {int(n) for n in re.findall(r":(\d+): error", p.stderr)}
        text = src.read_text().splitlines()
        assert got == want, (
            f"nasm only: {[text[n - 1] for n in sorted(want - got)][:10]}; "
            f"pyasm only: {[text[n - 1] for n in sorted(got - want)][:10]}")
