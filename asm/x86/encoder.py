"""x86 encoder: picks the first table form that matches the operands (the table is in
NASM's order of preference) and lays out prefixes, opcode, ModRM/SIB, displacement and
immediates exactly as NASM does with its default optimisation."""

from __future__ import annotations

from functools import cache
from typing import Optional, Sequence

from asm.errors import AsmError
from asm.x86.operands import Encoded, FarPtr, Fixup, Imm, Mem, Operand, Reg
from asm.x86.registers import REGISTERS
from asm.x86.table import Form, by_mnemonic

PREFIX_BYTES = {"lock": 0xF0, "rep": 0xF3, "repe": 0xF3, "repz": 0xF3, "repne": 0xF2,
                "repnz": 0xF2}
SEG_PREFIX = {"es": 0x26, "cs": 0x2E, "ss": 0x36, "ds": 0x3E, "fs": 0x64, "gs": 0x65}
PREFIXES = frozenset(PREFIX_BYTES) | frozenset(SEG_PREFIX) | {"a16", "a32", "o16", "o32"}

# 16-bit addressing: (sorted register pair) -> rm field
RM16 = {("bx", "si"): 0, ("bx", "di"): 1, ("bp", "si"): 2, ("bp", "di"): 3, ("si",): 4,
        ("di",): 5, ("bp",): 6, ("bx",): 7}

SIZE_KEY = {"8": 1, "16": 2, "32": 4, "64": 8, "80": 10}
GPR_TYPES = {"r8": 1, "r16": 2, "r32": 4}
FIXED_SIZE_REGS = {"al", "ax", "eax"}   # specific registers whose size pins the form


def is_mnemonic(name: str) -> bool:
    return name.lower() in by_mnemonic()


def is_prefix(name: str) -> bool:
    return name.lower() in PREFIXES


def _signed(value: int, bits: int) -> int:
    value &= (1 << bits) - 1
    return value - (1 << bits) if value >> (bits - 1) else value


def _fits_s8(value: int, bits: int) -> bool:
    return -128 <= _signed(value, bits) <= 127


class _NoMatch(Exception):
    pass


class _SizeMissing(Exception):
    pass


class _ShortRange(AsmError):
    """A rel8 target out of range: an error when the form was forced, else try the next."""


def _reg(op: Operand) -> Optional[tuple]:
    if isinstance(op, Reg):
        return REGISTERS.get(op.name.lower())
    return None


def _match_operand(t: str, op: Operand, form: Form, bits: int) -> Optional[int]:
    """Return the size evidence (bits) the operand gives, 0 for none; raise _NoMatch."""
    info = _reg(op)
    if t in GPR_TYPES:
        if info and info.kind == "gpr" and info.size == GPR_TYPES[t]:
            return info.size * 8
        raise _NoMatch
    if t.startswith("rm") or (t.startswith("m") and t[1:] in SIZE_KEY) or t == "m":
        if t.startswith("rm") and info:
            if info.kind == "gpr" and info.size == SIZE_KEY[t[2:]]:
                return info.size * 8
            raise _NoMatch
        if not isinstance(op, Mem) or op.jump == "far":
            raise _NoMatch
        if t == "m":
            return 0
        want = SIZE_KEY[t[2:] if t.startswith("rm") else t[1:]]
        if op.size is None:
            return -want * 8          # unsized: acceptable only if pinned by another operand
        if op.size != want:
            raise _NoMatch
        return want * 8
    if t == "mfar":
        if isinstance(op, Mem) and op.jump == "far":
            return 0
        raise _NoMatch
    if t.startswith("moffs"):
        if isinstance(op, Mem) and not op.regs and op.jump is None and op.disp_size != 1:
            want = SIZE_KEY[t[5:]]
            if op.size is None:
                return -want * 8
            if op.size == want:
                return want * 8
        raise _NoMatch
    if t in ("imm8", "imm16", "imm32"):
        if not isinstance(op, Imm) or op.jump is not None:
            raise _NoMatch
        want = SIZE_KEY[t[3:]]
        if op.size is not None and op.size != want:
            raise _NoMatch
        return want * 8 if op.size else 0
    if t == "simm8":
        if not isinstance(op, Imm) or op.jump is not None:
            raise _NoMatch
        osize = form.osize or bits
        if op.size == 1:
            return 0
        if op.size is not None and op.size * 8 != osize:
            raise _NoMatch
        if op.strict or op.reloc is not None or op.unknown or not _fits_s8(op.value, osize):
            raise _NoMatch
        return osize if op.size else 0
    if t == "one":
        if (isinstance(op, Imm) and op.jump is None and op.value == 1 and op.reloc is None
                and not op.unknown and op.size is None):
            return 0
        raise _NoMatch
    if t in ("rel8", "rel16", "rel32"):
        if not isinstance(op, Imm) or op.jump == "far":
            raise _NoMatch
        if t == "rel8":
            if op.jump == "short" and "noshort" in form.flags:
                raise _NoMatch
            if op.jump == "near" or (op.size is not None and op.size != 1 and op.jump != "short"):
                raise _NoMatch
            return 0
        if op.jump == "short":
            raise _NoMatch
        want = int(t[3:])
        if op.size is not None:
            if op.size * 8 != want or "nosize" in form.flags:
                raise _NoMatch
            return want
        return 0
    if t in ("ptr16", "ptr32"):
        if not isinstance(op, FarPtr):
            raise _NoMatch
        if op.size is not None:
            if op.size * 8 != int(t[3:]):
                raise _NoMatch
            return op.size * 8
        return 0
    if t in ("sreg", "creg", "dreg", "treg"):
        if info and info.kind == t:
            return 16 if t == "sreg" else 0
        raise _NoMatch
    if t == "sti":
        if info and info.kind == "fpu":
            return 0
        raise _NoMatch
    # a specific register
    if isinstance(op, Reg) and op.name.lower() == t:
        return info.size * 8 if t in FIXED_SIZE_REGS else 0
    raise _NoMatch


def _is_local(op: Imm, section: object) -> bool:
    """A jump target in the section being assembled (see operands.SectionRel)."""
    reloc = op.reloc
    return (reloc is not None and section is not None and getattr(reloc, "symbol", None) is None
            and getattr(reloc, "section", None) == section)


def _match(form: Form, ops: Sequence[Operand], bits: int, osize_forced: Optional[int],
           section: object = None) -> None:
    if len(form.operands) != len(ops):
        raise _NoMatch
    evidence = []
    for t, op in zip(form.operands, ops):
        evidence.append(_match_operand(t, op, form, bits))
    pinned = [e for e in evidence if e > 0]
    unsized = [e for e in evidence if e < 0]
    if unsized:
        size = -unsized[0]
        if not any(p == size for p in pinned) and not (
                "defsize" in form.flags and size == (osize_forced or bits)):
            raise _SizeMissing
    if form.osize is not None and form.operands and not pinned and not unsized:
        # nothing in the operands chose the size: the default (bits, or o16/o32) applies
        if form.osize != (osize_forced or bits):
            raise _NoMatch
    # rel8 without 'short': a target in this section that is in range, or (NASM's "be
    # optimistic in pass 1") one not known yet; later passes grow the jumps that miss
    for t, op in zip(form.operands, ops):
        if t == "rel8" and isinstance(op, Imm) and op.jump != "short" and op.size != 1:
            if _rel8_forced(form, ops):
                continue          # loop/jcxz: rel8 is the only form; range checked later
            if not op.unknown and not _is_local(op, section):
                raise _NoMatch


def _ea32(mem: Mem) -> tuple:
    """NASM's choice of base, index and scale for a 32-bit effective address."""
    scaled = set(getattr(mem, "scaled", ()) or ())
    base = index = None
    scale = 1
    summed = False
    for reg, mult in mem.regs:
        reg = reg.lower()
        if mult == 0:
            continue
        hinted = reg in scaled
        if mult == 1 and not hinted and base is None:
            base = reg
        elif index is None:
            index, scale = reg, mult
            summed = mult > 1 and not hinted
        elif base is None and mult == 1:
            base = reg
        else:
            raise AsmError("invalid effective address: two index registers")
    if base is None and index is not None:
        if scale == 1 and not mem.nosplit:
            base, index = index, None
        elif ((scale == 2 and index != "esp" and (not mem.nosplit or summed))
              or scale in (3, 5, 9)):
            base, scale = index, scale - 1
    if index is not None and scale == 1 and index == "esp":
        if base == "esp":
            raise AsmError("invalid 32-bit effective address")
        base, index = index, base
    if index == "esp" or (index is not None and scale not in (1, 2, 4, 8)):
        raise AsmError("invalid 32-bit effective address")
    return base, index, scale


class _Builder:
    """Accumulates one instruction's bytes and fixups."""

    def __init__(self) -> None:
        self.out = bytearray()
        self.fixups: list[Fixup] = []

    def value(self, value: int, size: int, reloc: object = None, pcrel: bool = False) -> None:
        if reloc is not None:
            self.fixups.append(Fixup(len(self.out), size, reloc, pcrel))
        self.out += (value & ((1 << (8 * size)) - 1)).to_bytes(size, "little")


def _addr_size(mem: Mem, bits: int, forced: Optional[int]) -> int:
    sizes = {REGISTERS[r.lower()].size for r, m in mem.regs if m and r.lower() in REGISTERS}
    for r, m in mem.regs:
        info = REGISTERS.get(r.lower())
        if m and (info is None or info.kind != "gpr" or info.size == 1):
            raise AsmError("invalid effective address")
    if len(sizes) > 1:
        raise AsmError("invalid effective address: impossible register combination")
    if sizes:
        asize = sizes.pop() * 8
        if forced and forced != asize:
            raise AsmError("invalid effective address: address size mismatch")
        return asize
    if forced:
        return forced
    if mem.disp_size in (2, 4):
        return mem.disp_size * 8
    return bits


def _modrm_mem(b: _Builder, mem: Mem, regfield: int, asize: int) -> None:
    disp = mem.disp
    plain = mem.reloc is None and not mem.unknown
    if asize == 16:
        regs = tuple(sorted(r.lower() for r, m in mem.regs if m))
        for _r, m in mem.regs:
            if m not in (0, 1):
                raise AsmError("invalid 16-bit effective address")
        if not regs:
            b.out.append((regfield << 3) | 6)
            b.value(disp, 2, mem.reloc)
            return
        if regs not in RM16:
            raise AsmError("invalid 16-bit effective address")
        rm = RM16[regs]
        if mem.disp_size == 1:
            mod = 1
        elif mem.disp_size in (2, 4):
            mod = 2
        elif plain and (disp & 0xFFFF) == 0 and rm != 6:
            mod = 0
        elif plain and _fits_s8(disp, 16):
            mod = 1
        else:
            mod = 2
        b.out.append((mod << 6) | (regfield << 3) | rm)
        if mod == 1:
            b.value(disp, 1, mem.reloc)
        elif mod == 2:
            b.value(disp, 2, mem.reloc)
        return
    base, index, scale = _ea32(mem)
    for r in (base, index):
        if r is not None and REGISTERS[r].size != 4:
            raise AsmError("invalid 32-bit effective address")
    if base is None and index is None:
        b.out.append((regfield << 3) | 5)
        b.value(disp, 4, mem.reloc)
        return
    if mem.disp_size == 1:
        mod = 1
    elif mem.disp_size in (2, 4):
        mod = 2
    elif base is None:
        mod = 0
    elif plain and (disp & 0xFFFFFFFF) == 0 and base != "ebp":
        mod = 0
    elif plain and _fits_s8(disp, 32):
        mod = 1
    else:
        mod = 2
    if index is None and base != "esp":
        b.out.append((mod << 6) | (regfield << 3) | REGISTERS[base].num)
    else:
        ss = {1: 0, 2: 1, 4: 2, 8: 3}[scale]
        idx = REGISTERS[index].num if index else 4
        if base is None:
            b.out.append((regfield << 3) | 4)
            b.out.append((ss << 6) | (idx << 3) | 5)
            b.value(disp, 4, mem.reloc)
            return
        b.out.append((mod << 6) | (regfield << 3) | 4)
        b.out.append((ss << 6) | (idx << 3) | REGISTERS[base].num)
    if mod == 1:
        b.value(disp, 1, mem.reloc)
    elif mod == 2:
        b.value(disp, 4, mem.reloc)


def _emit(form: Form, ops: Sequence[Operand], bits: int, ip: int, prefixes: Sequence[str],
          osize_forced: Optional[int], asize_forced: Optional[int],
          section: object = None) -> Encoded:
    mem = next((op for op in ops if isinstance(op, Mem)), None)
    rm_op = reg_op = opreg = None
    for role, op in zip(form.roles, ops):
        if role == "rm":
            rm_op = op
        elif role == "reg":
            reg_op = op
        elif role == "regrm":
            rm_op = reg_op = op
        elif role == "opreg":
            opreg = op

    b = _Builder()
    # prefixes in NASM's order: wait, lock/rep, segment, operand size, address size
    if form.wait_prefix:
        b.out.append(0x9B)
    for p in prefixes:
        if p in PREFIX_BYTES:
            b.out.append(PREFIX_BYTES[p])
    if form.mandatory is not None:
        b.out.append(form.mandatory)
    segs = [SEG_PREFIX[p] for p in prefixes if p in SEG_PREFIX]
    if mem is not None and mem.seg:
        segs.append(SEG_PREFIX[mem.seg.lower()])
    b.out += bytes(segs)
    osize = form.osize or osize_forced
    if osize_forced and form.osize and osize_forced != form.osize:
        osize = osize_forced
    if osize and osize != bits:
        b.out.append(0x66)
    asize = form.asize or asize_forced
    if mem is not None:
        asize = _addr_size(mem, bits, form.asize or asize_forced)
    if asize and asize != bits:
        b.out.append(0x67)

    opcode = form.opcode[1:] if form.wait_prefix else form.opcode
    if form.plus_r:
        b.out += opcode[:-1]
        b.out.append(opcode[-1] + REGISTERS[opreg.name.lower()].num)
    else:
        b.out += opcode
    if form.modrm is not None:
        regfield = int(form.modrm) if form.modrm != "r" else REGISTERS[reg_op.name.lower()].num
        if isinstance(rm_op, Mem):
            _modrm_mem(b, rm_op, regfield, asize or bits)
        else:
            b.out.append(0xC0 | (regfield << 3) | REGISTERS[rm_op.name.lower()].num)

    # immediates, in operand order
    imm_ops = [op for role, op in zip(form.roles, ops) if role in ("imm", "rel", "ptr", "moffs")]
    rel_fields = []
    for tok, op in zip(form.imms, imm_ops):
        if tok in ("ib", "ibs"):
            b.value(op.value, 1, op.reloc)
        elif tok == "iw":
            b.value(op.value, 2, op.reloc)
        elif tok == "id":
            b.value(op.value, 4, op.reloc)
        elif tok in ("cb", "cw", "cd"):
            rel_fields.append((len(b.out), IMM_SIZE[tok], op))
            b.out += bytes(IMM_SIZE[tok])
        elif tok in ("pw", "pd"):
            b.value(op.offset, 2 if tok == "pw" else 4)
            b.value(op.seg, 2)
        elif tok == "mo":
            b.value(op.disp, (asize or bits) // 8, op.reloc)
    end = ip + len(b.out)
    for pos, size, op in rel_fields:
        delta = op.value - end
        local = op.reloc is None or _is_local(op, section)
        if size == 1 and local and not op.unknown and not -128 <= delta <= 127:
            raise _ShortRange("short jump is out of range")
        if not local:
            b.fixups.append(Fixup(pos, size, op.reloc, True))
        b.out[pos:pos + size] = (delta & ((1 << (8 * size)) - 1)).to_bytes(size, "little")
    return Encoded(bytes(b.out), b.fixups, form.lockable(ops))


IMM_SIZE = {"cb": 1, "cw": 2, "cd": 4}


def _rel8_forced(form: Form, ops: Sequence[Operand]) -> bool:
    """`short` written, or rel8 is the only form (loop, jcxz): out of range is an error."""
    if any(isinstance(op, Imm) and (op.jump == "short" or op.size == 1) for op in ops):
        return True
    return all("rel8" in f.operands for f in by_mnemonic()[form.mnemonic])


def candidates(mnemonic: str, operands: Sequence[Operand], bits: int,
               prefixes: Sequence[str] = ()) -> list:
    """Every form that matches, in preference order (used by the disassembler's checks)."""
    osize_forced = 16 if "o16" in prefixes else 32 if "o32" in prefixes else None
    out = []
    for form in by_mnemonic().get(mnemonic.lower(), ()):
        if "na" in form.flags:
            continue
        try:
            _match(form, operands, bits, osize_forced)
        except (_NoMatch, _SizeMissing):
            continue
        out.append(form)
    return out


def _shape(op: Operand, section: object) -> tuple:
    """Everything about an operand that `_match_operand` and `_match` look at."""
    if type(op) is Reg:
        return ("r", op.name.lower())
    if type(op) is Mem:
        return ("m", op.size, op.jump, bool(op.regs), op.disp_size == 1)
    if type(op) is Imm:
        v = op.value
        plain = op.reloc is None and not op.unknown
        return ("i", op.size, op.jump, op.strict, plain, plain and v == 1, op.unknown,
                _is_local(op, section), _fits_s8(v, 16), _fits_s8(v, 32))
    return ("p", op.size)


# (mnemonic, bits, o16/o32, operand shapes) -> the forms that match, in table order, each
# marked whether it needs its size from elsewhere: most lines of a big source differ only
# in registers and values, so the search through the table runs once per shape
_CANDIDATES: dict = {}


def _matching(forms, operands, bits: int, osize_forced, section) -> tuple:
    out = []
    for form in forms:
        if "na" in form.flags:
            continue
        try:
            _match(form, operands, bits, osize_forced, section)
        except _NoMatch:
            continue
        except _SizeMissing:
            out.append((form, True))
            continue
        out.append((form, False))
    return tuple(out)


def encode(mnemonic: str, operands: Sequence[Operand], bits: int, ip: int = 0,
           prefixes: Sequence[str] = (), section: object = None) -> Encoded:
    """Encode one instruction at address ``ip`` of ``section``; raise AsmError with NASM's
    message when it cannot be encoded."""
    mnemonic = mnemonic.lower()
    prefixes = [p.lower() for p in prefixes]
    forms = by_mnemonic().get(mnemonic)
    if forms is None:
        raise AsmError(f"unrecognised instruction '{mnemonic}'")
    osize_forced = 16 if "o16" in prefixes else 32 if "o32" in prefixes else None
    asize_forced = 16 if "a16" in prefixes else 32 if "a32" in prefixes else None
    key = (mnemonic, bits, osize_forced, tuple(_shape(op, section) for op in operands))
    matching = _CANDIDATES.get(key)
    if matching is None:
        matching = _matching(forms, operands, bits, osize_forced, section)
        if len(_CANDIDATES) < 100_000:
            _CANDIDATES[key] = matching
    size_missing = []
    for form, missing in matching:
        if missing:
            size_missing.append(form)
            continue
        try:
            return _emit(form, operands, bits, ip, prefixes, osize_forced, asize_forced, section)
        except _ShortRange:
            if _rel8_forced(form, operands):
                raise AsmError("short jump is out of range") from None
            continue
    if len(size_missing) == 1:
        # NASM takes an unsized memory operand's size from the only form that fits
        return _emit(size_missing[0], operands, bits, ip, prefixes, osize_forced, asize_forced,
                     section)
    if size_missing:
        raise AsmError("operation size not specified")
    raise AsmError("invalid combination of opcode and operands")


@cache
def mnemonics() -> frozenset:
    return frozenset(by_mnemonic())
