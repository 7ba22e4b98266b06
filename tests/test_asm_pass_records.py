"""What pass 1 records for the later passes gives NASM's bytes and messages: runs of lines
whose bytes never change, labelled ones included (Assembler._run_labels defines their
labels at their offsets in the run), and unlabelled instructions whose bytes may change
(asm.assembler._Insn, assembled directly). Forward jumps make the later passes move the
labels; each case runs through nasm (the oracle) and pyasm."""

from __future__ import annotations

import pytest
from nasm_parity import check

CASES = {
    # labels (global and local) on unchanging lines between jumps that shrink in pass 2;
    # their values read back by `dd` and by backward jumps
    "labelled-runs-32": "bits 32\njmp f1\nA: mov eax, 1\n.x: add ecx, 1000\n"
                        "B: lea edx, [esi+edi*4+8]\n.x: nop\njne f2\nC: push esi\n"
                        "f1: pop esi\nf2: ret\ndd A, A.x, B, B.x, C, f1, f2\n"
                        "jmp A.x\njmp B.x\ndb 'text', 0\n",
    "labelled-runs-16": "org 0x100\nbits 16\njmp f1\nA: mov ax, 1\n.x: add cx, 1000\n"
                        "B: nop\n.x: db 1, 2\njz f2\nf1: pop si\nf2: ret\n"
                        "dw A, A.x, B, B.x, f1, f2\n",
    # a run's labels where the mode changes between its lines
    "labelled-runs-bits": "bits 32\njmp f\nA: mov eax, 1\nbits 16\nB: mov ax, 1\n"
                          "bits 32\nC: mov eax, 2\nf: ret\ndd A, B, C, f\n",
    # ..@ labels do not change the parent of local labels
    "labelled-runs-special": "bits 32\njmp f\n..@x: nop\n.y: nop\nL: nop\n..@z: nop\n"
                             ".y: nop\nf: ret\ndd ..@x, L, L.y, ..@z\njmp L.y\n",
    # a label defined twice: pass 1 reports it
    "label-redefined": "bits 32\njmp f\na: nop\na: nop\nf: ret\n",
    # a symbol never defined: the final pass reports it, a run's labels defined line by line
    "labelled-runs-final-pass": "bits 32\njmp f\nA: nop\n.x: nop\nmov eax, nowhere\n"
                                "B: nop\nf: ret\ndd A.x, B\n",
    # recorded instructions failing or changing in a later pass only
    "insn-records": "bits 32\njmp short x\ninc dword [c]\njmp y\ntimes 200 nop\n"
                    "x: ret\ny: inc dword [c]\nc: dd 0\n",
    "insn-records-moving": "bits 32\nmov eax, [x]\ncall y\njmp y\nmov eax, [x]\n"
                           "times 100 nop\ny: mov eax, [x]\nx: dd 1\n",
}


@pytest.mark.parametrize("name", list(CASES))
def test_pass_record_parity(tmp_path, name):
    check(tmp_path, CASES[name])


def test_generated_benchmark_source(tmp_path):
    """The asm benchmark's own kind of source (labels, jumps both ways, data), small."""
    from vm.bench.assembler import generate
    check(tmp_path, generate(400), "-f", "elf32", fmt="elf32")
