"""The Python API of the assembler and the linker (docs/api.md): ``asm.assemble`` and
``asm.link``, the functions behind ``pyasm`` and ``pyld``, returning objects instead of
writing files and raising one exception that carries every diagnostic."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from typing import Mapping, Optional, Sequence, Union

from asm.errors import AsmError, AsmErrors, WarningError, in_nasm_order

FORMATS = ("bin", "elf32", "b32", "v16")


@dataclass(frozen=True)
class Diagnostic:
    """One message: where (file, line, column when known) and what."""
    file: Optional[str]
    line: Optional[int]
    column: Optional[int]
    message: str
    severity: str = "error"

    def __str__(self) -> str:
        where = ":".join(str(p) for p in (self.file, self.line, self.column) if p is not None)
        return f"{where}: {self.severity}: {self.message}" if where else \
            f"{self.severity}: {self.message}"


class AssemblyError(Exception):
    """The source did not assemble; ``diagnostics`` lists every error, warnings the
    rules made errors (``[warning +error=x]``) included, in NASM's order (and
    ``warnings`` the warnings issued before them, those too)."""

    def __init__(self, diagnostics: Sequence[Diagnostic], warnings: Sequence[str] = ()):
        self.diagnostics = list(diagnostics)
        self.warnings = list(warnings)
        super().__init__("\n".join(str(d) for d in self.diagnostics))


class LinkError(Exception):
    """The inputs did not link; ``messages`` lists every error, one line each."""

    def __init__(self, messages: Sequence[str]):
        self.messages = list(messages)
        super().__init__("\n".join(self.messages))


@dataclass
class Section:
    name: str
    address: int        # bin/b32/v16: where it is loaded; elf32: 0 (relocatable)
    data: bytes         # contents (zeros are not stored for nobits sections)
    size: int           # bytes it occupies, nobits included


@dataclass
class Assembled:
    """What :func:`assemble` returns. ``data`` is the file pyasm would write (a flat image,
    an ELF32 object, a .b32 or .v16 file with its header); ``symbols`` maps each label and
    constant to its value (bin, b32, v16: absolute address; elf32: offset in its section);
    ``listing`` is NASM's listing text (x86 only, else None)."""
    data: bytes
    fmt: str
    bits: Optional[int]
    origin: Optional[int]
    entry: Optional[int]
    sections: list = field(default_factory=list)
    symbols: dict = field(default_factory=dict)
    listing: Optional[str] = None
    warnings: list = field(default_factory=list)
    raw: object = None  # the assembler's own result object (for pyvm-internal callers)


def _diagnostic(e: AsmError) -> Diagnostic:
    return Diagnostic(getattr(e, "file", None), getattr(e, "line", None),
                      getattr(e, "column", None), getattr(e, "message", str(e)))


_LOCATED = re.compile(r"^(.*?):(\d+): error: (.*)$")


def _diagnostics(errors: Sequence[AsmError], warnings: Sequence[str] = (),
                 order: Optional[Sequence[tuple]] = None) -> list:
    """The errors and the warnings the rules made errors (asm.errors.WarningError), in
    NASM's order (asm.errors.in_nasm_order)."""
    out = []
    for e in in_nasm_order(list(errors), list(warnings), order):
        if not isinstance(e, str):
            out.append(_diagnostic(e))
            continue
        m = _LOCATED.match(e.split("\n", 1)[0]) if type(e) is WarningError else None
        if m is not None:
            out.append(Diagnostic(m.group(1), int(m.group(2)), None, m.group(3)))
    return out


def _defines(defines) -> list:
    """{name: value or None} or ["NAME=VALUE", "NAME"] -> [(name, value or None)]."""
    if defines is None:
        return []
    if isinstance(defines, Mapping):
        return [(str(k), None if v is None else str(v)) for k, v in defines.items()]
    out = []
    for d in defines:
        name, eq, value = str(d).partition("=")
        out.append((name, value if eq else None))
    return out


def assemble(source: Union[str, bytes], *, fmt: Optional[str] = None,
             bits: Optional[int] = None, origin: Optional[int] = None,
             include_paths: Sequence[str] = (), defines=None, filename: str = "<source>",
             listing: bool = True) -> Assembled:
    """Assemble ``source`` (NASM syntax for x86, or B32/V16 assembly).

    ``fmt``: ``bin`` (flat image), ``elf32`` (object for :func:`link`), ``b32``, ``v16``;
    None decides by the source's content as pyasm does (B32 and V16 sources are
    recognised, everything else is ``bin``). ``bits``: x86 default mode (16 for bin,
    32 for elf32, as NASM). ``origin``: load address (``org`` for bin, the B32 origin,
    default 0x1000). ``defines``: ``{"NAME": "value" or None}`` or ``["NAME=value"]``.
    Raises :class:`AssemblyError` with every diagnostic; never writes a file.
    """
    if isinstance(source, (bytes, bytearray)):
        source = bytes(source).decode("utf-8", "surrogateescape")
    if fmt is None:
        from asm.language import source_language
        lang = source_language(source)
        fmt = lang if lang in ("b32", "v16") else "bin"
    fmt = fmt.lower()
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}: use one of {', '.join(FORMATS)}")
    if bits is not None and (fmt in ("b32", "v16") or bits not in (16, 32)):
        raise ValueError(f"bits={bits!r}: x86 formats take 16 or 32, b32/v16 none")
    if origin is not None and fmt in ("elf32", "v16"):
        raise ValueError(f"origin is not supported for {fmt} (use the source's own "
                         f"{'.org' if fmt == 'v16' else 'linker addresses'})")
    try:
        if fmt == "b32":
            return _b32(source, filename, origin)
        if fmt == "v16":
            return _v16(source, filename)
        return _x86(source, fmt, bits, origin, include_paths, _defines(defines), filename,
                    listing)
    except AsmErrors as exc:
        warnings = getattr(exc, "warnings", ())
        raise AssemblyError(_diagnostics(exc.errors, warnings,
                                         getattr(exc, "warning_order", None)),
                            warnings) from None
    except AsmError as exc:
        raise AssemblyError([_diagnostic(exc)]) from None
    except RecursionError:
        raise AssemblyError([Diagnostic(filename, None, None,
                                        "source too deeply nested")]) from None
    finally:
        from asm.expr import settle
        settle()        # (a recursion limit raised while other threads ran goes back)


def _x86(source: str, fmt: str, bits: Optional[int], origin: Optional[int],
         include_paths: Sequence[str], defines: list, filename: str,
         listing: bool) -> Assembled:
    from asm.assembler import assemble as nasm_assemble
    from asm.listing import format_listing
    if origin is not None:
        # NASM's org is one value for the whole file: appended, it keeps line numbers
        source = f"{source}\n[org {int(origin)}]\n"
    result = nasm_assemble(source, filename, fmt=fmt, include_paths=include_paths,
                           defines=defines, listing=listing,
                           bits=bits or (32 if fmt == "elf32" else 16))
    if fmt == "elf32":
        from asm.elf_output import elf32_object
        data = elf32_object(result, filename, source)
    else:
        data = result.image()
    layout = result.layout
    flat = fmt == "bin"
    sections = [Section(s.name, layout.base(s) if flat and layout is not None else 0,
                        bytes(s.data), s.size) for s in result.sections]
    symbols = {}
    for name, sym in result.symbols.items():
        if sym.kind == "label" and sym.section is not None:
            base = layout.base(sym.section) if flat and layout is not None else 0
            symbols[name] = base + sym.offset
        elif isinstance(sym.value, int):
            symbols[name] = sym.value
    org = result.org if result.org is not None else \
        (getattr(layout, "origin", None) if flat else None)
    if origin is not None:              # not the user's: the appended org line
        while result.listing and result.listing[-1].text.strip() in ("", f"[org {origin}]"):
            result.listing.pop()
    return Assembled(data, fmt, bits or (32 if fmt == "elf32" else 16), org,
                     None, sections, symbols,
                     format_listing(result) if listing else None,
                     list(result.warnings), result)


def _b32(source: str, filename: str, origin: Optional[int]) -> Assembled:
    from asm.b32.assembler import DEFAULT_ORIGIN, assemble_program
    program = assemble_program(source, filename,
                               DEFAULT_ORIGIN if origin is None else int(origin))
    img = program.image
    return Assembled(img.to_bytes(), "b32", None, img.load, img.entry,
                     [Section("code", img.load, bytes(img.code), len(img.code))],
                     dict(program.labels), None, [], program)


def _v16(source: str, filename: str) -> Assembled:
    from asm.v16.assembler import assemble_program
    program = assemble_program(source, filename)
    img = program.image
    symbols = dict(program.constants)
    symbols.update(program.labels)
    return Assembled(img.to_bytes(), "v16", None, img.load, img.entry,
                     [Section("code", img.load, bytes(img.code), len(img.code))],
                     symbols, None, [], program)


# -- linking ---------------------------------------------------------------------------------

@dataclass
class Linked:
    """What :func:`link` returns: ``data`` (an ELF32 executable, or the flat image for
    ``oformat="binary"``), its ``entry`` address, the global ``symbols`` and ld's map."""
    data: bytes
    entry: int
    symbols: dict
    map: str
    warnings: list
    raw: object = None


def link(inputs: Sequence, *, entry: Optional[str] = None, text: Optional[int] = None,
         data: Optional[int] = None, bss: Optional[int] = None, oformat: str = "elf",
         strip: bool = False) -> Linked:
    """Link ELF32 objects and ``ar`` archives into a static i386 executable, as pyld/ld.

    Each input is a path, a ``(name, bytes)`` pair, or an :class:`Assembled` elf32
    object. ``entry``: symbol (default ``_start``); ``text``/``data``/``bss``: ld's
    ``-Ttext``..; ``oformat``: ``elf`` or ``binary``. Raises :class:`LinkError`.
    """
    from asm.link.linker import LinkError as _LinkError
    from asm.link.linker import LinkOptions
    from asm.link.linker import link as _link
    if oformat not in ("elf", "binary"):
        raise ValueError(f"oformat={oformat!r}: use 'elf' or 'binary'")
    pairs = []
    for n, item in enumerate(inputs):
        if isinstance(item, Assembled):
            if item.fmt != "elf32":
                raise ValueError(f"input {n}: a {item.fmt} image, not an elf32 object")
            pairs.append((f"<object {n}>", item.data))
        elif isinstance(item, tuple) and len(item) == 2:
            pairs.append((str(item[0]), bytes(item[1])))
        elif isinstance(item, (str, os.PathLike)):
            from formats.inputs import InputError, read_input
            try:
                pairs.append((os.fspath(item), read_input(os.fspath(item))))
            except OSError as e:
                raise LinkError([f"cannot open {os.fspath(item)}: "
                                 f"{e.strerror or e}"]) from None
            except InputError as e:
                raise LinkError([f"{os.fspath(item)}: {e}"]) from None
        else:
            raise TypeError(f"input {n}: expected a path, (name, bytes) or Assembled, "
                            f"not {type(item).__name__}")
    options = LinkOptions(entry=entry, text=text, data=data, bss=bss, oformat=oformat,
                          strip=strip)
    try:
        result = _link(pairs, options)
    except _LinkError as e:
        raise LinkError(e.messages) from None
    symbols = {}
    table = getattr(result, "table", None)
    for name, sym in (table.symbols.items() if table is not None else ()):
        if sym.defined:
            symbols[name] = sym.address
    return Linked(result.output, result.entry, symbols, result.map_text,
                  list(result.warnings), result)
