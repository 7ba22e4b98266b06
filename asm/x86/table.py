"""Loads ``insns.tab``: the single description of x86 encodings that the encoder, the
decoder and the disassembler are all derived from."""

from __future__ import annotations

import marshal
import os
import re
import sys
from functools import cache

from asm import cachefile
from asm.cachefile import cache_name
from asm.x86.operands import Mem
from formats.beside import file_beside, read_beside, write_beside
from formats.envswitch import caches_on
from formats.plainrecord import fields, record

# (a str, not a pathlib.Path: pathlib is 10 ms of imports under PyPy that pyasm needs not)
TABLE_PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "insns.tab")

IMM_TOKENS = {"ib": 1, "iw": 2, "id": 4, "ibs": 1, "cb": 1, "cw": 2, "cd": 4, "pw": 4, "pd": 6,
              "mo": 0}


@record(frozen=True)
class Form:
    """One encoding form of one mnemonic (a row of the table)."""
    mnemonic: str
    operands: tuple          # operand type names, e.g. ('rm32', 'simm8')
    opcode: bytes            # opcode bytes (a leading 9B on fstsw & co. is the WAIT prefix)
    osize: int | None        # 16 or 32 when the form has an operand size, else None
    asize: int | None        # 16 or 32 when the form fixes the address size (jcxz/jecxz)
    modrm: str | None        # 'r' (reg field = register operand) or '0'..'7' (digit)
    plus_r: bool             # register number added to the last opcode byte
    imms: tuple              # immediate field tokens in encoding order
    flags: frozenset
    index: int               # row number: table order is NASM's order of preference
    display: str             # mnemonic the disassembler prints (first alias)
    roles: tuple             # per operand: where it is encoded (see operand_roles)
    mandatory: int | None = None   # a prefix byte that is part of the opcode (F3 of pause)
    level: int = 0           # the lowest `cpu` level that has it (asm.directive_args)

    def lockable(self, operands) -> bool:
        """A lock prefix is valid: the row is flagged `lock` and an operand is memory."""
        return "lock" in self.flags and any(isinstance(o, Mem) for o in operands)

    @property
    def wait_prefix(self) -> bool:
        return len(self.opcode) > 1 and self.opcode[0] == 0x9B


# a row's CPU flag -> the `cpu` level (NASM's order: 8086 186 286 386 486 586 686 p3 p4
# prescott); the x87 flags count as the CPU they came with (387 with the 386)
FLAG_LEVELS = {"8086": 0, "186": 1, "286": 2, "287": 2, "386": 3, "387": 3, "486": 4,
               "586": 5, "mmx": 5, "686": 6, "sse": 7, "sse2": 8, "sse3": 9, "cet": 11}


class TableError(Exception):
    pass


RM_TYPES = ("rm8", "rm16", "rm32", "m", "m8", "m16", "m32", "m64", "m80", "mfar", "m128",
            "xmmrm", "xmmrm32", "xmmrm64", "mmrm")
REG_TYPES = ("r8", "r16", "r32", "sreg", "creg", "dreg", "treg", "sti", "xmm", "mm")
SPECIAL_REGS = ("sreg", "creg", "dreg", "treg")
FIXED_REGS = ("al", "ax", "eax", "cl", "dx", "st0", "es", "cs", "ss", "ds", "fs", "gs")


def operand_roles(ops: tuple, modrm: str | None, plus_r: bool) -> tuple:
    """Where each operand lives: 'rm' (ModRM r/m), 'reg' (ModRM reg), 'regrm' (both, as in
    `imul r32, imm`), 'opreg' (added to the opcode), 'imm', 'rel', 'moffs', 'ptr', 'fixed'
    (implied register) or 'one'."""
    roles = []
    for t in ops:
        if t in RM_TYPES:
            roles.append("rm")
        elif t.startswith("moffs"):
            roles.append("moffs")
        elif t.startswith("rel"):
            roles.append("rel")
        elif t.startswith("ptr"):
            roles.append("ptr")
        elif t in ("imm8", "imm16", "imm32", "simm8"):
            roles.append("imm")
        elif t == "one":
            roles.append("one")
        elif t in REG_TYPES:
            roles.append("r?")
        else:
            roles.append("fixed")
    regs = [i for i, r in enumerate(roles) if r == "r?"]
    if plus_r:
        for i in regs:
            roles[i] = "opreg"
    elif modrm == "r":
        if "rm" in roles:
            for i in regs:
                roles[i] = "reg"
        elif len(regs) == 1:
            roles[regs[0]] = "regrm"
        else:
            special = [i for i in regs if ops[i] in SPECIAL_REGS]
            reg_i = special[0] if special else regs[0]
            for i in regs:
                roles[i] = "reg" if i == reg_i else "rm"
    elif modrm is not None and "rm" not in roles:
        # `/digit` with a register operand (smsw r32, add ax,simm8): it goes in r/m
        cand = regs or [i for i, r in enumerate(roles) if r == "fixed"]
        roles[cand[0]] = "rm"
        for i in regs[1:]:
            roles[i] = "fixed"
    else:
        for i in regs:
            roles[i] = "fixed"
    return tuple(roles)


def _subst(template: str, env: dict) -> str:
    """Replace {var}, {var+N}, {HEX+var}, {a-1}: hex arithmetic on table variables."""
    def repl(m: re.Match) -> str:
        expr = m.group(1)
        total = 0
        for sign, term in re.findall(r"([+-]?)\s*([0-9A-Za-z]+)", expr):
            if term in env:
                v, kind = env[term]
            else:
                v, kind = int(term, 16), "hex"
            total += -v if sign == "-" else v
        if kind == "digit" and "+" not in expr and "-" not in expr:
            return str(total)
        return f"{total:02X}"
    return re.sub(r"\{([^}]*)\}", repl, template)


_HEX = frozenset("0123456789ABCDEFabcdef")
_TOKENS: dict = {}      # encoding token -> (kind, value), memoized: rows repeat tokens


def _token(tok: str) -> tuple:
    """What one encoding token is: ('mandatory', byte), ('osize'|'asize', bits),
    ('modrm', 'r'|digit), ('imm', tok), ('plus_r', byte), ('op', byte), or ('bad', tok)."""
    r = _TOKENS.get(tok)
    if r is None:
        n = len(tok)
        if n == 3 and tok[0] == "p" and all(c in "0123456789ABCDEF" for c in tok[1:]):
            r = ("mandatory", int(tok[1:], 16))
        elif tok in ("o16", "o32"):
            r = ("osize", int(tok[1:]))
        elif tok in ("a16", "a32"):
            r = ("asize", int(tok[1:]))
        elif tok == "/r":
            r = ("modrm", "r")
        elif n == 2 and tok[0] == "/" and tok[1] in "01234567":
            r = ("modrm", tok[1])
        elif tok in IMM_TOKENS:
            r = ("imm", tok)
        elif n == 4 and tok[2:] == "+r" and tok[0] in _HEX and tok[1] in _HEX:
            r = ("plus_r", int(tok[:2], 16))
        elif n == 2 and tok[0] in _HEX and tok[1] in _HEX:
            r = ("op", int(tok, 16))
        else:
            r = ("bad", tok)
        _TOKENS[tok] = r
    return r


def _parse_row(mnemonics: list[str], operands: str, encoding: str, flags: str,
               index: int) -> list[Form]:
    ops = () if operands.strip() in ("-", "") else tuple(operands.strip().split(","))
    opcode = bytearray()
    osize = asize = None
    modrm = None
    plus_r = False
    imms = []
    mandatory = None
    for tok in encoding.split():
        kind, v = _token(tok)
        if kind == "op":
            opcode.append(v)
        elif kind == "modrm":
            modrm = v
        elif kind == "imm":
            imms.append(v)
        elif kind == "osize":
            osize = v
        elif kind == "asize":
            asize = v
        elif kind == "mandatory":
            mandatory = v
        elif kind == "plus_r":
            opcode.append(v)
            plus_r = True
        else:
            raise TableError(f"row {index}: bad encoding token {tok!r}")
    fl = frozenset(flags.split())
    roles = operand_roles(ops, modrm, plus_r)
    level = max((FLAG_LEVELS[f] for f in fl if f in FLAG_LEVELS), default=0)
    if "anycpu" in fl:          # NASM's own table gives the form no CPU level
        level = 0
    return [Form(m, ops, bytes(opcode), osize, asize, modrm, plus_r, tuple(imms), fl, index,
                 mnemonics[0], roles, mandatory, level) for m in mnemonics]


@cache
def forms() -> tuple:
    """Every form in table order, read back from a marshal file that an earlier run of the
    same table wrote (reading the table is 13-15 ms under CPython, a tenth of a second
    under PyPy): first the one beside the package (:func:`_local_path`, there for every
    user of a private installation, an empty cache directory included), then the signed
    one in this user's cache directory. With caches off (PYVM_CODE_CACHE=0) only the
    one beside the package is read, as a .pyc would be (it holds the table, nothing of
    any program run), and nothing is written."""
    stamp = _stamp()
    local = _local_path()
    out = _unpack(_read_local(local), stamp) if local else None
    if out is not None:
        return out
    if not caches_on():         # caches off: nothing written
        return _read_table()
    name = cache_name("insns-table", ".marshal", os.path.dirname(__file__))
    data = cachefile.load(name)      # (signed by this user's pyvm: see asm/cachefile.py)
    out = _unpack(data, stamp)
    if out is None:
        out = _read_table()
        try:
            names = [f.name for f in fields(Form)]
            data = marshal.dumps((stamp, tuple(tuple(getattr(form, n) for n in names)
                                               for form in out)))
        except Exception:   # a cache that cannot be written costs time, never a result
            return out
        if not (local and _write_local(local, data)):
            cachefile.store(name, data)
    elif local:
        _write_local(local, data)
    return out


def _unpack(data: bytes | None, stamp: tuple) -> tuple | None:
    """The forms of a cache file's body, None when it is missing, damaged or stale."""
    if data is None:
        return None
    try:
        got, rows = marshal.loads(data)
        if got != stamp:
            return None
        # (a frozen dataclass's __init__ sets each field through object.__setattr__)
        names = [f.name for f in fields(Form)]
        new = object.__new__
        out = []
        for row in rows:
            if len(row) != len(names):
                return None
            form = new(Form)
            form.__dict__.update(zip(names, row))
            out.append(form)
        return tuple(out)
    except Exception:       # unreadable or half-written: read the table
        return None


def _local_path() -> str | None:
    """Where the table's cache file lives beside the package (its ``__pycache__``, as
    Python's own .pyc files), or None when that place is not as safe as the package's
    code (formats/beside.py). It holds only what the public table says, so it needs no
    key."""
    tag = sys.implementation.cache_tag or "python"
    return file_beside(__file__, f"insns-table.{tag}.marshal")


_read_local = read_beside
_write_local = write_beside


def _stamp() -> tuple:
    out: list = [marshal.version]
    for p in (__file__, TABLE_PATH):
        st = os.stat(p)
        out.append((os.path.basename(p), st.st_size, st.st_mtime_ns))
    return tuple(out)


def _read_table() -> tuple:
    out: list[Form] = []
    family = None   # (var names, [(names, values)], body rows)
    with open(TABLE_PATH, encoding="utf-8") as f:
        lines = f.read().splitlines()

    def emit(names, opstr, enc, fl, lineno):
        out.extend(_parse_row(names, opstr, enc, fl, len(out)))

    in_flags = False
    for lineno, raw in enumerate(lines, 1):
        line = raw.split("#", 1)[0].rstrip()
        if not line.strip():
            continue
        if in_flags or line.startswith("@flags"):   # see flag_effects()
            in_flags = not line.startswith("@end")
            continue
        if line.startswith("@family"):
            head, members = line[len("@family"):].split(":", 1)
            varnames = [v.strip() for v in head.split(",")]
            mlist = []
            for m in members.split():
                names, values = m.split("=")
                values, *dropped = values.split("!")     # `cmp=38,7!lock`: no lock flag
                mlist.append((names.split("|"), values.split(","), dropped))
            family = (varnames, mlist, [])
            continue
        if line.startswith("@end"):
            varnames, mlist, body = family
            for names, values, dropped in mlist:
                env = {}
                for var, val in zip(varnames, values):
                    kind = "digit" if var == "d" else "hex"
                    env[var] = (int(val, 16), kind)
                for prefix, suffix, opstr, enc, fl, ln in body:
                    full = [prefix + n + suffix for n in names]
                    fl = " ".join(f for f in fl.split() if f not in dropped)
                    emit(full, opstr, _subst(enc, env), fl, ln)
            family = None
            continue
        parts = [p.strip() for p in line.split(":")]
        if len(parts) != 3:
            raise TableError(f"{os.path.basename(TABLE_PATH)}:{lineno}: expected "
                             "'operands : encoding : flags'")
        head = parts[0].split()
        if family is not None:
            prefix = suffix = ""
            if head and head[0].endswith("+"):
                prefix = head.pop(0)[:-1]
            elif head and head[0].startswith("+"):
                suffix = head.pop(0)[1:]
            family[2].append((prefix, suffix, head[0] if head else "-", parts[1], parts[2],
                              lineno))
        else:
            emit([head[0]], head[1] if len(head) > 1 else "-", parts[1], parts[2], lineno)
    return tuple(out)


@cache
def by_mnemonic() -> dict:
    table: dict[str, list[Form]] = {}
    for f in forms():
        table.setdefault(f.mnemonic, []).append(f)
    return table


FLAG_BITS = {"c": 0x1, "p": 0x4, "a": 0x10, "z": 0x40, "s": 0x80, "t": 0x100, "i": 0x200,
             "d": 0x400, "o": 0x800}


@record(frozen=True)
class FlagEffect:
    """What one mnemonic does to EFLAGS (the table's ``@flags`` block)."""
    written: frozenset          # flag letters it may change
    undefined: frozenset        # of those, the ones left undefined
    undefined_multi: frozenset  # undefined only when the shift/rotate count is not 0 or 1

    def undefined_mask(self, count: int | None = None) -> int:
        """EFLAGS bits to ignore when comparing; ``count`` is the masked shift count."""
        letters = set(self.undefined)
        if count is None or count > 1:
            letters |= self.undefined_multi
        return sum(FLAG_BITS[f] for f in letters)

    @property
    def written_mask(self) -> int:
        return sum(FLAG_BITS[f] for f in self.written)


NO_FLAGS = FlagEffect(frozenset(), frozenset(), frozenset())


@cache
def flag_effects() -> dict:
    """mnemonic -> FlagEffect; a mnemonic not listed changes no flags."""
    table: dict[str, FlagEffect] = {}
    inside = False
    with open(TABLE_PATH, encoding="utf-8") as f:
        text = f.read()
    for lineno, raw in enumerate(text.splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        if line.startswith("@flags"):
            inside = True
            continue
        if not inside:
            continue
        if line.startswith("@end"):
            break
        parts = [p.strip() for p in line.split(":")]
        if len(parts) != 3:
            raise TableError(f"{os.path.basename(TABLE_PATH)}:{lineno}: expected 'mnemonics : written : "
                             "undefined'")
        written = frozenset(parts[1].replace("-", ""))
        undef, multi = set(), set()
        for tok in parts[2].split():
            if tok.endswith(">1"):
                multi |= set(tok[:-2])
            elif tok != "-":
                undef |= set(tok)
        bad = (undef | multi | written) - set(FLAG_BITS)
        if bad or not (undef | multi) <= written:
            raise TableError(f"{os.path.basename(TABLE_PATH)}:{lineno}: bad flag letters")
        for m in parts[0].split():
            table[m] = FlagEffect(written, frozenset(undef), frozenset(multi))
    return table


def flag_effect(mnemonic: str) -> FlagEffect:
    return flag_effects().get(mnemonic, NO_FLAGS)
