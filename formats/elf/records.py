"""Byte structures declared once, as field lists, used for both reading and writing.

    Elf32_Shdr = declare("Elf32_Shdr", "<", [("sh_name", "I"), ("sh_type", "I"), ...])
    hdr = Elf32_Shdr.unpack_from(data, offset)   # a mutable record with one attribute per field
    hdr.sh_type = 1
    data = hdr.pack()                            # the same layout, back to bytes

Each declared record class carries ``size``, ``fields`` and its ``struct.Struct``, so a
reader and a writer can never disagree about a layout.
"""

from __future__ import annotations

import struct
from operator import attrgetter
from typing import Any, Callable


class TruncatedError(ValueError):
    """A structure runs past the end of the bytes it is read from."""


def declare(name: str, byte_order: str, spec: list[tuple[str, str]]) -> Any:
    """Declare a record type from ``(field, struct code)`` pairs.

    Codes are ``struct`` codes: ``B H I Q`` and ``Ns`` for fixed-size byte strings.
    The returned class is built as a dataclass would be (keyword construction, defaults
    0/b"", equality by fields, repr, unhashable), without dataclasses' machinery (eight
    make_dataclass calls were ~3 ms of every pyvm start, ~40 ms under PyPy), with
    ``unpack_from(data, offset)``, ``unpack_table(data, offset, count)`` and ``pack()``,
    and class attributes ``size``, ``fields`` and ``offsets`` (field -> byte offset).
    """
    layout = struct.Struct(byte_order + "".join(code for _, code in spec))
    names = tuple(n for n, _ in spec)
    getter: Callable[[Any], tuple] = attrgetter(*names) if len(names) > 1 else (
        lambda rec: (getattr(rec, names[0]),))

    def pack(self) -> bytes:
        return layout.pack(*getter(self))

    @classmethod
    def unpack_from(cls, data, offset: int = 0):
        if offset < 0 or offset + layout.size > len(data):
            raise TruncatedError(
                f"{name} at offset {offset:#x} needs {layout.size} bytes, "
                f"the data has {max(len(data) - offset, 0)}")
        return cls(*layout.unpack_from(data, offset))

    @classmethod
    def unpack_table(cls, data, offset: int, count: int, entsize: int = 0) -> list:
        step = entsize or layout.size
        if count and (offset < 0 or offset + step * (count - 1) + layout.size > len(data)):
            raise TruncatedError(f"table of {count} {name} at offset {offset:#x} is truncated")
        unpack = layout.unpack_from
        return [cls(*unpack(data, offset + i * step)) for i in range(count)]

    namespace = dict(pack=pack, unpack_from=unpack_from, unpack_table=unpack_table,
                     __hash__=None, __match_args__=names, __qualname__=name,
                     __annotations__={n: bytes if c.endswith("s") else int
                                      for n, c in spec})
    cls = type(name, (), namespace)
    _lazy_methods(cls, names, [("bytes", 'b""') if c.endswith("s") else ("int", "0")
                               for _, c in spec])
    cls.size = layout.size
    cls.struct = layout
    cls.fields = names
    cls.offsets = {n: struct.calcsize(byte_order + "".join(c for _, c in spec[:i]))
                   for i, (n, _) in enumerate(spec)}     # field -> byte offset, for patching
    return cls


def _lazy_methods(cls: type, names: tuple, kinds: list) -> None:
    """Give ``cls`` stand-ins for __init__, __repr__ and __eq__ that make the real ones
    (:func:`_methods`) on first use: compiling them for every declared record was ~3%
    of a warm glibc hello world, which uses half of them."""
    def materialize() -> None:
        if cls.__init__ is __init__:
            for key, fn in _methods(cls.__qualname__, names, kinds).items():
                setattr(cls, key, fn)

    def __init__(self, *args, **kwargs) -> None:
        materialize()
        cls.__init__(self, *args, **kwargs)

    def __repr__(self) -> str:
        materialize()
        return cls.__repr__(self)

    def __eq__(self, other):
        materialize()
        return cls.__eq__(self, other)

    cls.__init__, cls.__repr__, cls.__eq__ = __init__, __repr__, __eq__


def _methods(name: str, names: tuple, kinds: list) -> dict:
    """__init__, __repr__ and __eq__ of class ``name`` as dataclasses writes them, for
    fields ``names`` (identifiers of this package's own declarations) of ``kinds``
    ((type name, default) as source text)."""
    params = ", ".join(f"{n}: {t} = {d}" for n, (t, d) in zip(names, kinds))
    mine = ", ".join(f"self.{n}" for n in names) + ","
    theirs = ", ".join(f"other.{n}" for n in names) + ","
    shown = ", ".join(f"{n}={{self.{n}!r}}" for n in names)
    source = (
        f"def __init__(self, {params}) -> None:\n"
        + "".join(f"    self.{n} = {n}\n" for n in names)
        + "def __repr__(self):\n"
        + f"    return f'{{self.__class__.__qualname__}}({shown})'\n"
        + "def __eq__(self, other):\n"
        + "    if other.__class__ is self.__class__:\n"
        + f"        return ({mine}) == ({theirs})\n"
        + "    return NotImplemented\n")
    namespace: dict = {}
    # (not under this module's `from __future__ import annotations`: the annotations are
    # the types, as a dataclass's are)
    exec(compile(source, f"<{name}>", "exec", dont_inherit=True), {}, namespace)
    for fn in namespace.values():
        fn.__qualname__ = f"{name}.{fn.__name__}"
    return namespace
