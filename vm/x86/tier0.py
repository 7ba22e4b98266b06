"""The first tier: code that has not run often, one instruction at a time from templates.

Compiling a block's Python source is most of what a short run costs (a glibc hello world
translates some 7,000 instructions and runs each about five times). So in flat 32-bit
mode a block start seen for the first time runs as a one-instruction block made from a
*template*: a compiled function shared by every instruction of the same shape (form,
which of its registers are the same, prefixes, memory operand layout), whose instance
constants (its address, immediates, displacements, length, registers) are parameters. A start
that runs ``HOT`` times gets its real block (``Translator.translate``: multi-instruction,
loops, traces), as before.

Templates are correct by construction. A shape's template is made by running the block
builder on the instruction with every instance constant replaced by a symbol
(:class:`Sym`): arithmetic on a symbol builds an expression over the parameter, and
formatting one (``f"{v:#x}"``) writes that expression into the source; anything that
would let the builder's output depend on the value (a comparison, truth, hashing,
indexing, ``int()``, a shift by a symbol, any other format) raises :class:`ValueUsed`
and the shape gets no template (its instructions use real blocks). So the builder took
the same decisions for every value, and the source it wrote, with the parameters bound,
is what it writes for each instance. Which constants are 0 is part of the shape (so a
nonzero one's truth is known: ``[eax]`` and ``[eax+8]`` differ); a shape the builder
refused gets a template per distinct constants (a shift count), only the address a
parameter. The same goes for the precise-fault records (registers and lazy flags as
expressions over the locals, parameters included): each instance gets its own
metadata with its own addresses and decoded instruction. A template has no ``try``:
the instance runs it through :class:`_Instance`, which counts its runs and, on a fault,
unwinds from the template's frame in the traceback (its line and its locals).

Registers are parameters the same way (``add eax, ecx`` and ``add esi, edi``: one
shape, one builder run; a glibc hello world ~350 builder runs instead of ~900). The
builder sees each of the instruction's general registers as a slot past the real ones
(emit.PARAM_SLOTS: ``r[_r0]`` in the source, its own local names), which no code that
names a register (ESP in a push, EAX in a MUL, a helper's declared registers) can
mean, so what it wrote is right for any register that template does not touch itself;
it records the real registers it does touch (``Template.avoid``), and an instruction
naming one of those (``mul eax``, ``push esp``) gets the shape with its registers as
they are. A template's fault records name no register, parameter or not: its one
instruction's starting state is all in ``r[]`` (:meth:`Tier0._make`).

What a cold run pays is kept small three ways. A shape leaves out the instruction's
length, ModRM byte and displacement sizes: its *general* template takes the length as
its last parameter and its builder sees the others as :class:`_Unseen` (any look raises
ValueUsed, and the shape with them is tried). A template's source is made canonical
(:func:`_canonical`: its locals renamed, its integer literals parameters bound as the
function's defaults, both by text that cannot change what it computes), and templates
with the same canonical source share one compiled function (a glibc hello world: ~210
compile() calls for ~900 templates). A general template is not even built again for
another form of its mnemonic whose build would read the same of the form (``add r/m32,
imm32``, ``add r/m32, simm8``, ``add eax, imm32``: the builder reads the mnemonic;
:class:`_FormSeen`): a glibc hello world ~300 builder runs instead of ~330. And the
bytes of an instruction decoded at one start make the instance at any other start with
the same bytes without decoding (decoding reads those bytes and nothing else; relative
targets are left out), and those but for its constants make it too (:meth:`_alike`;
a near jump's or call's target is its start plus its length and displacement).

Templates depend on no program, so they are kept across runs in the code cache (one
entry for all programs, read only when a template is missing), the general ones (no guest
byte in their shape) in the template library beside the package instead (tier0lib.py:
there for a program's first run, an empty code cache too), and so is each run's
*record* (one entry, by the code at its first block): its instances' constants and
templates, the guest bytes they came from as merged spans, the starts that became hot
and their real blocks' entries (warmblocks.py: no query each).
A warm run reads it in one piece and compares the spans with memory once, at its first
block; a guard (a block of ``Translator.blocks`` with no code) over each page's spans
then notices a later write there, after which that page's instances compare their own
bytes when they are made, as instances made from decoding do on a second request.
"""

from __future__ import annotations

import atexit
import marshal
import re
import struct
import sys
import weakref
from array import array
from bisect import bisect_right
from itertools import chain
from types import CodeType, FunctionType, ModuleType
from typing import Callable, Optional

from asm.x86.decoder import _IMM_CODES, _LENGTHS, DecodeError, Insn, const_fields
from asm.x86.operands import Imm, Mem, Reg
from vm.x86 import codecache, tier0lib, warmblocks
from vm.x86.codecache import _blake2b, code_cache
from vm.x86.emit import GPR_SLOT, PARAM_NAMES, PARAM_SLOTS, SEMANTICS, BlockMeta, Builder, InsnMeta
from vm.x86.faults import CPUException
from vm.x86.memory import PAGE_SHIFT
from vm.x86.state import NSLOTS
from vm.x86.warmblocks import WarmInsnMeta

# runs of a start in this tier before its real block is made (16 against 8, callgrind at
# the bench's full inputs: sha256 -7.5%, expr -2.4%, malloc -2.7%, interp -0.5%; 32 made
# a cold glibc hello world cheaper still, but short loops then formed traces whose trees
# never grew arms)
HOT = 16
RUN_SPAN = 0x10000      # code at a run's first block that names its kept instances
TEMPLATES = b"tier0-templates"
RECORD = 5              # the format of a run's record
MAX_RECORD = 4 << 20    # bytes of a run's record past which it is not kept (a glibc
                        # program's: 0.5-2.2 MB; a guest making code without end: more)
MAX_INSN = 15           # bytes of the longest instruction
_TRAPLESS, _KEPT = 1, 2     # an instance's flags in a record
_PARAM = re.compile(r"\b_k[0-9]+\b")
# a quoted string in generated source (a symbol inside one would be text, not a value)
_STRING = re.compile(r"'(?:[^'\\\n]|\\.)*'|\"(?:[^\"\\\n]|\\.)*\"")
_NO = object()          # a shape without a template
_UNKNOWN = object()
_TRAPLESS_INSNS = ("int", "int3", "into", "int1", "icebp")
# the registers a template takes as parameters, by name: (slot, the suffix of its
# parameter's operand name, emit.PARAM_NAMES). ESP and EBP too: a one-instruction
# builder has no stack checks (what sets them apart in a block), flat mode no segment
# base for SS or DS (Builder.default_seg), and an instruction that uses ESP implicitly
# (push, call) touches it itself (Template.avoid): ``push esp`` keeps a shape of its own.
_PARAM_REGS = {name: (slot, "h" if high else {4: "d", 2: "w", 1: "l"}[size])
               for name, (slot, size, high) in GPR_SLOT.items()
               if type(slot) is int and slot < 8}
_NPARAMS = len(PARAM_SLOTS)
# a parameter's operand name by its number and the suffix of its register's size
# (and past them: _parametric refuses an instruction that would need one)
_PARAM_OPS = [{x: f"_{n}{x}" for x in "dwlh"} for n in (*PARAM_NAMES, "gp4", "gp5", "gp6", "gp7")]
_REAL_GPRS = 0xFF       # (a mask of the slots a template touches itself: Template.avoid)
_R_INDEX = re.compile(r"\br\[([0-9]+)\]")
# A template's source with its locals renamed and its integer literals made parameters
# (_canonical): the templates of most shapes (a register, a size, a flags kind apart)
# are the same code, compiled once.
# the first name of a run of name, number and attribute characters (``cpu`` of
# ``cpu.lz``; not ``lz``, nor a run that starts with a digit: group 1), or a run that is
# a number (group 2)
_SLOT = re.compile(r"(?<![\w.])(?:([^\W\d]\w*)|(\d[\w.]*))")
_NAME = re.compile(r"(?<![\w.])([^\W\d]\w*)")
_MARK = "\x00"         # an integer literal's place in _line's format
# a statement's assigned names (an augmented assignment too)
_TARGETS = re.compile(r"^[ \t]*([A-Za-z_]\w*(?:[ \t]*,[ \t]*[A-Za-z_]\w*)*)[ \t]*"
                      r"(?:[-+*/%&|^@]|<<|>>|//|\*\*)?=(?!=)", re.M)
# an "=" after a "(" on one line that is no comparison: a keyword argument, maybe
_KWARG = re.compile(r"\([^\n]*[\w\s]=(?!=)")
# what renaming by text could get wrong: strings, comments, continuations, nested
# scopes, declarations, attribute access across spaces, names like the new ones
_UNSAFE = ("'", '"', "#", "\\", "{", ":=", ". ", ".\t", "def", "class", "lambda", "global",
           "nonlocal", "match", "case", "_v", "_c")
_UNSAFE_RE = re.compile("|".join(map(re.escape, (*_UNSAFE, _MARK))))
_KEEP = re.compile(r"_k[0-9]+|c|lz[orab]")    # names the unwinding reads as they are
_LITS = [f"_c{i}" for i in range(64)]
_new = object.__new__
_PYPY = sys.implementation.name == "pypy"
_codes: dict = {}           # canonical source -> its function's code (this process)
_lines: dict = {}           # a template's line -> its _line parts (this process)


class ValueUsed(Exception):
    """The builder looked at an instance constant's value: no template for this shape."""


class _UnseenUsed(ValueUsed):
    """The builder looked at a field a general template leaves unseen (:class:`_Unseen`)."""


def _refused(other, what: str) -> ValueUsed:
    """The error of an operation of a symbol with ``other`` that would decide by value
    (an unseen field's own when other is one: Tier0.instance tells them apart)."""
    return (_UnseenUsed if type(other) is _Unseen else ValueUsed)(what)


def _text(x) -> str:
    if type(x) is Sym:
        return x.text
    if type(x) is int:
        return repr(x)
    raise _refused(x, type(x).__name__)


def _arith(op: str, shift: bool = False):
    def fwd(self, other):
        if shift and (type(other) is not int or other < 0):
            raise _refused(other, op)   # a shift by a value, or one that raises
        return Sym(f"({self.text} {op} {_text(other)})")

    def rev(self, other):
        if shift:
            raise ValueUsed(op)
        return Sym(f"({_text(other)} {op} {self.text})")
    return fwd, rev


def _trap(name: str, exc: type = ValueUsed):
    def f(self, *args):
        raise exc(name)
    return f


class Sym:
    """An instance constant while a template is built: an expression over parameters.
    An operand's constant is never 0 (a zero is written as it is: the shape says which
    are) and within 32 bits, signed or not, so its truth is known, and so is that of
    its low 32 bits (``disp & 0xffffffff``); an address's truth and others' are not."""
    __slots__ = ("text", "nonzero")

    def __init__(self, text: str, nonzero: bool = False):
        self.text = text
        self.nonzero = nonzero

    def __and__(self, other):
        if type(other) is not int:
            if type(other) is Sym:
                return Sym(f"({self.text} & {other.text})")
            raise _refused(other, "&")
        return Sym(f"({self.text} & {other!r})",
                   self.nonzero and other & 0xFFFFFFFF == 0xFFFFFFFF)

    def __bool__(self) -> bool:
        if self.nonzero:
            return True
        raise ValueUsed("bool")

    def __format__(self, spec: str) -> str:
        if spec in ("", "#x", "d"):
            return self.text
        raise ValueUsed(f"format {spec!r}")

    def __str__(self) -> str:
        return self.text

    __repr__ = __str__
    __add__, __radd__ = _arith("+")
    __sub__, __rsub__ = _arith("-")
    __mul__, __rmul__ = _arith("*")
    __rand__ = __and__
    __or__, __ror__ = _arith("|")
    __xor__, __rxor__ = _arith("^")
    __lshift__, __rlshift__ = _arith("<<", True)
    __rshift__, __rrshift__ = _arith(">>", True)

    def __neg__(self):
        return Sym(f"(-{self.text})")

    def __invert__(self):
        return Sym(f"(~{self.text})")

    __pos__ = _trap("pos")
    __eq__ = _trap("==")
    __ne__ = _trap("!=")
    __lt__ = _trap("<")
    __le__ = _trap("<=")
    __gt__ = _trap(">")
    __ge__ = _trap(">=")
    __hash__ = _trap("hash")            # a dict or set lookup would decide by value
    __index__ = _trap("index")
    __int__ = _trap("int")
    __float__ = _trap("float")
    __abs__ = _trap("abs")
    __mod__ = __rmod__ = _trap("%")
    __floordiv__ = __rfloordiv__ = _trap("//")
    __truediv__ = __rtruediv__ = _trap("/")
    __pow__ = __rpow__ = _trap("**")
    __divmod__ = __rdivmod__ = _trap("divmod")
    __round__ = _trap("round")
    __len__ = _trap("len")
    __iter__ = _trap("iter")
    __getitem__ = _trap("[]")
    __contains__ = _trap("in")


class _Unseen:
    """A field of the instruction a general template must not depend on (its length, its
    ModRM byte, its displacements' sizes, None or not: the general shape has neither): any
    look at it raises _UnseenUsed."""
    __slots__ = ()


for _name in ("__eq__", "__ne__", "__lt__", "__le__", "__gt__", "__ge__", "__hash__",
              "__bool__", "__int__", "__index__", "__float__", "__format__", "__str__",
              "__repr__", "__add__", "__radd__", "__sub__", "__rsub__", "__mul__",
              "__rmul__", "__and__", "__rand__", "__or__", "__ror__", "__xor__", "__rxor__",
              "__lshift__", "__rlshift__", "__rshift__", "__rrshift__", "__neg__",
              "__invert__", "__mod__", "__floordiv__", "__truediv__", "__getitem__",
              "__len__", "__iter__", "__contains__", "__abs__", "__pos__"):
    setattr(_Unseen, _name, _trap(_name, _UnseenUsed))
_UNSEEN = _Unseen()


class _FormSeen:
    """An instruction's form (asm.x86.table.Form) while a general template is built: the
    attributes the builder reads are noted in ``seen`` (name -> value), so that an
    instruction of another form of the mnemonic whose attributes are the same there
    (``add r/m32, imm32`` and ``add r/m32, simm8``) gets the template without a build
    (:meth:`Tier0._general`). A method, hashing, comparing, printing or ``isinstance``
    (``__class__``) notes the form itself (its ``index``: no other form matches); an
    attribute the form lacks (``getattr(form, name, default)``, ``hasattr``) is noted
    as lacking. An identity test (``is``) or ``type()`` of it cannot be seen here: no
    builder makes one (tests/test_tier0_31_dup.py checks vm/x86's sources for them)."""
    __slots__ = ("_form", "seen")

    def __init__(self, form, seen: dict):
        self._form = form
        self.seen = seen

    def __getattr__(self, name: str):
        form = self._form
        try:
            v = getattr(form, name)
        except AttributeError:
            self.seen[name] = _NO       # (Tier0._general's getattr gives _NO too)
            raise
        if callable(v):             # (a method: what it does is the form's)
            self.seen["index"] = form.index
        else:
            self.seen[name] = v
        return v

    @property
    def __class__(self):            # (isinstance() reads it: the form's own class)
        return type(self._whole())

    def _whole(self):
        self.seen["index"] = self._form.index
        return self._form

    def __eq__(self, other):
        return self._whole() == (other._whole() if type(other) is _FormSeen else other)

    def __ne__(self, other):
        return not self == other

    def __hash__(self) -> int:
        return hash(self._whole())

    def __repr__(self) -> str:
        return repr(self._whole())

    __str__ = __repr__


class _SymBuilder(Builder):
    """A one-instruction Builder whose addresses are symbols: the decisions its base
    class takes by comparing addresses (a branch to the block's own start, a followed
    jump, a block visited twice) do not arise with one instruction, so they are left
    out rather than evaluated. With ``nparams``, the slots past the real ones are
    register parameters (emit.PARAM_SLOTS); ``touched`` is the mask of the real
    general registers the instruction reads or writes itself or lets a helper see."""

    touched = 0

    def __init__(self, tr, key, *args, nparams: int = 0):
        super().__init__(tr, key, *args)
        if nparams:
            self.ver += [None] * nparams
            self.nver += [0] * nparams
            self.slots = (*range(NSLOTS), *PARAM_SLOTS[:nparams])

    def get(self, slot: int) -> str:
        if slot < 8:
            self.touched |= 1 << slot
        return super().get(slot)

    def set(self, slot: int, expr: str) -> str:
        if slot < 8:
            self.touched |= 1 << slot
        return super().set(slot, expr)

    def call_site(self, touched, flags: bool) -> None:
        for slot in touched:
            if slot < 8:
                self.touched |= 1 << slot
        super().call_site(touched, flags)

    def begin(self, insn, ip, nip, lin) -> None:
        self.insn = insn
        self.ip, self.nip = ip, nip
        self._eas = {}
        self._lin = lin
        self.idx = self.ninsn
        self.ninsn += 1
        self._mark()

    def end_jump(self, ip) -> None:
        self._finish([f"return {self.key_of(ip):#x}"])

    def end_cond(self, cond: str, ip_taken, ip_fall) -> None:
        self._finish([f"if {cond}:", f"    return {self.key_of(ip_taken):#x}",
                      f"return {self.key_of(ip_fall):#x}"])


def _line(line: str) -> Optional[tuple]:
    """A template line's part of :func:`_canonical`: (the line as a format, its names
    as "{}" and its integer literals as _MARK, those names, those literals' values, the
    names it assigns that may be renamed), or None when it has something a renaming by
    text could get wrong. Kept per line (``_lines``): the templates of a run share most
    lines."""
    info = _lines.get(line, _NO)
    if info is not _NO:
        return info
    info = None
    if not _UNSAFE_RE.search(line) and line.count("(") == line.count(")") and \
            line.count("[") == line.count("]") and not _KWARG.search(line):
        # (else a statement over lines, or a keyword argument's name: no variable)
        # text, name or None, number or None, text, ...: no callback per token
        parts = _SLOT.split(line.replace("}", "}}"))
        names: list = []
        lits: list = []
        out = [parts[0]]
        try:
            for name, num, text in zip(parts[1::3], parts[2::3], parts[3::3]):
                if name is not None:
                    names.append(name)
                    out.append("{}")
                elif num.isdigit() or num[:2] in ("0x", "0X") and num[2:].isalnum():
                    lits.append(int(num, 0))
                    out.append(_MARK)
                else:
                    out.append(num)     # (a float or such: left as it is)
                out.append(text)
            local = tuple(n for t in _TARGETS.findall(line) for n in map(str.strip, t.split(","))
                          if not _KEEP.fullmatch(n))
            info = ("".join(out), tuple(names), tuple(lits), local)
        except ValueError:          # (an integer literal Python would not read)
            info = None
    _lines[line] = info
    return info


def _canonical(head: list, body: str) -> Optional[tuple]:
    """(source, literal values, renaming, parameters) of a template's ``body``: each name
    it assigns (a local) renamed _v0.. in order of appearance, each integer literal a
    parameter _c0.. after ``head`` (the parameter names), bound to the literal's value.
    Neither changes what the function computes; None when the text has something a
    renaming by text could get wrong. (Each line's parts are found once per process,
    :func:`_line`; a body joins them with C-level string operations: this must cost
    well under the compile() it saves, under PyPy's interpreter too.)"""
    infos = [_line(line) for line in body.split("\n")]
    if None in infos:
        return None
    names = list(chain.from_iterable([i[1] for i in infos]))
    lits = tuple(chain.from_iterable([i[2] for i in infos]))
    ren: dict = {}
    local = set(chain.from_iterable([i[3] for i in infos]))
    if local:
        for name in dict.fromkeys(names):
            if name in local:
                ren[name] = f"_v{len(ren)}"
    text = "\n".join([i[0] for i in infos]).format(*map(ren.get, names, names))
    cs = _LITS[:len(lits)] if len(lits) <= len(_LITS) else \
        [f"_c{i}" for i in range(len(lits))]
    if cs:
        pieces = text.split(_MARK)
        text = "".join(chain.from_iterable(zip(pieces, cs))) + pieces[-1]
    return f"def _blk({', '.join(head + cs)}):\n{text}", lits, ren, head + cs


def _renamed(text: str, ren: dict) -> str:
    """An expression of the precise-fault records over the renamed locals."""
    if not ren:
        return text
    if text.isidentifier():         # (most are a register's or a flag's name)
        return ren.get(text, text)
    parts = _NAME.split(text)
    names = parts[1::2]
    parts[1::2] = map(ren.get, names, names)
    return "".join(parts)


def shape(insn: Insn) -> Optional[tuple]:
    """What a template depends on besides the instance constants (None: not templated)."""
    out = _shape(insn, False)
    return None if out is None else out[0]


def _parametric(insn: Insn) -> Optional[tuple]:
    """(shape, params, slots, mask): insn's shape with its general registers template
    parameters (the same register under every name and size is one parameter, numbered
    by first appearance, so which operands alias is in the shape), the parameter of
    each register's slot, the registers' slots in parameter order and as a mask (no
    slots: it names none, and the shape is :func:`shape`'s); None when it names more
    registers than there are parameters, or is not templated."""
    out = _shape(insn, True)
    return None if out is None or len(out[2]) > _NPARAMS else out


def _shape(insn: Insn, params: bool) -> Optional[tuple]:
    """:func:`shape` (``params`` false) or :func:`_parametric`'s tuple. (One pass, no
    call per operand: this runs for every instruction decoded in the first tier.)"""
    order: dict = {}            # slot -> parameter
    ops = []
    for op in insn.operands:
        t = type(op)
        if t is Reg:
            name = op.name
            p = _PARAM_REGS.get(name) if params else None
            if p is not None:
                k = order.get(p[0])
                if k is None:
                    k = order[p[0]] = len(order)
                name = _PARAM_OPS[k][p[1]]
            ops.append(name)
        elif t is Imm:
            ops.append((op.size, op.strict, op.jump, op.reloc, op.unknown))
        elif t is Mem:
            regs = op.regs
            scaled = op.scaled
            if params and regs:
                out = []
                for name, m in regs:
                    p = _PARAM_REGS.get(name)
                    if p is not None:
                        k = order.get(p[0])
                        if k is None:
                            k = order[p[0]] = len(order)
                        name = _PARAM_OPS[k][p[1]]
                    out.append((name, m))
                regs = out
                if scaled:      # (registers of regs, named as there: _param_operands)
                    scaled = tuple([_param_name(n, order) for n in scaled])
            # (not its displacement's size, nor whether it has one: a general template
            # never sees it, :meth:`Tier0._make`)
            ops.append((op.size, op.seg, tuple(regs), op.reloc, op.unknown, op.nosplit,
                        op.jump, op.strict, scaled))
        else:
            return None
    mask = 0
    for slot in order:
        mask |= 1 << slot
    # (not its length, ModRM byte (nor whether it has one), displacement sizes: general
    # templates take the first as a parameter and never see the others; a shape whose
    # builder looks at them has them, Tier0.instance)
    return (insn.form.index, insn.osize, insn.asize, insn.seg, insn.rep, insn.lock,
            tuple(insn.prefixes), insn.unused_osize, insn.unused_asize,
            tuple(ops)), order, tuple(order), mask


def _param_operands(insn: Insn, order: dict) -> list:
    """insn's operands with its registers their parameters' (``order``: slot ->
    parameter, :func:`_parametric`)."""
    ops = []
    for op in insn.operands:
        t = type(op)
        if t is Reg:
            op = _clone(op, name=_param_name(op.name, order))
        elif t is Mem and op.regs:
            op = _clone(op, regs=[(_param_name(r, order), m) for r, m in op.regs],
                        scaled=tuple([_param_name(r, order) for r in op.scaled]))
        ops.append(op)
    return ops


def _param_name(name: str, order: dict) -> str:
    """A register's operand name in a template with register parameters (``order``:
    slot -> parameter, :func:`_parametric`): its parameter's, or its own."""
    p = _PARAM_REGS.get(name)
    return name if p is None else _PARAM_OPS[order[p[0]]][p[1]]


def _clone(obj, **changes):
    """dataclasses.replace for the decoder's plain dataclasses (Insn, Imm, Mem: their
    attributes are their fields, all taken by __init__): a copy with ``changes``,
    without replace's walk over the fields (2.7 times faster, 1.4 under PyPy)."""
    return type(obj)(**{**obj.__dict__, **changes})


def _read_fields(raw: bytes, fields: tuple) -> list:
    """The constants at ``fields`` (asm.x86.decoder.const_fields) of an instruction's
    bytes."""
    out = []
    for off, size, signed in fields:
        if off is None:
            out.append(size)
            continue
        v = int.from_bytes(raw[off:off + size], "little")
        if signed and v >> (size * 8 - 1):
            v -= 1 << (size * 8)
        out.append(v)
    return out


def _rel_field(insn: Insn) -> Optional[tuple]:
    """(the length of the bytes before it, ((offset, size, True),)): where the signed
    displacement of a near jump or call with a 32-bit operand size is (its only operand),
    when the bytes before it are all the decoder read to choose its form (prefixes and
    an opcode of the longest length its first byte starts, or ``0F 80``-``0F 8F``: no
    three-byte opcode map starts with those two); None for another instruction."""
    form = insn.form
    if insn.osize != 32 or form.roles != ("rel",) or len(form.imms) != 1 or \
            len(insn.operands) != 1:
        return None
    kind, size = _IMM_CODES.get(form.imms[0], (2, 0))
    raw = insn.raw
    npre = len(insn.prefixes) + (form.mandatory is not None)
    k = npre + len(form.opcode)
    if kind != 1 or size not in (1, 4) or k + size != len(raw) or npre >= k:
        return None
    op = raw[npre]
    if npre + max(_LENGTHS.get(op, (9,))) > k and not (
            op == 0x0F and k == npre + 2 and 0x80 <= raw[npre + 1] <= 0x8F):
        return None
    return k, ((k, size, True),)


def _values(insn: Insn) -> list:
    """The instance constants, in parameter order after the address (_k0)."""
    out = []
    for op in insn.operands:
        t = type(op)
        if t is Imm:
            out.append(op.value)
        elif t is Mem:
            out.append(op.disp)
    return out


class Template:
    """A compiled one-instruction block and how to make an instance of it."""
    __slots__ = ("code", "insns", "_lines", "binds", "sk", "state", "lits", "avoid")

    def __init__(self, code: CodeType, insns: tuple, binds: Optional[tuple],
                 sk: Optional[tuple] = None, lits: tuple = (), avoid: int = _REAL_GPRS):
        self.code = code
        self.lits = lits            # the values of its literal parameters (_canonical)
        # the mask of the real registers it touches itself, which no register parameter
        # of an instance may be (else the instance would keep two copies of one register)
        self.avoid = avoid
        self.insns = insns          # (line, idx, regs, flags) per InsnMeta
        self._lines: Optional[list] = None      # (made when a fault needs them)
        # how to find its globals in another translator or process (warmblocks.binds_of;
        # None: one cannot be found again)
        self.binds = binds
        self.sk = self.state = None
        if sk is not None:
            self.key(sk)

    @property
    def nregs(self) -> int:
        """How many register parameters (_r0..: an instance's slots, before its length)
        its function takes (derived from its code: only looked at by tests)."""
        code = self.code
        return "".join(code.co_varnames[:code.co_argcount]).count("_r")

    @property
    def lines(self) -> list:
        if self._lines is None:
            self._lines = [m[0] for m in self.insns]
        return self._lines

    def key(self, sk: tuple) -> None:
        """Its key in the templates dicts, and the memory kind (guarded, size) in it."""
        self.sk = sk
        self.state = (sk if len(sk) == 3 else sk[0])[1]


# the templates of this process (all translators), and those kept across runs
_shared: dict = {}          # shape + translator state -> Template or _NO
# the templates entry as read: shape -> marshalled (code, insns, binds), unpacked when
# used; read the first time a template is missing ("new": templates made since)
_disk: dict = {"loaded": False, "blobs": {}, "saved": False}
# a shape with register parameters its builder refused -> at which look (ValueUsed,
# _UnseenUsed; None: another refusal): an instruction of that shape with other registers
# skips the builds that look fails the same way (the general template with its
# registers as they are; at a constant, with the length and ModRM byte too). Keyed by
# shapes, no guest constant: as bounded as the forms and aliasings.
_looks: dict = {}


def _parts(t: Template) -> tuple:
    """What is kept of a template across runs (:func:`_kept` makes it again)."""
    return t.code, t.insns, t.binds, t.lits, t.avoid


def _kept(parts, sk: tuple) -> Template:
    """A template kept across runs (:func:`_parts`; the entry's MAC says this pyvm
    wrote it: a TypeError or ValueError when it is not what _parts makes)."""
    code, insns, binds, lits, avoid = parts
    if type(code) is not CodeType or type(lits) is not tuple or type(avoid) is not int:
        raise TypeError("not a template")
    return Template(code, tuple(insns), tuple(binds), sk, lits, avoid)


def _general(sk) -> bool:
    """A general template's key: its shape has no guest byte (no length, ModRM byte,
    displacement sizes or constants), so the template library may hold it."""
    return len(sk) == 3 and type(sk[0]) is tuple and bool(sk[0]) and type(sk[0][0]) is int


def _library(cache) -> dict:
    """The template library (tier0lib.py) as read once: shape key -> its parts, or None
    for a general shape the builder refused. None of it with the code cache off."""
    lib = _disk.get("lib")
    if lib is None:
        lib = _disk["lib"] = tier0lib.load() if cache is not None else {}
    return lib


def _blobs(cache) -> dict:
    if not _disk["loaded"] and cache is not None:
        _disk["loaded"] = True
        entry = cache.get_warm(TEMPLATES, always=True)
        try:
            _disk["blobs"] = {sk: blob for sk, blob in entry or () if type(blob) is bytes}
        except (TypeError, ValueError):
            pass
    return _disk["blobs"]


class Tier0Meta(BlockMeta):
    """BlockMeta of a first-tier instance, its instruction records made when a fault
    or a trace asks for them (``tier0`` tells the promotion it may replace it)."""
    tier0 = True
    loop = False
    single = False
    n = 1

    def __init__(self, t: Template, key: int, nip: int, insn, raw, trapless: bool,
                 owner: Optional[Tier0] = None):
        self._src = (t, insn, raw, owner)      # (raw None: the bytes are in owner's record)
        self.key, self.nip = key, nip
        self.trapless = trapless

    @property
    def lines(self) -> list:
        return self._src[0].lines

    @property
    def insns(self) -> list:
        v = self.__dict__.get("_insns")
        if v is None:
            t, insn, raw, owner = self._src
            ip, nip = self.key, self.nip
            if insn is not None:
                v = [InsnMeta(line, idx, ip, nip, regs, flags, insn, ip)
                     for line, idx, regs, flags in t.insns]
            else:
                if raw is None:
                    raw = owner.raw_of(ip, nip - ip) or b""
                v = [WarmInsnMeta(line, idx, ip, nip, regs, flags, ip, raw)
                     for line, idx, regs, flags in t.insns]
            self._insns = v
        return v


def _touched(b: _SymBuilder, src: str) -> int:
    """The mask of the real general registers a template with register parameters
    touches itself (:class:`_SymBuilder`), in its text (``r[3]``) or fault records."""
    mask = b.touched
    for n in _R_INDEX.findall(src):
        if int(n) < 8:
            mask |= 1 << int(n)
    for m in b.meta.insns:
        for s, _ in m.regs:
            if s < 8:
                mask |= 1 << s
    return mask


class _Record:
    """The instances an earlier run of the program made, as its entry holds them: the
    i-th one at ``keys[i]`` (``index``: key -> i) from template ``tidx[i]`` with
    ``lens[i]`` bytes, its constants ``vals[offs[i]:offs[i + 1]]``, found in span ``j``
    (``los[j]``, ``chunks[j]``) that ``guards[j]`` vouches for while its first element
    is 1. (Flat arrays: a tuple per instance made reading it three times slower.)"""
    __slots__ = ("index", "offs", "vals", "tidx", "lens", "flags", "los", "chunks",
                 "guards", "tpls", "resolved")


_DEAD = [0]     # the guard of a span that differed from memory when the run began
_GUARD = object()   # the "code" of a guard block (never called)
_ERRORS = (TypeError, ValueError, IndexError, KeyError, AttributeError, ImportError,
           EOFError)

_live: weakref.WeakSet = weakref.WeakSet()    # Tier0s whose runs are kept at exit


def _shared_parts(t: Template, seen: dict) -> tuple:
    """t's sk and :func:`_parts` for a record, equal register maps, flags and
    bindings made one object, which marshal writes once (a record's templates mostly
    name the same: a third smaller, faster to read). (A constant's binding is left as
    it is: True == 1.)"""
    insns = tuple((line, idx, seen.setdefault(regs, regs),
                   flags if flags is None else seen.setdefault(flags, flags))
                  for line, idx, regs, flags in t.insns)
    binds = tuple(b if b[0] == "c" else seen.setdefault(b, b) for b in t.binds)
    code, _, _, lits, avoid = _parts(t)
    return t.sk, code, insns, binds, lits, avoid


def _library_add(lib: dict) -> bool:
    """Add this process's general templates (and refused general shapes) to the template
    library; True when the library holds them all now."""
    new = {}
    for sk, t in _shared.items():
        if sk in lib or not _general(sk):
            continue
        if t is _NO:
            new[sk] = None
        elif t.binds is not None and t.sk == sk:
            new[sk] = _parts(t)
    if not new:
        return True
    if len(lib) + len(new) > tier0lib.MAX_TEMPLATES or not tier0lib.enabled() or \
            codecache._stat_files() != codecache.fingerprint():
        return False            # (pyvm changed during the run: the new ones may be old)
    out = {**lib, **new}
    if not tier0lib.store(out):
        return False
    lib.update(new)
    return True


def unsaved() -> bool:
    """Whether a first tier of this process has something to keep at exit."""
    return any(t.unsaved() for t in _live)


def _save_all() -> None:
    for t in list(_live):
        t.save()


atexit.register(_save_all)


class _Instance:
    """A first-tier instance as the dispatcher calls it (a block): the template with its
    constants. ``count``: runs left before its start is hot (None: a first run, not
    kept). A fault is made precise from the template's frame in the traceback: the line
    it stopped at and its locals. (No functools.partial of a function: under PyPy that
    is Python code, which merges keyword dicts at every call: a twentieth of a short
    run.)"""
    __slots__ = ("t0", "fn", "consts", "meta", "count")

    def __init__(self, t0: Tier0, fn: FunctionType, consts: tuple, meta: Tier0Meta,
                 count: Optional[list]):
        self.t0, self.fn, self.consts, self.meta, self.count = t0, fn, consts, meta, count

    def __call__(self) -> int:
        count = self.count
        if count is not None:
            count[0] -= 1
            if not count[0]:
                self.t0.promote(self.meta.key)
        fn = self.fn
        try:
            return fn(*self.consts)
        except BaseException as e:
            tb = e.__traceback__.tb_next
            if tb is not None and tb.tb_frame.f_code is fn.__code__:
                self.t0.tr.unwind(self.meta, tb.tb_frame.f_locals, e, tb.tb_lineno)
            # (this frame is in the traceback, and the template's frame in ``tb`` has it
            # as f_back: kept, a reference cycle per fault)
            tb = None
            raise


class Tier0:
    """The first tier of one Translator. With the code cache on, templates are kept
    across runs (one entry for all programs), and so is each run's record (by its
    first block's address and code): a warm run makes its first-tier blocks without
    decoding or building, its guest bytes compared once per span."""

    def __init__(self, tr):
        self.tr = tr
        self.templates: dict = {}       # shape + translator state -> Template or _NO
        self.fns: dict = {}             # Template -> its function in this namespace
        self.bound: set = set()         # template globals found in this namespace
        self.seen: set = set()          # starts run in this tier
        self.kept: set = set()          # starts whose instances were kept (asked twice)
        self.hot: set = set()           # starts that get real blocks from now on
        self.real: set = set()          # ... and made or loaded theirs in this run
        self.entries: dict = {}         # key -> (warm key, entry) of a real block
        # the record's hot starts that had real blocks, and those promoted too late to
        # get one (left in this tier in a warm run too: else it would build blocks for
        # them that the cold run never needed)
        self.rec_hot: frozenset = frozenset()
        self.late: frozenset = frozenset()
        # key -> (Template, consts, length, raw bytes or None: in the record, flags)
        self.made: dict = {}
        self.started = False            # _load ran
        self.record: Optional[_Record] = None   # the earlier run's instances
        self.run_id: Optional[bytes] = None
        self.cache = None
        self.dirty = False              # something to keep that the record lacks
        # instruction bytes -> what they make (_note), and the lengths of its keys by
        # their first byte
        self.by_bytes: dict = {}
        self.lens: dict = {}
        # the bytes of an instruction before its constants -> how another with those bytes
        # makes its instance without decoding (_note_shape), and those bytes' lengths by
        # their first byte
        self.by_shape: dict = {}
        self.shape_lens: dict = {}
        # a template's code -> how to find its globals again (warmblocks.binds_of: None,
        # they cannot be; _NO: no template uses it)
        self.code_binds: dict = {}
        # (mnemonic, shape but its form, memory kind, zeros) -> (what the build read of
        # its form, the general template) of each form built (_general)
        self.siblings: dict = {}
        self.noting: Optional[dict] = None     # (_general's, for _make)
        # the templates' globals: the namespace (CPython); under PyPy a module's dict of
        # its objects the templates name, written only when a new template names one it
        # lacks (the namespace gains names all along: an x87 instruction's, a helper's,
        # _make's own while it builds, and a module dict's new key throws away the JIT's
        # loops that read it; one dict for all templates, not one per code as a block's:
        # the call of an instance's function then reads the same globals whatever the
        # template, malloc's run 23.7 JIT operations per instruction with per-code
        # dicts, 19.7 with the namespace)
        self.globs: dict = ModuleType("pyvm_tier0").__dict__ if _PYPY else tr.ns
        # ValueUsed: the last _make failed at a look at a constant; _UnseenUsed: at one
        # at the ModRM byte, a displacement's size or the length (None: neither)
        self.looked: Optional[type] = None

    def promote(self, key: int) -> None:
        """From an instance that ran HOT times: its start gets a real block, made when
        the dispatcher next looks for it (not here, inside a running block)."""
        if key not in self.hot:
            self.hot.add(key)
            if key not in self.late:
                self.dirty = True
        cache = self.tr.cache
        fn = cache.get(key)
        if fn is not None and getattr(fn.meta, "tier0", False):
            del cache[key]

    def built(self, key: int, entry: Optional[tuple] = None,
              wkey: Optional[bytes] = None) -> None:
        """The real block at key was made or loaded (warmblocks.py), from ``entry``
        (under ``wkey``) when it can be kept."""
        if entry is not None:
            self.entries[key] = (wkey, entry)
        if key not in self.real:
            self.real.add(key)
            if key in self.hot and key not in self.rec_hot:
                self.dirty = True

    def forget(self) -> None:
        """Drop every start's state and the templates (Translator.reclaim, when the
        translations hold too much host memory: compiler.CODE_BUDGET). Some templates
        are made per guest constant (a displacement: _concrete), as many as the
        instructions a guest writes, so this process's others go too (``_shared``,
        and ``_lines``, which has their literals): they are made or adopted again
        when needed. The earlier run's record stays (as big as it was kept)."""
        for d in (self.made, self.seen, self.kept, self.hot, self.real, self.entries,
                  self.by_bytes, self.lens, self.by_shape, self.shape_lens, self.templates,
                  self.fns, self.siblings):
            d.clear()
        _shared.clear()
        _lines.clear()
        if self.globs is not self.tr.ns:
            # (PyPy: the copy holds what reclaim drops from the namespace after this,
            # the decoded x87 instructions: a new one, filled as templates are made)
            self.globs = ModuleType("pyvm_tier0").__dict__

    def sync(self) -> None:
        """The namespace's names were rebound (the debugger's READ while a read watch is
        armed, and back when it ends): each is followed by a flush (Translator.flush
        calls this), so the templates' globals take the new objects. Under PyPy they
        are a copy of the names the templates use, which the functions made before
        (``fns``, kept across flushes) would go on reading."""
        g = self.globs
        ns = self.tr.ns
        if g is ns:
            return
        for name, v in list(g.items()):
            w = ns.get(name, _NO)
            if w is not v and w is not _NO:
                g[name] = w

    def usable(self) -> bool:
        tr = self.tr
        cpu = tr.cpu
        return cpu.mode == "flat32" and cpu.bits == 32 and not cpu.pm and not cpu.real \
            and not tr.stops and not tr.watching and not tr.dr_stops

    def instance(self, key: int) -> Optional[Callable]:
        """The first-tier block at key, installed; None when the instruction there has
        no template (or cannot be fetched: the real translation reports that), or is
        one an earlier run of this program found hot."""
        tr = self.tr
        if not self.started:
            self._load(key)
            if key in self.hot:
                return None
        ent = self.made.get(key)
        if ent is not None and ent[3] is not None:
            # decoded earlier in this run: the same bytes make the same instance
            t, consts, n, raw, fl = ent
            mem = tr.mem
            if mem.data[key:key + n] == raw and t.state == (mem.guarded, mem.size):
                if not mem.fetchable(key, n):
                    return None
                return self._install(t, key, consts, n, fl, None, raw)
        rec = self.record
        if rec is not None:
            i = rec.index.get(key)
            if i is not None:
                fn = self._replay(key, i)
                if fn is not None:
                    return fn
        mem = tr.mem
        state = (mem.guarded, mem.size)
        chunk = bytes(mem.data[key:key + MAX_INSN])
        lens = self.lens.get(chunk[0]) if chunk else None
        if lens is not None:
            # the same bytes seen at another start (a prologue, a register move)
            by_bytes = self.by_bytes
            for n in lens:
                ent = by_bytes.get(chunk[:n])
                if ent is not None:
                    if ent[0] == state:
                        return self._again(key, chunk[:n], ent)
                    break
        lens = self.shape_lens.get(chunk[0]) if chunk else None
        if lens is not None:
            # the same bytes but for its constants (another displacement or immediate)
            by_shape = self.by_shape
            for k in lens:
                ent = by_shape.get(chunk[:k])
                if ent is not None:
                    if ent[0] == state:
                        fn = self._alike(key, chunk, ent)
                        if fn is not None:
                            return fn
                    break
        try:
            insn, lin = tr.fetch(key, key)
        except (DecodeError, CPUException):
            return None
        gen = SEMANTICS.get(insn.form.mnemonic)
        rel = "rel" in insn.form.roles
        if gen is None or insn.lock and not insn.form.lockable(insn.operands):
            if not rel:
                self._note(insn.raw, (state, None))
            return None
        values = _values(insn)
        zeros = tuple([v == 0 for v in values])     # (no generator: PyPy's interpreter)
        # the registers, the operands' constants and the length as parameters (the
        # shape says which constants are 0 and which registers are the same), the
        # ModRM byte unseen ...
        self.looked = None
        par = _shape(insn, True)         # (_parametric's, inlined)
        t = None
        if par is not None and par[2] and len(par[2]) <= _NPARAMS:
            t = self._with_params(insn, gen, par, state, zeros)
            if t is not None:
                values += [*par[2], insn.length]
        if t is None and par is not None:
            # ... else the registers as they are
            sk = par[0] if not par[2] else shape(insn)
            t = self._concrete(insn, gen, (sk, state, zeros), values)
        if t is None:
            if not rel:
                self._note(insn.raw, (state, None))
            return None
        fl = _TRAPLESS if insn.form.mnemonic in _TRAPLESS_INSNS else 0
        if not rel:
            self._note(insn.raw, (state, t, tuple(values), fl))
            if len(t.sk) == 3:          # (not a template per constants)
                self._note_shape(insn, state, t, values, zeros, fl)
        elif len(t.sk) == 3:
            self._note_rel(key, insn, state, t, values, zeros)
        consts = (key, *values)
        self.made[key] = (t, consts, insn.length, insn.raw, fl)
        self.dirty = True
        return self._install(t, key, consts, insn.length, fl, insn, None)

    def _with_params(self, insn: Insn, gen, par: tuple, state: tuple, zeros: tuple
                     ) -> Optional[Template]:
        """The template of insn's shape with its registers parameters (``par``:
        :func:`_parametric`), or None: the builder refused, or the template touches one
        of insn's registers itself (``mul eax``, ``push esp``)."""
        sk = (par[0], state, zeros)
        t = self.templates.get(sk) or self._adopt(sk)
        if t is None:
            t = self._keep(sk, self._general(sk, insn, gen, par))
            if t is _NO:
                _looks[sk] = self.looked
        elif t is _NO:
            self.looked = _looks.get(sk)
        if t is _NO or t.avoid & par[3]:
            return None
        return t

    def _concrete(self, insn: Insn, gen, sk: tuple, values: list) -> Optional[Template]:
        """The template of insn's shape with its registers as they are (``sk``): the
        general one (``values`` gets the length), else one with the length and ModRM
        byte in its shape, else one per constants (None: none)."""
        state, zeros = sk[1:]
        t = self.templates.get(sk) or self._adopt(sk)
        # (a look where its registers were parameters: here too)
        if t is None:
            t = self._keep(sk, None if self.looked else self._general(sk, insn, gen))
        futile = self.looked is ValueUsed
        if t is not _NO:
            values.append(insn.length)
        else:
            # ... else the length and the ModRM byte in the shape ...
            sk = ((sk[0], insn.length, insn.modrm,
                   tuple(op.disp_size for op in insn.operands if type(op) is Mem)), state, zeros)
            t = self.templates.get(sk) or self._adopt(sk)
            if t is None:
                t = self._keep(sk, None if futile else self._make(insn, gen, False))
            if t is _NO:
                # ... else the constants as they are (a shift count), only the address a
                # parameter
                sk = (sk, tuple(values))
                t = self.templates.get(sk) or self._adopt(sk)
                if t is None:
                    t = self._keep(sk, self._make(insn, gen, True))
                if t is _NO:
                    return None
        return t

    def _general(self, sk: tuple, insn: Insn, gen, par: Optional[tuple] = None
                 ) -> Optional[Template]:
        """The general template of shape ``sk`` (:meth:`_make`), or that of another form
        of insn's mnemonic, the rest of the shape the same, whose build read the same of
        its form (:class:`_FormSeen`): the builder saw the same and wrote the same."""
        sib = (insn.form.mnemonic, sk[0][1:], sk[1], sk[2])
        form = insn.form
        for seen, t in self.siblings.get(sib, ()):
            for name, v in seen:
                x = getattr(form, name, _NO)
                if type(x) is not type(v) or x != v:
                    break
            else:
                return Template(t.code, t.insns, t.binds, None, t.lits, t.avoid)
        seen = self.noting = {}
        try:
            t = self._make(insn, gen, False, True, par)
        finally:
            self.noting = None
        if t is not None and "index" not in seen:
            self.siblings.setdefault(sib, []).append((tuple(seen.items()), t))
        return t

    def _note(self, raw: bytes, ent: tuple) -> None:
        """What the instruction ``raw`` makes here: (memory kind, its template or None,
        its constants, its flags). Decoding reads an instruction's bytes and nothing else
        (a relative target aside: those are left out), so the same bytes at another
        start make the same instance with that start's address."""
        self.by_bytes[raw] = ent
        n = len(raw)
        first = raw[0]
        lens = self.lens.get(first, ())
        if n not in lens:
            self.lens[first] = (*lens, n)

    def _note_shape(self, insn: Insn, state: tuple, t: Template, values: list,
                    zeros: tuple, fl: int) -> None:
        """How an instruction with insn's bytes but for its constants makes its instance:
        those bytes decode alike (the decoder picks the form and operands by them), so
        its shape is insn's while the same constants are 0 and the same 32-bit
        displacements fit in a byte (the decoder's ``disp_size`` says whether one does:
        a general template never sees it, but the shape of one with its length and ModRM
        byte holds it, :meth:`_concrete`), its values read from where insn's are
        (asm.x86.decoder.const_fields, checked on insn here)."""
        lay = const_fields(insn)
        if lay is None:
            return
        k, fields = lay
        raw = insn.raw
        got = _read_fields(raw, fields)
        m = len(fields)
        if got != values[:m]:
            return
        # (whether a 32-bit displacement fits in a byte: its disp_size, in the shape of a
        # template with its length and ModRM byte)
        fits = tuple([(i, -128 <= got[i] <= 127) for i, f in enumerate(fields)
                      if f[1] == 4 and f[2]])
        self._shape_add(raw, k, (state, t, len(raw), fields, zeros, fits, tuple(values[m:]),
                                 fl, False))

    def _shape_add(self, raw: bytes, k: int, ent: tuple) -> None:
        self.by_shape[raw[:k]] = ent
        first = raw[0]
        lens = self.shape_lens.get(first, ())
        if k not in lens:
            self.shape_lens[first] = (*lens, k)

    def _note_rel(self, key: int, insn: Insn, state: tuple, t: Template, values: list,
                  zeros: tuple) -> None:
        """A near jump or call (``rel``) at key, for :meth:`_alike` as :meth:`_note_shape`
        notes others: another with the same bytes before its displacement (the decoder
        chose the form by them) has the target ``start + length + displacement``, wrapped
        at 32 bits (its operand size; a 16-bit one is left out), and the same template
        while the same targets are 0 (half the instructions a glibc hello world decoded
        in this tier were these, nearly all with bytes of their own)."""
        lay = _rel_field(insn)
        if lay is None:
            return
        k, fields = lay
        raw = insn.raw
        n = len(raw)
        if (key + n + _read_fields(raw, fields)[0]) & 0xFFFFFFFF != values[0]:
            return
        self._shape_add(raw, k, (state, t, n, fields, zeros, (), tuple(values[1:]), 0, True))

    def _alike(self, key: int, chunk: bytes, ent: tuple) -> Optional[Callable]:
        """The instance at key of an instruction noted by :meth:`_note_shape` with other
        constants (None: they differ in what its shape says of them)."""
        _, t, n, fields, zeros, fits, tail, fl, rel = ent
        if len(chunk) < n:
            return None
        vals = _read_fields(chunk, fields)
        if rel:                 # (_note_rel: the target, from this start)
            vals[0] = (key + n + vals[0]) & 0xFFFFFFFF
        if tuple([v == 0 for v in vals]) != zeros:
            return None
        for i, fit in fits:
            if (-128 <= vals[i] <= 127) is not fit:
                return None
        mem = self.tr.mem
        if not mem.fetchable(key, n):
            return None
        raw = chunk[:n]
        values = (*vals, *tail)
        if not rel:             # (a target depends on the start: not the same bytes')
            self._note(raw, (ent[0], t, values, fl))
        consts = (key, *values)
        self.made[key] = (t, consts, n, raw, fl)
        self.dirty = True
        return self._install(t, key, consts, n, fl, None, raw)

    def _again(self, key: int, raw: bytes, ent: tuple) -> Optional[Callable]:
        """The instance at key of bytes decoded before at another start (``_note``)."""
        t = ent[1]
        if t is None:
            return None
        n = len(raw)
        mem = self.tr.mem
        if not mem.fetchable(key, n):
            return None             # (the real translation reports the fault)
        fl = ent[3]
        consts = (key, *ent[2])
        self.made[key] = (t, consts, n, raw, fl)
        self.dirty = True
        return self._install(t, key, consts, n, fl, None, raw)

    # -- templates -----------------------------------------------------------------------
    def _make(self, insn: Insn, gen, literal: bool, general: bool = False,
              par: Optional[tuple] = None) -> Optional[Template]:
        """The template of insn's shape: its operands' nonzero constants are parameters
        _k1.. (unless ``literal``), its address _k0; ``general``: its length too (the
        last), its ModRM byte and displacement sizes unseen (:class:`_Unseen`), and what
        the builder reads of its form noted in ``self.noting`` when that is a dict
        (:class:`_FormSeen`); ``par`` (:func:`_parametric`, general only): its registers
        too, _r0.. before the length."""
        tr = self.tr
        ip = Sym("_k0")
        params = ["_k0"]
        ops = []
        for op in insn.operands if par is None else _param_operands(insn, par[1]):
            t = type(op)
            if t is Imm or t is Mem:
                v = op.value if t is Imm else op.disp
                name = f"_k{len(params)}"
                params.append(name)
                if v and not literal:
                    v = Sym(name, True)
                if t is Imm:
                    ops.append(_clone(op, value=v))
                elif general:       # (its size unseen, None too: not in the shape)
                    ops.append(_clone(op, disp=v, disp_size=_UNSEEN))
                else:
                    ops.append(_clone(op, disp=v))
            else:
                ops.append(op)
        nregs = 0 if par is None or not general else len(par[2])
        params += [str(s) for s in PARAM_SLOTS[:nregs]]
        if general:
            params.append(f"_k{len(params)}")
            nip = ip + Sym(params[-1], True)
            sym = _clone(insn, address=ip, raw=None, operands=ops, length=_UNSEEN,
                         modrm=_UNSEEN,     # (None too: not in the shape)
                         form=insn.form if self.noting is None else
                         _FormSeen(insn.form, self.noting))
        else:
            sym = _clone(insn, address=ip, raw=None, operands=ops)
            nip = ip + insn.length
        ns = tr.ns
        before = len(ns)            # (names are only added: the new ones come last)
        b = _SymBuilder(tr, ip, True, False, nparams=nregs)
        try:
            b.begin(sym, ip, nip, ip)
            gen(b, sym)
            if not b.ended:
                b.end_jump(nip)
            # (the translator's header loads the real registers the block reads; the
            # parameters read are loaded here)
            loads = [f"    {PARAM_NAMES[k]}0 = r[{s}]" for k, s in enumerate(PARAM_SLOTS)
                     if s in b.entry_used]
            b.entry_used.difference_update(PARAM_SLOTS)
            src, header = tr._source(b, ", ".join(f"{p}=0" for p in params))
            if loads:
                head, _, body = src.partition("\n")
                src = "\n".join([head, *loads, body])
                header += len(loads)
        except Exception as e:      # ValueUsed, or whatever the real translation reports
            # (a look at a constant before any at an unseen field: the shape with those
            # fields takes the same decisions up to that look, and fails there too)
            self.looked = type(e) if type(e) in (ValueUsed, _UnseenUsed) else None
            return None
        finally:
            # an object made for this instruction (the x87 glue's instruction)
            mine = [n for n in list(ns)[before:]
                    if isinstance(ns[n], (_FormSeen, Insn, Sym))] if len(ns) > before else ()
            for name in mine:
                del ns[name]
        if mine or ("'" in src or '"' in src) and \
                any(_PARAM.search(x) for x in _STRING.findall(src)):
            return None             # (a constant inside a message: text, not a value)
        avoid = _REAL_GPRS
        if nregs:
            avoid = _touched(b, src)
            if "_gp" in src:
                return None     # (a parameter's operand name in the text)
        canon = _canonical(params, src.partition("\n")[2])
        lits: tuple = ()
        ren: dict = {}
        if canon is not None:
            src, lits, ren, params = canon
        insns = []
        for m in b.meta.insns:
            if m.ip is not ip or m.nip is not nip or m.lin is not ip or m.insn is not sym:
                return None
            # A record names the registers whose values at its point are in locals: the
            # builder marks its one instruction's start before it reads any (Builder.
            # _mark: none) and a helper's call site a part of that, so none; one that
            # named a parameter would name the template's, not an instance's: refused
            if nregs and any(s >= NSLOTS for s, _ in m.regs):
                return None
            regs = tuple((s, sys.intern(_renamed(str(v), ren))) for s, v in m.regs)
            flags = None if m.flags is None else \
                tuple(sys.intern(_renamed(str(x), ren)) for x in m.flags)
            insns.append((m.line + header, m.idx, regs, flags))
        fcode = _codes.get(src)
        if fcode is None:
            try:
                code = compile(src, "<x86 tier0>", "exec")
            except SyntaxError:
                return None
            fcode = next((c for c in code.co_consts if type(c) is CodeType), None)
            if fcode is None or fcode.co_varnames[:fcode.co_argcount] != tuple(params):
                return None
            _codes[src] = fcode
        binds = self.code_binds.get(fcode, _UNKNOWN)
        if binds is _UNKNOWN:
            # (the templates of many shapes share a code object, and so its globals)
            if {"META", "ALIVE"} & set(fcode.co_names):
                binds = _NO         # (a per-block object: not in a template)
            else:
                binds = warmblocks.binds_of(tr, fcode)
                if binds is not None:
                    binds = None if any(bnd[0] == "d" for bnd in binds) else tuple(binds)
            self.code_binds[fcode] = binds
        if binds is _NO:
            return None
        return Template(fcode, tuple(insns), binds, lits=lits, avoid=avoid)

    # -- instances -----------------------------------------------------------------------
    def _install(self, t: Template, key: int, consts: tuple, length: int, flags: int,
                 insn, raw: Optional[bytes], kept: bool = False) -> Callable:
        """An instance of t at key (``insn`` None: decoded from ``raw``, or the record's
        bytes, when asked). Most instructions of a short run run once: the first time a
        start is asked for, its instance only runs (nothing to drop when its bytes are
        written: the next request checks them again); the second time it is kept, or
        the first when the recorded run kept it (``kept``)."""
        tr = self.tr
        fn = self.fns.get(t)
        if fn is None:
            g = self.globs
            if g is not tr.ns:
                ns = tr.ns
                for name in t.code.co_names:
                    v = ns.get(name, _NO)
                    if v is not _NO and g.get(name, _NO) is not v:
                        g[name] = v
            fn = self.fns[t] = FunctionType(t.code, g, "_blk", t.lits or None)
        nip = key + length
        # (Tier0Meta's __init__ by hand: its call with seven arguments cost PyPy's
        # interpreter 0.3 us more, of ~4 us for this method)
        meta = _new(Tier0Meta)
        meta._src = (t, insn, raw, self)
        meta.key = key
        meta.nip = nip
        meta.trapless = bool(flags & _TRAPLESS)
        seen = self.seen
        if key not in seen:
            seen.add(key)
            if not kept:
                return _Instance(self, fn, consts, meta, None)
            count = [HOT]           # (as many runs as a start kept from its second)
        else:
            count = [max(HOT - 1, 1)]
        if key not in self.kept:
            self.kept.add(key)
            if not kept:
                self.dirty = True
        inst = _Instance(self, fn, consts, meta, count)
        bid = tr.nextid
        tr.nextid += 1
        tr.blocks[bid] = (key, False, [(key, nip)], [1], inst, meta, None)
        tr.cache[key] = inst
        tr.watch(bid, ((key, nip),))
        return inst

    def _replay(self, key: int, i: int) -> Optional[Callable]:
        """The recorded run's i-th instance (at key), when the guest bytes there are the
        same: its span's guard says so, or (the guest wrote that page) they compare."""
        r = self.record
        try:
            n = r.lens[i]
            mem = self.tr.mem
            j = bisect_right(r.los, key) - 1
            if j < 0:
                return None
            if not r.guards[j][0]:
                off = key - r.los[j]
                if not n or mem.data[key:key + n] != r.chunks[j][off:off + n]:
                    return None
            if not mem.fetchable(key, n):
                return None         # (the real translation reports the fault)
            ti = r.tidx[i]
            t = r.resolved[ti] or self._recorded(ti)
            if t is _NO or t.state != (mem.guarded, mem.size):
                return None         # (made for another kind of memory)
            fl = r.flags[i]
            consts = (key, *r.vals[r.offs[i]:r.offs[i + 1]])
            self.made[key] = (t, consts, n, None, fl & _TRAPLESS)
            return self._install(t, key, consts, n, fl & _TRAPLESS, None, None,
                                 bool(fl & _KEPT))
        except _ERRORS + (CPUException,):
            return None

    def _recorded(self, ti: int):
        """The record's template ti, its globals found in this namespace (_NO: not)."""
        r = self.record
        t = _NO
        try:
            sk, *parts = r.tpls[ti]
            t = self.templates.get(sk)
            if t is None:
                t = _shared.get(sk)
                if t is None or t is _NO:
                    t = _kept(parts, sk)
                    _shared.setdefault(sk, t)
                if self._bind(t.binds):
                    self.templates[sk] = t
                else:
                    t = _NO
        except _ERRORS:
            t = _NO
        r.resolved[ti] = t
        return t

    def raw_of(self, key: int, n: int) -> Optional[bytes]:
        """The record's bytes of the instance at key (its metadata decodes them)."""
        r = self.record
        if r is None:
            return None
        j = bisect_right(r.los, key) - 1
        if j < 0:
            return None
        off = key - r.los[j]
        chunk = r.chunks[j]
        return chunk[off:off + n] if off + n <= len(chunk) else None

    def _bind(self, binds) -> bool:
        """Put the objects a template's globals name into this namespace (False: one
        is missing or means something else here); each is checked once."""
        if binds is None:
            return False
        bound = self.bound
        todo = [b for b in binds if b not in bound]
        if todo:
            try:
                new = warmblocks.resolve(self.tr, todo)
            except _ERRORS:
                new = None
            if new is None:
                return False
            self.tr.ns.update(new)
            bound.update(todo)
        return True

    # -- kept across runs ----------------------------------------------------------------
    def _load(self, key: int) -> None:
        """At the run's first block: the record of a run of the program that starts with
        the same code at ``key``, its spans compared with memory now."""
        self.started = True
        cache = self.cache = code_cache()
        if cache is None:
            return
        mem = self.tr.mem
        page = key & ~0xFFF
        ident = _blake2b(bytes(mem.data[page:page + RUN_SPAN]), digest_size=16,
                                person=b"pyvm-tier0-run").digest()
        self.run_id = b"tier0-run" + struct.pack("<QQ?", key, mem.size, mem.guarded) + ident
        _live.add(self)
        entry = cache.get_warm(self.run_id)
        if entry is not None:
            try:
                self._read(entry)
            except _ERRORS:
                self.record = None

    def _read(self, entry: tuple) -> None:
        version, keys, offs, vals, tidx, lens, flags, spans, tpls, hot, late, blocks = entry
        if version != RECORD:
            return
        r = _Record()
        arrays = []
        for code, blob in (("Q", keys), ("I", offs), ("q", vals), ("I", tidx)):
            a = array(code)
            a.frombytes(blob)
            arrays.append(a.tolist())
        keys, r.offs, r.vals, r.tidx = arrays
        if not len(keys) == len(r.tidx) == len(lens) == len(flags) == len(r.offs) - 1 or \
                r.offs[-1] != len(r.vals) or type(lens) is not bytes or type(flags) is not bytes:
            return
        r.lens, r.flags, r.tpls = lens, flags, tpls
        r.resolved = [None] * len(tpls)
        r.index = dict(zip(keys, range(len(keys))))
        r.los = [lo for lo, _ in spans]
        r.chunks = [chunk for _, chunk in spans]
        if any(type(c) is not bytes for c in r.chunks) or r.los != sorted(r.los):
            return
        hot = [k for k in hot if type(k) is int]
        late = frozenset(k for k in late if type(k) is int)
        r.guards = self._guard(r)
        self.record = r
        self.hot.update(hot)
        self.rec_hot, self.late = frozenset(hot), late
        self.cache.preload(blocks)      # (the hot starts' real blocks)

    def _guard(self, r: _Record) -> list:
        """Each span's guard: _DEAD when memory differs there now (or cannot be read),
        else one per page of span starts, a block without code over those spans that
        Translator.invalidate kills when the guest writes into one."""
        tr = self.tr
        mem = tr.mem
        data = mem.data
        groups: dict = {}           # page -> (alive, ranges)
        guards = []
        for lo, chunk in zip(r.los, r.chunks):
            hi = lo + len(chunk)
            if lo < 0 or data[lo:hi] != chunk or not mem.fetchable(lo, hi - lo):
                guards.append(_DEAD)
                continue
            g = groups.get(lo >> PAGE_SHIFT)
            if g is None:
                g = groups[lo >> PAGE_SHIFT] = ([1], [])
            g[1].append((lo, hi))
            guards.append(g[0])
        for alive, ranges in groups.values():
            bid = tr.nextid
            tr.nextid += 1
            # (key -1: no block of the dispatcher's caches is this one)
            tr.blocks[bid] = (-1, False, ranges, alive, _GUARD, None, None)
            tr.watch(bid, ranges)
        return guards

    def _keep(self, sk, t: Optional[Template]):
        if t is not None:
            t.key(sk)
        _disk["new"] = True
        t = self.templates[sk] = _shared[sk] = t or _NO
        return t

    def _adopt(self, sk) -> Optional[Template]:
        """A template made by another translator or run, its globals found in this
        one's namespace (None: there is none, or one of its globals is not here)."""
        t = _shared.get(sk)
        if t is None:
            cache = code_cache()
            parts = _library(cache).get(sk, _NO)
            if parts is None:
                t = _shared[sk] = _NO       # (the builder refused this shape)
            else:
                if parts is _NO:
                    blob = _blobs(cache).get(sk)
                    if blob is None:
                        return None
                try:
                    if parts is _NO:
                        parts = marshal.loads(blob)
                    t = _shared[sk] = _kept(parts, sk)
                except _ERRORS:
                    return None
        if t is _NO:
            self.templates[sk] = _NO
            return t
        if not self._bind(t.binds):
            return None
        self.templates[sk] = t
        return t

    def unsaved(self) -> bool:
        """Whether save has something to keep: what the run's record lacks (``dirty``),
        of a run that made instances, and a code cache to keep it in."""
        return self.dirty and bool(self.made) and self.cache is not None and \
            self.run_id is not None

    def save(self) -> None:
        """Keep this run's record, and the templates made since the cache was read
        (at exit)."""
        if not self.unsaved():
            return
        cache = self.cache
        if _disk.get("new"):
            lib = _library(cache)
            blobs = _blobs(cache)
            out = dict(blobs)
            if _library_add(lib):
                out = {sk: blob for sk, blob in out.items() if sk not in lib}
            for sk, t in _shared.items():
                if t is not _NO and t.binds is not None and sk not in out and \
                        sk not in lib and len(out) < tier0lib.MAX_TEMPLATES:
                    try:
                        out[sk] = marshal.dumps(_parts(t))
                    except ValueError:
                        pass
            if out.keys() != blobs.keys():
                cache.put_warm(TEMPLATES, tuple(out.items()))
                _disk["blobs"] = out
            _disk["new"] = False
        record = self._record()
        try:
            small = len(marshal.dumps(record)) <= MAX_RECORD
        except ValueError:          # (an object marshal cannot store: put_warm skips it)
            small = False
        if small:
            cache.put_warm(self.run_id, record)
        self.dirty = False
        cache.flush()       # (the cache's own exit handler may have run already)

    def _record(self) -> tuple:
        """This run's record: the instances made (by address), their bytes merged into
        spans (an instance whose bytes disagree with an overlapping one's, code
        rewritten during the run, is left out), the templates they use."""
        insts = []
        for key, (t, consts, n, raw, fl) in self.made.items():
            if t.binds is None or t.sk is None:
                continue
            if raw is None:
                raw = self.raw_of(key, n)
            if raw is None or len(raw) != n or not n:
                continue
            insts.append((key, t, consts, raw, fl | (_KEPT if key in self.kept else 0)))
        insts.sort(key=lambda x: x[0])
        spans: list = []
        keys, offs, vals, tidx = array("Q"), array("I", [0]), array("q"), array("I")
        lens, flags = bytearray(), bytearray()
        tindex: dict = {}
        tpls = []
        canon: dict = {}
        for key, t, consts, raw, fl in insts:
            try:
                values = array("q", consts[1:])
            except (OverflowError, TypeError):
                continue
            if spans and key <= spans[-1][0] + len(spans[-1][1]):
                lo, buf = spans[-1]
                have = buf[key - lo:key - lo + len(raw)]
                if raw[:len(have)] != have:
                    continue
                buf += raw[len(have):]
            else:
                spans.append((key, bytearray(raw)))
            ti = tindex.get(t)
            if ti is None:
                ti = tindex[t] = len(tpls)
                tpls.append(_shared_parts(t, canon))
            keys.append(key)
            vals.extend(values)
            offs.append(len(vals))
            tidx.append(ti)
            lens.append(len(raw))
            flags.append(fl)
        return (RECORD, keys.tobytes(), offs.tobytes(), vals.tobytes(), tidx.tobytes(),
                bytes(lens), bytes(flags),
                tuple((lo, bytes(buf)) for lo, buf in spans), tuple(tpls),
                tuple(k for k in self.hot if k in self.real),
                tuple(k for k in self.hot if k not in self.real),
                tuple(self.entries[k] for k in self.hot if k in self.entries))
