"""pyld's global symbol table: resolution rules, COMDAT groups and archive member selection.

Rules, as in a static ``ld`` link:
- a strong definition beats a weak one or a common one; two strong definitions are an error;
- common symbols merge (largest size, strictest alignment) and go to ``.bss`` unless a real
  definition exists;
- only strong undefined references pull archive members, and an undefined weak symbol
  that stays undefined is 0;
- of several COMDAT groups with one signature the first is kept; the others' sections are
  discarded and their symbols become references to the kept copy.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

from formats.elf.constants import STB_LOCAL, STB_WEAK
from formats.elf.tables import Symbol

from .objects import (
    ABSOLUTE,
    COMMON,
    DEFINED,
    UNDEF,
    GlobalSymbol,
    InputObject,
    InputSection,
    LinkError,
)


@dataclass
class SymbolTable:
    symbols: dict[str, GlobalSymbol] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    comdat: dict[str, InputObject] = field(default_factory=dict)    # signature -> keeper
    commons: list[GlobalSymbol] = field(default_factory=list)       # in first-seen order

    def get(self, name: str) -> Optional[GlobalSymbol]:
        return self.symbols.get(name)

    def undefined_strong(self) -> list[str]:
        return [s.name for s in self.symbols.values() if s.kind == UNDEF and s.strong_ref]

    def add_object(self, obj: InputObject) -> None:
        """Enter an object's COMDAT groups and non-local symbols into the table."""
        for signature, members in obj.groups:
            keeper = self.comdat.setdefault(signature, obj)
            if keeper is not obj:
                for index in members:
                    sec = obj.sections.get(index)
                    if sec is not None:
                        sec.discarded = f"duplicate COMDAT group {signature} (kept {keeper.name})"
                        sec.duplicate_group = True
        for sym in obj.symbols:
            if sym.bind == STB_LOCAL or sym.index == 0:
                continue
            entry = self.symbols.get(sym.name)
            if entry is None:
                entry = self.symbols[sym.name] = GlobalSymbol(sym.name)
            obj.globals[sym.index] = entry
            self._resolve(entry, obj, sym)

    def _resolve(self, entry: GlobalSymbol, obj: InputObject, sym: Symbol) -> None:
        section = obj.section_of(sym)
        if sym.is_undefined or (section is not None and section.duplicate_group):
            # symbols of a dropped COMDAT copy refer to the kept copy's definitions
            if entry.first_ref is None:
                entry.first_ref = obj
            if sym.bind != STB_WEAK:
                entry.strong_ref = True
            return
        if sym.is_common:
            if entry.kind == UNDEF or (entry.kind in (DEFINED, ABSOLUTE) and entry.bind == STB_WEAK):
                self._define(entry, obj, sym, COMMON, None)
                entry.value = max(sym.value, 1)
                self.commons.append(entry)
            elif entry.kind == COMMON:
                entry.size = max(entry.size, sym.size)
                entry.value = max(entry.value, sym.value, 1)
            return
        kind = ABSOLUTE if sym.is_absolute else DEFINED
        if kind == DEFINED and (section is None or section.discarded):
            # Defined in a section that is not loaded (debug info, .comment): like ld, give
            # it its offset in that unplaced section.
            kind = ABSOLUTE
            section = None
        if entry.kind == UNDEF:
            self._define(entry, obj, sym, kind, section)
        elif entry.kind == COMMON:
            if entry in self.commons:
                self.commons.remove(entry)
            self._define(entry, obj, sym, kind, section)
        elif sym.bind == STB_WEAK:
            return                                   # an existing definition wins
        elif entry.bind == STB_WEAK:
            self._define(entry, obj, sym, kind, section)
        else:
            self.errors.append(
                f"duplicate definition of '{sym.name}': defined in {_place(entry)} "
                f"and in {_place_of(obj, section)}")

    @staticmethod
    def _define(entry: GlobalSymbol, obj: InputObject, sym: Symbol, kind: str,
                section: Optional[InputSection]) -> None:
        entry.kind = kind
        entry.bind = sym.bind
        entry.type = sym.type
        entry.size = sym.size
        entry.visibility = sym.visibility
        entry.obj = obj
        entry.section = section
        entry.value = sym.value

    def check(self) -> None:
        if self.errors:
            raise LinkError(self.errors)


def _place(entry: GlobalSymbol) -> str:
    return _place_of(entry.obj, entry.section)


def _place_of(obj: Optional[InputObject], section: Optional[InputSection]) -> str:
    name = obj.name if obj else "the linker"
    return f"{name}({section.name})" if section is not None else name


@dataclass
class ArchiveInput:
    """An archive on the command line: its index and which members are already loaded."""

    path: str
    members: list                      # formats.ar.Member
    index: dict[str, int]              # symbol -> member header offset
    loaded: set = field(default_factory=set)


def pull_members(table: SymbolTable, archive: ArchiveInput, load) -> list[tuple]:
    """Load members that define currently undefined strong symbols until nothing changes.

    ``load(member) -> InputObject`` loads and enters one member. Returns what was pulled, as
    ``(member, referencing object name, symbol)`` for the map file.
    """
    pulled = []
    changed = True
    while changed:
        changed = False
        for name in table.undefined_strong():
            offset = archive.index.get(name)
            if offset is None or offset in archive.loaded:
                continue
            entry = table.symbols[name]
            if entry.defined:               # defined by a member loaded in this pass
                continue
            archive.loaded.add(offset)
            member = next(m for m in archive.members if m.offset == offset)
            referrer = entry.first_ref.name if entry.first_ref else "?"
            load(member)
            pulled.append((member, referrer, name))
            changed = True
    return pulled
