"""The assembler's speed-ups must not change a byte: the one-group tokenizer, instructions
and operands shared between lines, the encoder's operand-shape cache and branch fast path,
kept encodings and data bytes, and the preprocessor's macro-free lines."""

from __future__ import annotations

import random

import x86_corpus as xc
from test_asm_helpers import both, pyasm, write

from asm import parser as P
from asm.errors import AsmError
from asm.x86 import encoder
from asm.x86.operands import Imm, SectionRel
from asm.x86.table import by_mnemonic


def _tokens(fn, text: str):
    try:
        return fn(text)
    except AsmError as exc:
        return str(exc)


def test_tokenizer_matches_the_match_object_one():
    lines = ["mov eax, [ebx+ecx*4+0x10]", "db 'abc', \"d\", `e\\`f`, 0", "x: dd 1.5e-3, 0x1e+1",
             "jmp $+2", "dw $$, $1f, $abc, ?a, ?", "a ?b : c", "mov al, 'unterminated",
             "ret ; comment", "push \x0b", "and eax, ~1 << 3 >>> 2 <=> 1", "1p+3 3e 0fe+1"]
    rng = random.Random(7)
    alphabet = "ab eEpPx09_$#@~.?;'\"`\\-+*/%&|^!<>=()[],:\t\r\u00e9"
    lines += ["".join(rng.choice(alphabet) for _ in range(rng.randrange(1, 14)))
              for _ in range(20000)]
    for line in lines:
        assert _tokens(P.tokenize, line) == _tokens(P._tokenize_matches, line), line


def test_lines_differing_in_a_label_share_the_instruction():
    a = P.parse_line("La: mov eax, [ebx+12345]")
    b = P.parse_line("Lb: mov eax, [ebx+12345]")
    c = P.parse_line("Lc: mov eax, [ebx+12346]")
    assert a.label == "La" and b.label == "Lb"
    assert a.action is b.action
    assert c.action is not a.action
    assert c.action.operands[0] is a.action.operands[0]         # eax, shared too
    assert c.action.operands[1].expr.node != a.action.operands[1].expr.node


def test_kept_encodings_follow_bits_and_warnings_repeat(tmp_path):
    text = ("bits 16\npush 1\nmov ax, [bx+si+4]\nlock add ax, 1\nx: lock add ax, 1\n"
            "bits 32\npush 1\nmov ax, [bx+si+4]\nlock add ax, 1\nlock inc dword [eax]\n"
            "db 300\ndb 300\ndb 1, 2\ndb 1, 2\n")
    nb, pb, _ = both(tmp_path, text)
    assert nb == pb
    src = write(tmp_path, "w.s", "bits 32\nlock add eax, 1\nlock add eax, 1\ndb 300\ndb 300\n")
    status, _, err = pyasm(src)
    assert status == 0
    assert err.count("prefix-lock") == 2 and err.count("number-overflow") == 2


def test_macros_defined_after_a_line_was_seen(tmp_path):
    text = """bits 32
lbl: nop
val equ 7
mov eax, val
%define val 5
mov eax, val
%undef val
mov eax, val
mov eax, lbl
%idefine LBL 3
mov eax, lbl
%macro emit 0
  db 0xAA
%endmacro
emit
nop
%unmacro emit 0
%define emit db 0xBB
emit
%rep 2
mov eax, val
%endrep
joined: mov eax, \\
  val
"""
    nb, pb, _ = both(tmp_path, text)
    assert nb == pb


def test_branch_fast_path_is_the_general_emit():
    """`_emit_branch` gives `_emit`'s bytes and fixups, and None where it raises."""
    text_sec = SectionRel(".text")
    other = SectionRel(".data")
    plans = {encoder._plan(f) for forms in by_mnemonic().values() for f in forms
             if "na" not in f.flags}
    branches = [p for p in plans if p.branch is not None]
    assert len(branches) > 20
    for p in branches:
        i = p.branch[1]
        for bits in (16, 32):
            for ip, target, reloc, unknown in ((0x100, 0x102, text_sec, False),
                                               (0x100, 0x100 + 200, text_sec, False),
                                               (0x100, 0x100 - 200, text_sec, False),
                                               (0x100, 0, text_sec, True),
                                               (0x100, 0x40, other, False),
                                               (0x100, 0x1234, None, False)):
                ops = [None] * len(p.form.operands)
                ops[i] = Imm(target, reloc=reloc, unknown=unknown)
                fast = encoder._emit_branch(p, ops[i], bits, ip, ".text")
                try:
                    slow = encoder._emit(p, ops, bits, ip, (), None, None, ".text")
                except encoder._ShortRange:
                    slow = None
                assert fast == slow, (p.form, bits, ip, target, reloc)


def test_shape_cache_gives_what_a_table_search_gives():
    items = list(xc.items(seed=11, per_form=2))
    for k, it in enumerate(items):
        ops = xc.resolve(it, 0x100 + k)
        results = []
        for cold in (True, False, False):
            if cold:
                encoder._CANDIDATES.clear()
            try:
                enc = encoder.encode(it.mnemonic, ops, it.bits, 0x100 + k, section=".text")
                results.append((enc.data, [(f.offset, f.size, f.pcrel) for f in enc.fixups]))
            except AsmError as exc:
                results.append(str(exc))
        assert results[0] == results[1] == results[2], it.text
