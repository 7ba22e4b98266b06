"""``pyasm -f elf32``: turn an :class:`~asm.assembler.Assembly` into an ELF32 relocatable.

The assembler hands over sections (bytes + :class:`~asm.assembler.SectionFixup`) and
symbols; this module maps them onto :mod:`formats.elf`'s writer the way NASM's
``outelf.c`` does, so that the object matches ``nasm -f elf32``'s:

- sections keep the assembler's order; type/flags/alignment come from NASM's table of
  known names (``section_defaults``) modified by the attribute words
  (``progbits nobits alloc noalloc exec noexec write nowrite tls notls align=N ...``);
  ``align``/``sectalign`` raise the alignment. Only sections that were actually used
  (declared, or holding something) are written; NASM always writes ``.text``.
- symbols: labels and EQU constants become local symbols (absolute ones in ``*ABS*``)
  unless declared ``global``; ``extern`` symbols are undefined globals; ``common``
  symbols go to ``*COM*`` with their size (and alignment as the value). NASM lists
  symbols in the order they were defined (externs/commons: declared).
- a field referring to a section (a label in this object, even a global one) is
  relocated against the section symbol with the label's offset kept in place, one
  referring to an extern or common symbol against that symbol; PC-relative fields hold
  ``addend - (end of instruction - field)``. ``wrt ..gotpc/..gotoff/..got/..plt/..sym``
  select R_386_GOTPC/GOTOFF/GOT32/PLT32 and the symbol-relative forms.
"""

from __future__ import annotations

import functools
import re
from typing import Optional

from asm.directive_args import SYMBOL_TYPES
from asm.errors import AsmError, AsmErrors
from formats.elf import (
    ABS,
    COMMON,
    ObjReloc,
    ObjSection,
    ObjSymbol,
    section_defaults,
    write_relocatable,
)
from formats.elf.constants import (
    R_386_8,
    R_386_16,
    R_386_32,
    R_386_GOT32,
    R_386_GOTOFF,
    R_386_GOTPC,
    R_386_PC8,
    R_386_PC16,
    R_386_PC32,
    R_386_PLT32,
    SHF_ALLOC,
    SHF_EXECINSTR,
    SHF_MERGE,
    SHF_STRINGS,
    SHF_TLS,
    SHF_WRITE,
    SHT_FINI_ARRAY,
    SHT_INIT_ARRAY,
    SHT_NOBITS,
    SHT_NOTE,
    SHT_PREINIT_ARRAY,
    SHT_PROGBITS,
    STT_NOTYPE,
    STT_OBJECT,
    STT_TLS,
)
from formats.elf.tables import ElfError

GOT_SYMBOL = "_GLOBAL_OFFSET_TABLE_"

_ABS_TYPES = {1: R_386_8, 2: R_386_16, 4: R_386_32}
_PC_TYPES = {1: R_386_PC8, 2: R_386_PC16, 4: R_386_PC32}

_FLAG_WORDS = {
    "alloc": (SHF_ALLOC, True), "noalloc": (SHF_ALLOC, False),
    "exec": (SHF_EXECINSTR, True), "noexec": (SHF_EXECINSTR, False),
    "write": (SHF_WRITE, True), "nowrite": (SHF_WRITE, False),
    "tls": (SHF_TLS, True), "notls": (SHF_TLS, False),
    "merge": (SHF_MERGE, True), "strings": (SHF_STRINGS, True),
    "readonly": (SHF_WRITE, False), "nomerge": (SHF_MERGE, False),
    "nostrings": (SHF_STRINGS, False),
}
# a section's entry size from a size word: (name, bytes, alignment); `pointer` is 4
_SIZE_UNITS = (("byte", 1, 1), ("word", 2, 2), ("dword", 4, 4), ("qword", 8, 8),
               ("tword", 10, 2), ("tbyte", 10, 2), ("oword", 16, 16), ("xword", 16, 16),
               ("yword", 32, 32), ("zword", 64, 64), ("pointer", 4, 4))
_ARRAY_TYPES = (SHT_PREINIT_ARRAY, SHT_INIT_ARRAY, SHT_FINI_ARRAY)


def size_unit(word: str) -> Optional[tuple]:
    """(entry size, alignment) a section attribute gives as NASM's ELF output reads it: a
    size word or any start of one (`b`), `*N` times (NASM then compares a character
    less: `dword*2`); None for another word."""
    star = word.find("*")
    head, mult = word.lower(), 1
    if star >= 0:
        if star == 0:
            return None
        head = head[:star - 1]
        try:
            mult = int(word[star + 1:], 0) & 0xFFFFFFFFFFFFFFFF    # (NASM's readnum)
        except ValueError:
            mult = 0
    for name, size, align in _SIZE_UNITS:
        if name.startswith(head):
            return size * mult & 0xFFFFFFFF, align      # (sh_entsize: 32 bits)
    return None
_TYPE_WORDS = {"note": SHT_NOTE, "preinit_array": SHT_PREINIT_ARRAY,
               "init_array": SHT_INIT_ARRAY, "fini_array": SHT_FINI_ARRAY}


# --------------------------------------------------------------------------- sections

def section_kind(name: str, nobits: bool, attrs) -> tuple:
    """(sh_type, sh_flags) NASM gives a section: its name's defaults, `nobits` or
    `progbits` (``nobits``), the flag and type words of ``attrs``."""
    stype, flags = section_defaults(name)[:2]
    if nobits:
        stype = SHT_NOBITS
    elif stype == SHT_NOBITS:
        stype = SHT_PROGBITS            # (`section .tbss progbits`: NASM's contents)
    for word in attrs:
        key = word.partition("=")[0].lower()
        if key in _FLAG_WORDS:
            bit, on = _FLAG_WORDS[key]
            flags = flags | bit if on else flags & ~bit
        elif key in _TYPE_WORDS:
            stype = _TYPE_WORDS[key]
    return stype, flags


def declared_words(words) -> tuple:
    """NASM's elf_section_attrib over a declaration's attribute words: (type word's
    sh_type or 0, flags_and, flags_or, entsize or 0, size alignment or 0). The array
    default (entsize and alignment 4) comes from a type word, never from the name."""
    stype = f_and = f_or = entsize = xalign = 0
    for word in words:
        key, eq, val = word.partition("=")
        key = key.lower()
        if key in _FLAG_WORDS:
            bit, on = _FLAG_WORDS[key]
            f_and |= bit
            f_or = f_or | bit if on else f_or & ~bit
        elif key in _TYPE_WORDS:
            stype = _TYPE_WORDS[key]
        elif key == "progbits" or key == "nobits":
            stype = SHT_PROGBITS if key == "progbits" else SHT_NOBITS
        elif key == "entsize" and eq:
            try:
                entsize = int(val, 0) & 0xFFFFFFFF
            except ValueError:
                raise AsmError(f"invalid section entry size `{val}'") from None
        elif not eq:
            unit = size_unit(key)
            if unit is not None:
                entsize, xalign = unit
    if stype in _ARRAY_TYPES:
        xalign, entsize = xalign or 4, entsize or 4
    return stype, f_and, f_or, entsize, xalign


def section_layout(s) -> tuple:
    """(sh_type, sh_flags, entsize, alignment) of an assembler Section as NASM's ELF output
    has it: its first declaration's words over the name's defaults, then what a
    redeclaration added (elf_align: alignment grown, elf_entsize: an entry size where
    there was none); entsize 0 with `merge` is left to the caller."""
    stype, flags = section_kind(s.name, s.nobits, s.attrs)
    align, entsize = section_defaults(s.name)[2:]
    attr_entsize, xalign = declared_words(s.attrs)[3:]
    entsize = attr_entsize or entsize
    if getattr(s, "attr_declared", False):
        align = xalign or 1     # NASM: a section declared with attributes loses its default
    if s.align is not None:
        align = s.align
    align = max(align, getattr(s, "elf_align", 1))
    entsize = entsize or getattr(s, "elf_entsize", 0)
    return stype, flags, entsize, align


def _obj_section(s) -> ObjSection:
    """An assembler Section -> ObjSection with NASM's type, flags and alignment."""
    stype, flags, entsize, align = section_layout(s)
    if flags & SHF_MERGE and not entsize:
        entsize = 1         # (`merge strings`)
    align = max(align, s.sectalign or 1)
    if stype == SHT_NOBITS:
        return ObjSection(s.name, b"", stype, flags, align, entsize, size=s.size)
    data = bytes(s.data)
    if len(data) < s.size:
        data += bytes(s.size - len(data))
    return ObjSection(s.name, data, stype, flags, align, entsize)


def _used_sections(asm, scan: Optional[_SourceScan]) -> list:
    """NASM creates a section at its first ``section`` directive (pass 1), but the
    default ``.text`` only when something is put or defined in it (final pass): then it
    comes after every declared section, and it is left out when unused. The driver
    always creates ``.text`` first, so whether it was declared comes from the source
    scan (or a ``Section.declared`` flag, if the driver provides one)."""
    sections = list(asm.sections)
    text = next((s for s in sections if s.name == ".text"), None)
    if text is None:
        return sections
    # the driver numbers first declarations (`decl_seq`, also those in included files);
    # the source scan is the fallback for a driver that does not
    numbered = sorted((s for s in sections if getattr(s, "decl_seq", None) is not None),
                      key=lambda s: s.decl_seq)
    declared_names = [s.name for s in numbered] if numbered else (
        scan.sections if scan is not None else None)
    declared = getattr(text, "declared", None)
    if declared is None:
        if declared_names is None:
            return sections
        declared = ".text" in declared_names
    if declared:
        if declared_names is None or ".text" not in declared_names:
            return sections
        # declared by a directive: it takes its place among the declared sections
        later = set(declared_names[declared_names.index(".text") + 1:])
        sections.remove(text)
        at = next((i for i, s in enumerate(sections) if s.name in later), len(sections))
        sections.insert(at, text)
        return sections
    used = text.size > 0 or any(
        getattr(sym, "section", None) is text and sym.value is not None
        for sym in asm.symbols.values())
    sections.remove(text)
    if used:
        sections.append(text)
    return sections


class _SourceScan:
    """What the driver does not record, read off the main source file's lines: which
    sections a ``section``/``segment`` directive names, and on which line each
    ``extern``/``common`` is declared (NASM orders those symbols by declaration).
    Scanned on first use: a driver that records declarations never pays for it."""

    _DIRECTIVE = re.compile(r"^\s*\[?\s*(section|segment|extern|required|common|endstruc)\b"
                            r"([^\]\n;]*)",
                            re.IGNORECASE | re.MULTILINE)

    def __init__(self, text: str):
        self._text = text

    @property
    def sections(self) -> list:
        """The sections' first declarations, in order."""
        return self._scan[0]

    @property
    def decl_line(self) -> dict:
        """Extern/common name -> line of its first declaration."""
        return self._scan[1]

    @functools.cached_property
    def _scan(self) -> tuple:
        text = self._text
        sections: list = []
        decl_line: dict = {}
        seen = set()
        line, counted = 1, 0    # lines counted incrementally: 65k sections stay linear
        for m in self._DIRECTIVE.finditer(text):
            line += text.count("\n", counted, m.start())
            counted = m.start()
            kind, args = m.group(1).lower(), m.group(2).strip()
            if kind == "endstruc":
                # expands to __SECT__: `[section .text]` while no section was named yet
                if not sections:
                    sections.append(".text")
                    seen.add(".text")
                continue
            if not args:
                continue
            if kind in ("section", "segment"):
                name = args.split()[0]
                if name not in seen:
                    seen.add(name)
                    sections.append(name)
                continue
            names = [args.split()[0]] if kind == "common" else args.replace(",", " ").split()
            for n in names:
                n = n.split(":")[0]
                n = n[1:] if n.startswith("$") else n
                decl_line.setdefault(n, line)
        return sections, decl_line


# --------------------------------------------------------------------------- symbols

def _definition_order(asm, scan: Optional[_SourceScan], main: Optional[str]) -> list:
    """Symbols in the order NASM's ELF writer meets them: labels/EQUs where defined,
    externs and commons where declared.

    The driver's symbol dict is in creation order, which is definition order except for
    names created early by ``global`` (before their label). A driver that records
    ``Symbol.def_seq`` (the definition sequence of the final pass) decides; otherwise the
    symbols whose line in the main file is known (labels: ``defined_at``; externs and
    commons: the source scan) are sorted by line among the slots they occupy, the others
    keep their place.
    """
    # one loop over the symbols (under PyPy each loop is a JIT trace of its own, compiled
    # for one run): the emitted ones, and the line each is keyed by
    syms = []
    keyed = []
    declared = False            # an extern or common symbol
    for s in asm.symbols.values():
        if not _emitted(s):
            continue
        kind = s.kind
        if kind == "extern" or kind == "common":
            declared = True
        elif s.defined_at and main is not None and s.defined_at[0] == main:
            keyed.append((s.defined_at[1], len(syms)))
        syms.append(s)
    if declared:
        syms, keyed = _with_declarations(asm, syms, scan, main)
    if syms and all(getattr(s, "def_seq", None) is not None for s in syms):
        return sorted(syms, key=lambda s: s.def_seq)
    order = sorted(keyed)
    if order == keyed:
        return syms         # (the usual case, at once: the loops below are JIT traces)
    slots = [i for _, i in keyed]
    ordered = [syms[i] for _, i in order]
    out = list(syms)
    for slot, s in zip(slots, ordered):
        out[slot] = s
    return out


def _with_declarations(asm, syms: list, scan: Optional[_SourceScan],
                       main: Optional[str]) -> tuple:
    """(_definition_order, with externs or commons) The symbols to write and their
    (line, position) keys: an extern only when something refers to it (NASM writes it
    for a relocation) or it is `required`; externs and commons keyed by their
    declaration's line (the source scan)."""
    used = {id(f.reloc.symbol) for sec in asm.sections for f in sec.fixups
            if f.reloc.symbol is not None}
    used.update(id(s.seg_base) for s in asm.symbols.values() if s.kind == "segbase")
    syms = [s for s in syms if s.kind != "extern" or id(s) in used
            or getattr(s, "required", False) or getattr(s, "referenced", False)]
    keyed = []
    for i, s in enumerate(syms):
        line = None
        if s.kind in ("extern", "common"):
            if scan is not None:
                line = scan.decl_line.get(s.name)
        elif s.defined_at and main is not None and s.defined_at[0] == main:
            line = s.defined_at[1]
        if line is not None:
            keyed.append((line, i))
    return syms, keyed


def _emitted(sym) -> bool:
    if sym.kind in ("extern", "common"):
        return True
    if sym.kind == "segbase":
        return sym.seg_base is not None
    if sym.value is None:
        return False
    if sym.name.startswith("..") and not sym.name.startswith("..@"):
        return False        # ..start and other special symbols
    return True


_VISIBILITY = {"default": 0, "internal": 1, "hidden": 2, "protected": 3}   # STV_*


def _obj_symbol(sym, sect_names: dict, tls: set, written: dict) -> ObjSymbol:
    obj = _obj_symbol_base(sym, sect_names, tls, written)
    # `global x:function hidden`, `global x:weak`: NASM's ELF symbol specials
    vis = getattr(sym, "sym_vis", None)
    if vis:
        obj.visibility = _VISIBILITY[vis]
    if getattr(sym, "sym_weak", False) and obj.bind == "global":
        obj.bind = "weak"
    return obj


def _obj_symbol_base(sym, sect_names: dict, tls: set, written: dict) -> ObjSymbol:
    bind = "global" if sym.is_global or sym.kind in ("extern", "common") else "local"
    stype = SYMBOL_TYPES.get(getattr(sym, "sym_type", None) or "", STT_NOTYPE)
    size = getattr(sym, "sym_size", 0) or 0
    if sym.kind == "extern":
        return ObjSymbol(sym.name, None, 0, size, "global", stype)
    if sym.kind == "common":
        align = getattr(sym, "align", 0) or getattr(sym, "common_align", 0) or 0
        return ObjSymbol(sym.name, COMMON, align, sym.size & 0xFFFFFFFF, "global", stype)
    if sym.kind == "segbase":           # `x equ seg y`: at that offset of y's section
        # (an extern y, or a section not written, as the implicit .text of `seg $`
        # before anything is in it: undefined, as NASM)
        where = written.get(id(sym.seg_base))
        return ObjSymbol(sym.name, where, sym.offset & 0xFFFFFFFF if where else 0, size,
                         bind, stype)
    if sym.section is not None:
        if stype == STT_NOTYPE and sect_names[id(sym.section)] in tls:
            stype = STT_TLS         # NASM types every symbol in a TLS section
        return ObjSymbol(sym.name, sect_names[id(sym.section)], sym.offset & 0xFFFFFFFF,
                         size, bind, stype)
    if any(getattr(k, "kind", None) in _EXTERNAL for k in getattr(sym.value, "terms", ())):
        # `x equ foo+4`, foo extern (or common): NASM defines x in foo's (undefined)
        # segment, at 0
        return ObjSymbol(sym.name, None, 0, size, bind, stype)
    value = sym.value if type(sym.value) is int else sym.offset
    return ObjSymbol(sym.name, ABS, value & 0xFFFFFFFF, size, bind, stype)


# --------------------------------------------------------------------------- relocations

_EXTERNAL = ("extern", "common")     # (symbols of a segment of their own, in NASM)


def _reloc_targets(objsyms: dict) -> dict:
    """The symbol a relocation against each symbol names: NASM's writer relocates against
    the last global defined in an extern's segment (`global x` / `x equ foo-4`: against x,
    not foo)."""
    targets = objsyms
    for sym, obj in objsyms.items():
        terms = getattr(sym.value, "terms", None)
        if sym.kind == "equ" and sym.is_global and terms and len(terms) == 1:
            (key, coeff), = terms.items()
            if coeff == 1 and getattr(key, "kind", None) in _EXTERNAL and key in objsyms:
                if targets is objsyms:
                    targets = dict(objsyms)
                targets[key] = obj
    return targets


def _global_at(section, offset: int, objsyms: dict, exact: bool):
    """The global symbol defined at (``exact``) or nearest below ``offset`` in ``section``
    (NASM's elf_add_gsym_reloc), as (ObjSymbol, its offset) or None."""
    best = None
    for sym, obj in objsyms.items():
        if (sym.is_global and sym.kind == "label" and sym.section is section
                and sym.offset <= offset):
            if exact and sym.offset != offset:
                continue
            if best is None or sym.offset > best[1]:
                best = (obj, sym.offset)
    return best


def _relocation(sect_name: str, f, sect_names: dict, objsyms: dict,
                sites: dict) -> ObjReloc:
    reloc = f.reloc
    wrt = (reloc.wrt or "").lower() or None
    sym = reloc.symbol
    if sym is not None:
        target = objsyms.get(sym)
        if target is None:
            raise AsmError(f"symbol `{sym.name}' cannot be relocated against")
    elif reloc.section is None:
        target = None           # an absolute address: symbol 0, as NASM (`jmp 1234`)
    else:
        target = sect_names[id(reloc.section)]
    addend = f.addend
    field_adj = f.offset - f.end if f.pcrel else 0
    if wrt is None and sym is not None and sym.name == GOT_SYMBOL and not f.pcrel:
        wrt = "..gotpc"
    if f.pcrel:
        if wrt is None:
            rtype = _PC_TYPES.get(f.size)
        elif wrt == "..plt" and f.size == 4:
            rtype = R_386_PLT32
        elif wrt in ("..gotpc", "..got"):
            raise AsmError("ELF format cannot produce PC-relative GOT references")
        elif f.size != 4:
            raise AsmError("Unsupported non-32-bit ELF relocation")
        else:
            raise AsmError("ELF format does not support this use of WRT")
        if rtype is None:
            raise AsmError(f"unsupported {f.size * 8}-bit PC-relative relocation")
        return ObjReloc(sect_name, f.offset, rtype, target, addend + field_adj)
    if wrt is None:
        rtype = _ABS_TYPES.get(f.size)
        if rtype is None:
            raise AsmError(f"unsupported {f.size * 8}-bit ELF relocation")
        return ObjReloc(sect_name, f.offset, rtype, target, addend)
    if f.size != 4 and wrt != "..sym":
        raise AsmError("Unsupported non-32-bit ELF relocation")
    if wrt == "..gotpc":
        return ObjReloc(sect_name, f.offset, R_386_GOTPC, target, addend + f.offset)
    if wrt == "..gotoff":
        return ObjReloc(sect_name, f.offset, R_386_GOTOFF, target, addend)
    if wrt in ("..got", "..sym"):
        rtype = R_386_GOT32 if wrt == "..got" else _ABS_TYPES.get(f.size)
        if rtype is None:
            raise AsmError(f"unsupported {f.size * 8}-bit ELF relocation")
        if sym is None:
            found = _global_at(reloc.section, addend, objsyms, exact=wrt == "..got")
            if found is None:
                where = sites.get((id(reloc.section), addend, wrt)) or [(None, None)]
                raise AsmError("unable to find a suitable global symbol for this reference",
                               *(where.pop(0) if len(where) > 1 else where[0]))
            target, addend = found[0], addend - found[1]
        return ObjReloc(sect_name, f.offset, rtype, target, addend)
    if wrt == "..plt":
        raise AsmError("ELF format cannot produce non-PC-relative PLT references")
    raise AsmError("ELF format does not support this use of WRT")


# --------------------------------------------------------------------------- entry point

def elf32_object(asm, file_name: Optional[str] = None, source: Optional[str] = None,
                 debug_format: Optional[str] = None) -> bytes:
    """The bytes of the ELF32 relocatable object for ``asm`` (an ``fmt="elf32"``
    Assembly). ``file_name`` is the source path as given (NASM's file symbol, and the
    file that ``Symbol.defined_at`` names for the main source); ``source`` is the main
    file's text, scanned for what the driver does not record (see :class:`_SourceScan`).
    ``debug_format`` (``dwarf`` or ``stabs``, for an Assembly made with ``debug=True``)
    adds NASM's debug sections (asm/debuginfo.py). Raises AsmErrors on what ELF cannot
    express."""
    errors = []
    scan = _SourceScan(source) if source is not None else None
    sections = _used_sections(asm, scan)
    sect_names = {id(s): s.name for s in asm.sections}
    written = {id(s): s.name for s in sections}
    objsecs = []
    for s in sections:
        try:
            objsecs.append(_obj_section(s))
        except AsmError as exc:
            errors.append(exc)
    tls = {o.name for o in objsecs if o.flags & SHF_TLS}
    objsyms = {}
    affixes = getattr(asm, "affixes", None) or {}
    recorder = getattr(asm, "debug", None) if debug_format else None
    typed = recorder.types if recorder is not None else {}
    for sym in _definition_order(asm, scan, file_name):
        obj = objsyms[sym] = _obj_symbol(sym, sect_names, tls, written)
        if sym in typed and obj.bind == "local" and obj.type == STT_NOTYPE:
            obj.type, obj.size = STT_OBJECT, typed[sym]     # NASM's debug_typevalue
        if affixes:
            # %pragma elf gprefix/lprefix, --gpostfix...: global and extern names get
            # the g affixes, local and common ones the l ones (as NASM)
            g = "l" if obj.bind == "local" or obj.section == COMMON else "g"
            obj.name = affixes.get(g + "prefix", "") + obj.name + affixes.get(g + "postfix", "")
    targets = _reloc_targets(objsyms)
    sites = getattr(asm, "gsym_sites", None) or {}
    relocs = []
    for s in sections:
        for f in s.fixups:
            try:
                relocs.append(_relocation(s.name, f, sect_names, targets, sites))
            except AsmError as exc:
                errors.append(exc)
    if errors:
        raise AsmErrors(errors)
    if recorder is not None:
        from asm.debuginfo import dwarf_sections, stabs_sections
        exec_names = {o.name for o in objsecs if o.flags & SHF_EXECINSTR}
        name = file_name or "<stdin>"
        if debug_format.lower() == "stabs":
            extra, extra_relocs = stabs_sections(recorder.lines, exec_names, name)
        else:
            extra, extra_relocs = dwarf_sections(recorder.lines, sections, exec_names, name)
        objsecs += extra
        relocs += extra_relocs
    try:
        return write_relocatable(objsecs, list(objsyms.values()), relocs, file_name)
    except ElfError as exc:     # (what ELF cannot hold, found by the writer: one error)
        raise AsmErrors([AsmError(f"cannot write the object: {exc}")]) from None
