"""Classic BPF programs (SO_ATTACH_FILTER): Linux's checks, so a filter Linux refuses
is refused here too (EINVAL). pyvm runs no filter; it only judges them, as
net/core/filter.c's bpf_check_classic and check_load_and_stores do: known opcodes, no
division by a zero constant, shifts below 32, scratch words 0-15 stored before they are
loaded on every path, jumps inside the program, a RET last."""

from __future__ import annotations

import struct

MAXINSNS = 4096                 # BPF_MAXINSNS
MEMWORDS = 16                   # BPF_MEMWORDS
SKF_AD_OFF = 0xFFFFF000         # -0x1000: the ancillary loads
SKF_AD_MAX = 64                 # (the last, SKF_AD_VLAN_TPID, is 60)
_INSN = struct.Struct("<HBBI")  # code, jt, jf, k

LD, LDX, ST, STX, ALU, JMP, RET, MISC = range(8)
W, H, B = 0x00, 0x08, 0x10
IMM, ABS, IND, MEM, LEN, MSH = 0x00, 0x20, 0x40, 0x60, 0x80, 0xA0
K, X, A = 0x00, 0x08, 0x10
ADD, SUB, MUL, DIV, OR, AND, LSH, RSH, NEG, MOD, XOR = \
    0x00, 0x10, 0x20, 0x30, 0x40, 0x50, 0x60, 0x70, 0x80, 0x90, 0xA0
JA, JEQ, JGT, JGE, JSET = 0x00, 0x10, 0x20, 0x30, 0x40
TAX, TXA = 0x00, 0x80

_CONDITIONAL = {JMP | op | src for op in (JEQ, JGT, JGE, JSET) for src in (K, X)}
_ALLOWED = (
    {ALU | op | src for op in (ADD, SUB, MUL, DIV, MOD, AND, OR, XOR, LSH, RSH)
     for src in (K, X)}
    | {ALU | NEG}
    | {LD | size | ABS for size in (W, H, B)} | {LD | W | LEN}
    | {LD | size | IND for size in (W, H, B)} | {LD | IMM, LD | MEM}
    | {LDX | W | LEN, LDX | B | MSH, LDX | IMM, LDX | MEM}
    | {ST, STX, MISC | TAX, MISC | TXA, RET | K, RET | A, JMP | JA}
    | _CONDITIONAL
)
_ABS_LOADS = {LD | W | ABS, LD | H | ABS, LD | B | ABS}
_MEM = {LD | MEM, LDX | MEM, ST, STX}


def program_ok(raw: bytes) -> bool:
    """Whether Linux accepts the classic BPF program ``raw`` (its sock_filter array)."""
    insns = [_INSN.unpack_from(raw, at) for at in range(0, len(raw) - 7, 8)]
    n = len(insns)
    if not 0 < n <= MAXINSNS:
        return False
    for pc, (code, jt, jf, k) in enumerate(insns):
        if code not in _ALLOWED:
            return False
        if code in (ALU | DIV | K, ALU | MOD | K) and k == 0:
            return False
        if code in (ALU | LSH | K, ALU | RSH | K) and k >= 32:
            return False
        if code in _MEM and k >= MEMWORDS:
            return False
        if code == JMP | JA and k >= n - pc - 1:
            return False
        if code in _CONDITIONAL and (pc + jt + 1 >= n or pc + jf + 1 >= n):
            return False
        if code in _ABS_LOADS and k >= SKF_AD_OFF and \
                (k - SKF_AD_OFF >= SKF_AD_MAX or (k - SKF_AD_OFF) % 4):
            return False            # an ancillary load Linux does not know
    if insns[-1][0] not in (RET | K, RET | A):
        return False
    return _stores_before_loads(insns)


def _stores_before_loads(insns: list) -> bool:
    """check_load_and_stores: every scratch word a program loads was stored before on
    each path to the load (one bit per word, and-ed over the jumps into each place)."""
    masks = [0xFFFF] * len(insns)
    valid = 0
    for pc, (code, jt, jf, k) in enumerate(insns):
        valid &= masks[pc]
        if code in (ST, STX):
            valid |= 1 << k
        elif code in (LD | MEM, LDX | MEM):
            if not valid >> k & 1:
                return False
        elif code == JMP | JA:
            masks[pc + 1 + k] &= valid
            valid = 0xFFFF
        elif code in _CONDITIONAL:
            masks[pc + 1 + jt] &= valid
            masks[pc + 1 + jf] &= valid
            valid = 0xFFFF
    return True
