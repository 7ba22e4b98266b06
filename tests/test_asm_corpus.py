"""NASM parity of the whole assembler (parser, expressions, driver, encoder) on a generated
source with every instruction form, one per 16-byte slot, in bits 16 and 32: the images
must be identical byte for byte, and every line NASM rejects must be rejected too. Then the
roundtrip: disassemble the image, reassemble with pyasm, byte-identical."""

from __future__ import annotations

import pytest
import x86_corpus as xc
from test_x86_table import nasm_slots

from asm.assembler import assemble
from asm.errors import AsmErrors
from asm.x86.roundtrip import roundtrip_bytes


def _pyasm(lines: list, bits: int) -> bytes:
    src = [f"bits {bits}", "org 0"]
    for k, line in enumerate(lines):
        src += [line, f"times {xc.SLOT}*({k}+1)-($-$$) db 0xCC"]
    return assemble("\n".join(src) + "\n", "corpus.s", fmt="bin").image()


def _corpus(bits: int, per_form: int, seed: int) -> list:
    return [it.text for it in xc.items(seed=seed, per_form=per_form, bits_list=(bits,))]


def _check(tmp_path, bits: int, per_form: int, seed: int) -> None:
    lines = _corpus(bits, per_form, seed)
    image, rejected, keep = nasm_slots(tmp_path, lines, bits)
    ours = _pyasm([lines[k] for k in keep], bits)
    if ours != image:
        bad = [f"{lines[k]}: nasm {image[i * 16:i * 16 + 16].hex()} "
               f"pyasm {ours[i * 16:i * 16 + 16].hex()}"
               for i, k in enumerate(keep) if ours[i * 16:i * 16 + 16] != image[i * 16:i * 16 + 16]]
        pytest.fail(f"{len(bad)} of {len(keep)} lines differ from NASM:\n" + "\n".join(bad[:30]))
    accepted = []
    for k in sorted(rejected):
        try:
            _pyasm([lines[k]], bits)
            accepted.append(lines[k])
        except AsmErrors:
            pass
    assert not accepted, "NASM rejects, pyasm accepts:\n" + "\n".join(accepted[:30])
    assert len(keep) > 1000
    problem = roundtrip_bytes(image, bits, 0, f"corpus{bits}")
    assert problem is None, problem


@pytest.mark.parametrize("bits", [16, 32])
def test_every_form_is_byte_identical_to_nasm(tmp_path, bits):
    _check(tmp_path, bits, per_form=3, seed=21)


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(1, 6))
@pytest.mark.parametrize("bits", [16, 32])
def test_every_form_exhaustive(tmp_path, bits, seed):
    _check(tmp_path, bits, per_form=12, seed=100 + seed)
