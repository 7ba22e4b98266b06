"""Instruction lines through the whole front end (parser, operand building, passes) against
nasm: the table's generated corpus, one instruction per 16-byte slot."""

from __future__ import annotations

import re

import pytest
import x86_corpus as xc
from test_asm_helpers import nasm, pyasm, write


@pytest.mark.parametrize("bits", [16, 32])
def test_corpus_through_front_end(tmp_path, bits):
    items = list(xc.items(seed=7, per_form=1, bits_list=(bits,)))
    for _ in range(3):          # drop the lines nasm itself rejects (operand-size clashes)
        src = write(tmp_path, f"c{bits}.s", xc.source(items, bits))
        rc, nb, err = nasm(src)
        if rc == 0:
            break
        bad = {int(n) for n in re.findall(r":(\d+): error", err)}
        items = [it for k, it in enumerate(items) if 3 + 2 * k not in bad]
    assert rc == 0, err
    status, pb, perr = pyasm(src)
    assert status == 0, perr
    slot = xc.SLOT
    wrong = [(it.text, nb[slot * k:slot * (k + 1)].hex(), pb[slot * k:slot * (k + 1)].hex())
             for k, it in enumerate(items) if nb[slot * k:slot * (k + 1)] !=
             pb[slot * k:slot * (k + 1)]]
    assert wrong == []
    assert len(items) > 500
