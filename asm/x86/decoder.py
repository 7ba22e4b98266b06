"""x86 decoder, derived from the same table as the encoder (``insns.tab``).

``decode(code, offset, bits, address)`` returns an ``Insn``: the table form, the operands
(as the encoder takes them, so ``encode(decode(x)) == x`` can be checked) and the fields an
executor needs (prefixes, effective operand/address size, ModRM parts).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

from asm.x86.operands import FarPtr, Imm, Mem, Reg
from asm.x86.registers import GPR8, GPR16, GPR32, REGISTERS, SREGS
from asm.x86.table import Form, forms

SEG_BYTES = {0x26: "es", 0x2E: "cs", 0x36: "ss", 0x3E: "ds", 0x64: "fs", 0x65: "gs"}
GPR_BY_SIZE = {1: GPR8, 2: GPR16, 4: GPR32}
TYPE_SIZE = {"8": 1, "16": 2, "32": 4, "64": 8, "80": 10}
BASE16 = [("bx", "si"), ("bx", "di"), ("bp", "si"), ("bp", "di"), ("si",), ("di",), ("bp",),
          ("bx",)]
MAX_LEN = 15
_PREFIX_BYTES = frozenset((0x66, 0x67, 0xF0, 0xF2, 0xF3, *SEG_BYTES))
_ONE_BYTE = [bytes((i,)) for i in range(256)]     # a one-byte opcode's key, made once
_new = object.__new__


class DecodeError(Exception):
    """Bytes that are not a valid instruction (the CPU raises #UD)."""

    def __init__(self, message: str, address: int = 0, length: int = 1):
        super().__init__(message)
        self.address = address
        self.length = length


class Truncated(DecodeError):
    """The instruction runs past the end of the available bytes."""


@dataclass
class Insn:
    """One decoded instruction (a docstring of its own spares @dataclass computing one
    from the signature at every start)."""
    address: int
    length: int
    raw: bytes
    form: Form
    operands: list
    osize: int                      # effective operand size (16/32)
    asize: int                      # effective address size (16/32)
    seg: Optional[str] = None       # segment override prefix
    rep: Optional[str] = None       # 'rep' (F3) or 'repne' (F2)
    lock: bool = False
    prefixes: list = field(default_factory=list)   # prefix bytes in order
    modrm: Optional[int] = None
    unused_osize: bool = False      # a 66h the form does not use (printed as o16/o32)
    unused_asize: bool = False      # a 67h without a memory operand

    @property
    def mnemonic(self) -> str:
        return self.form.mnemonic

    @property
    def display(self) -> str:
        return self.form.display


_GROUPS: dict = {}      # first opcode byte -> [(form, +r)] in table order (see _groups)


def _groups() -> dict:
    """The decodable forms by first opcode byte, in table order; +r is True for a +r form
    (a one-byte +r opcode is listed under each of its 8 bytes). One light pass over the
    table: the opcode index of a byte is built when that byte is first decoded
    (:func:`_byte_lengths`), as most programs use a fraction of the table's opcodes."""
    if not _GROUPS:
        for f in forms():
            op = f.opcode
            if "nd" in f.flags or len(op) > 1 and op[0] == 0x9B:     # (f.wait_prefix)
                continue
            if f.plus_r and len(op) == 1:
                for r in range(8):
                    _GROUPS.setdefault(op[0] + r, []).append((f, True))
            else:
                _GROUPS.setdefault(op[0], []).append((f, f.plus_r))
    return _GROUPS


# table row -> _checks() after (form, r): a +r form's 8 opcodes and a row's aliases
# (sal/shl) share them
_ROW_CHECKS: dict = {}


def _checks(f: Form, r) -> tuple:
    """What decode() tests of a candidate form, worked out once: (form, +r register,
    mandatory prefix, osize, asize, has ModRM, /digit or None, regrm, r/m memory only,
    r/m register only, r/m the accumulator, reg field kind, operand plans, immediate
    fields as :data:`_IMM_CODES`)."""
    tail = _ROW_CHECKS.get(f.index)
    if tail is None:
        rm_t = reg_t = None
        for t, role in zip(f.operands, f.roles):
            if rm_t is None and role in ("rm", "regrm"):
                rm_t = t
            elif reg_t is None and role == "reg":
                reg_t = t
        tail = _ROW_CHECKS[f.index] = (
            f.mandatory, f.osize, f.asize, f.modrm is not None,
            int(f.modrm) if f.modrm is not None and f.modrm != "r" else None,
            "regrm" in f.roles,
            rm_t is not None and _rm_is_mem_only(rm_t),
            rm_t is not None and _rm_is_reg_only(rm_t),
            rm_t in ("al", "ax", "eax"),
            reg_t if reg_t in ("sreg", "creg", "treg") else None,
            tuple(_plan(t, role) for t, role in zip(f.operands, f.roles)),
            tuple(_IMM_CODES[tok] for tok in f.imms))
    return (f, r) + tail


_RM, _REG, _OPREG, _FIXED, _ONE, _IMM, _REL, _PTR, _MOFFS = range(9)
# an immediate field's token as decode() reads it: (code, bytes; 0 for the address size)
# (read in one branch, not a chain of string comparisons per field)
_IMM_CODES = {"ib": (0, 1), "ibs": (1, 1), "cb": (1, 1), "iw": (0, 2), "id": (0, 4),
              "cw": (1, 2), "cd": (1, 4), "pw": (2, 2), "pd": (2, 4), "mo": (0, 0)}
_ROLE = {"rm": _RM, "regrm": _RM, "reg": _REG, "opreg": _OPREG, "fixed": _FIXED,
         "one": _ONE, "imm": _IMM, "rel": _REL, "ptr": _PTR, "moffs": _MOFFS}


def _names8(t: str) -> tuple:
    """The register names of type t by number (None where _reg_name raises)."""
    out = []
    for num in range(8):
        try:
            out.append(_reg_name(t, num))
        except (DecodeError, IndexError):
            out.append(None)
    return tuple(out)


_PLANS: dict = {}       # (type, role) -> _plan()


def _plan(t: str, role: str) -> tuple:
    """How decode() makes one operand of a form: (kind, type, detail)."""
    out = _PLANS.get((t, role))
    if out is None:
        out = _PLANS[t, role] = _make_plan(t, role)
    return out


def _make_plan(t: str, role: str) -> tuple:
    kind = _ROLE.get(role)
    if kind == _RM:
        if t == "mfar":
            size = "far"
        elif t.startswith("rm") or t[1:] in TYPE_SIZE:
            size = TYPE_SIZE[t[2:] if t.startswith("rm") else t[1:]]
        else:
            size = None
        return (kind, t, (size, _names8(t)))
    if kind in (_REG, _OPREG):
        return (kind, t, _names8(t))
    if kind == _MOFFS:
        return (kind, t, TYPE_SIZE[t[5:]])
    return (kind, t, None)


_FAST: dict = {}     # opcode bytes -> _entry(), filled as opcodes are first seen


def _entry(key: bytes) -> Optional[tuple]:
    """(candidates, candidates under a 66h prefix, ModRM) of an opcode, ModRM 0 without
    one, 1 with one, 2 for a group opcode (80h-83h, F7h, FFh, 0F 01 ...: forms told apart
    by /digit): its lists are then tuples of 8 by the reg field, without the forms of
    another /digit (decode() skipped those one by one: 83h has 16); None when no form
    has the opcode."""
    cands = _INDEX.get(key)
    if cands is None:
        return None
    plain = tuple(_checks(f, r) for f, r in cands)
    # a 66h picks the sized form (pushad) over the unsized one (pusha)
    sized = tuple(sorted(plain, key=lambda c: c[0].osize is None))
    if not any(c[5] for c in plain):
        e = (plain, sized, 0)
    elif len({c[6] for c in plain}) > 2:
        e = (_by_reg(plain), _by_reg(sized), 2)
    else:
        e = (plain, sized, 1)
    _FAST[key] = e
    return e


def _by_reg(cands: tuple) -> tuple:
    """The candidates for each value of the ModRM reg field (order kept)."""
    return tuple(tuple(c for c in cands if c[6] is None or c[6] == reg) for reg in range(8))


# first opcode byte -> the opcode lengths to try, longest first; opcode bytes -> [(form,
# register number for +r forms or None)] in the order decode() tries them: both filled a
# first byte at a time (_byte_lengths), the byte's opcodes before its lengths. Plain dicts: functools.cache's wrapper cost PyPy's interpreter
# ~2 us per decode.
_LENGTHS: dict = {}
_INDEX: dict = {}


def _byte_lengths(b: int) -> tuple:
    """Index the opcodes that start with byte b (into _INDEX) and return their lengths."""
    idx: dict = {}
    for f, plus_r in _groups().get(b, ()):
        if plus_r:
            for r in range(8):
                key = f.opcode[:-1] + bytes([f.opcode[-1] + r])
                if key[0] == b:
                    idx.setdefault(key, []).append((f, r))
        else:
            idx.setdefault(f.opcode, []).append((f, None))
    for key, cands in idx.items():
        # an exact opcode (90 nop) before a +r form that covers it (xchg eax, r32); a form
        # with a mandatory prefix (addsd) before the one without (addps)
        _INDEX[key] = sorted(cands, key=lambda c: (c[1] is not None, c[0].mandatory is None))
    lens = _LENGTHS[b] = tuple(sorted({len(k) for k in idx}, reverse=True))
    return lens


def _rm_is_mem_only(t: str) -> bool:
    return t in ("m", "m8", "m16", "m32", "m64", "m80", "mfar", "m128")


def _rm_is_reg_only(t: str) -> bool:
    return t in ("r8", "r16", "r32", "sti", "xmm", "mm") or t in ("al", "ax", "eax")


def _past_end(pos: int, offset: int, address: int) -> DecodeError:
    """The error of reading a byte at pos, past the instruction's last readable one."""
    if pos - offset >= MAX_LEN:
        return DecodeError("instruction longer than 15 bytes", address, MAX_LEN)
    return Truncated("truncated instruction", address, pos - offset)


def _uint(code, pos: int, size: int, end: int, offset: int, address: int) -> int:
    """The little-endian field of ``size`` bytes at pos (Truncated past ``end``)."""
    if pos + size > end:
        raise Truncated("truncated instruction", address, pos - offset)
    return int.from_bytes(code[pos:pos + size], "little")


def _sx(v: int, size: int) -> int:
    bits = size * 8
    return v - (1 << bits) if v >> (bits - 1) else v


def _decode_mem(code, pos: int, end: int, offset: int, address: int, modrm: int,
                asize: int) -> tuple:
    """(the ModRM byte's memory operand, the position after its SIB and displacement).
    (No reader object: decoding reads positions, as PyPy's interpreter makes an object
    per instruction dearly.)"""
    # (Mem's fields by position: size, seg, regs, disp, disp_size, reloc, unknown, nosplit,
    # jump, strict, scaled; keywords cost PyPy's interpreter a matching per call)
    mod, rm = modrm >> 6, modrm & 7
    regs: list = []
    scaled: tuple = ()
    disp_size = None
    if asize == 16:
        if mod == 0 and rm == 6:
            disp = _uint(code, pos, 2, end, offset, address)
            return Mem(regs=[], disp=disp), pos + 2
        regs = [(r, 1) for r in BASE16[rm]]
        disp = 0
        if mod == 1:
            if pos >= end:
                raise _past_end(pos, offset, address)
            disp = _sx(code[pos], 1)
            pos += 1
            if disp == 0 or rm == 6 and disp == 0:
                disp_size = 1
        elif mod == 2:
            disp = _sx(_uint(code, pos, 2, end, offset, address), 2)
            pos += 2
            if -128 <= disp <= 127:
                disp_size = 2
        return Mem(regs=regs, disp=disp, disp_size=disp_size), pos
    base = index = None
    scale = 1
    if rm == 4:
        if pos >= end:
            raise _past_end(pos, offset, address)
        sib = code[pos]
        pos += 1
        ss, idx, b = sib >> 6, (sib >> 3) & 7, sib & 7
        scale = 1 << ss
        if idx != 4:
            index = GPR32[idx]
        if b == 5 and mod == 0:
            base = None
            disp = _uint(code, pos, 4, end, offset, address)
            regs = ([(index, scale)] if index else [])
            scaled = (index,) if index else ()
            m = Mem(None, None, regs, _sx(disp, 4), None, None, False, True, None, False, scaled)
            if index is None:
                m.disp_size = 4          # SIB with no base and no index: a long form of [disp32]
            return m, pos + 4
        base = GPR32[b]
    elif mod == 0 and rm == 5:
        return Mem(None, None, [], _sx(_uint(code, pos, 4, end, offset, address), 4)), pos + 4
    else:
        base = GPR32[rm]
    disp = 0
    if mod == 1:
        if pos >= end:
            raise _past_end(pos, offset, address)
        disp = _sx(code[pos], 1)
        pos += 1
        if disp == 0 and base != "ebp":
            disp_size = 1
    elif mod == 2:
        disp = _sx(_uint(code, pos, 4, end, offset, address), 4)
        pos += 4
        if -128 <= disp <= 127:
            disp_size = 4
    if base is not None:
        regs.append((base, 1))
    if index is not None:
        regs.append((index, scale))
        if index != base:
            scaled = (index,)
    return Mem(None, None, regs, disp, disp_size, None, False, False, None, False, scaled), pos


def decode(code, offset: int = 0, bits: int = 32, address: Optional[int] = None) -> Insn:
    """Decode one instruction at code[offset:]; ``address`` is its address (for jumps)."""
    if address is None:
        address = offset
    end = min(len(code), offset + MAX_LEN)
    pos = offset
    prefixes = []
    seg = rep = None
    lock = False
    p66 = p67 = False
    while True:
        # (the byte read inline: most instructions have no prefix, and this loop
        # is a tenth of decoding an instruction that is translated once)
        if pos >= end:
            raise _past_end(pos, offset, address)
        b = code[pos]
        pos += 1
        if b not in _PREFIX_BYTES:
            break
        if b == 0x66:
            p66 = True
        elif b == 0x67:
            p67 = True
        elif b in SEG_BYTES:
            seg = SEG_BYTES[b]
        elif b == 0xF0:
            lock = True
        elif b == 0xF3:
            rep = "rep"
        else:   # (0xF2)
            rep = "repne"
        prefixes.append(b)
    osize = (48 - bits) if p66 else bits
    asize = (48 - bits) if p67 else bits
    start = pos - 1
    # longest opcode first: 0F xx, x87 register forms (D9 E8), then one byte; a longer
    # opcode none of whose forms fits falls back to a shorter one (0F 1E FA without F3 is
    # not endbr64 but the hint NOP 0F 1E /7)
    chosen = None
    modrm = None
    failed_at = None
    at = pos                # (where an invalid opcode's error says it ended)
    last = prefixes[-1] if prefixes else None
    lens = _LENGTHS.get(b)
    for n in (_byte_lengths(b) if lens is None else lens):
        key = _ONE_BYTE[b] if n == 1 else bytes(code[start:start + n])
        if len(key) != n:
            continue
        entry = _FAST.get(key) or _entry(key)
        if entry is None:
            continue
        pos = start + n
        cands = entry[1] if p66 else entry[0]
        modrm = None
        if entry[2]:
            # (the byte read inline, with its bounds check)
            if pos >= end:
                raise _past_end(pos, offset, address)
            modrm = code[pos]
            pos += 1
            if entry[2] == 2:
                cands = cands[(modrm >> 3) & 7]
        at = pos
        for (f, r, mand, fos, fas, has_modrm, digit, regrm, mem_only, reg_only, acc,
             reg_kind, plan, imms) in cands:
            if mand is not None and last != mand:
                continue
            if fos is not None and fos != osize:
                continue
            if fas is not None and fas != asize:
                continue
            if has_modrm:
                mod, reg = modrm >> 6, (modrm >> 3) & 7
                if digit is not None and digit != reg:
                    continue
                if regrm and (mod != 3 or reg != modrm & 7):
                    continue
                if mem_only and mod == 3 or reg_only and mod != 3 or acc and modrm & 7:
                    continue
                if reg_kind is not None and (
                        reg_kind == "sreg" and reg > 5 or
                        reg_kind == "creg" and reg not in (0, 2, 3, 4) or
                        reg_kind == "treg" and reg < 3):
                    continue
            chosen = (f, r, plan, imms)
            break
        if chosen is not None:
            break
        if failed_at is None:
            failed_at = at
    if chosen is None:
        if failed_at is None:
            raise DecodeError(f"invalid opcode {code[start]:02X}", address, at - offset)
        raise DecodeError(f"invalid opcode {bytes(code[start:failed_at]).hex(' ').upper()}",
                          address, failed_at - offset)
    form, opreg, plan, imms = chosen
    if form.mandatory is not None:      # part of the opcode, not a rep prefix
        prefixes.pop()
        rep = {0xF3: "rep", 0xF2: "repne"}.get(next(
            (b for b in reversed(prefixes) if b in (0xF2, 0xF3)), None))
        if form.mandatory == 0x66:      # not an operand-size prefix either
            p66 = 0x66 in prefixes
            osize = (48 - bits) if p66 else bits
    mem = None
    if modrm is not None and modrm >> 6 != 3:
        mem, pos = _decode_mem(code, at, end, offset, address, modrm, asize)
        mem.seg = seg
    else:
        pos = at
    # immediates in encoding order (_IMM_CODES: plain, signed, far pointer)
    fields = []
    for kind, size in imms:
        if size == 1:
            if pos >= end:
                raise _past_end(pos, offset, address)
            v = code[pos]
            pos += 1
        else:
            n = size or asize // 8
            v = _uint(code, pos, n, end, offset, address)
            pos += n
        if kind == 1:
            if v >> (size * 8 - 1):
                v -= 1 << (size * 8)
        elif kind == 2:
            v = (_uint(code, pos, 2, end, offset, address), v)
            pos += 2
        fields.append(v)
    length = pos - offset
    operands = []
    if plan:
        end = address + length
        fi = iter(fields)
        for kind, t, detail in plan:
            if kind == _RM:
                if mem is not None:
                    m = mem
                    size = detail[0]
                    if size == "far":
                        m.jump = "far"
                    elif size is not None:
                        m.size = size
                    operands.append(m)
                else:
                    name = detail[1][modrm & 7]
                    operands.append(Reg(name if name is not None else _reg_name(t, modrm & 7)))
            elif kind == _REG:
                num = (modrm >> 3) & 7
                name = detail[num]
                operands.append(Reg(name if name is not None else _reg_name(t, num)))
            elif kind == _OPREG:
                name = detail[opreg]
                operands.append(Reg(name if name is not None else _reg_name(t, opreg)))
            elif kind == _FIXED:
                operands.append(Reg(t))
            elif kind == _IMM:
                operands.append(Imm(next(fi)))
            elif kind == _REL:
                rel = next(fi)
                mask = 0xFFFF if osize == 16 and t != "rel8" or (t == "rel8" and bits == 16) \
                    else 0xFFFFFFFF
                operands.append(Imm((end + rel) & mask))
            elif kind == _ONE:
                operands.append(Imm(1))
            elif kind == _PTR:
                s, o = next(fi)
                operands.append(FarPtr(s, o))
            elif kind == _MOFFS:
                operands.append(Mem(size=detail, seg=seg, regs=[], disp=next(fi)))
    # (its fields stored one by one: the dataclass's __init__ called with 14 arguments
    # took 2.2 us against 1.8 under PyPy's interpreter, 0.34 against 0.22 under CPython)
    insn = _new(Insn)
    insn.address = address
    insn.length = length
    insn.raw = bytes(code[offset:offset + length])
    insn.form = form
    insn.operands = operands
    insn.osize = osize
    insn.asize = asize
    insn.seg = seg
    insn.rep = rep
    insn.lock = lock
    insn.prefixes = prefixes
    insn.modrm = modrm
    insn.unused_osize = p66 and form.osize is None
    insn.unused_asize = p67 and mem is None and form.asize is None and "moffs" not in form.roles
    return insn


def _reg_name(t: str, num: int) -> str:
    if t in ("r8", "rm8"):
        return GPR8[num]
    if t in ("r16", "rm16"):
        return GPR16[num]
    if t in ("r32", "rm32"):
        return GPR32[num]
    if t == "sreg":
        return SREGS[num]
    if t == "creg":
        return f"cr{num}"
    if t == "dreg":
        return f"dr{num}"
    if t == "treg":
        return f"tr{num}"
    if t == "sti":
        return f"st{num}"
    if t.startswith("xmm"):
        return f"xmm{num}"
    if t in ("mm", "mmrm"):
        return f"mm{num}"
    if t in REGISTERS:
        return t
    raise DecodeError(f"no register of type {t}")


def const_fields(insn: Insn) -> Optional[tuple]:
    """Where insn's constants are in its bytes, for an instruction with the same bytes
    before them (which decode the same way, constants aside): (the length of those bytes,
    one (offset, size, signed) per Imm or Mem operand in operand order, (None, value,
    False) for a constant no byte holds); None for one this does not cover
    (16-bit addressing, moffs, far pointers, relative targets). Its caller checks that
    the fields give insn's own values."""
    form = insn.form
    roles = form.roles
    if insn.asize != 32 or "moffs" in roles or "ptr" in roles or "rel" in roles:
        return None
    imms = []
    for tok in form.imms:
        kind, size = _IMM_CODES[tok]
        if kind == 2 or not size:
            return None
        imms.append((size, kind == 1))
    # the bytes before the constants: prefixes (a mandatory one among them), opcode, ModRM
    # and SIB
    npre = len(insn.prefixes) + (form.mandatory is not None)
    k = npre + len(form.opcode)
    # (every opcode decode() tried is in those bytes: a longer one than the form's, read
    # into its constants, could be another instruction's)
    if npre >= len(insn.raw) or npre + max(_LENGTHS.get(insn.raw[npre], (9,))) > \
            k + (insn.modrm is not None):
        return None
    modrm = insn.modrm
    db = 0
    if modrm is not None:
        k += 1
        mod, rm = modrm >> 6, modrm & 7
        if mod != 3:
            if rm == 4:
                if k >= len(insn.raw):
                    return None
                sib = insn.raw[k]
                k += 1
                if mod == 0 and sib & 7 == 5:
                    db = 4
            elif mod == 0 and rm == 5:
                db = 4
            if mod:
                db = 1 if mod == 1 else 4
    pos = k + db
    ifields = []
    for size, signed in imms:
        ifields.append((pos, size, signed))
        pos += size
    if pos != insn.length:
        return None
    out = []
    it = iter(ifields)
    for op, role in zip(insn.operands, roles):
        t = type(op)
        if t is Imm:
            if role == "one":
                out.append((None, 1, False))
            elif role == "imm":
                f = next(it, None)
                if f is None:
                    return None
                out.append(f)
            else:
                return None
        elif t is Mem:
            if role not in ("rm", "regrm"):
                return None
            out.append((k, db, True) if db else (None, 0, False))
        elif t is not Reg:
            return None
    return k, tuple(out)
