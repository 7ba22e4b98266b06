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
from formats import plainrecord

PREFIX_BYTES = {"lock": 0xF0, "rep": 0xF3, "repe": 0xF3, "repz": 0xF3, "repne": 0xF2,
                "repnz": 0xF2, "xacquire": 0xF2, "xrelease": 0xF3}
# NASM's prefix slots: one prefix per slot; the same one twice is redundant (a warning),
# two different ones are an error
PREFIX_SLOT = {"rep": 0, "repe": 0, "repz": 0, "repne": 0, "repnz": 0, "xacquire": 0,
               "xrelease": 0, "bnd": 0, "nobnd": 0, "lock": 1, "es": 2, "cs": 2, "ss": 2,
               "ds": 2, "fs": 2, "gs": 2, "o16": 3, "o32": 3, "a16": 4, "a32": 4, "wait": 5}
SEG_PREFIX = {"es": 0x26, "cs": 0x2E, "ss": 0x36, "ds": 0x3E, "fs": 0x64, "gs": 0x65}
# not a prefix of the syntax: the assembler adds it to an instruction under NASM's
# `default bnd` (F2 on the forms with NASM's BND flag, like `bnd`, but nothing refused)
DEFAULT_BND = "default-bnd"
PREFIXES = frozenset(PREFIX_BYTES) | frozenset(SEG_PREFIX) | {"a16", "a32", "o16", "o32"}

REGSIZE = "invalid register size specification ignored [-w+regsize]"

# 16-bit addressing: (sorted register pair) -> rm field
RM16 = {("bx", "si"): 0, ("bx", "di"): 1, ("bp", "si"): 2, ("bp", "di"): 3, ("si",): 4,
        ("di",): 5, ("bp",): 6, ("bx",): 7}

SIZE_KEY = {"8": 1, "16": 2, "32": 4, "64": 8, "80": 10}
GPR_TYPES = {"r8": 1, "r16": 2, "r32": 4}
FIXED_SIZE_REGS = {"al", "ax", "eax"}   # specific registers whose size pins the form
XMM_TYPES = {"xmm": 16, "xmmrm": 16, "xmmrm32": 4, "xmmrm64": 8, "m128": 16, "mm": 8,
             "mmrm": 8}
VEC_KIND = {"mm": "mmx", "mmrm": "mmx"}      # the register kind of each; others: xmm


# NASM's SSE compare pseudo-ops: `cmpltps xmm0, xmm1` is `cmpps xmm0, xmm1, 1`
CMP_PREDICATES = ("eq", "lt", "le", "unord", "neq", "nlt", "nle", "ord")
CMP_ALIASES = {f"cmp{p}{s}": (f"cmp{s}", k) for k, p in enumerate(CMP_PREDICATES)
               for s in ("ps", "pd", "ss", "sd")}


def is_mnemonic(name: str) -> bool:
    return name.lower() in by_mnemonic() or name.lower() in CMP_ALIASES


def is_prefix(name: str) -> bool:
    return name.lower() in PREFIXES


def check_prefixes(prefixes: Sequence[str]) -> tuple:
    """(prefixes without repeats, whether one was repeated); AsmError on two different
    prefixes of one slot (NASM's "conflicting prefixes")."""
    seen: dict = {}
    redundant = False
    out = []
    for x in prefixes:
        x = x.lower()
        slot = PREFIX_SLOT.get(x, x)
        had = seen.get(slot)
        if had is None:
            seen[slot] = x
            out.append(x)
        elif had == x:
            redundant = True
        else:
            raise AsmError("instruction has conflicting prefixes")
    return tuple(out), redundant


def prefix_only(prefixes: Sequence[str], bits: int) -> Encoded:
    """A line of prefixes alone (`rep`, `o32`): NASM emits their bytes in its slot order
    (rep/hle, lock, segment, operand size, address size), warning as for an instruction
    that takes none of them."""
    pfx, redundant = check_prefixes(prefixes)
    for x in ("bnd", "nobnd"):
        if x in pfx:
            raise AsmError(f"{x} prefix is not allowed")
    out = bytearray()
    warnings = []
    for x in sorted(pfx, key=lambda x: PREFIX_SLOT[x]):
        if x in PREFIX_BYTES:
            out.append(PREFIX_BYTES[x])
        elif x in SEG_PREFIX:
            out.append(SEG_PREFIX[x])
        elif int(x[1:]) != bits:        # o16/o32/a16/a32 against the mode
            out.append(0x66 if x[0] == "o" else 0x67)
    if redundant:
        warnings.append("instruction has redundant prefixes [-w+other]")
    if "lock" in pfx:
        warnings.append("instruction is not lockable [-w+prefix-lock]")
    for x in ("xacquire", "xrelease"):
        if x in pfx:
            warnings.append(f"{x} invalid with this instruction [-w+prefix-hle]")
    return Encoded(bytes(out), warnings=tuple(warnings))


def hle_use(form: Form, ops: Sequence[Operand]) -> str:
    """What NASM allows of xacquire/xrelease on this form: 'lock' (with a lock prefix),
    'ok' (xchg with memory), 'release' (xrelease only: a store by mov), '' (neither)."""
    if not ops or not isinstance(ops[0], Mem) and not any(isinstance(o, Mem) for o in ops):
        return ""
    if form.mnemonic == "xchg":
        return "ok"
    if form.mnemonic == "mov":
        return "release" if isinstance(ops[0], Mem) else ""
    return "lock" if "lock" in form.flags else ""


def _signed(value: int, bits: int) -> int:
    value &= (1 << bits) - 1
    return value - (1 << bits) if value >> (bits - 1) else value


def _fits_s8(value: int, bits: int) -> bool:
    return -128 <= _signed(value, bits) <= 127


class _NoMatch(Exception):
    pass


class _SizeMissing(Exception):
    pass


class _SizeMismatch(_NoMatch):
    """The operand is of the form's kind but its explicit size is not the form's: NASM's
    "mismatch in operand sizes" when no form fits (its templates of no fixed size)."""


class _BadMode(_NoMatch):
    """A qword operand where NASM has the form in 64-bit mode only."""


# NASM rows of one size whose template has none: a wrong size alone is a mismatch
_LONE_MISMATCH = frozenset(("verw verr str smsw sldt ltr lmsw lldt fbstp fbld movntq pinsrw "
                            "cvtsi2ss cvtsi2sd").split())
_QWORD_FORMS = frozenset(("cvtsi2ss", "cvtsi2sd"))     # (a 64-bit mode form)
_NO_QWORD = frozenset(("prefetchnta", "prefetcht0", "prefetcht1", "prefetcht2", "ldmxcsr",
                       "stmxcsr", "movsx", "movzx"))
_NO_MISMATCH = frozenset(("movsx", "movzx"))    # (to a 32-bit register: NASM's invalid)
_IMM8_SIZED = frozenset(("bt", "btc", "btr", "bts", "cmppd", "cmpps", "cmpsd", "cmpss",
                         "shufpd", "shufps", "rcl", "rcr", "rol", "ror", "sal", "sar", "shl",
                         "shr"))
# NASM's `ib,u` rows: an unsigned byte, a negative value warns (`int -1`)
_UNSIGNED_IMM8 = frozenset((
    "aad aam bt btc btr bts cmppd cmpps cmpsd cmpss enter in int out pextrw pinsrw pslld "
    "pslldq psllq psllw psrad psraw psrld psrldq psrlq psrlw rcl rcr rol ror sal sar shl "
    "shld shr shrd shufpd shufps").split())
_TWORD_IMM = frozenset("adc add and cmp mov or sbb sub test xor".split())
_GPR_SIZED = frozenset(("rm8", "rm16", "rm32", "m8", "m16", "m32", "m64", "m80"))


# vector forms whose NASM template takes the size from the instruction: a wrong explicit
# size is a mismatch there, not an invalid combination (NASM's SSE2/MMX rows mostly)
_VEC_MISMATCH = frozenset((
    "addpd addsd andnpd andpd cvtdq2pd cvtdq2ps cvtpd2dq cvtpd2pi cvtpd2ps cvtpi2pd "
    "cvtps2dq cvtps2pd cvtsd2si cvtsd2ss cvtss2sd cvtss2si cvttpd2dq cvttpd2pi cvttps2dq "
    "cvttps2pi cvttsd2si cvttss2si divpd divsd maxpd maxsd minpd minsd movntdq movntpd movq "
    "packssdw packsswb packuswb paddb paddd paddq paddsb paddsw paddusb paddusw paddw pand "
    "pandn pavgb pavgw pcmpeqb pcmpeqd pcmpeqw pcmpgtb pcmpgtd pcmpgtw pmaddwd pmaxsw pmaxub "
    "pminsw pminub pmulhuw pmulhw pmullw pmuludq por psadbw pshufd pshufhw pshuflw pshufw "
    "pslld psllq psllw psrad psraw psrld psrlq psrlw psubb psubd psubq psubsb psubsw psubusb "
    "psubusw psubw punpckhbw punpckhdq punpckhqdq punpckhwd punpcklbw punpckldq punpcklqdq "
    "punpcklwd pxor").split())
# ... and those where NASM takes no explicit size at all on the memory operand
_VEC_UNSIZED = frozenset(("pshufd", "pshufhw", "pshuflw", "pshufw"))
# `m` operands (any memory): NASM takes no explicit size on them but for these
_M_SIZES = {"lea": None, "fldcw": 2, "fnstcw": 2, "fstcw": 2, "fnstsw": 2, "fstsw": 2}


class _ShortRange(AsmError):
    """A rel8 target out of range: an error when the form was forced, else try the next."""


def _reg(op: Operand) -> Optional[tuple]:
    if isinstance(op, Reg):
        return REGISTERS.get(op.name.lower())
    return None


def _match_operand(t: str, op: Operand, form: Form, bits: int) -> Optional[int]:
    """Return the size evidence (bits) the operand gives, 0 for none; raise _NoMatch."""
    info = _reg(op)
    if t in XMM_TYPES:
        # xmm registers and their memory operands: an unsized memory operand is accepted
        # (the size is the instruction's), a sized one must have that size
        if info:
            if info.kind == VEC_KIND.get(t, "xmm") and t != "m128":
                return 0
            raise _NoMatch
        if t in ("xmm", "mm") or not isinstance(op, Mem) or op.jump == "far":
            raise _NoMatch
        if op.size is not None and (op.size != XMM_TYPES[t]
                                    or form.mnemonic in _VEC_UNSIZED):
            raise _SizeMismatch if form.mnemonic in _VEC_MISMATCH else _NoMatch
        return 0
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
        if op.jump == "short" or op.jump == "mixed":
            raise _SizeMismatch         # (NASM: no memory form takes SHORT; `jmp short [x]`)
        if t == "m":
            if op.size is not None:
                sizes = _M_SIZES.get(form.mnemonic, 0)
                if sizes is not None and op.size != sizes:
                    raise _SizeMismatch
            return 0
        want = SIZE_KEY[t[2:] if t.startswith("rm") else t[1:]]
        if op.size is None:
            return -want * 8          # unsized: acceptable only if pinned by another operand
        if op.size != want:
            raise _SizeMismatch
        return want * 8
    if t == "mfar":
        if isinstance(op, Mem) and op.jump == "far":
            if op.size is None:
                return 0
            # `far word [x]` is m16:16, `far dword [x]` m16:32: the size is the operand size
            if op.size * 8 != form.osize:
                raise _NoMatch
            return form.osize
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
        if op.size is not None and (op.size != want or "nosize" in form.flags):
            # (`nosize`: NASM takes no size on pshufd's immediate); NASM's imm8 rows of
            # an explicit size refuse the others outright
            if op.size == 8 and form.mnemonic == "push":
                raise _BadMode          # (`push qword 1`: a 64-bit mode form)
            raise _NoMatch if form.mnemonic in _IMM8_SIZED else _SizeMismatch
        return want * 8 if op.size else 0
    if t == "simm8":
        if not isinstance(op, Imm) or op.jump is not None:
            raise _NoMatch
        osize = form.osize or bits
        if op.size == 1:
            return 0
        if op.size is not None and op.size * 8 != osize:
            raise _SizeMismatch
        if (op.strict or op.reloc is not None or op.unknown or not _fits_s8(op.value, osize)
                or op.not_simple):
            raise _NoMatch
        return osize if op.size else 0
    if t == "one":
        if (isinstance(op, Imm) and op.jump is None and (op.value == 1 or op.unknowable)
                and op.reloc is None and not op.unknown and not op.not_simple):
            if op.size is None:
                return 0
            if op.size != 1:
                raise _SizeMismatch     # (NASM's unity: a byte; `shl ax, word 1`)
        raise _NoMatch
    if t in ("rel8", "rel16", "rel32"):
        if not isinstance(op, Imm) or op.jump == "far":
            if type(op) is Mem and (op.jump == "short" or op.jump == "mixed") and (
                    form.mnemonic in ("jmp", "call")):
                raise _SizeMismatch     # (`jmp short [x]`: NASM's mismatch)
            raise _NoMatch
        if op.jump == "mixed":
            raise _SizeMismatch         # (`jz short near x`: NASM's mismatch)
        if t == "rel8":
            # (NASM's rel8 forms take no size, not even `byte`)
            if op.jump == "short" and "noshort" in form.flags:
                raise _NoMatch
            if op.jump == "near":
                raise _NoMatch
            if op.size is not None:
                raise _SizeMismatch     # (`loop word x, cx`: NASM's mismatch)
            return 0
        if op.jump == "short":
            raise _NoMatch
        want = int(t[3:])
        if op.size is not None:
            # a Jcc's near form takes a size only after `near` (`jz near word x`)
            if op.size * 8 != want or ("nosize" in form.flags and op.jump != "near"):
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
    sized = None
    for t, op in zip(form.operands, ops):
        try:
            evidence.append(_match_operand(t, op, form, bits))
        except _SizeMismatch:
            if t not in _GPR_SIZED:
                raise
            sized = op                  # (a register operand of another size decides)
            sized_t = t
            evidence.append(0)
    pinned = [e for e in evidence if e > 0]
    if sized is not None:
        # NASM: a mismatch against another operand's size; alone, no form of that size
        # (a qword one: the 64-bit mode's form)
        qword = sized.size == 8 and (sized_t[0] == "r" or form.mnemonic in _QWORD_FORMS) and (
            form.mnemonic not in _NO_QWORD)
        if sized.size == 8 and "sreg" in form.operands:
            raise _BadMode                  # (`mov ds, qword [x]`)
        lone = (form.mnemonic in _LONE_MISMATCH or form.mnemonic[:3] == "set"
                or (form.mnemonic == "movd" and "xmm" in form.operands))
        if (pinned and not (form.mnemonic in _NO_MISMATCH and 32 in pinned)) or (
                lone and (not qword or form.mnemonic not in _QWORD_FORMS)):
            raise _SizeMismatch
        raise _BadMode if qword else _NoMatch
    unsized = [e for e in evidence if e < 0]
    if unsized:
        size = -unsized[0]
        if not any(p == size for p in pinned) and not (
                "defsize" in form.flags and size == (osize_forced or bits)):
            raise _SizeMissing
    if (form.osize is not None and form.operands and not pinned and not unsized
            and "osfix" not in form.flags):
        # nothing in the operands chose the size: the default (bits, or o16/o32) applies;
        # NASM: o16/o32 on an unsized branch target adds 66h, the target keeps bits' size
        default = osize_forced or bits
        if osize_forced and (form.operands[0] in _BRANCH_TARGETS or (
                form.mnemonic == "push" and form.operands[0] in _PUSH_IMMEDIATES)) and (
                ops[0].size is None):
            default = bits      # (push: NASM warns that the prefix is the wrong one)
        if form.osize != default:
            raise _NoMatch
    # rel8 without 'short': a target in this section that is in range, or (NASM's "be
    # optimistic in pass 1") one not known yet; later passes grow the jumps that miss
    for t, op in zip(form.operands, ops):
        if t == "rel8" and isinstance(op, Imm) and op.jump != "short" and op.size != 1:
            if _rel8_forced(form, ops):
                continue          # loop/jcxz: rel8 is the only form; range checked later
            if op.strict:
                raise _NoMatch    # `jmp strict x`: no shortening, the near jump (NASM)
            if not op.unknown and not op.unknowable and not _is_local(op, section):
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
        elif base is None and scale == 1:
            # `[edi*1+ebp*2]`: NASM's base is the register of multiplier 1 (no swap when
            # the other is scaled)
            base, index, scale = index, reg, mult
            summed = False
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


def _disp_overflow(mem: Mem, asize: int) -> Optional[str]:
    """NASM's warning for a displacement beyond its field: an explicit byte one outside
    -128..127, a 16-bit address's beyond -2**16..2**16-1, an explicit dword's beyond
    -2**32..2**32-1; None when it fits."""
    d = mem.disp
    if mem.disp_size == 1:
        if -128 <= d <= 127:
            return None
        width = 1
    elif asize == 16:
        if -0x10000 <= d <= 0xFFFF:
            return None
        width = 2
    elif mem.disp_size == 4:
        if -(1 << 32) <= d < (1 << 32):
            return None
        width = 4
    else:
        return None
    return f"{_WIDTHS[width]} data exceeds bounds [-w+number-overflow]"


def _field(out: bytearray, fixups: list, value: int, size: int, reloc: object = None) -> None:
    """Append a little-endian field; a non-plain value also gets a Fixup."""
    if reloc is not None:
        fixups.append(Fixup(len(out), size, reloc, False))
    out += (value & ((1 << (8 * size)) - 1)).to_bytes(size, "little")


_MASKS = {1: 0xFF, 2: 0xFFFF, 4: 0xFFFFFFFF}     # the field sizes of immediates and jumps


_BAD_EA = ("invalid 16-bit effective address", "invalid 32-bit effective address")


def asize_conflict(regs: Sequence, kept: int, bits: int,
                   first: tuple = ("conflicting address size specifications",)) -> AsmError:
    """NASM's errors for an address size (``kept``: a16/a32, the first one written) that
    conflicts with another or with the registers: each of its messages, in order."""
    messages = list(first)
    sizes = {REGISTERS[r.lower()].size * 8 for r, m in regs
             if m and r.lower() in REGISTERS and REGISTERS[r.lower()].kind == "gpr"}
    if sizes and kept not in sizes:
        messages.append("impossible combination of address sizes")
        if kept == 16 and bits == 16:
            messages.append("invalid 16-bit effective address")
    return AsmError(messages[0], also=tuple(messages[1:]))


def _addr_size(mem: Mem, bits: int, forced: Optional[int]) -> int:
    if sum(1 for _r, m in mem.regs if m) > 2:
        raise AsmError("invalid effective address: too many registers")
    sizes = {REGISTERS[r.lower()].size for r, m in mem.regs if m and r.lower() in REGISTERS}
    for r, m in mem.regs:
        info = REGISTERS.get(r.lower())
        if m and (info is None or info.kind != "gpr" or info.size == 1):
            raise AsmError(f"invalid {bits}-bit effective address")    # `[cs]`, `[al]`
    if len(sizes) > 1:
        raise AsmError("invalid effective address: impossible register combination")
    if sizes:
        asize = sizes.pop() * 8
        if forced and forced != asize:
            raise asize_conflict(mem.regs, forced, bits, ())
        if mem.disp_size in (2, 4, 8) and mem.disp_size * 8 != asize:
            raise AsmError(f"invalid {asize}-bit effective address")    # `[word ebx+1]`
        return asize
    if forced:
        return forced
    if mem.disp_size in (2, 4):
        return mem.disp_size * 8
    return bits


def _rm16(mem: Mem) -> Optional[int]:
    """The 16-bit r/m field of the registers of ``mem``, None for none (a bare [disp16])."""
    regs = tuple(sorted(r.lower() for r, m in mem.regs if m))
    for _r, m in mem.regs:
        if m not in (0, 1):
            raise AsmError("invalid 16-bit effective address")
    if not regs:
        return None
    if regs not in RM16:
        raise AsmError("invalid 16-bit effective address")
    return RM16[regs]


def _ea32_checked(mem: Mem) -> tuple:
    """`_ea32` with the base and index checked to be 32-bit registers."""
    base, index, scale = _ea32(mem)
    for r in (base, index):
        if r is not None and REGISTERS[r].size != 4:
            raise AsmError("invalid 32-bit effective address")
    return base, index, scale


# What the registers of a memory operand give (address size, r/m or base/index/scale)
# depends only on them and a few flags, and a big source uses few combinations: these
# remember the answers. Operands that raise an error are not remembered (they raise again).
_ASIZE_MEMO: dict = {}
_RM16_MEMO: dict = {}
_EA32_MEMO: dict = {}


def _remember(memo: dict, key, value):
    if len(memo) < 10_000:
        memo[key] = value
    return value


def _modrm_mem(out: bytearray, fixups: list, mem: Mem, regfield: int, asize: int,
               regs: tuple) -> int:
    """ModRM (and SIB, displacement) of a memory operand; returns the displacement's size."""
    disp = mem.disp
    plain = mem.reloc is None and not mem.unknown
    sized = disp
    if mem.relative:
        plain, sized = not mem.unknown, disp - mem.origin
    if asize == 16:
        rm = _RM16_MEMO.get(regs, -1)
        if rm == -1:
            rm = _remember(_RM16_MEMO, regs, _rm16(mem))
        if rm is None:
            out.append((regfield << 3) | 6)
            _field(out, fixups, disp, 2, mem.reloc)
            return 2
        if mem.disp_size == 1:
            mod = 1
        elif mem.disp_size in (2, 4):
            mod = 2
        elif plain and (sized & 0xFFFF) == 0 and rm != 6:
            mod = 0
        elif plain and _fits_s8(sized, 16):
            mod = 1
        else:
            mod = 2
        out.append((mod << 6) | (regfield << 3) | rm)
        if mod == 1:
            _field(out, fixups, disp, 1, mem.reloc)
        elif mod == 2:
            _field(out, fixups, disp, 2, mem.reloc)
        return mod
    scaled = mem.scaled
    key = (regs, scaled if type(scaled) is tuple else tuple(scaled or ()), mem.nosplit)
    ea = _EA32_MEMO.get(key)
    if ea is None:
        ea = _remember(_EA32_MEMO, key, _ea32_checked(mem))
    base, index, scale = ea
    if base is None and index is None:
        out.append((regfield << 3) | 5)
        _field(out, fixups, disp, 4, mem.reloc)
        return 4
    if mem.disp_size == 1:
        mod = 1
    elif mem.disp_size in (2, 4):
        mod = 2
    elif base is None:
        mod = 0
    elif plain and (sized & 0xFFFFFFFF) == 0 and base != "ebp":
        mod = 0
    elif plain and _fits_s8(sized, 32):
        mod = 1
    else:
        mod = 2
    if index is None and base != "esp":
        out.append((mod << 6) | (regfield << 3) | REGISTERS[base].num)
    else:
        ss = {1: 0, 2: 1, 4: 2, 8: 3}[scale]
        idx = REGISTERS[index].num if index else 4
        if base is None:
            out.append((regfield << 3) | 4)
            out.append((ss << 6) | (idx << 3) | 5)
            _field(out, fixups, disp, 4, mem.reloc)
            return 4
        out.append((mod << 6) | (regfield << 3) | 4)
        out.append((ss << 6) | (idx << 3) | REGISTERS[base].num)
    if mod == 1:
        _field(out, fixups, disp, 1, mem.reloc)
    elif mod == 2:
        _field(out, fixups, disp, 4, mem.reloc)
        return 4
    return mod


def _disp_warnings(mem: Mem, asize: int, field: int) -> tuple:
    """NASM's warnings for a displacement whose value its field does not hold: an implicit
    byte one warns once for the wrap into -128..127, once more when the value is beyond the
    address size (a word or dword field, an absolute address, twice then); no field
    (`[bx+65536]` is `[bx]`), none. Explicit sizes: _disp_overflow, twice."""
    if mem.disp_size is not None and not (mem.disp_size == 1 and field == 4 and mem.regs):
        # (an explicit byte an index without a base cannot have: a dword, as if unsized)
        if not mem.regs and mem.disp_size == 1:
            return (DISPSIZE_IGNORED, DISPSIZE_IGNORED)
        w = _disp_overflow(mem, asize)
        return () if w is None else (w, w)
    d = mem.disp
    inside = -(1 << asize) <= d < (1 << asize)
    if not mem.regs:
        return () if inside else (f"{_WIDTHS[asize // 8]} data exceeds bounds "
                                  "[-w+number-overflow]",) * 2
    if field == 1:
        n = (not -128 <= d <= 127) + (not inside)
    else:
        n = 0 if inside or not field else 2
    return (f"{_WIDTHS[field]} data exceeds bounds [-w+number-overflow]",) * n if n else ()


DISPSIZE_IGNORED = "displacement size ignored on absolute address [-w+ea-dispsize]"


# immediate field kinds of a _Plan
_IMM, _REL, _PTR, _MOFFS, _SIMM = range(5)       # (_SIMM: a sign-extended byte)
_IMM_FIELDS = {"ib": (_IMM, 1), "ibs": (_SIMM, 1), "iw": (_IMM, 2), "id": (_IMM, 4),
               "cb": (_REL, 1), "cw": (_REL, 2), "cd": (_REL, 4), "pw": (_PTR, 2),
               "pd": (_PTR, 4), "mo": (_MOFFS, 0)}
_WIDTHS = {1: "byte", 2: "word", 4: "dword"}
_MEM_TYPES = frozenset(("rm8", "rm16", "rm32", "m", "m8", "m16", "m32", "m64", "m80", "mfar",
                        "moffs8", "moffs16", "moffs32", "m128", "xmmrm", "xmmrm32",
                        "xmmrm64", "mmrm"))


class _Plan:
    """What `_emit` needs of a Form, worked out once: opcode bytes, which operand goes
    where (the last one of a role wins, as in the table's role assignment) and the
    immediate fields with the operand each takes its value from."""

    __slots__ = ("form", "wait", "mandatory", "late", "head", "osize", "asize", "opcode",
                 "plus_r", "opreg_i", "modrm", "rm_i", "reg_i", "mem_i", "imms", "lock",
                 "branch", "branch_code", "level")

    def __init__(self, form: Form) -> None:
        self.form = form
        # the CPU level with an unsized target: NASM's call/jmp forms of the default
        # operand size (`odf`) are 8086 ones in any mode, with any o16/o32
        self.level = form.level
        if form.mnemonic in ("call", "jmp") and form.operands and (
                form.operands[0] in _BRANCH_TARGETS or form.operands[0] == "mfar"
                or "defsize" in form.flags):
            self.level = 0
        self.wait = form.wait_prefix
        self.mandatory = form.mandatory
        # an SSE form's mandatory prefix goes right before 0F, after the segment, 66h and
        # 67h prefixes (NASM's order); pause/endbr keep theirs first
        self.late = form.mandatory is not None and form.modrm is not None
        # the prefix bytes of a line without explicit prefixes
        self.head = bytes(([0x9B] if self.wait else [])
                          + ([form.mandatory] if form.mandatory is not None
                             and not self.late else []))
        self.osize = form.osize
        self.asize = form.asize
        self.opcode = form.opcode[1:] if self.wait else form.opcode
        self.plus_r = form.plus_r
        self.modrm = form.modrm if form.modrm in (None, "r") else int(form.modrm)
        self.rm_i = self.reg_i = self.opreg_i = None
        imm_ops = []
        for i, role in enumerate(form.roles):
            if role == "rm":
                self.rm_i = i
            elif role == "reg":
                self.reg_i = i
            elif role == "regrm":
                self.rm_i = self.reg_i = i
            elif role == "opreg":
                self.opreg_i = i
            elif role in ("imm", "rel", "ptr", "moffs"):
                imm_ops.append(i)
        # (kind, size, operand index) per immediate field, in encoding order
        self.imms = tuple(_IMM_FIELDS[tok] + (i,) for tok, i in zip(form.imms, imm_ops))
        # the operands that can be memory (a matching operand elsewhere never is)
        self.mem_i = tuple(i for i, t in enumerate(form.operands) if t in _MEM_TYPES)
        self.lock = "lock" in form.flags
        # a plain relative branch (jmp/jcc/call/loop rel): only opcode and displacement, so
        # `_emit_branch` can do it; (size, operand index) of the displacement
        self.branch = None
        if (self.modrm is None and not self.plus_r and not self.mem_i and len(self.imms) == 1
                and self.imms[0][0] == _REL):
            self.branch = self.imms[0][1:]
        self.branch_code: dict = {}          # bits -> prefix and opcode bytes


_PLANS: dict = {}


def _plan(form: Form) -> _Plan:
    p = _PLANS.get(form)
    if p is None:
        p = _PLANS[form] = _Plan(form)
    return p


_BRANCH_TARGETS = frozenset(("rel16", "rel32", "ptr16", "ptr32"))
_PUSH_IMMEDIATES = frozenset(("simm8", "imm16", "imm32"))


@cache
def bnd_mnemonics() -> frozenset:
    """The mnemonics with a form NASM's `default bnd` gives the F2 prefix."""
    return frozenset(m for m, forms in by_mnemonic().items()
                     if any(_bnd_form(f) in ("bnd", "both") for f in forms))


def _bnd_form(form: Form) -> str:
    """NASM's BND flag on a form: 'bnd' (near call/jmp/ret and a Jcc's near form: bnd
    taken, repne/repnz refused), 'both' (a Jcc's rel8: NASM has that form with and without
    the flag), 'jmp8' (jmp short: bnd dropped, or refused after `short`), '' (bnd refused)."""
    op = form.opcode
    if form.mnemonic.startswith("j") and len(op) == 1 and 0x70 <= op[0] <= 0x7F:
        return "both"
    if op == b"\xeb":
        return "jmp8"
    if (op in (b"\xc3", b"\xc2", b"\xe8", b"\xe9")
            or (len(op) == 2 and op[0] == 0x0F and 0x80 <= op[1] <= 0x8F)
            or (op == b"\xff" and form.modrm in ("2", "4"))):
        return "bnd"
    return ""


class PrefixRefused(AsmError):
    """NASM's "bnd/repne prefix is not allowed"; ``level``: the form's CPU level (NASM
    reports a form the `cpu` lacks first)."""

    def __init__(self, message: str, level: int) -> None:
        super().__init__(message)
        self.level = level


def _bnd_prefix(form: Form, prefixes: Sequence[str], ops: Sequence[Operand]) -> bool:
    """Whether the bnd prefix's F2 goes out; PrefixRefused where NASM refuses bnd, nobnd or
    repne."""
    kind = _bnd_form(form)
    for x in ("repne", "repnz"):
        if x in prefixes and kind == "bnd":
            raise PrefixRefused(f"{x} prefix is not allowed", form.level)
    written = "bnd" if "bnd" in prefixes else "nobnd" if "nobnd" in prefixes else None
    if written is None:
        # `default bnd` (DEFAULT_BND): the forms with NASM's BND flag only
        return DEFAULT_BND in prefixes and kind in ("bnd", "both")
    if kind == "jmp8" and not any(isinstance(o, Imm) and o.jump == "short" for o in ops):
        return False        # NASM drops bnd (a warning: asm.assembler's _lock_warning)
    if kind in ("bnd", "both"):
        return written == "bnd"
    raise PrefixRefused(f"{written} prefix is not allowed", form.level)


def _emit(p: _Plan, ops: Sequence[Operand], bits: int, ip: int, prefixes: Sequence[str],
          osize_forced: Optional[int], asize_forced: Optional[int],
          section: object = None, absolute: object = None) -> Encoded:
    mem = None
    for i in p.mem_i:
        if isinstance(ops[i], Mem):
            mem = ops[i]
            break
    fixups: list = []
    # prefixes in NASM's order: wait, lock/rep, segment, operand size, address size
    if prefixes:
        out = bytearray()
        if p.wait:
            out.append(0x9B)
        bnd = False
        if ("bnd" in prefixes or "repne" in prefixes or "repnz" in prefixes
                or DEFAULT_BND in prefixes or "nobnd" in prefixes):
            bnd = _bnd_prefix(p.form, prefixes, ops)
            if bnd:
                out.append(0xF2)
        for x in prefixes:              # the rep slot (rep, xacquire...) before lock
            if x in PREFIX_BYTES and x != "lock" and not bnd:   # (`default bnd` takes it)
                out.append(PREFIX_BYTES[x])
        if "lock" in prefixes:
            out.append(0xF0)
        if p.mandatory is not None and not p.late:
            out.append(p.mandatory)
        for x in prefixes:
            if x in SEG_PREFIX:
                out.append(SEG_PREFIX[x])
    else:
        out = bytearray(p.head)
    if mem is not None and mem.asize:
        if asize_forced and asize_forced != mem.asize:
            raise asize_conflict(mem.regs, asize_forced, bits)
        asize_forced = mem.asize
    asize = p.asize or asize_forced
    if mem is not None:
        if mem.seg:
            out.append(SEG_PREFIX[mem.seg.lower()])
        regs = tuple(mem.regs)
        key = (regs, bits, asize, mem.disp_size)
        a = _ASIZE_MEMO.get(key)
        if a is None:
            a = _remember(_ASIZE_MEMO, key, _addr_size(mem, bits, asize))
        asize = a
    osize = osize_forced or p.osize
    if osize and osize != bits:
        out.append(0x66)
    if (asize and asize != bits) or (p.asize and asize_forced and asize_forced != bits):
        out.append(0x67)            # (`a32 jcxz` in 16-bit mode: NASM keeps the prefix)
    if p.late:
        out.append(p.mandatory)

    if p.plus_r:
        opcode = p.opcode
        out += opcode[:-1]
        out.append(opcode[-1] + REGISTERS[ops[p.opreg_i].name.lower()].num)
    else:
        out += p.opcode
    modrm = p.modrm
    if modrm is not None:
        regfield = modrm if modrm != "r" else REGISTERS[ops[p.reg_i].name.lower()].num
        rm_op = ops[p.rm_i]
        try:
            if rm_op is mem:
                field = _modrm_mem(out, fixups, mem, regfield, asize or bits, regs)
            elif isinstance(rm_op, Mem):
                field = _modrm_mem(out, fixups, rm_op, regfield, asize or bits,
                                   tuple(rm_op.regs))
        except AsmError as exc:
            if exc.message in _BAD_EA:  # NASM names the mode's address size, not the registers'
                raise AsmError(f"invalid {asize_forced or bits}-bit effective address") from None
            raise
        warnings = ()
        if not isinstance(rm_op, Mem):
            out.append(0xC0 | (regfield << 3) | REGISTERS[rm_op.name.lower()].num)
        elif not rm_op.unknown:
            if rm_op.reloc is None and not rm_op.relative:
                warnings = _disp_warnings(rm_op, asize or bits, field)
            else:
                # NASM checks a relocated field once, its offset in the section, which
                # wraps within the address size (`[byte ebx+0xfffffff0+x]`: -16+x) when
                # it fits there, signed or not (NASM's overflow_general); else it warns
                wrapped, top = rm_op.disp - rm_op.origin, 1 << (asize or bits)
                if -top <= wrapped < top:
                    wrapped = _signed(wrapped, asize or bits)
                warnings = _disp_warnings(plainrecord.replace(rm_op, disp=wrapped)
                                          if wrapped != rm_op.disp else rm_op, asize or bits,
                                          field)
                if warnings[:1] != (DISPSIZE_IGNORED,):
                    warnings = warnings[:1]
    else:
        warnings = ()

    # immediates, in operand order
    rel_fields = None
    if (osize_forced and p.osize and p.osize != osize_forced
            and not (p.form.operands and p.form.operands[0] in _BRANCH_TARGETS
                     and ops[0].size is None)
            and not (p.form.mnemonic == "push" and type(ops[0]) is Imm and ops[0].size == 1)):
        # the operands chose the other size: NASM keeps the prefix's 66h (or none) and warns
        warnings = (f"invalid operand size prefix, must be o{p.osize} [-w+prefix-opsize]",)
    for kind, size, i in p.imms:
        op = ops[i]
        if kind == _IMM or kind == _SIMM:
            if op.reloc is not None:
                fixups.append(Fixup(len(out), size, op.reloc, False))
            elif not op.unknown:
                # NASM's overflow checks: a field takes -2**n .. 2**n - 1 (either reading
                # of its bits); a sign-extended byte, -128 .. 127 or the operand size's
                # top 128 values (`xor ax, 65535` is -1; `cmp cx, -65535` warns), named
                # after that size unless the operand or the form (`push imm8`) is a byte
                v = op.value
                if kind == _SIMM:
                    s = osize or bits
                    if not (-128 <= v <= 127 or (1 << s) - 128 <= v < 1 << s):
                        name = ("signed byte" if op.size == 1 or not p.osize
                                else _WIDTHS[s // 8])
                        warnings += (f"{name} value exceeds bounds [-w+number-overflow]",)
                elif not -(1 << 8 * size) <= v < (1 << 8 * size) or (
                        v < 0 and size == 1 and p.form.mnemonic in _UNSIGNED_IMM8):
                    warnings += (f"{_WIDTHS[size]} data exceeds bounds [-w+number-overflow]",)
            out += (op.value & _MASKS[size]).to_bytes(size, "little")
        elif kind == _REL:
            if rel_fields is None:
                rel_fields = []
            rel_fields.append((len(out), size, op))
            out += bytes(size)
        elif kind == _PTR:
            for value, n in ((op.offset, size), (op.seg, 2)):
                if not -(1 << 8 * n) <= value < 1 << 8 * n:
                    warnings += (f"{_WIDTHS[n]} data exceeds bounds [-w+number-overflow]",)
                _field(out, fixups, value, n)
        else:
            _field(out, fixups, op.disp, (asize or bits) // 8, op.reloc)
            if op.reloc is None and not op.unknown and not op.relative:
                ws = _disp_warnings(op, asize or bits, 0)
                # (once here: NASM's moffs field; the ignored size twice, as elsewhere)
                warnings += ws if ws[:1] == (DISPSIZE_IGNORED,) else ws[:1]
    if rel_fields is not None:
        end = ip + len(out)
        for pos, size, op in rel_fields:
            delta = op.value - end
            reloc = _branch_reloc(op, section, absolute)
            # (a plain number in a flat binary: NASM keeps the low byte, unchecked)
            if (size == 1 and reloc is None and op.reloc is not None and not op.unknown
                    and not -128 <= delta <= 127):
                raise _ShortRange("short jump is out of range")
            if reloc is not None:
                fixups.append(Fixup(pos, size, reloc, True))
            out[pos:pos + size] = (delta & _MASKS[size]).to_bytes(size, "little")
    for op in ops:
        if type(op) is Reg and op.spec is not None:
            warnings += (REGSIZE,)
    hle = hle_use(p.form, ops) if prefixes else ""
    level = p.form.level
    if p.level != level and type(ops[0]) is not Reg and ops[0].size is None:
        level = p.level
    return Encoded(bytes(out), fixups, p.lock and mem is not None, level, hle,
                   "obsolete" in p.form.flags, warnings)


def _branch_reloc(op: Imm, section: object, absolute: object) -> object:
    """The reloc of a relative branch's field, None where the displacement is resolved
    here: a target in ``section``, or a plain number in a flat binary (``absolute`` None).
    In a relocatable output a plain number is an absolute address, which only the linker
    can turn into a displacement (NASM: a PC-relative relocation against symbol 0)."""
    reloc = op.reloc
    if reloc is None:
        return absolute if absolute is not None and not op.unknown else None
    if getattr(reloc, "pcrel", False) and not op.unknown:  # (`jmp x-$`: OPFLAG_RELATIVE)
        raise AsmError("invalid use of self-relative expression")
    return None if _is_local(op, section) else reloc


def _emit_branch(p: _Plan, op: Imm, bits: int, ip: int, section: object,
                 absolute: object = None) -> Optional[Encoded]:
    """`_emit` of a plain relative branch without explicit prefixes (most jumps and calls
    of a source); None where `_emit` raises _ShortRange."""
    code = p.branch_code.get(bits)
    if code is None:
        code = bytearray(p.head)
        if p.osize and p.osize != bits:
            code.append(0x66)
        if p.asize and p.asize != bits:
            code.append(0x67)
        code = p.branch_code[bits] = bytes(code + p.opcode)
    size = p.branch[0]
    delta = op.value - (ip + len(code) + size)
    reloc = _branch_reloc(op, section, absolute)
    if (size == 1 and reloc is None and op.reloc is not None and not op.unknown
            and not -128 <= delta <= 127):
        return None             # (a plain number in a flat binary: see _emit)
    fixups = [] if reloc is None else [Fixup(len(code), size, reloc, True)]
    return Encoded(code + (delta & _MASKS[size]).to_bytes(size, "little"), fixups, False,
                   p.level if op.size is None else p.form.level)


def local_branch(mnemonic: str, target: int, bits: int, ip: int,
                 section: object) -> Optional[tuple]:
    """``encode``'s (bytes, CPU level) for a relative branch without prefixes or keywords
    to ``target``, an address in ``section`` (the one being assembled), from what an
    earlier ``encode`` of the same shape found; None where ``encode`` must decide."""
    known = _LOCAL_PLANS.get(bits)
    plans = None if known is None else known.get(mnemonic)
    if plans is None:
        matching = _CANDIDATES.get((mnemonic, bits, None, ("x", None, None, False, False,
                                                            True)))
        if matching is None:
            return None         # (not kept: an `encode` of this shape may come later)
        plans = _LOCAL_PLANS.setdefault(bits, {})[mnemonic] = matching[0]
    for plan in plans:
        if plan.branch is None:
            return None
        code = plan.branch_code.get(bits)
        if code is None:
            return None
        size = plan.branch[0]
        delta = target - (ip + len(code) + size)
        if size == 1 and not -128 <= delta <= 127:
            if _REL8_ONLY.get(plan.form.mnemonic, True):
                return None             # (encode gives the error)
            continue
        return code + (delta & _MASKS[size]).to_bytes(size, "little"), plan.level
    return None


# bits -> mnemonic -> _CANDIDATES' plans of that branch to a local label (local_branch);
# a dict per mode, as _UNKNOWN_PLANS: no tuple key to build and hash per line (PyPy
# traces each tuple hash as a loop of its own)
_LOCAL_PLANS: dict = {}
# bits -> mnemonic -> (code, displacement size, CPU level) of unknown_branch, or False
# (the plan has no branch)
_UNKNOWN_PLANS: dict = {}


def unknown_branch(mnemonic: str, bits: int, ip: int) -> Optional[tuple]:
    """``encode``'s (bytes, CPU level) for a relative branch without prefixes or keywords
    to a label not defined yet (an earlier pass's forward reference: its operand reads 0),
    from what an earlier ``encode`` of that shape found; None where ``encode`` must."""
    known = _UNKNOWN_PLANS.get(bits)
    got = None if known is None else known.get(mnemonic)
    if got is None:
        matching = _CANDIDATES.get((mnemonic, bits, None,
                                    ("x", None, None, False, True, False)))
        if not matching or not matching[0]:
            return None         # (not kept: an `encode` of this shape may come later)
        plan = matching[0][0]           # (encode takes the first: its branch never fails)
        if plan.branch is None:
            got = False
        else:
            code = plan.branch_code.get(bits)
            if code is None:
                return None     # (not kept: _emit_branch makes it on an `encode`)
            got = (code, plan.branch[0], plan.level)
        _UNKNOWN_PLANS.setdefault(bits, {})[mnemonic] = got
    if got is False:
        return None
    code, size, level = got
    delta = -(ip + len(code) + size)
    return code + (delta & _MASKS[size]).to_bytes(size, "little"), level


def jcc_over_jmp(mnemonic: str, operands: Sequence[Operand], bits: int, ip: int = 0,
                 prefixes: Sequence[str] = (), section: object = None,
                 absolute: object = None) -> Optional[Encoded]:
    """NASM's Jcc beyond a short jump on a CPU without the 386's 0F 8x form: the inverted
    short Jcc over a near JMP (``jz x`` -> ``jnz $+5; jmp x``); None where that form does
    not apply (not a Jcc, a size/near/short keyword, an hle/wait prefix)."""
    if len(operands) != 1:
        return None
    op = operands[0]
    if type(op) is not Imm or op.jump is not None or op.size is not None:
        return None
    prefixes = [p.lower() for p in prefixes]
    if len(prefixes) > 1:
        prefixes = list(check_prefixes(prefixes)[0])
    if any(p not in _JCC_PREFIXES for p in prefixes):
        return None
    short = next((f for f in by_mnemonic().get(mnemonic.lower(), ())
                  if f.operands == ("rel8",) and len(f.opcode) == 1
                  and 0x70 <= f.opcode[0] <= 0x7F), None)
    if short is None:
        return None
    # the prefixes go on the Jcc, in NASM's order (rep, segment, 66h, 67h); the JMP
    # keeps the mode's operand size
    if DEFAULT_BND in prefixes and "nobnd" not in prefixes:
        prefixes = [p for p in prefixes if p not in PREFIX_BYTES or p == "lock"] + ["bnd"]
    head = bytearray(PREFIX_BYTES[p] for p in prefixes if p in PREFIX_BYTES and p != "lock")
    if "bnd" in prefixes:
        head.append(0xF2)
    if "lock" in prefixes:
        head.append(0xF0)
    head += bytes(SEG_PREFIX[p] for p in prefixes if p in SEG_PREFIX)
    for p, byte in (("o", 0x66), ("a", 0x67)):
        if any(x[0] == p and int(x[1:]) != bits for x in prefixes if x[1:] in ("16", "32")):
            head.append(byte)
    size = bits // 8
    head += bytes((short.opcode[0] ^ 1, 1 + size))
    jmp = encode("jmp", [plainrecord.replace(op, jump="near", strict=False)], bits,
                 ip + len(head), section=section, absolute=absolute)
    fixups = [plainrecord.replace(fx, offset=fx.offset + len(head)) for fx in jmp.fixups]
    return Encoded(bytes(head) + jmp.data, fixups, False, short.level)    # (NASM: an 8086 form)


def below_386(mnemonic: str, operands: Sequence[Operand], bits: int, ip: int = 0,
              prefixes: Sequence[str] = (), section: object = None,
              absolute: object = None) -> Optional[Encoded]:
    """What NASM assembles under a `cpu` below the 386 where ``encode``'s form is a 386
    one: it skips the forms above the level and takes the next that fits. A Jcc becomes
    a short Jcc over a JMP (``jcc_over_jmp``); in 32-bit mode an unsized (or byte) push
    immediate is its 186 form of no operand size, 6A ib (the value truncated to a signed
    byte, with NASM's warning). None: no such form (NASM's "no instruction for this cpu
    level")."""
    if mnemonic.lower() != "push":
        return jcc_over_jmp(mnemonic, operands, bits, ip, prefixes, section, absolute)
    if bits != 32 or len(operands) != 1:
        return None
    op = operands[0]
    if type(op) is not Imm or op.jump is not None or op.size not in (None, 1):
        return None
    prefixes = [p.lower() for p in prefixes]
    if len(prefixes) > 1:
        prefixes = list(check_prefixes(prefixes)[0])
    osize_forced = 16 if "o16" in prefixes else None
    asize_forced = 16 if "a16" in prefixes else None
    return _emit(_plan(_push_byte_form()), [op], bits, ip, prefixes, osize_forced,
                 asize_forced, section, absolute)


@cache
def _push_byte_form() -> Form:
    """NASM's `PUSH imm8 [6a ib,s] 186` row (no operand size): the table's 16-bit form
    without its size."""
    form = next(f for f in by_mnemonic()["push"] if f.operands == ("simm8",) and f.level == 1)
    return plainrecord.replace(form, osize=None)


# the prefixes NASM takes on that form (repne/repnz: an error; lock: a warning)
_JCC_PREFIXES = frozenset(("rep", "repe", "repz", "o16", "o32", "a16", "a32", "bnd", "nobnd",
                           "lock", DEFAULT_BND, *SEG_PREFIX))


def _rel8_forced(form: Form, ops: Sequence[Operand]) -> bool:
    """`short` written, or rel8 is the only form (loop, jcxz): out of range is an error."""
    if any(isinstance(op, Imm) and (op.jump == "short" or op.size == 1) for op in ops):
        return True
    only = _REL8_ONLY.get(form.mnemonic)
    if only is None:
        only = _REL8_ONLY[form.mnemonic] = all("rel8" in f.operands
                                               for f in by_mnemonic()[form.mnemonic])
    return only


_REL8_ONLY: dict = {}


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


def _shape(op: Operand, section: object):
    """Everything about an operand that `_match_operand` and `_match` look at."""
    t = type(op)
    if t is Reg:
        return op.name.lower()          # a str: no other shape is one
    if t is Mem:
        return ("m", op.size, op.jump, bool(op.regs), op.disp_size == 1)
    if t is Imm:
        if op.unknowable:
            return ("u", op.size, op.jump, op.strict)
        if op.reloc is None and not op.unknown:
            # a plain number: only whether it is 1 and fits a signed byte (as a 16- and
            # 32-bit value) matter; ((v + 128) mod 2**n) < 256 is _fits_s8(v, n)
            if op.not_simple:       # (`2*x`: neither, for NASM)
                return ("i", op.size, op.jump, op.strict, False, False, False)
            v = op.value
            return ("i", op.size, op.jump, op.strict, v == 1, ((v + 128) & 0xFFFF) < 256,
                    ((v + 128) & 0xFFFFFFFF) < 256)
        # relocatable or unknown: the value is never looked at, the locality of a target is
        return ("x", op.size, op.jump, op.strict, op.unknown, _is_local(op, section))
    return ("p", t, op.size)


# (mnemonic, bits, o16/o32, operand shapes) -> the plans of the forms that match, in table
# order, and of those that would if the size were given: most lines of a big source differ
# only in registers and values, so the search through the table runs once per shape
_CANDIDATES: dict = {}


def _matching(forms, operands, bits: int, osize_forced, section) -> tuple:
    fits = []
    size_missing = []
    mismatch = False
    for form in forms:
        if "na" in form.flags:
            continue
        try:
            _match(form, operands, bits, osize_forced, section)
        except _BadMode:
            mismatch = "mode"
            continue
        except _SizeMismatch:
            mismatch = mismatch or True
            continue
        except _NoMatch:
            continue
        except _SizeMissing:
            size_missing.append(_plan(form))
            continue
        fits.append(_plan(form))
    return tuple(fits), tuple(size_missing), mismatch


def encode(mnemonic: str, operands: Sequence[Operand], bits: int, ip: int = 0,
           prefixes: Sequence[str] = (), section: object = None,
           absolute: object = None) -> Encoded:
    """Encode one instruction at address ``ip`` of ``section``; raise AsmError with NASM's
    message when it cannot be encoded. ``absolute``: the reloc a relative branch to a plain
    number gets in a relocatable output (None: a flat binary, where it is an address)."""
    mnemonic = mnemonic.lower()
    if mnemonic in CMP_ALIASES and len(operands) != 2:
        # no row of its own: NASM reports a bad operand count as any form's (a final-pass
        # error, not an unknown name that would end pass 1)
        raise AsmError("invalid combination of opcode and operands")
    if mnemonic in CMP_ALIASES:
        mnemonic, pred = CMP_ALIASES[mnemonic]
        if (mnemonic == "cmppd" and type(operands[1]) is Mem
                and operands[1].size not in (None, 16)):
            raise AsmError("mismatch in operand sizes")     # (NASM's cmpXXpd rows: SO)
        operands = [*operands, Imm(pred)]
        if mnemonic == "cmpsd" and isinstance(operands[1], Mem) and operands[1].size:
            # the pseudo-op reads a qword (the plain cmpsd row keeps NASM's oword quirk)
            if operands[1].size != 8:
                raise AsmError("mismatch in operand sizes")
            operands[1] = plainrecord.replace(operands[1], size=None)
    hle = False
    if prefixes:
        prefixes = [p.lower() for p in prefixes]
        if len(prefixes) > 1:
            prefixes = list(check_prefixes(prefixes)[0])
        hle = "xacquire" in prefixes or "xrelease" in prefixes
        osize_forced = 16 if "o16" in prefixes else 32 if "o32" in prefixes else None
        asize_forced = 16 if "a16" in prefixes else 32 if "a32" in prefixes else None
    else:
        osize_forced = asize_forced = None
    if len(operands) == 1:
        key = (mnemonic, bits, osize_forced, _shape(operands[0], section))
    else:
        shapes = [mnemonic, bits, osize_forced]
        for op in operands:         # (a loop is quicker than a comprehension here)
            shapes.append(_shape(op, section))
        key = tuple(shapes)
    matching = _CANDIDATES.get(key)
    if matching is None:
        forms = by_mnemonic().get(mnemonic)
        if forms is None:
            raise AsmError(f"unrecognised instruction '{mnemonic}'")
        matching = _matching(forms, operands, bits, osize_forced, section)
        if len(_CANDIDATES) < 100_000:
            _CANDIDATES[key] = matching
    fits, size_missing, mismatch = matching
    if hle:
        # NASM never takes the moffs form of mov with xacquire/xrelease
        fits = tuple(p for p in fits if not p.form.operands
                     or not p.form.operands[0].startswith("moffs"))
    for plan in fits:
        if plan.branch is not None and not prefixes:
            enc = _emit_branch(plan, operands[plan.branch[1]], bits, ip, section, absolute)
            if enc is not None:
                return enc
            if _rel8_forced(plan.form, operands):
                raise AsmError("short jump is out of range")
            continue
        try:
            return _emit(plan, operands, bits, ip, prefixes, osize_forced, asize_forced,
                         section, absolute)
        except _ShortRange:
            if _rel8_forced(plan.form, operands):
                raise AsmError("short jump is out of range") from None
            continue
    try:
        if len(size_missing) == 1:
            # NASM takes an unsized memory operand's size from the only form that fits
            return _emit(size_missing[0], operands, bits, ip, prefixes, osize_forced, asize_forced,
                         section, absolute)
        if size_missing or (mnemonic in _TWORD_IMM and len(operands) == 2
                             and type(operands[0]) is Mem and operands[0].size in (10, 16)
                             and type(operands[1]) is Imm):
            # (`add tword [x], 1`: NASM's size from the immediate's templates, none of tword)
            raise AsmError("operation size not specified")
        if mismatch:
            raise AsmError(f"instruction not supported in {bits}-bit mode" if mismatch == "mode"
                           else "mismatch in operand sizes")
        if (mnemonic in _relative_mnemonics() and len(operands) == 1
                and type(operands[0]) is Imm and operands[0].size is not None
                and operands[0].jump != "far"):
            raise AsmError("mismatch in operand sizes")     # `jz word x`, `jmp byte x` (NASM)
        if (mnemonic in ("call", "jmp") and len(operands) == 1
                and type(operands[0]) in (Mem, FarPtr) and operands[0].size is not None):
            # NASM: a qword memory target is a 64-bit mode form, any other size a mismatch
            if type(operands[0]) is Mem and operands[0].size == 8:
                raise AsmError(f"instruction not supported in {bits}-bit mode")
            raise AsmError("mismatch in operand sizes")
        if mnemonic == "lea" and len(operands) == 2 and type(operands[1]) is Imm:
            # NASM: `lea ax, 5` is `lea ax, [5]` (its size keyword ignored)
            imm = operands[1]
            return encode(mnemonic, [operands[0], Mem(disp=imm.value, reloc=imm.reloc,
                                                      unknown=imm.unknown)],
                          bits, ip, prefixes, section, absolute)
        message = None if mnemonic == "push" else _near_message(
            mnemonic, operands, bits, ip, prefixes, section, absolute)
        if message:
            # `mov ax, near 1`: to NASM near/short are sizes no immediate form has (its
            # push forms of an immediate take any size: no match at all there)
            raise AsmError(message)
        raise AsmError("invalid combination of opcode and operands")
    except AsmError as exc:
        if any(type(op) is Reg and op.spec is not None for op in operands):
            exc.line_warnings += (REGSIZE,)     # (NASM's parser warned first)
        raise


def _near_message(mnemonic: str, operands: Sequence[Operand], bits: int, ip: int,
                  prefixes: Sequence[str], section: object, absolute: object) -> str:
    """NASM's error when an immediate has a near/short keyword and the line without it
    encodes (a size mismatch) or lacks only a size; else ''."""
    if not any(type(op) is Imm and op.jump in ("near", "short", "mixed") for op in operands):
        return ""
    plain = [plainrecord.replace(op, jump=None) if type(op) is Imm else op
             for op in operands]
    try:
        encode(mnemonic, plain, bits, ip, prefixes, section, absolute)
    except AsmError as exc:
        return exc.message if exc.message == "operation size not specified" else ""
    return "mismatch in operand sizes"


@cache
def sized_branch(mnemonic: str) -> bool:
    """jmp and the Jcc: the branches whose short or near form NASM picks by distance (it
    tries that choice twice: a `lock` on them gets its warning twice)."""
    return mnemonic == "jmp" or any(
        f.operands == ("rel8",) and len(f.opcode) == 1 and 0x70 <= f.opcode[0] <= 0x7F
        for f in by_mnemonic().get(mnemonic, ()))


@cache
def _relative_mnemonics() -> frozenset:
    """The mnemonics whose immediate forms are all relative branches (jmp, jcc, loop...)."""
    return frozenset(m for m, forms in by_mnemonic().items()
                     if any(t.startswith("rel") for f in forms for t in f.operands)
                     and not any(t.startswith(("imm", "simm")) for f in forms
                                 for t in f.operands))


@cache
def mnemonics() -> frozenset:
    return frozenset(by_mnemonic()) | frozenset(CMP_ALIASES)
