"""The NASM-compatible assembler driver: passes, symbols, sections, directives and output.

Entry point: :func:`assemble` returns an :class:`Assembly` (sections with bytes and
fixups, symbols, the listing) or raises :class:`~asm.errors.AsmErrors`.

Model (NASM's): every label belongs to a :class:`Section` (or is absolute), and its value
is a :class:`~asm.expr.Rel` ``offset + 1*section``. A value handed to the encoder or
written as data is resolved against the current layout (``Layout.base``); when it is not a
plain number it carries a :class:`Reloc` naming the section or external symbol, which the
encoder reports back as a Fixup and which an object-file writer turns into a relocation.
In ``-f elf32``, ``x wrt ..gotpc/..gotoff/..got/..plt/..sym`` evaluates to an
:class:`~asm.expr.Wrt`, whose special segment becomes the Reloc's ``wrt``.

Passes: pass 1 reads the preprocessor's lines (the preprocessor may consult symbols for
``%if``); errors there stop the assembly, as in NASM. Every pass produces bytes, listing
and warnings; the first pass whose forward references all used the values they finally
have (no undefined symbol, same labels and layout as the pass before) is the result, so a
source without forward references needs one pass. Jumps relax to short forms through these
passes (the encoder is optimistic about unknown targets); a source that keeps changing
after MAX_PASSES is an error. For object formats every section starts at 0.
"""

from __future__ import annotations

import gc
import os
import re
from typing import Iterable, Optional, Sequence

from asm import access, colons, directive_args, eahint
from asm import expr as E
from asm import parser as P
from asm.errors import (
    AsmError,
    AsmErrors,
    WarningError,
    as_error,
    call_syntax_message,
    macro_notes,
    noted_frames,
    restored_rules,
    warning_class,
    warning_enabled,
    warning_is_error,
    warning_rule,
    with_notes,
    with_rules,
)
from asm.listing import listed_text
from asm.shapes import learn as shape_learn
from asm.shapes import lookup as shape_lookup
from asm.shapes import number_class, number_field
from asm.x86 import encoder
from asm.x86.operands import Encoded, FarPtr, Imm, Mem, Reg
from asm.x86.pieces import nasm_pieces
from formats import plainrecord
from formats.plainrecord import field, record

MAX_PASSES = 100
ELF_WRT = ("..gotpc", "..gotoff", "..got", "..plt", "..sym")   # special segments of wrt
ELF_SPECIALS = frozenset(ELF_WRT + ("..tlsie", "..gottpoff"))  # (labels of these names: ok)
MAX_ADDRESS = 1 << 32           # sections live in a 32-bit address space
MAX_IMAGE = 1 << 28             # refuse to build a flat image larger than this (256 MiB)
MAX_TIMES_LOOP = 1 << 22        # TIMES repetitions of a line whose bytes vary (jmp $...)
_WRT_OPERAND = "invalid right-hand operand to WRT"     # (asm/expr.py's message)
_WIDTH_NAMES = {1: "byte", 2: "word", 4: "dword", 8: "qword", 10: "tword", 16: "oword",
                32: "yword", 64: "zword"}


# --------------------------------------------------------------------------- model

@record(eq=False)
class Section:
    """An output section. ``data`` holds progbits contents; ``size`` counts nobits too."""
    name: str
    index: int
    nobits: bool = False
    align: Optional[int] = None         # explicit align=
    sectalign: int = 1                  # raised by `align`/`sectalign`
    start: Optional[int] = None
    vstart: Optional[int] = None
    follows: Optional[str] = None
    vfollows: Optional[str] = None
    attrs: tuple = ()                   # other attribute words, kept for object formats
    data: bytearray = field(default_factory=bytearray)
    size: int = 0
    fixups: list = field(default_factory=list)   # SectionFixup, final pass only

    def __repr__(self) -> str:
        return f"Section({self.name!r})"


@record(eq=False)
class Symbol:
    """A label, EQU constant, extern or common symbol.

    ``value`` is what expressions see: an int (absolute/EQU) or a Rel; for a label it is
    ``Rel(offset, {section: 1})``. ``section``/``offset`` repeat that for writers.
    """
    name: str
    kind: str = "label"                 # 'label' | 'equ' | 'extern' | 'common' | 'segbase'
    value: object = None                # None until defined
    section: Optional[Section] = None
    offset: int = 0
    is_global: bool = False
    size: int = 0                       # common symbols
    defined_at: Optional[tuple] = None  # (file, line)
    pass_defined: int = 0
    seg_base: object = None             # `x equ seg y` in ELF: y's Section or extern Symbol
    required = False                    # `required x`: an extern written even if unused
    #                                     (not a field: set on the few declared symbols)
    referenced = False                  # an extern some evaluated expression named

    def __repr__(self) -> str:
        return f"Symbol({self.name!r}, {self.kind})"


@record(frozen=True, eq=False)
class Reloc:
    """What a non-plain value is relative to: a Section's start, or an external/common
    Symbol. The encoder treats a jump as local when ``section`` is the section being
    assembled and ``symbol`` is None (see asm.x86.operands.SectionRel)."""
    section: Optional[Section] = None
    symbol: Optional[Symbol] = None
    wrt: Optional[str] = None
    pcrel: bool = False         # `x - $`: relative to the field's own section (NASM's
                                # self-relative reference: a PC-relative relocation)

    @property
    def target(self):
        return self.symbol if self.symbol is not None else self.section


@record
class SectionFixup:
    """A field needing a relocation: it holds ``target + addend`` (minus the end of the
    instruction when ``pcrel``), target being ``reloc.target`` (a Section's start or a
    Symbol's address)."""
    offset: int                         # of the field within its section
    size: int
    reloc: Reloc
    pcrel: bool
    addend: int = 0
    end: int = 0                        # pcrel: section offset of the instruction's end


@record
class ListEntry:
    """One listing row group: a source line and what it emitted."""
    lineno: int
    text: str
    depth: int
    offset: Optional[int] = None
    pieces: list = field(default_factory=list)  # (offset, "8B" | "[00000000]" | "<rep 3h>")
    messages: list = field(default_factory=list)
    marks: dict = field(default_factory=dict)   # message index -> pieces listed before it
    pp_messages: Optional[list] = None      # a directive's (the preprocessor's SourceLine's)
    muted: list = field(default_factory=list)   # pp_messages of directives under `[list -]`


@record
class Assembly:
    sections: list
    symbols: dict
    org: Optional[int]
    fmt: str
    listing: list
    warnings: list
    layout: object = None

    def section(self, name: str) -> Optional[Section]:
        for s in self.sections:
            if s.name == name:
                return s
        return None

    def image(self) -> bytes:
        """The flat binary (``-f bin``)."""
        return bin_image(self)


# --------------------------------------------------------------------------- layout


def _nasm_register_order(term: tuple) -> str:
    """NASM numbers its registers in the alphabetical order of their names."""
    return term[0].lower()

def _align_up(v: int, a: int) -> int:
    return (v + a - 1) // a * a if a > 1 else v


class Layout:
    """Section addresses: NASM's bin layout (outbin.c), or all zero for object formats.

    Progbits sections keep their order of definition, except that ``follows=`` moves a
    section (and those defined after it) behind another and ``start=`` groups are sorted
    by address; each starts at the end of the previous one aligned to ``align=`` (default
    4). A nobits section follows the section defined before it (``.bss``: the last
    progbits one) in the address space and takes no room in the file.
    """

    def __init__(self, sections: list, org: Optional[int], flat: bool):
        self.start: dict = {}
        self.vstart: dict = {}
        self.origin = org or 0
        if not flat or not sections:
            for s in sections:
                self.start[s] = self.vstart[s] = 0
            return
        by_name = {s.name: s for s in sections}
        prog = [s for s in sections if not s.nobits]
        nobits = [s for s in sections if s.nobits]
        prog = _order_progbits(prog, by_name)
        pend = None
        for k, s in enumerate(prog):
            align = _section_align(s)
            if s.start is not None:
                start = s.start
            elif k == 0:
                start = _align_up(self.origin, align) if align else self.origin
            else:
                start = _align_up(pend, align or 4)
            self.start[s] = start
            if k == 0 and org is None:
                self.origin = start
            if s.vstart is not None:
                self.vstart[s] = s.vstart
            elif s.vfollows is None:
                self.vstart[s] = start
            if pend is None or start >= pend:
                pend = start + s.size
        last_prog = prog[-1] if prog else None
        for s in nobits:
            if s.start is not None or s.vstart is not None:
                self.start[s] = self.vstart[s] = s.vstart if s.vstart is not None else s.start
        pending = [s for s in sections if s not in self.vstart]
        while pending:
            progress = False
            for s in list(pending):
                if s.vfollows is not None:
                    after = by_name.get(s.vfollows)
                elif s.name == ".bss" or s.index == 0:
                    after = last_prog
                else:
                    after = sections[s.index - 1]
                if after is None or after not in self.vstart:
                    continue
                v = _align_up(self.vstart[after] + after.size, _section_align(s) or 4)
                self.vstart[s] = v
                if s.nobits:
                    self.start[s] = v
                pending.remove(s)
                progress = True
            if not progress:
                for s in pending:
                    self.start.setdefault(s, 0)
                    self.vstart[s] = 0
                break

    def base(self, section: Section) -> int:
        return self.vstart.get(section, 0)


def _section_align(s: Section) -> int:
    """The alignment a section was given (align= or raised by sectalign), 0 if none."""
    if s.align is None and s.sectalign <= 1:
        return 0
    return max(s.align or 1, s.sectalign)


def _order_progbits(prog: list, by_name: dict) -> list:
    """outbin.c step 2: move follows= groups behind their section, sort start= groups."""
    order = list(prog)
    for s in list(order):
        if s.follows == s.name:
            raise AsmError(f"section {s.name} is self following")     # NASM's fatal
        if s.follows and s.follows in by_name and by_name[s.follows] in order:
            order.remove(s)
            order.insert(order.index(by_name[s.follows]) + 1, s)
    groups: list = []
    for s in order:
        if not groups or s.start is not None:
            groups.append([s])
        else:
            groups[-1].append(s)
    result: list = []
    for g in groups:
        key = g[0].start or 0
        at = len(result)
        for i, s in enumerate(result):
            if s.start is not None and key < s.start:
                at = i
                break
        result[at:at] = g
    return result


def bin_image(asm: Assembly) -> bytes:
    layout = asm.layout
    prog = [s for s in asm.sections if not s.nobits and s.size]
    if not prog:
        return b""
    lo = min([layout.origin] + [layout.start[s] for s in prog])
    hi = max(layout.start[s] + s.size for s in prog)
    if hi - lo > MAX_IMAGE:
        raise AsmErrors([AsmError(f"flat image would exceed {MAX_IMAGE >> 20} MiB "
                                  f"(sections span {lo:#x}-{hi:#x})")])
    out = bytearray(hi - lo)
    for s in prog:
        at = layout.start[s] - lo
        out[at:at + len(s.data)] = s.data
    return bytes(out)


# --------------------------------------------------------------------------- the driver

class Assembler(E.EvalContext):
    """Runs the passes. One instance per assembly."""

    optimize = 2            # -Ox; 0 and 1 are NASM's -O0 and -O1 (see _deoptimize)
    depends: Optional[list] = None      # -MD: files the output depends on
    debug = None            # -g: an asm.debuginfo.LineRecorder fed by the passes

    # (class defaults: the instance gets its own only when they are used)
    cmdline_affixes: dict = {}      # --gprefix/--lpostfix...: affix -> text (read only)
    ptr_possible = False            # a source read holds `ptr` (Preprocessor.ptr_hook)

    def __init__(self, fmt: str = "bin", bits: int = 16, listing: bool = False):
        self.fmt = fmt
        # the reloc of a relative branch to a plain number (encoder.encode's `absolute`)
        self.abs_reloc = Reloc() if fmt == "elf32" else None
        self.default_bits = bits
        self.want_listing = listing
        self.symbols: dict = {}
        self.sections: list = []
        self.section_by_name: dict = {}
        self.org: Optional[int] = None
        self.org_at: Optional[tuple] = None
        self.externs: set = set()
        # bin: names a global/static/required gave a special (`x:function`), or that are
        # common, with where (see _refuse_bin_specials)
        self.bin_specials: dict = {}
        self.bin_labels: dict = {}      # the notes and place of such a label (pass 1)
        self.held: list = []            # pass 1's `%error`s (see run)
        self.layout = Layout([], None, fmt == "bin")
        self.warnings: list = []
        self.warned = 0                 # warnings issued so far (shown or not)
        self.warning_init: list = []    # the command line's -w rules (see warning_rule)
        # each warning's place in the recorded lines (pass 1: how many are recorded; later
        # passes: the index of the line being assembled), to merge in the preprocessor's
        self.warning_at: list = []
        self.record: Optional[list] = None
        self.item = 0
        self.listing: list = []
        self.passno = 0
        self.orphan_local = False       # a `.x` defined before any label (pass 1)
        self.list_ahead = 0             # bytes of a data line not listed yet (warn)
        self.final = False
        self.errors: list = []
        self.main_file = "<stdin>"
        self.sl = None
        self.dup_run = None             # the `dup` run _data emits (its warnings: per line)
        self.enc_cache: dict = {}
        self.relocs: dict = {}          # Section or Symbol -> its Reloc (they are immutable)
        self.modes: list = []           # (section, offset, bits) of each `bits`, final pass
        # NASM's `default bnd`: not reset by a pass (NASM's lasts into the next one, so
        # lines above the directive get F2 too); bnd_seen: some line set it
        self.bnd = False
        self.bnd_seen = False
        self.seg_equ = False            # an ELF EQU's value is being worked out
        self.unknowable_met = None      # the expression a `<=>` made unknown (E.Unknowable)
        # (section id, addend, `..got`/`..sym`) -> the lines of such fields (elf_output)
        self.gsym_sites: dict = {}
        self.seg_probe = False          # segment bases as _SEG_PROBE (_segment_field)

    # ---- evaluation context (called by compiled expressions)

    def symbol(self, name: str):
        if name[0] == "." and not name.startswith(".."):
            name = self.base_label + name
        sym = self.symbols.get(name)
        if sym is None or sym.value is None:
            if sym is not None and sym.kind == "segbase":
                if self.seg_equ and sym.seg_base is not None:   # `z equ x+1` in ELF
                    return E.Rel(sym.offset, {_SegBase(sym.seg_base): 1})
                if self.seg_probe:
                    return E.Rel(0, {_SEG_PROBE: 1})    # (see _segment_field)
                raise AsmError(self._segment_base_message())    # `x equ seg y`, used
            if self.final:
                raise AsmError(f"symbol `{name}' not defined")
            self.unknown = True
            return 0
        if sym.kind == "extern":
            sym.referenced = True   # (NASM writes an extern its evaluator met: asm.elf_output)
        return sym.value

    def here(self):
        # `$` is the start of the line, also for every repetition of a TIMES line
        if self.cur is None:
            return self.line_start
        return E.Rel(self.line_start, {self.cur: 1})

    def sect_start(self):
        if self.cur is None:
            return self.abs_start
        return E.Rel(0, {self.cur: 1})

    def untaken_unknown(self) -> None:
        self.saw_unknown = True         # (a last pass reports it if never defined)

    def warn_other(self, message: str) -> None:
        self.warn(message if message[-1] == "]" else f"{message} [-w+other]", self.sl)

    def _address_terms(self, cexpr, bases: bool) -> None:
        """NASM's parser's check of an address's register terms and (``bases``) label
        terms (see asm.eahint)."""
        bad = eahint.address_error(cexpr.node, self, self.cur, bases)
        if bad:
            err = AsmError(bad)
            # (NASM's parser checks it in every pass: met first in a pass after the first,
            # it ends NASM before its final pass, whose warnings never come)
            err.before_final = self.passno > 1
            raise err

    def register(self, name: str):
        if not self.allow_regs:
            raise AsmError("invalid operand type")
        return E.Rel(0, {name: 1})

    @property
    def wrt_number_message(self) -> str:
        if self.fmt == "elf32":
            return "ELF format does not support this use of WRT"
        return "WRT not supported by binary output format"

    def segment_base(self, value) -> int:
        """NASM's `seg`: only segmented formats (OMF) have segment bases. An ELF EQU may
        still name one (`x equ seg y+3`): NASM writes x at that offset of y's section
        (undefined for an extern y); its value is ``_SegBase(section or extern) + off``."""
        if self.unknown:
            return 0                    # (known in a later pass, or reported undefined)
        if type(value) is int:
            raise AsmError("cannot apply SEG to a non-relocatable value")
        if self.seg_probe:
            return E.Rel(0, {_SEG_PROBE: 1})        # (see _segment_field)
        if self.seg_equ and type(value) is E.Rel and len(value.terms) == 1:
            (key, c), = value.terms.items()
            if c == 1 and not isinstance(key, str):
                return E.Rel(0, {_SegBase(key): 1})
        raise AsmError(self._segment_base_message())

    def _segment_base_message(self) -> str:
        kind = "ELF format" if self.fmt == "elf32" else "binary output format"
        return f"{kind} does not support segment base references"

    def wrt_segment(self, name: str) -> Optional[str]:
        if self.fmt != "elf32":
            return None
        if name in ELF_WRT:
            return name
        if name in ("..tlsie", "..gottpoff"):
            raise AsmError(f"`wrt {name}' is not supported by this assembler yet")
        return None

    # ---- sections

    def get_section(self, name: str) -> Section:
        s = self.section_by_name.get(name)
        if s is None:
            s = Section(name, len(self.sections), nobits=self._nobits_by_default(name))
            self.sections.append(s)
            self.section_by_name[name] = s
        return s

    def _nobits_by_default(self, name: str) -> bool:
        """`.bss`, and in ELF NASM's other known nobits sections (`.tbss`, `.lbss`)."""
        if self.fmt != "elf32":
            return name == ".bss"
        from formats.elf.constants import SHT_NOBITS
        from formats.elf.relocatable import section_defaults
        return section_defaults(name)[0] == SHT_NOBITS

    # ---- value resolution

    def resolve(self, value, loose: bool = False) -> tuple:
        """A value -> (number, reloc or None) under the current layout. ``loose``: the
        value involves a forward reference, so its shape is not final yet either."""
        if type(value) is int:
            return value, None
        if type(value) is E.Wrt:
            # NASM's `x wrt ..seg': the same field, relocated the way ..seg says
            number, reloc = self.resolve(value.value, loose)
            if reloc is not None:
                # (a self-relative value stays one: `dd 5-x wrt ..gotoff` is refused)
                reloc = Reloc(reloc.section, reloc.symbol, value.seg, reloc.pcrel)
            return number, reloc
        if loose:
            try:
                return self.resolve(value)
            except AsmError:
                return value.off, None
        terms = value.terms
        if len(terms) == 1:
            (key, coeff), = terms.items()
            if coeff == 1 and not isinstance(key, str):
                reloc = self.relocs.get(key)
                if isinstance(key, Section):
                    if reloc is None:
                        reloc = self.relocs[key] = Reloc(section=key)
                    return E.wrap64(value.off + self.layout.base(key)), reloc
                if self.fmt == "bin":
                    raise AsmError("binary output format does not support external references")
                if reloc is None:
                    reloc = self.relocs[key] = Reloc(symbol=key)
                return value.off, reloc
        for key in terms:
            if isinstance(key, str):
                raise AsmError("invalid operand type")
        return self._difference(value)

    def _difference(self, value) -> tuple:
        """resolve of a value with a label of this section subtracted: in a flat binary
        a difference of sections is a number; in an object file `x - $` (x elsewhere) is
        NASM's self-relative reference (a PC-relative relocation)."""
        terms = value.terms
        cur = self.cur
        if self.fmt == "bin" and sum(terms.values()) == 0 and all(
                isinstance(k, Section) for k in terms) and (
                    len(terms) == 2 and terms.get(cur) == -1):
            # `x - $`, x in another section: NASM's value relative to a segment, so a
            # relocated field it does not shorten (`[ebx+x-$]` has a dword disp); only
            # this section's base may be taken off (`x - y`, y elsewhere: refused)
            number = E.wrap64(value.off + sum(c * self.layout.base(k)
                                              for k, c in terms.items()))
            key = next(k for k in terms if k is not cur)
            reloc = self.relocs.get((key, "pcrel"))
            if reloc is None:
                reloc = self.relocs[(key, "pcrel")] = Reloc(section=key, pcrel=True)
            return number, reloc
        if cur is not None and len(terms) == 2 and terms.get(cur) == -1 and self.fmt != "bin":
            key = next(k for k in terms if k is not cur)
            if terms[key] == 1:
                reloc = self.relocs.get((key, "pcrel"))
                if reloc is None:
                    reloc = self.relocs[(key, "pcrel")] = (
                        Reloc(section=key, pcrel=True) if isinstance(key, Section)
                        else Reloc(symbol=key, pcrel=True))
                return E.wrap64(value.off), reloc
        if cur is not None and len(terms) == 1 and terms.get(cur) == -1:
            # `5 - x`, x in this section: NASM's self-relative value with no target (a
            # PC-relative relocation against no symbol; a flat binary's number)
            reloc = self.relocs.get((None, "pcrel"))
            if reloc is None:
                reloc = self.relocs[(None, "pcrel")] = Reloc(pcrel=True)
            if self.fmt == "bin":
                return E.wrap64(value.off - self.layout.base(cur)), reloc
            return E.wrap64(value.off), reloc
        raise AsmError("expression is not simple or relocatable")

    def scalar(self, ce: P.CExpr, what: str) -> int:
        """A critical expression: known now and a plain number."""
        self.unknown = False
        self.allow_regs = True      # (NASM: a register is a value, no constant)
        try:
            v = self.critical(ce) if what in ("TIMES", "DUP", "ORG") else ce.fn(self)
            # (a count whose unknown cancels, `0*f` or `(f-f)*3`, f ahead, is no unknown;
            # registers still allowed while it is worked out again: `0*f*eax`)
            bad = type(v) is not int or (self.unknown and (
                what not in ("TIMES", "DUP")
                or E.unknown_weighs(self, lambda c: self.critical(ce))))
            if v and not bad and type(ce.node) is not E.Num and what in ("TIMES", "DUP") and (
                    eahint.has_register(ce.node)):
                v = eahint.count_value(ce.node, self, v)
        finally:
            self.allow_regs = False
        if bad:
            raise AsmError(f"non-constant argument supplied to {what}")
        if self.unknown:
            self.saw_unknown = True     # (known next pass, or `not defined` in the last)
        return v

    def critical(self, ce: P.CExpr):
        """A count's value, a segment base in it a relocatable stand-in (not the
        format's refusal): NASM's message is the count's own (non-constant...)."""
        self.seg_probe = True
        try:
            return ce.fn(self)
        finally:
            self.seg_probe = False
            self.relocs.pop(_SEG_PROBE, None)

    # ---- passes

    def run(self, source: Iterable) -> Assembly:
        """Every pass produces output; the first pass whose symbol values and layout are
        the ones it assumed (and that met no undefined symbol) is the result."""
        lines: list = []
        it = iter(source)
        prev_values: Optional[tuple] = None
        passno = 0
        while True:
            passno += 1
            self.passno = passno
            self._begin_pass()
            self.layout_start = self.layout
            if passno == 1:
                self._pass(it, record=lines)
                if self.bnd_seen:
                    # a _Run's bytes were worked out under one `default bnd` state (and
                    # pass 1 emitted lines it had seen with their bytes without it; NASM's
                    # later passes start from its last state: pass 1 is not the result)
                    lines[:] = [one for r in lines
                                for one in (r.lines if type(r) is _Run else (r,))]
                # (`%error`: NASM reports it in its final pass, not when pass 1 fails)
                self.held = [e for e in self.errors if getattr(e, "final_pass_only", False)]
                if self.held:
                    self.errors = [e for e in self.errors if e not in self.held]
                if self.errors or self.fatal:
                    _undefined_operands(self.errors, self.symbols)
                    if self.fatal or not all(map(_reported_later, self.errors)):
                        raise AsmErrors(_dedupe(_pass_one_errors(self.errors)))
                    # errors NASM finds in its final pass only: it goes on to that pass,
                    # which reports them with the others it finds (`fld st8`, `mov ax, zz`)
            else:
                self._pass(lines)
            layout_used = self.layout_start
            values = self._values()
            self._relayout()
            if not self.saw_unknown and not (passno == 1 and self.bnd_seen) and (
                    values == prev_values if passno > 1
                    else _same_layout(layout_used, self.layout, self.sections)
                    and not (self.orphan_local and self.base_label)):
                if self.bin_specials:
                    self._refuse_bin_specials()
                if self.errors or self.held:
                    raise self._final_errors()
                return self._result()
            if values == prev_values or passno >= MAX_PASSES:
                break
            prev_values = values
        if values != prev_values:
            err = AsmError(f"unable to find valid values for all labels after {passno} "
                           "passes; stalled for too long, giving up.", self.main_file)
            err.before_final = True     # (NASM never reaches its final pass)
            raise AsmErrors([err])
        # stable, but some symbol is never defined: a last pass reports it
        if self.bin_specials:
            self._refuse_bin_specials()
        self.final = True
        self.passno += 1
        self._begin_pass()
        self._pass(lines)
        self._relayout()
        if self.errors or self.held:
            raise self._final_errors()
        return self._result()

    def _final_errors(self) -> AsmErrors:
        """The final pass's errors (pass 1's `%error`s among them, each before the
        assembler's of the line it precedes), with its listing (NASM writes it, errors
        included)."""
        _undefined_operands(self.errors, self.symbols)
        errors = sorted(self.held + self.errors, key=lambda e: e.order[:2])
        failed = AsmErrors(_dedupe(errors))
        failed.listing = self._listing()
        return failed

    def _check_scope(self, directive: str, n: str, spec: str, sl) -> None:
        """NASM's declare_label: a name declared two ways that do not go together
        (`global` and `static`...), an extern or a defined name made common, an EQU
        constant made extern, or given two different specials."""
        sym = self.symbols.get(n)
        if (sym is not None and n in self.defined_now
                and (directive == "common" or sym.kind == "equ" and directive != "global"
                     and directive != "static")):
            raise self._redefined(n, self.macro_defined_at.get(n, sym.defined_at))
        old = self.scopes.get(n)
        if old is None:
            self.scopes[n] = (directive, spec or None, (sl.file, sl.line))
            return
        was, old_spec, where = old
        if directive == was:
            if spec and old_spec and spec.lower() != old_spec.lower():
                raise AsmError(f"symbol `{n}' has inconsistent attributes `{old_spec}' and "
                               f"`{spec}'")
            self.scopes[n] = (directive, old_spec or spec or None, where)
        elif directive == "common" and was in ("extern", "required"):
            raise self._redefined(n, where)
        elif (was, directive) in _DECLARED_BOTH:
            raise AsmError(f"symbol `{n}' declared both as {was} and {directive}")
        elif was == "extern" and directive == "required" or (
                was in ("extern", "required") and directive == "global"):
            self.scopes[n] = (directive, spec or old_spec, where)   # (NASM: it overrides)

    @staticmethod
    def _redefined(name: str, where: Optional[tuple]) -> AsmError:
        err = AsmError(f"label `{name}' inconsistently redefined")
        if where:
            err.notes = [f"{where[0]}:{where[1]}: info: label `{name}' originally defined "
                         "here"]
        return err

    def _declare(self, directive: str, args: str, sl) -> None:
        """`global`/`static`/`extern`/`required` of one name (NASM's standard macro split
        the line at its commas: asm/directive_args.py), with its special (`x:function`)."""
        n, _, raw = args.strip().partition(":")
        n = n.strip()
        n = n[1:] if n.startswith("$") else n
        self._check_scope(directive, n, raw, sl)     # (NASM compares the raw texts)
        spec = raw.strip()
        sym = self.symbols.get(n) or self.symbols.setdefault(n, Symbol(n))
        if directive in ("extern", "required"):
            if sym.kind == "extern" or sym.value is None:
                sym.kind = "extern"
                sym.value = E.Rel(0, {sym: 1})
                self.externs.add(n)
            elif sym.kind == "label":
                sym.is_global = True    # (NASM: an extern defined here is global)
        elif directive == "global":
            sym.is_global = True
        # (written even when nothing refers to it; `global` overrides it)
        sym.required = self.scopes[n][0] == "required"
        if not spec:
            return
        if self.fmt == "elf32":
            self._symbol_specials(sym, spec, directive in ("extern", "required"))
        elif self.fmt == "bin" and directive != "extern":
            self.bin_specials.setdefault(n, (directive, sl, self._order()))

    def _refuse_bin_specials(self) -> None:
        """NASM's bin refuses a special (`global x:function`) where the symbol is defined
        (a `required` or `common` one: at the directive), and a common symbol at its
        first `common`, in the pass before its final one, which then never comes (its
        errors and warnings neither)."""
        errors = []
        for name, (directive, sl, order) in self.bin_specials.items():
            sym = self.symbols.get(name)
            file, line, notes = sl.file, sl.line, macro_notes(sl.trace)
            if sym is not None and sym.kind in ("label", "equ") and sym.defined_at:
                (file, line), (notes, order) = sym.defined_at, self.bin_labels.get(
                    name, ([], None))
            elif directive not in ("required", "common"):
                continue
            err = AsmError("binary output format does not support common variables"
                           if directive == "common" and ":" not in sl.text else
                           "binary format does not support any special symbol types",
                           file, line)
            err.notes, err.order = notes, order
            errors.append(err)
        if errors:
            for e in errors:
                e.before_final = True
            raise AsmErrors(sorted(errors, key=lambda e: e.line))   # (NASM's: in order)

    def _set_bits(self, bits: int) -> None:
        """`bits`/`useNN`: recorded where it happens, so tools that read the image back
        (the roundtrip, the disassembler) know each byte's mode."""
        self.bits = bits
        if self.final and self.cur is not None:
            self.modes.append((self.cur, self.pos, bits))

    def _result(self) -> Assembly:
        if self.fmt == "bin":
            self._bin_fatal()
        for name in [n for n, sym in self.symbols.items()
                     if n[0] == "." and not n.startswith("..") and sym.kind in ("label", "equ")
                     and sym.pass_defined != self.passno]:
            del self.symbols[name]      # a `.x` of pass 1 that later passes named `base.x`
        result = Assembly(self.sections, self.symbols, self.org, self.fmt, self._listing(),
                          self.warnings, self.layout)
        result.affixes = dict(self.affixes)
        result.debug = self.debug
        result.modes = [(sec, off, b) for sec, off, b in self.modes]
        result.default_bits = self.default_bits
        result.gsym_sites = self.gsym_sites
        return result

    def _listing(self) -> list:
        """The pass's listing; a row `[list -]` left open at the end NASM never writes."""
        return self.listing[:-1] if self.list_off and self.listing else self.listing

    def _values(self) -> tuple:
        """What a pass worked out, to compare with the pass before: the symbols' values
        (objects a pass never changes once made; a Rel's terms are Sections and Symbols,
        which live through all passes and compare by identity), the section sizes, org."""
        syms = self.symbols
        return (tuple(syms), [sym.value for sym in syms.values()],
                tuple(s.size for s in self.sections), self.org)

    def _relayout(self) -> None:
        try:
            self.layout = Layout(self.sections, self.org, self.fmt == "bin")
        except AsmError as exc:         # (NASM's bin output: a fatal, with no line)
            exc.file, exc.severity = self.main_file, "fatal"
            raise AsmErrors([exc]) from None

    def _bin_fatal(self) -> None:
        """NASM's bin output's fatals once the final pass is over: a section that follows
        one not there, sections that overlap, one before the origin."""
        by_name = {s.name: s for s in self.sections}
        message = None
        for s in self.sections:
            after = s.vfollows or (s.follows if s.nobits else None)
            if not s.nobits and s.follows and (s.follows not in by_name
                                               or by_name[s.follows].nobits):
                message = (f"section {s.name} follows an invalid or unknown section "
                           f"({s.follows})")
            elif after and after not in by_name:
                message = f"section {s.name} vfollows unknown section ({after})"
            if message:
                break
        if message is None:
            layout, prev = self.layout, None
            for s in sorted((s for s in self.sections if not s.nobits and s.size),
                            key=lambda s: layout.start[s]):
                if prev is None and self.org is not None and layout.start[s] < self.org:
                    message = f"section {s.name} beings before program origin"  # (sic)
                elif prev is not None and layout.start[prev] + prev.size > layout.start[s]:
                    message = f"sections {prev.name} and {s.name} overlap!"
                if message:
                    break
                prev = s
        if message:
            err = AsmError(message, self.main_file)
            err.severity = "fatal"
            err.final_pass = True   # (after NASM's final pass: its warnings are shown)
            failed = AsmErrors([err])
            failed.listing = self._listing()
            raise failed

    def _begin_pass(self) -> None:
        self.bits = self.default_bits
        # --gprefix... then %pragma output/elf gprefix|lprefix (applied by the writer)
        self.affixes: dict = dict(self.cmdline_affixes)
        self.declared: set = set()      # sections named by a `section` line this pass
        self.scopes: dict = {}          # name -> (`global`/`static`, special) this pass
        self.cpu = directive_args.DEFAULT_CPU    # `cpu` level (asm.directive_args): any
        for s in self.sections:
            s.size = 0
            s.data = bytearray()
            s.fixups = []
        self.cur: Optional[Section] = self.get_section(".text")
        self.pos = 0
        self.abs_pos = 0
        self.abs_start = 0
        self.line_start = 0
        if self.passno <= 1:
            # (NASM keeps the last label of the pass before: a `.x` above every label
            # belongs to it in later passes)
            self.base_label = ""
        self.errors = []
        self.fatal = False
        self.saw_unknown = False
        self.unknown = False
        self.allow_regs = False
        self.defined_now: set = set()
        self.list_off = False           # between `[list -]` and `[list +]`
        self.macro_defined_at: dict = {}    # name -> (file, line) in the macro defining it
        self.commons_now: dict = {}     # name -> (size, where) of its `common` this pass
        self.listing = []
        self.warnings = []
        self.warning_at = []
        # the -w options, then the `[warning -class]`s in force (see _warning_directive),
        # and `[warning push]`es: NASM starts each pass from the command line's
        self.warning_rules: list = list(self.warning_init)
        self.warning_stack: list = []
        self.entry: Optional[ListEntry] = None
        if self.debug is not None:
            self.debug.begin_pass()

    def _pass(self, lines: Iterable, record: Optional[list] = None) -> None:
        """Assemble the lines once. Pass 1 reads them from the preprocessor and keeps
        them in ``record`` for the later passes, where runs of lines that emit
        the same bytes in every pass become one _Run (see _first_pass)."""
        if record is not None:
            self._first_pass(lines, record)
            return
        plain = self.debug is None      # (no debug information to follow the bytes)
        for item, sl in enumerate(lines):
            self.item = item
            if type(sl) is _Run:
                cur = self.cur
                if (sl.bits == self.bits and sl.level <= self.cpu and cur is not None
                        and not cur.nobits and self.entry is None
                        and (sl.labels is None or not self.final)):
                    if sl.labels is not None:
                        self._run_labels(sl)
                    self.sl = sl.lines[-1]
                    data = sl._data
                    if data is None:
                        data = sl.data()
                    if plain and len(cur.data) == self.pos:
                        self._append(cur, data)
                    else:
                        self._emit(data)
                    continue
                for one in sl.lines:    # what the lines do one by one (the same, or errors)
                    self._line(one)
                continue
            if type(sl) is _Insn:
                # _line and _statement for an unlabelled instruction without TIMES
                line = self.sl = sl.sl
                self.line_start = self.pos if self.cur is not None else self.abs_pos
                if self.ptr_possible and _PTR_WORDS.get(line.text, True):
                    self._ptr_warnings(_ptr_words(line.text), None, line)
                try:
                    self._insn(sl.action, line)
                except (AsmError, RecursionError, MemoryError) as exc:
                    self._error(_as_asm_error(exc), line)
                continue
            self._line(sl)

    def _run_labels(self, run: _Run) -> None:
        """Define the labels of a _Run's lines where the run puts them, in order (what
        _fixed does for each line; a run is emitted this way only before the final pass,
        where no label of a line that always emits the same can fail but a redefinition)."""
        start = self.pos
        try:
            for offset, name, sl in run.labels:
                self.pos = start + offset
                try:
                    self._define_label(name, sl)
                except AsmError as exc:
                    self._error(exc, sl)
        finally:
            self.pos = start

    def _line(self, sl) -> None:
        """One line of a later pass."""
        self.sl = sl
        if self.want_listing:
            self._list_line(sl)
        if not sl.assemble:
            return
        try:
            st = P._line_cache.get(sl.text)     # (parse_line's cache: most lines)
            if st is None:
                st = P.parse_line(sl.text)
            if st._emits is not None:
                data = self._fixed(st, sl)
                if data is not None:
                    self._emit(data)
                    return
            self._statement(st, sl)
        except (AsmError, RecursionError, MemoryError) as exc:
            self._error(_as_asm_error(exc), sl)

    def note_ptr(self) -> None:
        """A source read holds the word `ptr` (from the preprocessor)."""
        self.ptr_possible = True

    def _closed_memory(self, exc: AsmError, sl) -> None:
        """NASM goes on past `expecting ]` with the memory operand closed: an address it
        cannot encode is its second error (`mov ax, [es`)."""
        try:
            action = P.parse_line(sl.text + "]").action
            if type(action) is P.Insn:
                self._insn(action, sl)
        except AsmError as more:
            if more.message == "invalid effective address: impossible register combination":
                more = AsmError("impossible combination of address sizes",
                                also=(f"invalid {self.bits}-bit effective address",))
            if more.message.endswith("-bit effective address") or more.message.startswith(
                    ("invalid effective address", "impossible combination of address")):
                exc.also = (more.message, *more.also)

    def _ptr_warnings(self, words: tuple, label: Optional[str], sl) -> None:
        """NASM's scanner warns about each `ptr` it reads (the label's: _define_label)."""
        if label is not None and label in words:
            words = list(words)
            words.remove(label)
        if self.passno > 1 and words:
            words = words[:self._ptr_read(sl.text, len(words))]
        for word in words:
            self.warn(f"`{word}' {_NOT_KEYWORD}", sl)

    def _ptr_read(self, text: str, count: int) -> int:
        """How many words `ptr` NASM's scanner reads on a line: in a pass after the
        first, its evaluator stops the line at the first symbol never defined (the `ptr`
        itself, as a symbol, is read first)."""
        try:
            toks = P.tokenize(P._strip_comment(text))
        except AsmError:
            return count
        n = 0
        for j, (kind, value) in enumerate(toks):
            if kind != "ID":
                continue
            n += value.lower() == "ptr"
            if j == 0 and (len(toks) == 1 or toks[1][0] in _LABEL_FOLLOWERS):
                continue            # (the line's label)
            name = self.base_label + value if value[:1] == "." and value[:2] != ".." \
                else value
            sym = self.symbols.get(name)
            if sym is None or (sym.value is None and sym.kind in ("label", "equ")):
                return n
        return count

    def _fixed(self, st, sl) -> Optional[bytes]:
        """The statement's bytes when they never change (Statement._emits) and are
        emitted as they are here, its label defined; None: _statement does the line."""
        fast = st._emits
        if (fast is not None and fast[0] == self.bits and self.entry is None
                and fast[2] <= self.cpu and self.optimize == 2 and not self.bnd
                and (self.debug is None or len(fast) == 3)):
            if st.label is not None:
                self._define_label(st.label, sl)
            return fast[1]
        return None

    def _first_pass(self, lines: Iterable, record: list) -> None:
        """_pass for pass 1, recording the lines. Without a listing or debug information
        (which follow each line), consecutive lines whose bytes never
        change (Statement._emits) are recorded as one _Run, which a later pass emits at
        once; lines that only list (nothing to assemble) are not recorded."""
        listing = self.want_listing
        runs = not listing and self.debug is None and self.optimize == 2
        parse_line = P.parse_line
        statement = self._statement
        run = None
        errors = self.errors
        parsed = P._line_cache      # (parse_line's cache, read here first: most lines)
        skip = _relative_mnemonics()    # (no shape of a branch is learned)
        self.record = record        # (see warn)
        for sl in lines:
            self.sl = sl
            if listing:
                self._list_line(sl)
            if not sl.assemble:
                if not runs:
                    record.append(sl)
                continue
            st = parsed.get(sl.text)
            fast = branch = None
            if runs:
                if st is not None:
                    fast = st._emits
                    label = st.label
                else:
                    # a line not seen before of a shape whose bytes are known, or a branch
                    # to a label (asm/shapes.py)
                    try:
                        got = shape_lookup(sl.text, self.bits, skip)
                    except ValueError:      # (a literal of over 4,300 digits: CPython's
                        got = None          # int() refuses it; the parser reads it)
                    if type(got) is tuple:
                        label = got[0]
                        fast = (self.bits, got[1], got[2])
                    else:
                        branch = got
            if fast is not None:
                cur = self.cur
                if (fast[0] == self.bits and fast[2] <= self.cpu
                        and cur is not None and not cur.nobits and len(cur.data) == self.pos):
                    # most lines: seen before (or of a known shape), bytes that never change
                    # (_fixed), appended as _emit would (no listing, no debug information
                    # to follow them) and recorded into the current run (its labels too)
                    try:
                        if label is not None:
                            self._define_label(label, sl)
                        data = fast[1]
                        cur.data += data
                        pos = self.pos = self.pos + len(data)
                        if pos > cur.size:
                            cur.size = pos
                            if pos > MAX_ADDRESS:
                                raise AsmError(f"section `{cur.name}' exceeds the 4 GiB "
                                               "address space")
                    except (AsmError, RecursionError, MemoryError) as exc:
                        self._error(_as_asm_error(exc), sl)
                        run = None
                        record.append(sl)
                        continue
                    if run is not None and run.bits == fast[0]:
                        if label is not None:
                            run.add(sl, fast, label)
                        else:
                            run.lines.append(sl)        # (_Run.add, inline)
                            run.parts.append(data)
                            run.size += len(data)
                            if fast[2] > run.level:
                                run.level = fast[2]
                    else:
                        run = _Run(sl, fast, label)
                        record.append(run)
                    continue
            failed = len(errors)
            if branch is not None:
                # what _statement and the recording below do for it
                self.line_start = self.pos if self.cur is not None else self.abs_pos
                if self.ptr_possible and _PTR_WORDS.get(sl.text, True):
                    self._ptr_warnings(_ptr_words(sl.text), None, sl)
                try:
                    self._insn(branch, sl)
                except (AsmError, RecursionError, MemoryError) as exc:
                    self._error(_as_asm_error(exc), sl)
                run = None
                record.append(_Insn(sl, branch) if len(errors) == failed else sl)
                continue
            fresh = st is None
            try:
                if fresh:
                    st = parse_line(sl.text)
                data = None if st._emits is None else self._fixed(st, sl)
                if data is not None:
                    cur = self.cur
                    if runs and cur is not None and not cur.nobits and \
                            len(cur.data) == self.pos:
                        self._append(cur, data)
                    else:
                        self._emit(data)
                else:
                    statement(st, sl)
            except (AsmError, RecursionError, MemoryError) as exc:
                self._error(_as_asm_error(exc), sl)
            if runs and st is not None and len(errors) == failed:
                fast = st._emits
                if fast is not None:
                    if fresh and type(st.action) is P.Insn and len(sl.text) < 4000:
                        shape_learn(sl.text, fast, skip, self._fixed_emits)
                    # (a labelled line too: the run defines its label where it goes)
                    if run is not None and run.bits == fast[0]:
                        run.add(sl, fast, st.label)
                    else:
                        run = _Run(sl, fast, st.label)
                        record.append(run)
                    continue
                if (st.label is None and not st.times and st.equ is None
                        and type(st.action) is P.Insn):
                    # an instruction whose bytes may change (a jump, a label operand):
                    # what _line does with it, at once (see _pass)
                    run = None
                    record.append(_Insn(sl, st.action))
                    continue
            run = None
            record.append(sl)
        self.record = None

    def _fixed_emits(self, text: str) -> Optional[tuple]:
        """The Statement._emits that _statement would give an instruction line here (a
        line of a shape being learned, another number in it: asm/shapes.py), worked out
        without emitting it; None when it would give none."""
        st = P._parse_line(text)
        action = st.action
        if (type(action) is not P.Insn or st.times or st.equ is not None or action.prefixes
                or _insn_kind(action) is not _STATIC):
            return None
        enc = self._encode_static(action.mnemonic, list(map(self._operand, action.operands)),
                                  0, action.prefixes)
        if enc.fixups or enc.obsolete or enc.warnings or enc.level > self.cpu:
            return None
        return self.bits, enc.data, enc.level

    def _error(self, exc: AsmError, sl) -> None:
        if exc.file is None:
            exc.file, exc.line = sl.file, sl.line
        after = ()
        if self.ptr_possible and hasattr(exc, "ptr_read"):
            # a line the parser refused: NASM's scanner warned about each `ptr` it read,
            # before the error, and as it skipped the rest of the line, after it
            words = _ptr_words(sl.text)
            self._ptr_warnings(words[:exc.ptr_read], None, sl)
            after = words[exc.ptr_read:exc.ptr_read + getattr(exc, "ptr_after", 0)]
            del exc.ptr_read
        if exc.message.endswith(" is not supported in this context"):
            exc.message = call_syntax_message(exc.message, sl.text)
        if exc.message.startswith("instruction not supported in ") and self.cpu < 10:
            # a 64-bit mode form: NASM names the `cpu` level first when it is below x64
            exc.message = "no instruction for this cpu level"
        if not getattr(exc, "notes", None):
            exc.notes = macro_notes(sl.trace)
        elif sl.trace and macro_notes(sl.trace):
            # NASM: inside a macro, the macro's notes, then an info note at the line read
            exc.notes = macro_notes(sl.trace) + [
                f"{sl.file}:{sl.line}: info: {n.split(': info: ', 1)[1]}" if ": info: " in n
                else n for n in exc.notes]
        if exc.message == "invalid effective address: impossible register combination":
            # (the encoder's word for 16- and 32-bit registers in one address: NASM's
            # parser refuses the address sizes, then the address in this mode)
            exc.message = "impossible combination of address sizes"
            exc.also = (f"invalid {self.bits}-bit effective address", *exc.also)
        if exc.message == _OPEN_MEMORY and not exc.also and self.cur is not None:
            self._closed_memory(exc, sl)
        if (exc.also or (exc.message,))[-1].endswith("does not support segment base "
                                                      "references"):
            self._segment_base_warning(exc, sl)
        for w in getattr(exc, "line_warnings", ()):
            self.warn(w, sl)
        exc.text = sl.text
        exc.at = self._line_at()
        exc.order = self._order()
        self.errors.append(exc)
        if after:
            self._ptr_warnings(after, None, sl)
        for w in exc.after_warnings:
            self.warn(w, sl)
        for message in getattr(exc, "also", ()):    # NASM's further errors on the line
            more = AsmError(message, exc.file, exc.line)
            more.notes = exc.notes
            more.order = exc.order
            more.repeated = message == exc.message      # (kept by _dedupe)
            self.errors.append(more)
        if self.entry is not None:
            self.entry.messages.append(f"error: {exc.message}")
        if exc.message == "short jump is out of range":
            # NASM still writes the displacement's byte, which warns that it overflows
            self.warn("byte data exceeds bounds [-w+number-overflow]", sl)

    def warn(self, message: str, sl) -> None:
        """Warnings are kept per pass; only the accepted pass's are reported."""
        self.warned += 1        # (also those `[warning -class]` drops: no cached bytes)
        if not self.warning_shown(message):
            return
        kind = "warning"
        if self.warning_rules and warning_is_error(message, self.warning_rules):
            kind, message = "error", as_error(message)
        text = f"{sl.file}:{sl.line}: {kind}: {message}"
        text = with_notes(text, sl.trace) if sl.trace else text
        self.warnings.append(text if kind == "warning" else WarningError(text))
        self.warning_at.append(self._order())
        e = self.entry
        if e is not None:
            # (its place among wrapped rows: the pieces listed when it came)
            if self.list_ahead >= 0:
                e.marks[len(e.messages)] = len(e.pieces) + self.list_ahead
            e.messages.append(f"{kind}: {message}")

    def warning_error(self, message: str) -> bool:
        """Whether the rules in force make a (shown) warning an error."""
        return warning_is_error(message, self.warning_rules)     # (some by default)

    # ---- listing

    def _list_line(self, sl) -> None:
        self.list_ahead = 0
        if sl.listed:
            if self.list_off:
                # (NASM keeps the `[list -]` row open: see _list_piece; a directive's
                # messages, which come as it runs, are listed on it)
                if not sl.assemble and self.entry is not None and getattr(
                        sl, "messages", None) is not None:
                    self.entry.muted.append(sl.messages)
                return
            self.entry = ListEntry(sl.list_line, listed_text(sl), sl.depth)
            self.listing.append(self.entry)
            if not sl.assemble:
                self.entry.pp_messages = getattr(sl, "messages", None)
        elif not sl.assemble and self.entry is not None:
            # a directive not listed (a .nolist macro's): NASM lists its messages on the
            # row being filled, the call's
            e = self.entry
            for msg in getattr(sl, "messages", None) or ():
                e.marks[len(e.messages)] = len(e.pieces)
                e.messages.append(msg)

    def _list_bytes(self, data: bytes, relocs: Sequence = ()) -> None:
        """List emitted bytes; relocated fields show the target offset, NASM-style."""
        e = self.entry
        if e is None or self.list_off:
            return
        at = self.pos
        if e.offset is None:
            e.offset = at
        pieces = e.pieces
        marks = {off: (size, shown, pcrel) for off, size, shown, pcrel in relocs}
        i, n = 0, len(data)
        while i < n:
            mark = marks.get(i)
            if mark is not None and mark[1] is None:       # `db ?` (NASM's listing)
                pieces.append((at + i, "??" * mark[0] if mark[0] <= 8
                               else f"<res {mark[0]:X}h>"))
                i += mark[0]
            elif mark is not None:
                size, shown, pcrel = mark
                body = shown.hex().upper()
                pieces.append((at + i, ("(" + body + ")") if pcrel else ("[" + body + "]")))
                i += size
            else:
                pieces.append((at + i, f"{data[i]:02X}"))
                i += 1

    def _smartalign(self, data: bytes, mode: str) -> None:
        """Emit smartalign's padding. NASM's macro makes a run of NOPs with `times N nop`
        (after a jump over them, or all of it in the `nop` mode): listed as one `90` and
        `<rep N>`."""
        e = self.entry
        # (the jump's length: short, or near in this mode's operand size; none else)
        head = {b"\xEB": 2, b"\xE9": 3 if self.bits == 16 else 5}.get(data[:1], 0)
        count = len(data) - head
        if e is None or count < 2 or (mode != "nop" and not head):
            self._emit(data)
            return
        self._emit(data[:head + 1])
        self.entry = None
        try:
            self._emit(data[head + 1:])
        finally:
            self.entry = e
        self._list_piece(f"<rep {count:X}h>")

    def _list_piece(self, text: str, at: Optional[int] = None) -> None:
        e = self.entry
        if e is None or self.list_off and not text.startswith(("<rep", "<bin")):
            return          # (NASM's TIMES and INCBIN marks go to the open row all the same)
        if at is None:
            at = self.pos if self.cur is not None else self.abs_pos
        if e.offset is None:
            e.offset = at
        e.pieces.append((at, text))

    # ---- statements

    def _define_label(self, name: str, sl, value=None) -> None:
        if name[0] == ".":
            if name.startswith(".."):
                if not name.startswith("..@") and not (
                        self.fmt == "elf32" and name in ELF_SPECIALS):
                    # (..start and friends: special symbols of formats pyasm lacks, obj)
                    raise AsmError(f"unrecognised special symbol `{name}'")
            else:
                if not self.base_label:
                    self.orphan_local = True    # (its name changes in the next pass)
                name = self.base_label + name
        elif not name.startswith("..@"):
            self.base_label = name
            if (self.ptr_possible and len(name) == 3 and name.lower() == "ptr"
                    and name in _ptr_words(sl.text)):   # (not `$ptr:`)
                self.warn(f"`{name}' {_NOT_KEYWORD}", sl)      # (NASM's scanner's)
        sym = self.symbols.get(name)
        if sym is None:
            sym = self.symbols[name] = Symbol(name)
        if sym.kind == "extern":
            # NASM: a symbol declared extern and then defined here becomes global
            sym.is_global = True
            self.externs.discard(name)
        elif sym.kind == "common":
            if self.passno == 1 or self.final:
                raise self._redefined(name, self.scopes.get(name, (None, None, None))[2])
        if value is None:
            if self.cur is None:
                value = self.abs_pos
                sym.section, sym.offset = None, self.abs_pos
            elif (sym.kind == "label" and sym.section is self.cur and sym.offset == self.pos
                  and type(sym.value) is E.Rel):
                value = sym.value       # where an earlier pass put it: the same value
            else:
                value = E.Rel(self.pos, {self.cur: 1})
                sym.section, sym.offset = self.cur, self.pos
            sym.kind = "label"
        else:
            sym.kind = "equ"
            if isinstance(value, E.Rel) and len(value.terms) == 1:
                (k, c), = value.terms.items()
                sym.section = k if isinstance(k, Section) and c == 1 else None
                sym.offset = value.off
            else:
                sym.section, sym.offset = None, value if type(value) is int else 0
        if name in self.defined_now and sym.value != value:
            err = self._redefined(name, self.macro_defined_at.get(name, sym.defined_at))
            err.repeated = True     # (`x times 2 equ 3` after `x: nop`: two, kept)
            sym.value = value       # (NASM's: the same value again is no error, and a
            sym.defined_at = (sl.file, sl.line)     # third one's note names this line)
            self._defined_in_macro(name, sl)
            self._error(err, sl)    # (NASM goes on with the line: its bytes move what
            return                  # follows, so a third definition is an error too)
        sym.value = value
        sym.pass_defined = self.passno
        if name not in self.defined_now:
            self.defined_now.add(name)
            sym.defined_at = (sl.file, sl.line)
            if sl.trace or name in self.macro_defined_at:
                self._defined_in_macro(name, sl)
            if name in self.bin_specials and self.passno == 1:
                self.bin_labels[name] = (macro_notes(sl.trace), self._order())
        if self.debug is not None and sym.section is not None:
            self.debug.label(sym)

    def _defined_in_macro(self, name: str, sl) -> None:
        """NASM's "originally defined" note names the line of a macro's body."""
        frames = noted_frames(sl.trace)
        if frames:
            self.macro_defined_at[name] = frames[-1][:2]
        else:
            self.macro_defined_at.pop(name, None)

    def _times_equ(self, st: P.Statement, sl) -> None:
        """`[x:] times n equ v`: the line's label is one at `$`, then each repetition is an
        EQU of its own: with no label NASM refuses each, with one it redefines it."""
        if st.label is not None:
            self._define_label(st.label, sl)
        try:
            count = self.scalar(st.times[0], "TIMES")
        except AsmError as exc:
            if st.label is None:        # (NASM goes on with a count of 1)
                exc.also += ("EQU not preceded by label",)
            raise
        if count < 0:
            raise _negative_times(count)
        if count == 0:
            return
        if st.label is None:
            raise AsmError("EQU not preceded by label",
                           also=("EQU not preceded by label",) * (count - 1))
        if st.equ is P.EMPTY_EQU:
            raise AsmError("bad syntax for EQU", also=("bad syntax for EQU",) * (count - 1))
        self.unknown = False
        v = st.equ.fn(self)
        if type(v) is E.Rel and not self.unknown:
            v = self._equ_operand(v)
        self._define_label(st.label, sl, 0 if self.unknown else v)

    def unknowable(self, guarded, fn):
        """See E.EvalContext.unknowable; an address keeps its registers (NASM's unknown is
        one more term of the value)."""
        self.unknown = True
        self.unknowable_met = guarded   # (an immediate's: see _operand)
        if self.allow_regs:
            return E.add(E.registers_of_unknown(fn, self), self.unknown_result)
        return self.unknown_result

    def _refuse_disp_size(self, qword: bool, bad_size: bool, regs: list) -> None:
        """NASM's errors for an address's size words: one beyond qword (`[tword x]`), and
        a qword one that counts (the last: a 64-bit mode address, refused in this mode)."""
        errors, warnings = [], ()
        if bad_size:
            errors.append("invalid size specification in effective address")
        if qword and regs:
            errors.append(f"invalid {self.bits}-bit effective address")
        elif qword:
            errors.append("impossible combination of address sizes")
            warnings = (encoder.DISPSIZE_IGNORED,)
        raise AsmError(errors[0], also=tuple(errors[1:]), after_warnings=warnings)

    def _equ_operand(self, v: E.Rel):
        """An EQU's value as NASM takes it, an immediate operand (is_reloc): a term
        multiplied by other than 1 or -1 counts for nothing, and this section's base taken
        off (`5 - x`, `x - $`: self-relative) is dropped, so `y equ 5-x` is a number (5
        less x's offset) and `y equ x-$` (x elsewhere) is x's section at x-$'s offset;
        any other base is refused (`y equ -x`, x elsewhere; `y equ -foo`)."""
        terms = {k: c for k, c in v.terms.items() if c == 1 or c == -1}
        if self.cur is not None and terms.get(self.cur) == -1:
            del terms[self.cur]
        if len(terms) > 1 or any(c != 1 for c in terms.values()):
            raise AsmError("invalid operand type")
        return E.make(v.off, terms)

    def _statement(self, st: P.Statement, sl) -> None:
        self.line_start = self.pos if self.cur is not None else self.abs_pos
        if self.ptr_possible:
            words = _PTR_WORDS.get(sl.text)
            if words is None:
                words = _ptr_words(sl.text)
            if words and (type(st.action) is not P.Directive
                          or st.action.name in _SCANNED_DIRECTIVES):
                self._ptr_warnings(words, st.label, sl)
        if st.equ is not None:
            if st.times:
                self._times_equ(st, sl)
                return
            self.unknown = False
            self.seg_equ = True   # (a segment base: its symbol says so where used)
            self.allow_regs = True  # (a register: refused below, as NASM's EQU does)
            try:
                v = st.equ.fn(self)
            except AsmError as exc:
                node = st.equ.node
                if (exc.message in (self.wrt_number_message, _WRT_OPERAND)
                        and type(node) is E.Binary and node.op == "wrt"):
                    # `x equ 1 wrt 2`, `x equ 1 wrt y`
                    raise AsmError("bad syntax for EQU") from None
                if exc.message != self._segment_base_message():
                    raise
                # `x equ seg y`: NASM refuses a segment base only where one is output
                self._define_label(st.label, sl, 0)
                sym = self.symbols[st.label]
                sym.kind, sym.value = "segbase", None
                return
            finally:
                self.seg_equ = self.allow_regs = False
            if type(v) is E.Rel and len(v.terms) == 1 and type(next(iter(v.terms))) is _SegBase:
                (base, c), = v.terms.items()
                self._define_label(st.label, sl, 0)
                sym = self.symbols[st.label]
                sym.kind, sym.value = "segbase", None
                if c == 1:                      # (what the ELF writer writes)
                    sym.seg_base, sym.offset = base.key, v.off
                return
            if self.unknown and _has_register(v):
                raise AsmError("invalid operand type")      # (`x equ y+eax`, y ahead)
            if self.unknown:
                # NASM defines it all the same, as 0 (its parser makes an expression
                # with an unknown term 0 as a whole): `a equ b` / `b equ a` / `times a nop`
                # settle at once, `a equ b+1` / `b equ a-1` at 0 / -1
                self.saw_unknown = True
                v = 0
            if isinstance(v, E.Rel) and any(isinstance(k, str) for k in v.terms):
                raise AsmError("bad syntax for EQU")
            if type(v) is E.Wrt:
                raise AsmError("bad syntax for EQU")
            if type(v) is E.Rel:
                v = self._equ_operand(v)
            self._define_label(st.label, sl, v)
            return
        if st.label is not None:
            if st.action is None and not st.colon:
                self.warn("label alone on a line without a colon might be in error "
                          "[-w+label-orphan]", sl)
            self._define_label(st.label, sl)
        action = st.action
        if action is None:
            return
        if type(action) is P.Insn and not st.times:
            self._insn(action, sl)          # most lines
            if (action._enc is not None and not action.prefixes
                    and not action._enc[1].obsolete and not action._enc[1].warnings):
                # the same bytes each time: later passes (and lines) only emit them (while
                # the `cpu` level allows the instruction), after defining the label
                enc = action._enc[1]
                st._emits = (action._enc[0], enc.data, enc.level)
            return
        if type(action) is P.Directive:
            self._directive(action, sl)
            return
        if type(action) is P.Data and not action.items:
            # NASM's parser warns about it once, whatever the count (or its error)
            try:
                for t in st.times:
                    n = self.scalar(t, "TIMES")
                    if n < 0:
                        raise _negative_times(n)
            except AsmError as exc:
                self._error(exc, sl)
            self.warn("no operand for data declaration [-w+db-empty]", sl)
            return
        count = 1
        for t in st.times:
            n = self.scalar(t, "TIMES")
            if n < 0:
                raise _negative_times(n)
            count = n                   # (`times 2 times 3`: NASM takes the last)
        if not st.times:
            self._action(action, sl)
            if type(action) is P.Data and action._bytes is not None:
                # a data line's bytes that never change: emitted as an instruction's are
                # (a 4th item: not under -g, whose line records note data lines apart)
                st._emits = (self.bits, action._bytes, 0, P.Data)
            return
        if count == 0:
            for w in E.scanner_warnings(action):    # (NASM reads the line all the same)
                self.warn(w, sl)
            return
        t = type(action)
        if t is P.Incbin and count > 1:
            warned, e = len(self.warnings), self.entry
            listed = len(e.messages) if e is not None else 0
            try:
                self._incbin_chunk(action, sl)
            except AsmError as exc:     # (NASM looks for the file once per repetition)
                if exc.message.startswith("`incbin': unable to get length"):
                    exc.also = (exc.message,) * (count - 1) + tuple(exc.also)
                raise
            # (a probe: the repetitions below give its warnings)
            del self.warnings[warned:], self.warning_at[warned:]
            if e is not None:
                del e.messages[listed:]
        if t is P.Reserve:
            # NASM folds TIMES n RESx m into one reservation
            self._reserve(action, sl, count)
            return
        e = self.entry
        if e is not None and count > 1:
            # NASM lists the first repetition and a repeat count; the others as without
            # a listing (with its size checks: `times 1<<30 nop` must not loop forever)
            start = self.pos if self.cur is not None else self.abs_pos
            self._action(action, sl)
            self.entry = None
            warned = len(self.warnings)
            try:
                self._repeat(action, sl, count - 1, t, count)
            finally:
                self.entry = e
            for w in self.warnings[warned:]:    # (listed once per repetition, as NASM)
                kind = "error" if type(w) is WarningError else "warning"
                e.messages.append(f"{kind}: " + w.split("\n", 1)[0].split(f": {kind}: ", 1)[1])
            self._list_piece(f"<rep {count:X}h>", start if self.list_off else None)
            return
        self._repeat(action, sl, count, t)

    def _repeat(self, action, sl, count: int, t, total: int = 0) -> None:
        """TIMES count of an action (a fast path when its bytes never change); ``total``
        is the count the source gave, for the message."""
        if count > 1 and (t is P.Data or (t is P.Insn and _static_insn(action))):
            # fast path: the bytes do not change between repetitions
            if t is P.Data:
                self._check_room(count * self._data_size(action))
            before = self.pos
            nfix = len(self.cur.fixups) if self.cur is not None else 0
            warned = len(self.warnings)
            try:
                self._action(action, sl)
            except AsmError as exc:
                if exc.message.startswith("integer supplied as "):     # (each time)
                    exc.also = (exc.message,) * ((1 + len(exc.also)) * count - 1)
                raise
            if len(self.warnings) > warned:     # NASM warns once per repetition
                # (but reads the line once: its parser's warnings are not repeated)
                again = [k for k in range(warned, len(self.warnings))
                         if not _parse_warning(self.warnings[k])]
                self.warnings.extend([self.warnings[k] for k in again] * (count - 1))
                self.warning_at.extend([self.warning_at[k] for k in again] * (count - 1))
            self._check_room((self.pos - before) * count)
            if self.cur is not None and not self.cur.nobits:
                chunk = bytes(self.cur.data[before:self.pos])
                self.cur.data += chunk * (count - 1)
                fixups = self.cur.fixups[nfix:]
                step = self.pos - before
                for k in range(1, count):
                    for f in fixups:
                        self.cur.fixups.append(SectionFixup(f.offset + k * step, f.size,
                                                            f.reloc, f.pcrel, f.addend,
                                                            # (0: `x - $`, the field's own)
                                                            f.end and f.end + k * step))
                self.pos += step * (count - 1)
                self.cur.size = max(self.cur.size, self.pos)
            else:
                step = (self.pos if self.cur is not None else self.abs_pos) - before
                self._advance(step * (count - 1))
            return
        before = self.pos if self.cur is not None else self.abs_pos
        self._action(action, sl)
        step = (self.pos if self.cur is not None else self.abs_pos) - before
        if count > MAX_TIMES_LOOP or count * step > MAX_IMAGE:
            raise AsmError(f"TIMES value {total or count} is too large")
        warned = len(self.warnings)
        for _ in range(count - 1):
            self._action(action, sl)
        if len(self.warnings) > warned:     # (NASM's parser warns once: see above)
            keep = [k for k in range(warned, len(self.warnings))
                    if not _parse_warning(self.warnings[k])]
            self.warnings[warned:] = [self.warnings[k] for k in keep]
            self.warning_at[warned:] = [self.warning_at[k] for k in keep]

    def _advance(self, n: int) -> None:
        if self.cur is None:
            self.abs_pos += n
        else:
            if self.debug is not None and n:
                self.debug.mark(self)
            self.pos += n
            if self.pos > self.cur.size:
                self.cur.size = self.pos
                if self.pos > MAX_ADDRESS:
                    raise AsmError(f"section `{self.cur.name}' exceeds the 4 GiB address space")

    def _check_room(self, n: int) -> None:
        """Refuse to materialise more bytes than a flat image may hold."""
        if n > MAX_IMAGE and self.cur is not None and not self.cur.nobits:
            raise AsmError(f"section `{self.cur.name}' would exceed {MAX_IMAGE >> 20} MiB")

    def _append(self, cur, data: bytes) -> None:
        """_emit's common case: bytes without fixups at the end of section ``cur``."""
        cur.data += data
        pos = self.pos = self.pos + len(data)
        if pos > cur.size:
            cur.size = pos
            if pos > MAX_ADDRESS:
                raise AsmError(f"section `{cur.name}' exceeds the 4 GiB address space")

    def _emit(self, data: bytes, fixups: Sequence = (), relocs_shown: Sequence = ()) -> None:
        """Append bytes (and their fixups) at the current position."""
        cur = self.cur
        if cur is None:
            raise AsmError("attempt to assemble code in [ABSOLUTE] space")
        if self.debug is not None and data:
            self.debug.mark(self)
        if cur.nobits:
            # NASM warns once per data item with bytes (a line's `dup` runs: per run)
            st = P._line_cache.get(self.sl.text)
            action = None if st is None else st.action
            if type(action) is P.Insn or type(action) is P.PrefixOnly:
                # (an instruction: per piece NASM writes it in, asm.x86.pieces)
                times = nasm_pieces(data, self.bits, not getattr(action, "operands", ())) \
                    if data else 0
            else:
                if type(action) is not P.Data or self._has_dup(action):
                    action = self.dup_run
                times = 1 if action is None else _items_with_bytes(action)
            e = self.entry
            first = len(e.messages) if e is not None else 0
            for _ in range(times):
                self.warn(self._nobits_message(), self.sl)
            if e is not None:
                base = len(e.pieces)
                self._list_bytes(data, relocs_shown)    # (NASM lists them all the same)
                if type(action) is P.Data:
                    # NASM lists an item's bytes, then warns: each after its item's row
                    offs = [off - self.pos for off, _ in e.pieces[base:]]
                    for k, end in enumerate(_item_ends(action, len(data))):
                        e.marks[first + k] = base + sum(1 for off in offs if off < end)
            self._advance(len(data))
            return
        if self.entry is not None:
            self._list_bytes(data, relocs_shown)
        start = self.pos
        d = cur.data
        if len(d) == start:
            d += data
        else:
            if len(d) < start:
                d.extend(bytes(start - len(d)))
            d[start:start + len(data)] = data
        for f in fixups:
            f.offset += start
            cur.fixups.append(f)
        # _advance, inline: this runs for every line that emits bytes
        pos = self.pos = start + len(data)
        if pos > cur.size:
            cur.size = pos
            if pos > MAX_ADDRESS:
                raise AsmError(f"section `{cur.name}' exceeds the 4 GiB address space")

    def _segment_base_warning(self, exc: AsmError, sl) -> None:
        """NASM writes an instruction's segment base as a relocation, warning first when
        its field is wider than the 16-bit segment."""
        try:
            action = P.parse_line(sl.text).action
        except AsmError:
            return
        if type(action) is P.Insn and self.cur is not None and \
                self._segment_field(action) == 4:
            exc.line_warnings += ("32-bit segment relocation zero-extended from 16 bits "
                                  "[-w+zext-reloc]",)

    def _segment_field(self, action: P.Insn) -> int:
        """The size of the field an instruction's segment base would go to (NASM writes
        the relocation, warning when it is wider than the 16-bit segment): its encoding
        with the segment base as a relocatable stand-in; 0 when it has none."""
        self.seg_probe = True
        try:
            ops = list(map(self._operand, action.operands))
            enc = encoder.encode(action.mnemonic, ops, self.bits, self.pos, action.prefixes,
                                 section=self.cur, absolute=self.abs_reloc)
        except AsmError:
            return 0
        finally:
            self.seg_probe = False
            self.relocs.pop(_SEG_PROBE, None)
        return max((f.size for f in enc.fixups if not f.pcrel
                    and getattr(f.reloc, "section", None) is _SEG_PROBE), default=0)

    def _action(self, action, sl) -> None:
        t = type(action)
        if t is P.Data:
            try:
                self._data(action, sl)
            except AsmError as exc:
                if action.unit in (4, 8) and (exc.also or (exc.message,))[-1].endswith(
                        "does not support segment base references"):
                    # (NASM's output of the 16-bit segment into a wider field warns first)
                    exc.line_warnings += (f"{action.unit * 8}-bit segment relocation "
                                          "zero-extended from 16 bits [-w+zext-reloc]",)
                raise
        elif t is P.Insn:
            self._insn(action, sl)
        elif t is P.Reserve:
            self._reserve(action, sl)
        elif t is P.Incbin:
            self._incbin(action, sl)
        elif t is P.PrefixOnly:
            enc = encoder.prefix_only(action.prefixes, self.bits)
            self._encoding_warnings(enc, sl)
            self._emit(enc.data)

    # ---- data

    def _has_dup(self, action: P.Data) -> bool:
        d = action._dup
        if d is None:
            d = action._dup = any(type(x) is P.Dup for x in action.items)
        return d

    def _flatten(self, items, unit: int) -> list:
        """`count dup (items)`, `%(items)` and `word x` spelled out (the count read now),
        as (element size, item) pairs."""
        out: list = []
        for x in items:
            if type(x) is P.Dup:
                n = 1 if x.count is None else self.scalar(x.count, "DUP")
                if n < 0:
                    raise AsmError("negative argument supplied to DUP")
                inner = self._flatten(x.items, x.unit or unit)
                if n * len(inner) > 1 << 26:
                    raise AsmError("DUP count too large")
                out.extend(inner * n)
            else:
                out.append((unit, x))
        return out

    def _reserve_runs(self, items, unit: int) -> list:
        """NASM's reservations of a data line with `dup` (one zeroing warning each): a run
        of `?` of one element size is one, and so is a `dup` of such a run; another `dup`
        is a block of its own, repeated; a `0 dup` is nothing. Entries: an element size
        (a reservation), None (data) or (count, entries of the block)."""
        out: list = []
        for x in items:
            if type(x) is P.Dup:
                n = 1 if x.count is None else self.scalar(x.count, "DUP")
                inner = self._reserve_runs(x.items, x.unit or unit) if n > 0 else []
                if not inner:
                    continue
                if len(inner) == 1 and type(inner[0]) is int:
                    x = inner[0]
                else:
                    out.append((n, inner))
                    continue
            else:
                x = unit if x is None else None
            if x is None or not out or out[-1] != x:
                out.append(x)
        return out

    def _unit_runs(self, action: P.Data) -> list:
        """A data line with `dup`, groups or element sizes as plain lines, one per run of
        items of one element size."""
        runs: list = []
        for unit, x in self._flatten(action.items, action.unit):
            if runs and runs[-1][0] == unit:
                runs[-1][1].append(x)
            else:
                runs.append((unit, [x]))
        return [P.Data(unit, tuple(xs)) for unit, xs in runs]

    def _data_size(self, action: P.Data) -> int:
        if self._has_dup(action):
            return sum(self._data_size(run) for run in self._unit_runs(action))
        size = action._size
        if size is None:
            unit = action.unit
            size = 0
            for ce in action.items:
                if ce is not None and type(ce.node) is E.Str:
                    n = len(ce.node.value)     # an empty string is no data (NASM)
                    size += (n + unit - 1) // unit * unit
                else:
                    size += unit
            action._size = size
        return size

    def _data(self, action: P.Data, sl) -> None:
        if action.items and self._has_dup(action):
            # (`db 0 dup (1)`: no run, and no warning: NASM had an item)
            runs = self._unit_runs(action)
            if self.cur is not None and not self.cur.nobits:
                for _ in range(_zeroing_runs(self._reserve_runs(action.items, action.unit))):
                    self.warn(self._zeroing_message(), sl)
            for run in runs:
                self.dup_run = run          # (_emit's nobits warnings; no zeroing one)
                try:
                    self._data(run, sl)
                finally:
                    self.dup_run = None
            return
        if not action.items:
            self.warn("no operand for data declaration [-w+db-empty]", sl)
            return
        if self.cur is None:
            raise AsmError("attempt to assemble code in [ABSOLUTE] space")
        if self.debug is not None:
            self.debug.data(action)
        cached = action._bytes
        if cached is not None:
            self._emit(cached)
            return
        if self.cur.nobits and all(ce is None for ce in action.items):
            # `db ?` in a nobits section is a reservation (NASM says nothing)
            size = action.unit * len(action.items)
            if self.entry is not None:
                self._list_reserve(size, self.pos)
            self._advance(size)
            return
        warned = self.warned
        unit = action.unit
        out = bytearray()
        fixups = []
        shown = []
        failed: list = []
        zeroing = False
        for ce in action.items:
            if ce is None:
                if self.entry is not None:     # listed as `??`, a run of them as one piece
                    if shown and shown[-1][2] is None and sum(shown[-1][:2]) == len(out):
                        shown[-1] = (shown[-1][0], shown[-1][1] + unit, None, False)
                    else:
                        shown.append((len(out), unit, None, False))
                out += bytes(unit)
                if not zeroing and not self.cur.nobits and self.dup_run is None:
                    zeroing = True          # NASM warns once per run (`db ?, ?` in .text)
                    self.list_ahead = -1    # (listed after the run: here, after the rows)
                    self.warn(self._zeroing_message(), sl)
                continue
            zeroing = False
            if self.entry is not None:
                self.list_ahead = len(out)      # (this item's warnings: listed before it)
            node = ce.node
            if type(node) is E.Str:
                data = node.value
                n = (len(data) + unit - 1) // unit * unit     # '' is nothing, as in NASM
                out += data + bytes(n - len(data))
                continue
            fl = E.float_item(node)
            if fl is not None:
                if unit not in E.FLOAT_FORMATS:
                    raise AsmError(f"no {unit * 8}-bit floating-point format supported")
                data, overflow = E.encode_float_checked(fl[0], unit, fl[1])
                if overflow:
                    self.list_ahead = 0     # (NASM's warning as it reads the line)
                    self.warn(E.FLOAT_OVERFLOW, sl)
                out += data
                continue
            if unit > 8:
                # (NASM goes on: one error per integer item)
                message = f"integer supplied as {unit * 8}-bit data"
                rest = action.items[action.items.index(ce) + 1:]
                raise AsmError(message, also=(message,) * sum(
                    1 for c in rest if c is not None and type(c.node) is not E.Str
                    and E.float_item(c.node) is None))
            self.unknown = False
            if type(node) is E.Num:
                v = node.value
            else:
                self.allow_regs = True      # (NASM: a register term, refused below)
                try:
                    v = ce.fn(self)
                finally:
                    self.allow_regs = False
            if self.unknown and not _has_register(v):
                self.saw_unknown = True     # a forward reference: this pass is not the last
                value, reloc = self.resolve(v, True)
                reloc = None
            else:
                try:
                    value, reloc = self.resolve(v)
                except AsmError as exc:
                    # NASM goes on (one error per item), the line keeping its size: a
                    # later label does not move (`dd (x-$$)*y`, x and y ahead)
                    if exc.message in ("invalid operand type", _NOT_SIMPLE):  # (`dd 1+eax`)
                        exc = AsmError(_NOT_SIMPLE)
                    failed.append(exc)
                    out += bytes(unit)
                    continue
            if reloc is None:
                _check_bounds(value, unit, self, sl)
            else:
                addend = value - self.layout.base(reloc.target) if isinstance(
                    reloc.target, Section) else value
                if reloc.pcrel:
                    addend += self.layout.base(self.cur)    # (see _emit_encoded)
                size = unit
                if unit == 8 and self.fmt == "elf32":
                    if reloc.pcrel:
                        raise AsmError("64-bit signed relocation unsupported by output "
                                       "format elf32")
                    # (NASM: a 32-bit relocation, the upper half zero)
                    self.warn("64-bit unsigned relocation zero-extended from 32 bits "
                              "[-w+zext-reloc]", sl)
                    size = 4
                if reloc.wrt is not None:     # (`dd 5-x wrt ..gotoff`: self-relative)
                    _check_wrt(reloc, size, reloc.pcrel, addend, self)
                fixups.append(SectionFixup(len(out), size, reloc, reloc.pcrel, addend))
                shown.append((len(out), unit, (addend & ((1 << (8 * unit)) - 1)).to_bytes(
                    unit, "little"), reloc.pcrel))
            out += (value & ((1 << (8 * unit)) - 1)).to_bytes(unit, "little")
        self.list_ahead = 0
        if failed:
            entry, self.entry = self.entry, None    # (NASM lists no bytes for the line)
            try:
                self._emit(bytes(len(out)))
            finally:
                self.entry = entry
            first = failed[0]
            first.also += tuple(m for exc in failed[1:] for m in (exc.message, *exc.also))
            raise first
        data = bytes(out)
        if not fixups and self.warned == warned and all(
                ce is not None and (type(ce.node) is E.Str or not _has_symbols(ce.node))
                for ce in action.items):        # (`?`: listed apart, not cached)
            # no symbol, `$` or `$$` and no warning: the same bytes every time
            action._bytes = data
        self._emit(data, fixups, shown)

    def _reserve(self, action: P.Reserve, sl, times: int = 1) -> None:
        what = _RES_NAMES.get(action.unit, "RESB")
        # NASM: a count not known yet (a later EQU) is worked out by the later passes
        self.unknown = False
        self.allow_regs = True      # (NASM reads the count as an operand: `resb 0*eax+1`)
        try:
            n = self.critical(action.count)
        finally:
            self.allow_regs = False
        if type(n) is E.Rel and any(isinstance(k, str) for k in n.terms):
            # (`resb eax`; with a symbol not known yet, NASM's parser refuses the operand)
            raise AsmError("invalid operand type" if self.unknown
                           else "invalid combination of opcode and operands")
        if self.unknown:
            self.saw_unknown = True
            n = 0
        elif type(n) is not int:
            err = AsmError("attempt to reserve non-constant quantity of BSS space")
            # (a label ahead, known from pass 2: NASM meets it in a pass before its
            # final one and stops there, no final-pass warnings)
            err.before_final = self.passno > 1
            raise err
        if n < 0:
            # (NASM fails an assertion in its final pass here: it exits 3)
            raise AsmError(f"{what} value {n} is negative", status=3)
        size = n * action.unit * times
        self._check_room(size)
        if self.debug is not None and self.cur is not None:
            self.debug.reserve(action.unit)
        e = self.entry
        if self.cur is not None and not self.cur.nobits:
            # (NASM: none for no space, nor for its own `alignb N` macro's resb)
            if size and (times != 1 or not any(f == "<stdmac>" for f, _n, _m in sl.trace)):
                self.warn(self._zeroing_message(), sl)
            at = self.pos
            self.entry = None
            try:
                self._emit(bytes(size))
            finally:
                self.entry = e
            if e is not None:
                self._list_reserve(size, at)
            return
        if e is not None:
            self._list_reserve(size, self.pos if self.cur is not None else self.abs_pos)
        self._advance(size)

    def _list_reserve(self, size: int, at: int) -> None:
        """NASM lists a small reservation byte by byte as ``??``, a larger one as a count."""
        if size > 8:
            self._list_piece(f"<res {size:X}h>", at)
        else:
            for k in range(size):
                self._list_piece("??", at + k)

    def _incbin(self, action: P.Incbin, sl) -> None:
        chunk = self._incbin_chunk(action, sl)
        e = self.entry
        at = self.pos
        self.entry = None
        try:
            self._emit(chunk)
        finally:
            self.entry = e
        if e is not None:
            self._list_piece(f"<bin {len(chunk):X}h>", at)

    def _incbin_chunk(self, action: P.Incbin, sl) -> bytes:
        """The bytes an `incbin` line includes (NASM's messages for a missing file, a bad
        offset; its warning for a trailing comma, which its `incbin` macro drops)."""
        if action.comma and getattr(self, "_comma_warned", None) != (sl, self.passno):
            self._comma_warned = (sl, self.passno)      # (once a line, TIMES or not)
            self.warn("dropping trailing empty parameter in call to multi-line macro "
                      "`incbin' [-w+pp-macro-params-legacy]", sl)
        if type(action.file.node) is not E.Str:
            raise AsmError("`incbin' expects a file name")
        name = action.file.node.value.decode("utf-8", "surrogateescape")
        cache = self.incbin_cache
        data = cache.get(name)
        if data is None:
            path = _find_file(name, self.include_paths, sl.file)
            if path is None:
                raise AsmError(f"`incbin': unable to get length of file `{name}'")   # (NASM)
            from formats.inputs import InputError
            try:
                data = access.read_input(path)      # (pyvm's guest: asm/access.py)
            except OSError as exc:
                raise AsmError(f"`incbin': unable to read file `{name}': {exc.strerror}") \
                    from None
            except InputError as exc:
                raise AsmError(f"`incbin': file `{name}': {exc}") from None
            cache[name] = data
            if self.depends is not None and path not in self.depends:
                self.depends.append(path)
        start = 0
        if action.offset is not None:
            start = self._incbin_number(action.offset)
            if start < 0:
                raise AsmError(f"`incbin': unable to seek on file `{name}'")
        length = len(data) - start
        if action.length is not None:
            length = min(length, self._incbin_number(action.length))
        return data[start:start + max(length, 0)] if start >= 0 else b""

    def _incbin_number(self, ce: P.CExpr) -> int:
        """An `incbin` offset or length, a critical expression: of a relocatable value,
        NASM takes the offset (`x`: x's place in its section)."""
        self.unknown = False
        v = ce.fn(self)
        if self.unknown:
            name = _first_undefined(ce.node, self.symbols)
            raise AsmError(f"symbol `{name}' not defined before use" if name else
                           "non-constant argument supplied to INCBIN")
        if type(v) is E.Rel and all(c == 1 for c in v.terms.values()) and len(v.terms) <= 1:
            return v.off
        if type(v) is not int:
            raise AsmError("expression is not simple or relocatable")
        return v

    # ---- instructions

    def _lock_warning(self, action: P.Insn, enc, sl) -> None:
        """NASM's warnings about an instruction's prefixes."""
        prefixes = [p.lower() for p in action.prefixes]
        if len(prefixes) > 1 and len(set(prefixes)) < len(prefixes):
            self.warn("instruction has redundant prefixes [-w+other]", sl)
        if "lock" in prefixes and not enc.lockable:
            self.warn("instruction is not lockable [-w+prefix-lock]", sl)
            ops = action.operands
            m = action.mnemonic.lower()
            if (len(ops) == 1 and type(ops[0]) is P.OpExpr and not ops[0].mods
                    and encoder.sized_branch(m)
                    and (self.optimize == 2 or self.optimize == 0 and m != "jmp")):
                # (NASM: as often as it tries the short form, -O0's jmp being near)
                self.warn("instruction is not lockable [-w+prefix-lock]", sl)
        if "bnd" in prefixes and enc.data[:1] != b"\xf2":
            # the encoder kept no F2: only a jmp short drops bnd (others are errors)
            self.warn("jmp short does not init bnd regs - bnd prefix dropped [-w+prefix-bnd]",
                      sl)
        for p in ("xacquire", "xrelease"):
            if p in prefixes:
                use = enc.hle
                if use == "lock" and "lock" not in prefixes:
                    self.warn(f"{p} with this instruction requires lock [-w+prefix-hle]", sl)
                elif not use or use == "release" and p == "xacquire":
                    self.warn(f"{p} invalid with this instruction [-w+prefix-hle]", sl)

    def _insn(self, action: P.Insn, sl) -> None:
        if self.bnd:
            action = _default_bnd(action)
        cur = self.cur
        if cur is None:
            raise AsmError("attempt to assemble code in [ABSOLUTE] space")
        kind = action._kind or _insn_kind(action)
        if self.optimize < 2:
            self._insn_unoptimised(action, sl)
            return
        if kind is _BRANCH:
            target = action._target
            if target is None:
                target = action._target = _branch_target(action)
            if target:
                # `jcc label` to a known label of this section: encoder.encode's bytes
                # without evaluating an operand (a third of a plain source's lines)
                name = target[0]
                if name[0] == "." and not name.startswith(".."):
                    name = self.base_label + name
                sym = self.symbols.get(name)
                v = None if sym is None else sym.value
                if v is None and not self.final:
                    # a forward reference (pass 1): what the operand's evaluation and
                    # encoder.encode give (a 0 target, this pass not the last), at once
                    got = encoder.unknown_branch(target[1], self.bits,
                                                 self.pos + self.layout.vstart.get(cur, 0))
                    if got is not None:
                        self.unknown = self.saw_unknown = True
                        if got[1] > self.cpu:
                            raise AsmError("no instruction for this cpu level")
                        self._emit(got[0])
                        return
                elif type(v) is E.Rel and len(v.terms) == 1 and v.terms.get(cur) == 1:
                    base = self.layout.vstart.get(cur, 0)       # (Layout.base)
                    got = encoder.local_branch(target[1], E.wrap64(v.off + base), self.bits,
                                               self.pos + base, cur)
                    # (over the CPU level: encoding below may give a Jcc over a JMP)
                    if got is not None and got[1] <= self.cpu:
                        self.unknown = False
                        self._emit(got[0])
                        return
        if kind is _STATIC:
            # no symbol, `$` or `$$` in the operands: same bytes on every line and pass
            cached = action._enc
            if cached is not None and cached[0] == self.bits and cached[1].level <= self.cpu:
                if cached[1].obsolete or cached[1].warnings:
                    self._encoding_warnings(cached[1], sl)
                if action.prefixes:
                    self._lock_warning(action, cached[1], sl)
                self._emit(cached[1].data)
                return
        stamp = None
        if kind is _OTHER:
            # the same operands naming labels of the same values, in the same pass: the
            # encoding worked out last time (`inc dword [counter]` on many lines)
            stamp = self._memo_stamp(action)
            if stamp is not None:
                memo = action._memo
                if memo is not None and memo[0] == stamp:
                    self.unknown = False
                    self._emit_insn(action, memo[1], sl, self.pos + self.layout.base(cur))
                    return
        mnemonic = action.mnemonic
        self.unknown = False
        ops = list(map(self._operand, action.operands))
        if self.unknown:
            self.saw_unknown = True
        ip = self.pos + self.layout.base(cur)
        if kind is _STATIC:
            # encoded once per distinct instruction (then kept on its Insn, below)
            enc = self._encode_static(mnemonic, ops, ip, action.prefixes)
        elif kind is _BRANCH:
            for o in ops:
                if type(o) is Imm and o.reloc is not None:
                    r = o.reloc
                    if r.wrt is not None and r.symbol is None and r.section is cur:
                        # NASM panics (intra-segment OUT_REL4ADR)
                        raise AsmError(f"`wrt {r.wrt}' cannot be used on a jump within its "
                                       "own section")
            enc = self._encode_branch(mnemonic, ops, ip, action.prefixes)
            if enc.level > self.cpu:
                enc = self._below_386(mnemonic, ops, ip, action.prefixes) or enc
        else:
            # the encoding does not depend on the address: reuse it across lines and passes
            parts = [mnemonic, self.bits, action.prefixes, cur]
            for o in ops:
                parts.append(_operand_key(o))
            key = tuple(parts)
            enc = self.enc_cache.get(key)
            if enc is None:
                enc = encoder.encode(mnemonic, ops, self.bits, ip, action.prefixes,
                                     section=cur, absolute=self.abs_reloc)
                if len(self.enc_cache) < 200_000:
                    self.enc_cache[key] = enc
            if stamp is not None and not self.unknown:
                action._memo = (stamp, enc)
        if kind is not _STATIC:
            self._emit_insn(action, enc, sl, ip)
            return
        if enc.level > self.cpu:
            enc = self._below_386(mnemonic, ops, ip, action.prefixes)
            if enc is None:
                raise AsmError("no instruction for this cpu level")
            kind = None                 # (the `cpu` chose it: not kept on the line)
        if enc.obsolete or enc.warnings:
            self._encoding_warnings(enc, sl)
        if action.prefixes:
            self._lock_warning(action, enc, sl)
        data = enc.data
        if not enc.fixups:
            if kind is _STATIC:
                action._enc = (self.bits, enc)
            self._emit(data)
            return
        self._emit_encoded(enc, ip)

    def _encode_static(self, mnemonic: str, ops: list, ip: int, prefixes) -> Encoded:
        """encoder.encode of an instruction without symbols; one whose single immediate is
        a number beyond +-256 takes the encoding of an earlier value of its number_class
        (the same bytes but the immediate's field: _imm_template)."""
        at = -1
        for i, o in enumerate(ops):
            if type(o) is Imm:
                if at != -1 or o.reloc is not None or o.unknown or type(o.value) is not int:
                    at = -2
                    break
                at = i
        if at < 0 or -256 <= ops[at].value <= 256:
            return encoder.encode(mnemonic, ops, self.bits, ip, prefixes, section=self.cur,
                                  absolute=self.abs_reloc)
        imm = ops[at]
        value = imm.value
        parts = [mnemonic, self.bits, prefixes, at, imm.size, imm.strict, imm.jump,
                 number_class(value)]
        for i, o in enumerate(ops):
            if i != at:
                parts.append(_operand_key(o))
        key = tuple(parts)
        memo = _imm_memo.get(key)
        if memo:
            enc, offset, size = memo
            new = object.__new__(type(enc))
            new.__dict__.update(enc.__dict__)
            data = enc.data
            new.data = (data[:offset] + (value & ((1 << 8 * size) - 1)).to_bytes(size, "little")
                        + data[offset + size:])
            new.fixups = []
            return new
        enc = encoder.encode(mnemonic, ops, self.bits, ip, prefixes, section=self.cur,
                             absolute=self.abs_reloc)
        if memo is None and len(_imm_memo) < 100_000:
            _imm_memo[key] = _imm_template(enc, mnemonic, ops, at, self.bits, prefixes,
                                           self.cur, self.abs_reloc)
        return enc

    def _emit_insn(self, action: P.Insn, enc, sl, ip: int) -> None:
        """The end of _insn for an encoding that depends on symbols: checks, warnings,
        the bytes and their fixups."""
        if enc.level > self.cpu:
            enc = self._below_386(action.mnemonic, list(map(self._operand, action.operands)),
                                  ip, action.prefixes)
            if enc is None:
                raise AsmError("no instruction for this cpu level")
        if enc.obsolete or enc.warnings:
            self._encoding_warnings(enc, sl)
        if action.prefixes:
            self._lock_warning(action, enc, sl)
        self._emit_encoded(enc, ip)

    def _encode_branch(self, mnemonic: str, ops: list, ip: int, prefixes) -> Encoded:
        """encoder.encode of a line that names labels (a branch, most often)."""
        try:
            return encoder.encode(mnemonic, ops, self.bits, ip, prefixes, section=self.cur,
                                  absolute=self.abs_reloc)
        except encoder.PrefixRefused as e:
            # `repne jz near x` under `cpu 8086`: NASM names the missing form first
            if e.level > self.cpu and any(type(o) is Imm and o.jump == "near" for o in ops):
                raise AsmError("no instruction for this cpu level") from None
            raise

    def _below_386(self, mnemonic: str, ops: list, ip: int, prefixes) -> Optional[Encoded]:
        """A 386 form the `cpu` lacks: NASM's next form that fits (a short Jcc over a JMP,
        push's 6A ib: encoder.below_386), if the current level has it; None otherwise (the
        caller reports the level)."""
        enc = encoder.below_386(mnemonic, ops, self.bits, ip, prefixes, section=self.cur,
                                absolute=self.abs_reloc)
        return enc if enc is not None and enc.level <= self.cpu else None

    def _memo_stamp(self, action: P.Insn) -> Optional[tuple]:
        """What an instruction's operands evaluate from when they name labels only (no
        `$`, no function): this pass's layout, the mode, the section, the labels' values;
        None when they name more, or a label not defined yet."""
        names = action._names
        if names is None:
            names = action._names = _symbol_names(action)
        if names is False:
            return None
        values = []
        for name in names:
            if name[0] == "." and not name.startswith(".."):
                name = self.base_label + name
            sym = self.symbols.get(name)
            if sym is None or sym.value is None:
                return None
            values.append(sym.value)
        return (self.layout, self.bits, self.cur, self.final, tuple(values))

    def _nobits_message(self) -> str:
        """NASM's warning for data in a nobits section (worded per format)."""
        if self.fmt == "elf32":
            return (f"attempt to initialize memory in BSS section `{self.cur.name}': "
                    "ignored [-w+other]")
        return "attempt to initialize memory in a nobits section: ignored [-w+other]"

    def _zeroing_message(self) -> str:
        """NASM's warning for `resb`/`db ?` in a progbits section (worded per format)."""
        if self.fmt == "elf32":
            return (f"uninitialized space declared in non-BSS section `{self.cur.name}': "
                    "zeroing [-w+zeroing]")
        return f"uninitialized space declared in {self.cur.name} section: zeroing [-w+zeroing]"

    def _encoding_warnings(self, enc, sl) -> None:
        """NASM's warnings about an encoded instruction: an obsolete one, an immediate
        that does not fit its field."""
        if enc.obsolete:
            self.warn("instruction obsolete but valid on the target CPU [-w+obsolete-valid]"
                      if self.cpu == 0 else "instruction obsolete and removed from the "
                      "target CPU [-w+obsolete-removed]", sl)
        for message in enc.warnings:
            self.warn(message, sl)

    def _emit_encoded(self, enc, ip: int) -> None:
        """Emit an encoded instruction at ``ip``, its fixups made section fixups."""
        data = enc.data
        if not enc.fixups:
            self._emit(data)
            return
        fixups = []
        shown = [] if self.entry is not None else None     # only listings show them
        end = ip + len(data)
        for fx in enc.fixups:
            reloc = fx.reloc
            raw = int.from_bytes(data[fx.offset:fx.offset + fx.size], "little",
                                 signed=fx.pcrel)
            target = raw + end if fx.pcrel else raw
            if isinstance(reloc, Reloc) and isinstance(reloc.target, Section):
                addend = target - self.layout.base(reloc.target)
            else:
                addend = target
            if isinstance(reloc, Reloc) and reloc.wrt is not None:
                _check_wrt(reloc, fx.size, fx.pcrel or reloc.pcrel, addend, self)
            if getattr(reloc, "pcrel", False) and not fx.pcrel:
                # `x - $` (resolve): the field is relative to itself (end 0: see the ELF
                # writer's PC-relative addend); a flat binary's value had this section's
                # address taken off (the listing shows offsets in the sections)
                addend += self.layout.base(self.cur)
                fixups.append(SectionFixup(fx.offset, fx.size, reloc, True, addend))
            else:
                fixups.append(SectionFixup(fx.offset, fx.size, reloc, fx.pcrel, addend,
                                           self.pos + len(data)))
            if shown is not None:
                mask = (1 << (8 * fx.size)) - 1
                shown.append((fx.offset, fx.size, (addend & mask).to_bytes(fx.size, "little"),
                              fx.pcrel or getattr(reloc, "pcrel", False)))
        self._emit(data, fixups, shown or ())

    def _insn_unoptimised(self, action: P.Insn, sl) -> None:
        """_insn under -O0/-O1: the operands made `strict` where NASM does not optimise,
        and no encoding kept on the (shared) parsed line."""
        cur = self.cur
        self.unknown = False
        ops = _deoptimize(list(map(self._operand, action.operands)), action.mnemonic,
                          self.optimize)
        if self.unknown:
            self.saw_unknown = True
        ip = self.pos + self.layout.base(cur)
        prefixes = action.prefixes
        if (len(ops) == 2 and type(ops[0]) is Reg and type(ops[1]) is Reg
                and action.mnemonic.lower() == "mov" and ops[0].name.lower() in _SREGS):
            # `mov ds, ax`: unoptimised, NASM keeps the source register's operand size
            size = _GPR_SIZE.get(ops[1].name.lower())
            if size and not any(p.lower() in ("o16", "o32") for p in prefixes):
                prefixes = tuple(prefixes) + (f"o{size}",)
        enc = self._encode_branch(action.mnemonic, ops, ip, prefixes)
        if enc.level > self.cpu:
            enc = self._below_386(action.mnemonic, ops, ip, prefixes) or enc
        if enc.level > self.cpu:
            raise AsmError("no instruction for this cpu level")
        if enc.obsolete or enc.warnings:
            self._encoding_warnings(enc, sl)
        if action.prefixes:
            self._lock_warning(action, enc, sl)
        self._emit_encoded(enc, ip)

    def _operand(self, op):
        """The encoder's operand for a parsed one; a static operand keeps it (the parser
        shares operands between lines, so this runs once per distinct operand)."""
        value = op._value
        if value is None:
            value = self._evaluate_operand(op)
            static = op._static
            if static is None:
                static = _operand_static(op)
            if static:
                op._value = value
        return value

    def _evaluate_operand(self, op):
        t = type(op)
        if t is P.OpExpr and type(op.expr.node) is E.RegRef:
            name = op.expr.node.name
            if name in P.REGISTERS_64:
                raise _long_mode_register(name, self.bits)
            return Reg(name)
        size = None
        strict = False
        jump = None
        for m in op.mods:
            if m in P.SIZES:
                if size is None:    # (NASM's parser: the first size word counts)
                    size = P.SIZES[m]
            elif m == "strict":
                strict = True
            elif m in ("short", "near", "far"):
                # (NASM ors their flags: two different ones match no form, `jmp short
                # near x` is a mismatch in operand sizes)
                jump = m if jump is None or jump == m else "mixed"
        if t is P.OpExpr:
            if type(op.expr.node) is E.Num:     # a plain number: nothing to evaluate
                return Imm(op.expr.node.value, size, strict, jump, None, False)
            before = self.unknown
            self.unknown = False
            v = op.expr.fn(self)
            unknown = self.unknown
            self.unknown = before or unknown
            if unknown and self.unknowable_met is op.expr.fn:   # (see Imm.unknowable)
                self.unknown = before
                self.unknowable_met = None
                imm = Imm(0, size, strict, jump, None, False)
                imm.unknowable = True
                return imm
            if type(v) is int:
                return Imm(v, size, strict, jump, None, unknown)
            not_simple = type(v) is E.Rel and not unknown and any(
                c != 1 and c != -1 for c in v.terms.values())
            if not_simple:
                v = _immediate_terms(v)
            try:
                value, reloc = self.resolve(v, unknown)
            except AsmError as exc:
                if exc.message == _NOT_SIMPLE:     # (NASM's parser: no immediate then)
                    exc.message = "invalid operand type"
                raise
            imm = Imm(value, size, strict, jump, reloc, unknown)
            if not_simple:
                imm.not_simple = True   # (not NASM's simple value: no shorter form for it)
            return imm
        if t is P.OpMem:
            before = self.unknown
            self.unknown = False
            self.allow_regs = True
            try:
                v = op.expr.fn(self)
            finally:
                self.allow_regs = False
            unknown = self.unknown
            self.unknown = before or unknown
            regs = []
            wrt = None
            if type(v) is E.Wrt:
                v, wrt = v.value, v.seg
            if isinstance(v, E.Rel):
                rest = {}
                for k, c in v.terms.items():
                    if isinstance(k, str):
                        if k in P.REGISTERS_64:
                            raise _long_mode_register(k, self.bits, True)
                        if c <= 0:
                            # NASM's parser's verdict on the terms comes first
                            self._address_terms(op.expr, not unknown)
                            # (`[bx-si]`: NASM names the mode's address size)
                            raise AsmError(f"invalid {self.bits}-bit effective address")
                        regs.append((k, c))
                    else:
                        rest[k] = c
                v = E.make(v.off, rest)
                if len(regs) > 1 and (len(regs) > 2 or op.expr.registers > 2) or (
                        regs and op.expr.registers > len(regs)):
                    # NASM's parser takes the registers in its order, a `reg*0` among them
                    # (`[eax*0+ebx*2]`: two index registers)
                    self._address_terms(op.expr, False)
                if len(regs) > 2 or (len(regs) == 2 and regs[0][1] != 1 and regs[1][1] != 1):
                    # NASM's parser, before the later operands: its first two registers
                    # (in its order) can't both be scaled, and there is no third
                    first, second = sorted(regs, key=_nasm_register_order)[:2]
                    if first[1] != 1 and second[1] != 1:
                        raise AsmError("invalid effective address: two index registers")
                    if len(regs) > 2:
                        raise AsmError("invalid effective address: too many registers")
                if not unknown and (rest and (len(rest) > 1 or next(iter(rest.values())) != 1)
                                    or op.expr.multiplies):
                    # (NASM checks the label terms of known values only: a label ahead
                    # waits)
                    self._address_terms(op.expr, True)
            elif op.expr.multiplies:
                # (`[(ebx+ecx)*0]`: registers of multiplier 0 are still NASM's terms)
                self._address_terms(op.expr, not unknown)
            disp, reloc = self.resolve(v if wrt is None else E.Wrt(v, wrt), unknown)
            disp_size = asize = None
            nosplit = False
            if op.inner:
                bad_size = False
                for m in op.inner:
                    if m in P.SIZES:
                        if P.SIZES[m] > 8:  # (`[tword x]`: NASM's displacement sizes end
                            bad_size = True     # at qword; it goes on with the others)
                        else:
                            disp_size = P.SIZES[m]  # (NASM's parser: the last one counts)
                    elif m == "nosplit":
                        nosplit = True
                    elif m == "strict":     # (NASM: no `strict` inside the brackets)
                        raise AsmError("invalid size specification in effective address")
                    elif m == "a16" or m == "a32":
                        if asize is not None and asize != int(m[1:]):
                            raise encoder.asize_conflict(regs, asize, self.bits)
                        asize = int(m[1:])
                    elif m in _PREFIX_WORDS:
                        raise AsmError("invalid size specification in effective address")
                if disp_size == 8 or bad_size:
                    self._refuse_disp_size(disp_size == 8, bad_size, regs)
            scaled = op.expr.scaled if regs else ()
            if len(regs) > 1 and op.expr.may_sum:
                # NASM's hint (EAH_SUMMED, or a base that cancelled) may pick another base
                ordered = eahint.ordered_registers(op.expr.node, self, regs)
                if ordered is not None:
                    regs, scaled = ordered, ()
            elif regs and nosplit and op.expr.may_sum and eahint.summed(op.expr.node, self):
                # NASM's hint EAH_SUMMED: its sorted vector's first register is the base
                scaled = ()
            mem = Mem(size, op.seg, regs, disp, disp_size, reloc, unknown, nosplit, jump,
                      strict, scaled, asize)
            if reloc is None:
                return mem
            if reloc.pcrel and reloc.target is None:
                # `[ebx+5-x]`, x in this section: NASM sizes it by the offset (a flat
                # binary's number has this section's address taken off)
                mem.relative = True
                if self.fmt == "bin":
                    mem.reloc, mem.origin = None, -self.layout.base(self.cur)
                return mem
            if self.fmt != "bin":
                return mem
            if reloc.section is not None:
                mem.origin = self.layout.base(reloc.section) - (
                    self.layout.base(self.cur) if reloc.pcrel else 0)
            return mem
        # far pointer
        if jump is not None:
            # `jmp far 0x10:5`, `jmp short 1:2`: NASM's far pointer takes no such word
            raise AsmError("mismatch in operand sizes")
        before = self.unknown
        self.unknown = False
        seg, _ = self.resolve(op.seg.fn(self), True)
        off, _ = self.resolve(op.offset.fn(self), True)
        if not self.unknown:
            seg, _ = self.resolve(op.seg.fn(self))
            off, _ = self.resolve(op.offset.fn(self))
        self.unknown = before or self.unknown
        return FarPtr(seg, off, size)

    # ---- directives

    def _directive(self, d: P.Directive, sl) -> None:
        name, args = d.name, d.args
        if name in directive_args.DECLARATIONS:
            directive_args.check_declaration(name, args)
        if name == "bits":
            bits = _atoi(args)              # (NASM's reading: `bits 16:` is 16)
            if bits not in (16, 32):
                if bits == 64:
                    raise AsmError("64-bit mode is not supported by this assembler")
                raise AsmError(f"`{args}' is not a valid segment size; must be 16, 32 or 64")
            if bits == 32 and self.cpu < 3:
                raise AsmError("cannot specify 32-bit segment on processor below a 386")
            self._set_bits(bits)
        elif name in ("use16", "use32"):
            if name == "use32" and self.cpu < 3:
                raise AsmError("cannot specify 32-bit segment on processor below a 386")
            self._set_bits(int(name[3:]))
        elif name in ("section", "segment"):
            self._section_directive(args, sl)
        elif name == "absolute":
            ce = P.parse_expr(args)
            self.unknown = False
            v = ce.fn(self)
            if self.unknown:
                # (NASM's critical expression: the first symbol not defined yet)
                name = next((v for k, v in P.tokenize(args) if k == "ID"
                             and self.symbols.get(v) is None), None)
                if name is not None:
                    raise AsmError(f"symbol `{name}' not defined before use")
                raise AsmError("cannot use non-relocatable expression as ABSOLUTE address")
            if isinstance(v, E.Rel):
                v, _ = self.resolve(v)
            self.cur = None
            self.abs_pos = self.abs_start = v
        elif name == "org":
            if self.fmt != "bin":
                raise AsmError("unrecognized directive [org]")
            try:
                v = self.scalar(P.parse_expr(args), "ORG")
            except AsmError as exc:
                message = exc.message
                if message.startswith("non-constant"):
                    # (NASM: the first symbol not defined yet, or an expression not simple)
                    name = next((v for k, v in P.tokenize(args) if k == "ID"
                                 and self.symbols.get(v) is None), None)
                    if name is None:
                        raise AsmError("org value must be a critical expression") from None
                    message = f"symbol `{name}' not defined before use"
                raise AsmError(message, also=(
                    "No or invalid offset specified in ORG directive.",)) from None
            if self.org is not None and self.org != v and self.org_at != (sl.file, sl.line):
                raise AsmError("program origin redefined")
            self.org = v
            self.org_at = (sl.file, sl.line)
            if self.passno == 1 and not any(sec.size for sec in self.sections):
                # nothing placed yet: the first pass can already use the final origin
                self._relayout()
                self.layout_start = self.layout
        elif name in ("global", "static", "required", "extern"):
            self._declare(name, args, sl)
        elif name == "common":
            n = args.split()[0].split(":")[0]
            self._check_scope("common", n, "", sl)
            if self.fmt == "bin":       # (refused later, as NASM: _refuse_bin_specials)
                self.bin_specials.setdefault(n, ("common", sl, self._order()))
            parts = args.split()
            # `common name size[:alignment [type] [size]]` (ELF), read as NASM does
            size_text, colon, special = " ".join(parts[1:]).partition(":")
            size, _ = directive_args.read_num(size_text)
            if size is None:
                raise AsmError("invalid size specified in common declaration")
            special = special.strip()
            word, _, rest = special.partition(" ")     # (the alignment: its first word)
            align = directive_args.read_num(word)[0] if special else 0
            if align is None:
                raise AsmError(f"alignment constraint `{special}' is not a valid number")
            if align & (align - 1) or align < 0 or (special and align == 0):
                raise AsmError(f"alignment constraint `{special}' is not a power of two")
            words = rest.split(None, 1)
            sym_type = None
            if words and words[0].lower() in directive_args.SYMBOL_TYPES:
                sym_type, rest = words[0].lower(), words[1] if len(words) > 1 else ""
            if rest.strip():                    # (ELF's size expression overrides it)
                self.unknown = False
                size = P.parse_expr(rest).fn(self)
                if self.unknown:                # (a later pass knows it, or says so)
                    self.saw_unknown, size = True, 0
                elif type(size) is not int:
                    raise AsmError("non-constant argument supplied to COMMON")
            first = self.commons_now.setdefault(n, (size, (sl.file, sl.line)))
            if first[0] != size:        # (NASM: the same size again is no error)
                raise self._redefined(n, first[1])
            sym = self.symbols.get(n) or self.symbols.setdefault(n, Symbol(n))
            if sym.value is None or sym.kind == "common":
                sym.kind, sym.size, sym.value = "common", size, E.Rel(0, {sym: 1})
                if colon:
                    sym.common_align = align
                if sym_type:
                    sym.sym_type = sym_type
        elif name == "sectalign":
            if not args.strip():
                return                  # (`[sectalign]`: NASM has nothing to evaluate)
            # NASM evaluates the leading expression and ignores the rest (`sectalign 4 nop`)
            ce = _leading_expression(args, args)
            self.unknown = False
            self.allow_regs = True
            try:
                v = self.critical(ce)
            finally:
                self.allow_regs = False
            if self.unknown:            # (a critical expression: NASM's pass-1 message)
                name = _first_undefined(ce.node, self.symbols)
                raise AsmError(f"symbol `{name}' not defined before use" if name else
                               "non-constant argument supplied to SECTALIGN")
            if _has_register(v):
                return                  # (`align eax`: NASM sets nothing, silently)
            if type(v) is E.Rel and _SEG_PROBE in v.terms and not v.off:
                return                  # (`sectalign seg x`: NASM sets nothing, silently)
            v = (v if type(v) is int else v.off) & E.MASK64     # (NASM's unsigned reading)
            if v == 0 or v & (v - 1):
                raise AsmError(f"segment alignment `{args}' is not power of two")   # (NASM's)
            if v > 0x7FFFFFFF:
                raise AsmError(f"absurdly large segment alignment `{args}' "
                               f"(2^{v.bit_length() - 1})")
            if self.cur is not None:
                self.cur.sectalign = max(self.cur.sectalign, v)
        elif name == "cpu":
            self.cpu, error = directive_args.cpu_level(args, self.cpu)
            if error:
                raise AsmError(error)
        elif name == "smartalign":          # `align` under %use smartalign
            from asm.smartalign import MODES, padding
            words = args.split()
            if len(words) != 3 or words[1] not in MODES:
                raise AsmError("invalid smartalign directive")
            n = self.scalar(P.parse_expr(words[0]), "ALIGN")
            limit = self.scalar(P.parse_expr(words[2]), "ALIGN")
            if n <= 0:
                raise AsmError("division by zero")
            if self.cur is None:
                raise AsmError("attempt to assemble code in [ABSOLUTE] space")
            self._smartalign(padding(-self.pos % n, words[1], limit, self.bits), words[1])
        elif name == "pragma":
            words = args.split(None, 2)
            if (len(words) >= 2 and words[0].lower() in ("output", "elf", "elf32")
                    and words[1].lower() in ("gprefix", "gpostfix", "lprefix", "lpostfix")):
                affix = words[2].strip() if len(words) > 2 else ""
                # (NASM 2.16.01 ignores the pragma's postfixes; the command line's hold)
                if ((self.fmt == "elf32" or words[0].lower() == "output")
                        and words[1].lower().endswith("prefix")):
                    self.affixes[words[1].lower()] = affix
        elif name == "default":
            word = directive_args.check_default(args)
            if word in ("bnd", "nobnd"):
                self.bnd = word == "bnd"
                self.bnd_seen = True
        elif name == "float":
            directive_args.check_float(args)
        elif name == "warning":
            self._warning_directive(args, sl)
        elif name == "list":            # `[list -]`...`[list +]`: no listing between
            self.list_off = {"-": True, "+": False}.get(args.strip(), self.list_off)
        elif name in ("map", "debug"):
            pass
        else:
            raise AsmError(f"unrecognized directive [{name}]")

    def _line_at(self) -> int:
        """The place of the line being assembled in the stream of lines (pass 1: how many
        are recorded; later passes: its index): its warnings' and errors' order, and what
        tells a %rep body's repetitions apart."""
        return self.item if self.record is None else len(self.record)

    def _order(self, stage: int = 1) -> tuple:
        """A message's place among the pass's (NASM prints them as it goes): its line's
        place, the preprocessor's (stage 0, before the line) or the assembler's (1), then
        how many errors came before it (asm.errors.in_nasm_order)."""
        return self._line_at(), stage, len(self.errors)

    def warning_shown(self, message: str) -> bool:
        return not self.warning_rules or warning_enabled(message, self.warning_rules)

    def _warning_directive(self, args: str, sl) -> None:
        """`[warning +class]`, `-class`, `*class` (back to the command line's), `push`,
        `pop`, as NASM's set_warning_status reads them; they hold from the next line on.
        `error=class` (`error`: every class) makes a class's warnings errors."""
        word = args.strip().lower()
        if word == "push":
            self.warning_stack.append(self.warning_rules)
            return
        if word == "pop":
            if self.warning_stack:
                self.warning_rules = self.warning_stack.pop()
            else:
                self.warn("warning stack empty [-w+warn-stack-empty]", sl)
            return
        if word == "none":
            on, name = False, "all"
        elif word[:1] == "*":       # back to the command line's
            _, name = warning_rule(word[1:])
            self.warning_rules = with_rules(self.warning_rules,
                                            restored_rules(name, self.warning_init))
            return
        else:
            on, name = warning_rule(word)
        self.warning_rules = with_rules(self.warning_rules, [(on, name)])

    def _symbol_specials(self, sym: Symbol, spec: str, extern: bool = False) -> None:
        """ELF's `global name:function hidden (size)`: type, visibility, binding, size.
        An extern's size naming a symbol never defined is left out (NASM defers it to
        the symbol's definition, which never comes)."""
        size_text = None
        rest = spec.strip()
        while rest:
            word, _, after = rest.partition(" ")
            w = word.lower()
            if w in directive_args.SYMBOL_TYPES:
                sym.sym_type = w
            elif w in ("internal", "hidden", "protected"):
                sym.sym_vis = w
            elif w in ("weak", "strong"):
                sym.sym_weak = w == "weak"
            else:
                # NASM reads the rest as the size from the first other word: `4`,
                # `(4)`, `x_end - x`
                size_text = rest
                break
            rest = after.strip()
        if size_text is not None:
            size = self._special_size(size_text)
            if extern and _first_undefined(size.node, self.symbols) is not None:
                return
            self.unknown = False
            v = size.fn(self)
            if self.unknown:
                self.saw_unknown = True         # known in a later pass
            if type(v) is not int and not self.unknown:
                raise AsmError("cannot use relocatable expression as symbol size")
            sym.sym_size = v & 0xFFFFFFFF if type(v) is int else 0

    @staticmethod
    def _special_size(text: str):
        """The size expression of a symbol special: the leading expression (`4 data`: 4;
        the rest is ignored); a malformed one is reported on its first word."""
        return _leading_expression(text, text.split()[0])

    def _elf_redeclared(self, s: Section, words: list, align: int, sl) -> None:
        """NASM's ELF output on a section named again with attributes (elf_section_names):
        it warns when they ask another type, other flags or another entry size, and keeps
        the section as it was but for a larger alignment and an entry size it lacked."""
        from asm.elf_output import SHF_MERGE, SHF_STRINGS, declared_words, section_layout
        stype, f_and, f_or, entsize, xalign = declared_words(words)
        cur_type, cur_flags, cur_entsize, cur_align = section_layout(s)
        if ((stype and stype != cur_type) or cur_flags & f_and != f_or
                or (entsize and cur_entsize and entsize != cur_entsize)):
            self.warn("incompatible section attributes ignored on redeclaration of section "
                      f"`{s.name}' [-w+other]", sl)
        align = align or xalign
        if align > cur_align:
            s.elf_align = align
        if entsize and not cur_entsize:
            s.elf_entsize = cur_entsize = entsize
        if f_or & SHF_MERGE and not cur_entsize:
            s.elf_entsize = 1
            if not cur_flags & SHF_STRINGS:
                raise AsmError(_MERGE_WITHOUT_SIZE)

    def _section_directive(self, args: str, sl) -> None:
        words = args.split()
        if not words:
            raise AsmError("section name expected")
        sname = words[0]
        known = sname in self.section_by_name
        s = self.get_section(sname)
        # (NASM's ELF output keeps a section's first declaration: _elf_redeclared)
        redeclared = self.fmt == "elf32" and sname in self.declared and len(words) > 1
        redeclared_align = 0
        if sname not in self.declared:
            s.elf_align, s.elf_entsize = 1, 0
        std_type = {".text": False, ".data": False, ".rodata": False, ".bss": True}
        others = []
        for w in words[1:]:
            key, eq, val = w.partition("=")
            key = key.lower()
            if self.fmt == "elf32" and key in ("start", "vstart", "follows", "vfollows"):
                # bin-only attributes: NASM's ELF output warns and ignores them
                self.warn(f"unknown section attribute '{key}' ignored on declaration of "
                          f"section `{sname}' [-w+other]", sl)
                continue
            if redeclared and key in ("progbits", "nobits"):
                others.append(w)
            elif key in ("progbits", "nobits"):
                want = key == "nobits"
                if sname in std_type and std_type[sname] != want or (known and s.nobits != want
                                                                     and self.passno == 1
                                                                     and s.size):
                    raise AsmError("attempt to change section type from "
                                   f"{'nobits' if s.nobits else 'progbits'} to {key}")
                s.nobits = want
            elif eq and key in ("align", "start", "vstart"):
                v = self.scalar(P.parse_expr(val), "section attribute")
                if key == "align":
                    if v <= 0 or v & (v - 1):
                        raise AsmError("argument to `align' is not a power of two"
                                       if self.fmt == "bin" else
                                       f"section alignment {v} is not a power of two")
                    if self.fmt == "bin" and s.start is not None and s.start % v:
                        raise AsmError("`align' value conflicts with section start address")
                    if redeclared:
                        redeclared_align = max(redeclared_align, v)
                    else:
                        s.align = v
                elif key == "start":
                    if self.fmt == "bin" and s.align and v % s.align:
                        raise AsmError("`start' address conflicts with section alignment")
                    s.start = v
                else:
                    s.vstart = v
            elif eq and key in ("follows", "vfollows"):
                setattr(s, key, val)
            elif self.fmt == "bin" and key != "valign":
                # NASM's bin output (`class=CODE` from OMF sources, ELF's flags...)
                self.warn(f'ignoring unknown section attribute: "{w}" [-w+other]', sl)
            elif self.fmt == "elf32" and not _elf_attribute(key, eq):
                self.warn(f"unknown section attribute '{w}' ignored on declaration of "
                          f"section `{sname}' [-w+other]", sl)
            else:
                others.append(w)
        if self.fmt == "elf32":
            for w in others:        # (NASM's readnum on a size word's `*N`, `-N`)
                num = w[w.find("*") + 1:]
                if ("*" in w and "=" not in w
                        and E.number_too_wide(num[1:] if num[:1] == "-" else num)):
                    self.warn(E.wide_number(num), sl)
        if redeclared:
            self.cur, self.pos = s, s.size
            self._elf_redeclared(s, others, redeclared_align, sl)
        elif others:
            s.attrs = tuple(others)
            if self.fmt == "elf32" and _merge_without_size(s):
                self.declared.add(sname)
                self.cur, self.pos = s, s.size
                raise AsmError(_MERGE_WITHOUT_SIZE)
        if sname not in self.declared and len(words) > 1:
            s.attr_declared = True      # NASM's ELF then aligns it to 1 unless align=
        if sname not in self.declared:
            s.decl_seq = len(self.declared)     # NASM's ELF section order (elf_output)
        self.declared.add(sname)
        self.cur = s
        self.pos = s.size




_RES_NAMES = {1: "RESB", 2: "RESW", 4: "RESD", 8: "RESQ", 10: "REST", 16: "RESO",
              32: "RESY", 64: "RESZ"}


def _check_bounds(value: int, unit: int, asm: Assembler, sl) -> None:
    if unit >= 8:
        return
    bits = 8 * unit
    if value > (1 << bits) - 1 or value < -(1 << bits):      # (NASM: -2**n .. 2**n - 1)
        asm.warn(f"{_WIDTH_NAMES[unit]} data exceeds bounds [-w+number-overflow]", sl)


_REL_MNEMONICS: Optional[frozenset] = None


# what an instruction's encoding depends on besides itself and `bits` (see _insn_kind)
_STATIC = "static"      # nothing: no operand refers to a symbol, `$` or `$$`
_BRANCH = "branch"      # its address: a mnemonic with a relative (jump) form
_OTHER = "other"        # the values of symbols


class _Run:
    """Consecutive lines (labelled or not) whose bytes are the same in every pass (their
    Statement._emits): a later pass emits them at once where each of them would take
    _pass's fast path (same `bits`, a `cpu` level that has them, a progbits section)."""

    __slots__ = ("lines", "parts", "bits", "level", "_data", "size", "labels")

    def __init__(self, sl, emits: tuple, label: Optional[str] = None):
        self.lines = [sl]
        self.parts = [emits[1]]
        self.bits = emits[0]
        self.level = emits[2]
        self._data = None
        self.size = len(emits[1])
        # (offset in the run, name, line) of the lines' labels; None: no label
        self.labels: Optional[list] = None if label is None else [(0, label, sl)]

    def add(self, sl, emits: tuple, label: Optional[str] = None) -> None:
        if label is not None:
            if self.labels is None:
                self.labels = []
            self.labels.append((self.size, label, sl))
        self.lines.append(sl)
        self.parts.append(emits[1])
        self.size += len(emits[1])
        if emits[2] > self.level:
            self.level = emits[2]

    def data(self) -> bytes:
        if self._data is None:
            self._data = b"".join(self.parts)
        return self._data


class _Insn:
    """A recorded line that is an instruction alone (no label, TIMES or EQU) whose bytes
    may change between passes: a later pass assembles its Insn directly (without a
    listing or debug information, which go through _line)."""

    __slots__ = ("sl", "action")

    def __init__(self, sl, action):
        self.sl = sl
        self.action = action


def _insn_kind(action) -> str:
    """_STATIC, _BRANCH or _OTHER (cached on the Insn)."""
    kind = action._kind
    if kind is None:
        if any(map(colons.special, action.operands)):
            colons.rewrite(action)          # `a:b`, `word eax`: as NASM reads them
        if action.mnemonic in _relative_mnemonics():
            kind = _BRANCH
        else:
            kind = _STATIC
            for op in action.operands:
                if not _operand_static(op):
                    kind = _OTHER
                    break
        action._kind = kind
    return kind


def _default_bnd(action: P.Insn) -> P.Insn:
    """The instruction as `default bnd` has it: with encoder.DEFAULT_BND among its
    prefixes when one of its forms can take F2 and no `bnd`/`nobnd` is written (another
    Insn, kept on this one, so the encodings cached on each and keyed on the prefixes
    never mix the two states)."""
    twin = action.__dict__.get("_bnd_twin")
    if twin is None:
        twin = action
        if (action.mnemonic.lower() in encoder.bnd_mnemonics()
                and not {"bnd", "nobnd"} & {p.lower() for p in action.prefixes}):
            twin = P.Insn((*action.prefixes, encoder.DEFAULT_BND), action.mnemonic,
                          action.operands)
        action._bnd_twin = twin
    return twin


def _branch_target(action):
    """(label, mnemonic) of `jcc label` (one plain label operand, no prefix or keyword),
    the branches _insn encodes without evaluating the operand; False for the others."""
    ops = action.operands
    if (len(ops) == 1 and not action.prefixes and type(ops[0]) is P.OpExpr
            and not ops[0].mods and type(ops[0].expr.node) is E.Sym):
        return ops[0].expr.node.name, action.mnemonic.lower()
    return False


def _static_insn(action) -> bool:
    """True if no operand refers to a symbol, `$` or `$$` (and it is not a jump)."""
    return _insn_kind(action) is _STATIC


def _operand_static(op) -> bool:
    """True if an operand refers to no symbol, `$` or `$$`: its value is always the same,
    whatever the pass, line or assembly (cached on the operand)."""
    flag = op._static
    if flag is None:
        flag = True
        for ce in (op.seg, op.offset) if type(op) is P.OpFar else (op.expr,):
            if isinstance(ce, P.CExpr) and _has_symbols(ce.node):
                flag = False
                break
        op._static = flag
    return flag


def _symbol_names(action: P.Insn):
    """The symbol names an instruction's operands read, in order (tuple); False if they
    read anything else that changes (`$`, `$$`, a function, a string...)."""
    names: list = []

    def walk(n) -> bool:
        todo = [n]      # (a stack, not recursion: an operand may be a long chain)
        while todo:
            n = todo.pop()
            t = type(n)
            if t is E.Sym:
                names.append(n.name)
            elif t is E.Binary:
                todo += (n.right, n.left)
            elif t is E.Unary:
                todo.append(n.operand)
            elif t is not E.Num and t is not E.RegRef:
                return False
        return True

    for op in action.operands:
        parts = (op.seg, op.offset) if type(op) is P.OpFar else (op.expr,)
        for ce in parts:
            if ce is not None and not walk(ce.node):
                return False
    return tuple(names)


_SegBase = E.SegBase
_SEG_PROBE = Section("<segment base>", -1)     # (Assembler._segment_field)


def _parse_warning(text: str) -> bool:
    """A warning NASM's parser gives (once for a TIMES line, not per repetition)."""
    return ("character constant too long" in text or " does not fit in 64 bits " in text
            or warning_class(text) in ("regsize", "float-overflow"))


def _zeroing_runs(runs: list) -> int:
    """How many reservations Assembler._reserve_runs's entries make."""
    return sum(type(x) is int or (x is not None and x[0] * _zeroing_runs(x[1]))
               for x in runs)


def _item_ends(action: P.Data, total: int) -> list:
    """Where each item with bytes of a data line ends (bytes from its start), as far as
    the items tell (a string takes whole units); at most ``total``."""
    ends, at, unit = [], 0, action.unit
    for ce in action.items:
        if ce is None:
            at += unit
            continue
        if type(ce.node) is E.Str:
            if ce.node.value == b"":
                continue
            at += -(-len(ce.node.value) // unit) * unit
        else:
            at += unit
        ends.append(min(at, total))
    return ends


def _items_with_bytes(action: P.Data) -> int:
    """A data line's items that emit bytes (not `?`, not '')."""
    return sum(ce is not None and (type(ce.node) is not E.Str or ce.node.value != b"")
               for ce in action.items)


def _has_symbols(node) -> bool:
    """Whether an expression's value may change between passes or lines (a symbol, `$`,
    a function...). A stack, not recursion: `1+(1+(...))` nests thousands deep."""
    todo = [node]
    while todo:
        node = todo.pop()
        t = type(node)
        if t is E.Binary:
            todo += (node.right, node.left)
        elif t is E.Unary:
            todo.append(node.operand)
        elif t is E.Cond:
            todo += (node.other, node.then, node.cond)
        elif t in (E.Sym, E.Here, E.SectStart, E.Func, E.WideNum) or (
                t is E.Str and E.chars_too_long(node.value)):
            # (a string NASM warns about, on each line: evaluated each time)
            return True
    return False


def _relative_mnemonics() -> frozenset:
    """Mnemonics with a relative-branch form: their encoding depends on the address."""
    global _REL_MNEMONICS
    if _REL_MNEMONICS is None:
        from asm.x86.table import by_mnemonic
        _REL_MNEMONICS = frozenset(m for m, forms in by_mnemonic().items()
                                   if any(t.startswith("rel") for f in forms
                                          for t in f.operands))
    return _REL_MNEMONICS


# Assembler._encode_static's encodings: key -> (Encoded, offset and size of the
# immediate's field) or False (the class's encodings differ in more than the field: encode each)
_imm_memo: dict = {}


def _imm_template(enc: Encoded, mnemonic: str, ops: list, at: int, bits: int, prefixes,
                  section, absolute) -> object:
    """(enc, offset, size) of the field of ``enc`` (the encoding with ``ops[at]``) that
    holds the immediate's value, when the encodings of other values of its number_class
    differ in that field only (asm/shapes.py: number_field); False otherwise, and for an
    encoding with fixups or warnings."""
    d = getattr(enc, "__dict__", None)
    if d is None or enc.fixups or any(d.get(k) for k in ("obsolete", "warnings", "overflow")):
        return False
    imm = ops[at]
    rest = dict(d)
    del rest["data"]

    def encode_with(w: int) -> Optional[bytes]:
        probe = list(ops)
        probe[at] = plainrecord.replace(imm, value=w)
        try:
            other = encoder.encode(mnemonic, probe, bits, 0, prefixes, section=section,
                                   absolute=absolute)
        except AsmError:
            return None
        others = dict(other.__dict__)
        data = others.pop("data")
        return data if others == rest else None

    where = number_field(enc.data, imm.value, encode_with)
    return False if where is None else (enc, *where)


# the prefixes NASM refuses inside a memory operand's brackets (a16/a32 are taken)
_PREFIX_WORDS = frozenset(("lock", "rep", "repe", "repz", "repne", "repnz", "o16", "o32",
                           "xacquire", "xrelease", "bnd", "nobnd", "wait"))


def _operand_key(op) -> tuple:
    """Everything of an operand the encoder may look at (relocs by their target)."""
    t = type(op)
    if t is Reg:
        return ("r", op.name, op.spec)
    if t is Imm:
        return ("i", op.value, op.size, op.strict, op.jump, _reloc_key(op.reloc), op.unknown,
                op.not_simple, op.unknowable)
    if t is Mem:
        return ("m", op.size, op.seg, tuple(op.regs), op.disp, op.disp_size,
                _reloc_key(op.reloc), op.unknown, op.nosplit, op.jump, op.strict, op.scaled,
                op.asize, op.relative)
    return ("f", op.seg, op.offset, op.size)


def _check_wrt(reloc: Reloc, size: int, pcrel: bool, addend: int, asm) -> None:
    """What ``nasm -f elf32`` rejects about a ``wrt`` field, reported at its line (the ELF
    writer checks again, without a line)."""
    wrt = reloc.wrt
    if (not pcrel and (wrt == "..got" or wrt == "..sym") and reloc.symbol is None
            and reloc.section is not None and asm.sl is not None):
        # (the writer looks for a global at x, `dd x wrt ..sym`: its error names the line)
        lines = asm.gsym_sites.setdefault((id(reloc.section), addend, wrt), [])
        if (asm.sl.file, asm.sl.line) not in lines:
            lines.append((asm.sl.file, asm.sl.line))
    if pcrel:
        if size != 4:   # (NASM's first check of a PC-relative field, whatever the wrt)
            raise AsmError(f"Unsupported {size * 8}-bit ELF relocation")
        if wrt in ("..gotpc", "..gotoff", "..got"):
            raise AsmError("ELF format cannot produce PC-relative GOT references")
        if wrt != "..plt":
            raise AsmError("ELF format does not support this use of WRT")
    elif wrt == "..plt":
        raise AsmError("ELF format cannot produce non-PC-relative PLT references")
    elif size != 4 and wrt != "..sym":
        raise AsmError(f"Unsupported {size * 8}-bit ELF relocation")
    elif wrt == "..got" and reloc.symbol is not None and addend:
        raise AsmError("invalid access to an external symbol")


def _reloc_key(reloc):
    if reloc is None:
        return None
    return (id(reloc.section), id(reloc.symbol), reloc.wrt)


_MERGE_WITHOUT_SIZE = "section attribute merge specified without an entry size or `strings'"


def _merge_without_size(s: Section) -> bool:
    """A first declaration's `merge` with no entry size (its words' or its name's) and
    no `strings` (NASM's ELF error)."""
    from asm.elf_output import SHF_MERGE, SHF_STRINGS, declared_words, section_layout
    if not declared_words(s.attrs)[2] & SHF_MERGE:
        return False
    flags, entsize = section_layout(s)[1:3]
    return not entsize and not flags & SHF_STRINGS


def _elf_attribute(key: str, eq: str) -> bool:
    """A section attribute NASM's ELF output knows (flags, types, entsize=)."""
    from asm.elf_output import _FLAG_WORDS, _TYPE_WORDS, size_unit
    return (key in _FLAG_WORDS or key in _TYPE_WORDS or (key == "entsize" and bool(eq))
            or (not eq and size_unit(key) is not None))


_SREGS = frozenset(("es", "cs", "ss", "ds", "fs", "gs"))
_GPR_SIZE = {r: 16 for r in ("ax", "bx", "cx", "dx", "si", "di", "bp", "sp")}
_GPR_SIZE.update({"e" + r: 32 for r in _GPR_SIZE})


def _deoptimize(ops: list, mnemonic: str, level: int) -> list:
    """NASM's -O0/-O1 as `strict` operands: -O0 keeps immediates long (no sign-extended
    byte forms) and `jmp` near; -O1 shortens immediates but no jump (jcc included)."""
    m = mnemonic.lower()
    jmp = m == "jmp"
    jcc = m[:1] == "j" and m not in ("jmp", "jcxz", "jecxz")
    if not (jmp or (jcc and level == 1) or (not jcc and level == 0)):
        return ops
    return [plainrecord.replace(o, strict=True) if type(o) is Imm and not o.strict
            and o.size != 1 and o.jump is None else o for o in ops]


# NASM's declare_label: declarations of one name that do not go together (old, new)
_DECLARED_BOTH = frozenset((("global", "static"), ("static", "global"), ("static", "extern"),
                            ("static", "required"), ("static", "common"),
                            ("extern", "static"), ("required", "static"),
                            ("common", "static"), ("global", "common"),
                            ("common", "global")))


def _leading_expression(text: str, malformed: str):
    """The expression at the start of ``text``, the rest ignored, as NASM's evaluator
    reads it (it stops at the first token that cannot go on with it); when there is none,
    ``malformed`` is parsed for its error."""
    tokens = P.tokenize(text)
    end = P._expression_end(tokens, 0) if tokens else None
    return P.parse_expr_tokens(tokens[:end]) if end else P.parse_expr(malformed)


def _atoi(text: str) -> int:
    """C's atoi: the leading decimal digits after blanks and a sign (0 when none)."""
    m = re.match(r"\s*([-+]?)0*(\d+)", text)
    if not m:
        return 0
    # (past 19 digits C's atoi overflows; its value is no valid operand anyway, and
    # Python refuses 4,300 digits and more)
    return int(m.group(1) + m.group(2)[:19])


def _find_file(name: str, include_paths: Sequence, current: str) -> Optional[str]:
    candidates = [name]
    for d in include_paths:
        candidates.append(os.path.join(d, name))
    for c in candidates:
        if os.path.isfile(c) and access.allowed(c):     # (pyvm's guest: asm/access.py)
            return c
    return None


def _same_layout(a: Layout, b: Layout, sections: list) -> bool:
    return all(a.base(s) == b.base(s) for s in sections)


def _as_asm_error(exc: BaseException) -> AsmError:
    """A line's failure as the error it reports (Python's limits in NASM's words)."""
    if isinstance(exc, RecursionError):
        return AsmError("expression too deeply nested")
    if isinstance(exc, MemoryError):
        return AsmError("out of memory: output too large")
    return exc


def _pass_one_errors(errors: list) -> list:
    """What NASM reports when errors end pass 1: the errors it finds only in its final
    pass (a bad operand combination...) appear only when pass 1 found nothing else."""
    early = [e for e in errors if not _final_pass_error(e)]
    return early or errors


def _first_undefined(node, symbols: dict) -> Optional[str]:
    """The first symbol an expression names that is not defined (yet)."""
    if type(node) is E.Sym:
        sym = symbols.get(node.name)
        return node.name if sym is None or sym.value is None else None
    for child in vars(node).values() if hasattr(node, "__dict__") else ():
        if isinstance(child, E.Expr):
            name = _first_undefined(child, symbols)
            if name is not None:
                return name
    return None


def _undefined_operands(errors: list, symbols: dict) -> None:
    """An operand combination refused in pass 1 whose line names a symbol that pass 1
    never defined: NASM's final pass reports the symbol instead (`fld st8`)."""
    for e in errors:
        if e.message != "invalid combination of opcode and operands" or not getattr(
                e, "text", None):
            continue
        try:
            tokens = P.tokenize(P._strip_comment(e.text))
        except AsmError:
            continue
        name = next((v for k, v in tokens[1:] if k == "ID" and v[0] != "."
                     and v.lower() not in ("to", "seg", "wrt")
                     and (symbols.get(v) is None or symbols[v].value is None)), None)
        if name is not None:
            e.message = f"symbol `{name}' not defined"
            e.final_pass = True


def _immediate_terms(v):
    """An immediate as NASM's parser takes it (is_reloc): a segment base multiplied by
    other than 1 or -1 counts for nothing (`mov eax, 2*x` is twice x's offset)."""
    return E.make(v.off, {k: c for k, c in v.terms.items()
                          if c == 1 or c == -1 or isinstance(k, str)})


def _long_mode_register(name: str, bits: int, address: bool = False) -> AsmError:
    """NASM's error for a register of 64-bit mode in another: its parser refuses one
    only REX reaches (`r8d`, `sil`); a 64-bit one is refused by the instruction (as an
    address register: the address sizes)."""
    size = P.REGISTERS_64[name]
    if address and size < 32:       # (`[r8w]`, `[sil]`: no address register at all)
        return AsmError(f"invalid {bits}-bit effective address")
    if size != 64:
        return AsmError("invalid operands in non-64-bit mode")
    if address:
        return AsmError("impossible combination of address sizes",
                        also=(f"invalid {bits}-bit effective address",))
    return AsmError(f"instruction not supported in {bits}-bit mode")


def _has_register(v) -> bool:
    """A value with a register term (NASM's parser refuses it as data in any pass)."""
    return type(v) is E.Rel and any(type(k) is str for k in v.terms)


def _final_pass_error(e: AsmError) -> bool:
    return (e.message in _FINAL_PASS_ERRORS or getattr(e, "status", 1) == 3
            or getattr(e, "final_pass", False) or getattr(e, "final_pass_only", False)
            or e.message.startswith("unrecognised special symbol `"))


def _negative_times(n: int) -> AsmError:
    """NASM's error for a negative TIMES count: it takes the count as 0 and says so in
    its final pass only (pass 1's other errors alone stop it first)."""
    err = AsmError(f"TIMES value {n} is negative")
    err.final_pass = True
    return err


_OPEN_MEMORY = "expecting ] at end of memory operand"
_NOT_SIMPLE = "expression is not simple or relocatable"
_LABEL_FOLLOWERS = frozenset(("COLON", "INSN", "DATA", "RESV", "EQU", "TIMES", "PREFIX",
                              "SREG"))
_NOT_KEYWORD = "is not a NASM keyword [-w+ptr]"
_SCANNED_DIRECTIVES = ("absolute", "org", "sectalign")     # (expressions NASM's scanner reads)
_PTR_WORDS: dict = {}       # line text -> the `ptr` words in it (as written)


def _ptr_words(text: str) -> tuple:
    """The words `ptr` (any case) a line holds outside strings and comments: NASM's
    scanner warns about each as it reads the line."""
    words: tuple = ()
    if "ptr" in text.lower():
        # (the tokens as written: `$ptr` is a symbol, never the word)
        words = tuple(v for v in P._SCAN_RE.findall(P._strip_comment(text))
                      if len(v) == 3 and v.lower() == "ptr")
    if len(_PTR_WORDS) < 100_000:
        _PTR_WORDS[text] = words
    return words


def _reported_later(e: AsmError) -> bool:
    """A pass-1 error NASM finds in its final pass, having gone on to it: not a panic, not
    `..start:` (NASM stops after pass 1 there), not a refused EQU (NASM defines it all
    the same, so its later passes see it: pyasm cannot, and stops after pass 1)."""
    if (not _final_pass_error(e) or getattr(e, "status", 1) == 3
            or e.message.startswith("unrecognised special symbol `")):
        return False
    if e.message.startswith("TIMES value "):
        return True         # (`x times -1 equ 3`: x is a label at `$` all the same)
    try:
        return all(k != "EQU" for k, _ in P.tokenize(P._strip_comment(getattr(e, "text", ""))))
    except AsmError:
        return False


def _dedupe(errors: list) -> list:
    """Each error once per line of the stream (a %rep body's line has one per repetition,
    as in NASM)."""
    seen = set()
    out = []
    for e in errors:
        key = (e.file, e.line, e.message, getattr(e, "at", None),
               id(e) if getattr(e, "repeated", False) else 0)
        if key not in seen:
            seen.add(key)
            out.append(e)
    return out


# --------------------------------------------------------------------------- entry point

def assemble(text: str, filename: str = "<stdin>", *, fmt: str = "bin",
             include_paths: Sequence[str] = (), defines: Sequence[tuple] = (),
             undefines: Sequence[str] = (), listing: bool = False,
             bits: int = 16, optimize: int = 2, debug: bool = False,
             pre: Sequence[tuple] = (), depends: Optional[list] = None,
             warnings: Sequence[tuple] = ()) -> Assembly:
    """Assemble NASM source text.

    ``defines`` are ``(name, value or None)`` pairs as from ``-D``. Raises AsmErrors with
    every error found (each with file and line, and ``notes`` for macro context); the
    exception's ``warnings`` lists the warnings issued before it. ``debug`` records what
    ``-g`` needs (``Assembly.debug``, see asm/debuginfo.py). ``warnings``: the -w
    options' rules (asm.errors.warning_rule), which `[warning]` directives then change;
    a warning they make an error fails the run (AsmErrors, the warning in its place).
    """
    from asm.preproc import Preprocessor

    asm = Assembler(fmt=fmt, bits=bits, listing=listing)
    affixes = {p[1]: p[2] for p in pre if p[0] == "affix"}
    if affixes:
        asm.cmdline_affixes = affixes
    if debug:
        from asm.debuginfo import LineRecorder
        asm.debug = LineRecorder()
    asm.optimize = optimize         # NASM's -O0 / -O1 / -Ox (2)
    asm.warning_init = list(warnings)
    asm.main_file = filename
    asm.include_paths = list(include_paths)
    asm.incbin_cache = {}
    asm.depends = depends           # -MD: the files found by incbin are added
    # (NASM 2.16 lists the main file, %depend and incbin files when it also assembles)
    pp = Preprocessor(text, filename, include_paths=include_paths, defines=defines,
                      undefines=undefines, fmt=fmt, symbol_value=asm.pp_symbol,
                      report=asm.errors_append, pre=pre, depends=depends,
                      depend_includes=False)
    pp.here_value = asm.pp_here
    pp.ptr_hook = asm.note_ptr
    pp.warning_position = asm.pp_warning_position
    pp.warning_shown = asm.warning_shown
    pp.warning_error = asm.warning_error
    enabled = gc.isenabled()
    gc.disable()            # the parse caches hold many small objects; GC scans dominate
    try:
        result = asm.run(pp.lines())
        errors = []
    except AsmErrors as exc:
        result, errors = None, exc.errors
        before_final = any(getattr(e, "before_final", False) for e in errors)
        if before_final:
            # (NASM stopped before its final pass: none of that pass's errors either)
            errors[:] = [e for e in errors if getattr(e, "before_final", False)
                         or not _final_pass_error(e)]
        if (asm.passno == 1 and not all(map(_final_pass_error, errors))) or before_final:
            exc.warnings, exc.warning_order = _pass_one_warnings(pp, asm)
        else:
            exc.warnings, exc.warning_order = _in_source_order(pp, asm.warnings,
                                                               asm.warning_at)
        if not _warning_error_in_pass_one(pp, asm.warnings):
            raise
    finally:
        if enabled:
            gc.enable()
    if _warning_error_in_pass_one(pp, asm.warnings):
        # a warning made an error in pass 1 ends NASM there, as an error does
        failed = AsmErrors([e for e in errors if not _final_pass_error(e)
                            and not e.message.endswith("' not defined")])
        failed.warnings, failed.warning_order = _pass_one_warnings(pp, asm)
        raise failed
    result.warnings, order = _in_source_order(pp, result.warnings, asm.warning_at)
    if any(type(w) is WarningError for w in result.warnings):
        failed = AsmErrors(errors)
        failed.warnings, failed.warning_order = result.warnings, order
        failed.listing = result.listing
        raise failed
    return result


def _warning_error_in_pass_one(pp, warnings: list) -> bool:
    """Whether a warning NASM gives in pass 1 was made an error (NASM then stops there)."""
    return (any(type(w) is WarningError and warning_class(w) != "user" for w in pp.warnings)
            or any(type(w) is WarningError and _pass_one_warning(w) for w in warnings))


def _pass_one_warning(w: str) -> bool:
    return ((warning_class(w) not in _FINAL_PASS_WARNINGS
             and ": attempt to initialize memory in " not in w)
            or " does not fit in 64 bits " in w)    # (NASM's scanner's: in pass 1 too)


def _pass_one_warnings(pp, asm) -> tuple:
    """The warnings NASM gives when errors end it in pass 1: not those of its final pass
    (the assembler's final-pass classes, `%warning`'s)."""
    warnings = asm.warnings
    keep = [k for k, w in enumerate(warnings) if _pass_one_warning(w)]
    user = [k for k, w in enumerate(pp.warnings) if warning_class(w) == "user"]
    for k in reversed(user):
        del pp.warnings[k], pp.warning_at[k]
    return _in_source_order(pp, [warnings[k] for k in keep], [asm.warning_at[k] for k in keep])


# warnings NASM gives in its final pass only (not when errors stop it after pass 1)
_FINAL_PASS_WARNINGS = frozenset(("number-overflow", "zeroing", "obsolete-removed",
                                  "obsolete-valid", "prefix-lock", "prefix-hle",
                                  "prefix-opsize", "prefix-bnd", "float-overflow"))


# errors NASM finds only in its final pass (which then warns as it goes)
_FINAL_PASS_ERRORS = frozenset(("invalid combination of opcode and operands",
                                "operation size not specified", "mismatch in operand sizes",
                                "no instruction for this cpu level",
                                "instruction not supported in 16-bit mode",
                                "instruction not supported in 32-bit mode",
                                "short jump is out of range", "bnd prefix is not allowed",
                                "nobnd prefix is not allowed",
                                "attempt to assemble code in [ABSOLUTE] space",
                                "repne prefix is not allowed",
                                "repnz prefix is not allowed",
                                "binary output format does not support external references",
                                "invalid use of self-relative expression"))


def _pp_symbol(self, name: str):
    """Symbol lookup for the preprocessor's %if/%assign (interleaved with pass 1)."""
    if name[0] == "." and not name.startswith(".."):
        name = self.base_label + name
    sym = self.symbols.get(name)
    if sym is None or sym.value is None:
        raise AsmError(f"symbol `{name}' not defined before use")
    return sym.value


def _in_source_order(pp, warnings: list, at: list) -> tuple:
    """The preprocessor's warnings and the assembler's, in the order of the lines they
    belong to (NASM's order; a preprocessor warning comes before the assembler's for the
    line it precedes), and their places (Assembler._order)."""
    if not pp.warnings:
        return list(warnings), list(at)
    merged = sorted([(p, 0, k) for k, p in enumerate(pp.warning_at)]
                    + [(p, 1, k) for k, p in enumerate(at)])
    return ([pp.warnings[k] if who == 0 else warnings[k] for _, who, k in merged],
            [p for p, _, _ in merged])


def _pp_warning_position(self) -> int:
    """Where a preprocessor warning goes among the assembler's (see Assembler.warn)."""
    return self._order(0) if self.record is not None else (0, 0, 0)


def _pp_here(self, start: bool):
    """`$` (or `$$` when start) for the preprocessor's %if: where the next line goes."""
    if self.cur is None:
        return self.abs_start if start else self.abs_pos
    return E.Rel(0 if start else self.pos, {self.cur: 1})


def _errors_append(self, err: AsmError) -> None:
    """Preprocessor errors join the current pass's errors in source order."""
    if not hasattr(err, "at"):
        err.at = self._line_at()
    err.order = self._order(0)
    self.errors.append(err)


Assembler.pp_symbol = _pp_symbol
Assembler.pp_here = _pp_here
Assembler.pp_warning_position = _pp_warning_position
Assembler.errors_append = _errors_append
