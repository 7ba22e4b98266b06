"""``@record``: a class declared as a ``@dataclass`` is, made without dataclasses.

A dataclass costs its module ~0.1 ms under CPython and ~0.4 ms under PyPy when imported
(dataclasses' machinery, interpreted, then ``compile()`` of its methods), for every class,
whether or not the program ever makes one. A record gets the same ``__init__`` (fields in
declaration order, defaults, :func:`field`'s ``default_factory``), ``__repr__`` and
``__eq__`` (with ``__hash__`` None) as ``@dataclass`` gives it, but writes them on first
use: a class never used costs one dict walk.

What it covers is what pyasm's declarations use: annotated fields (a ``ClassVar``
annotation is no field), a plain default or ``field(default_factory=...)``, ``eq=False``
and ``frozen=True`` (``FrozenInstanceError``, and a hash of the fields when compared by
them), :func:`replace` and :func:`fields`; no base class with fields of its own, no
``order``, ``InitVar`` or ``__post_init__``, no base class that is a dataclass: those are
refused (TypeError) where the class is declared, and a list, dict or set default as
dataclasses refuses it (ValueError). A record that holds itself is shown with "...";
``__match_args__`` is set. First use is safe from several threads at once.
"""

from __future__ import annotations

from typing import Optional

_MISSING = object()


class _Factory:
    """A field's ``default_factory`` (what :func:`field` gives the class body)."""

    __slots__ = ("make",)

    def __init__(self, make) -> None:
        self.make = make


def field(*, default_factory) -> _Factory:
    """The default of a field made anew for each instance (``dataclasses.field``'s
    ``default_factory``)."""
    return _Factory(default_factory)


class FrozenInstanceError(AttributeError):
    """An assignment to a field of a ``frozen=True`` record (as dataclasses')."""


class _Field:
    """What :func:`fields` gives for a field: its ``name`` (dataclasses.Field's)."""

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return f"_Field({self.name!r})"


def fields(obj) -> tuple:
    """The fields of a record class or instance, in order (``dataclasses.fields``)."""
    cls = obj if isinstance(obj, type) else type(obj)
    return tuple(_Field(n) for n in cls.__record_fields__)


def replace(obj, **changes):
    """A copy of record ``obj`` with ``changes`` (``dataclasses.replace``)."""
    for name in obj.__record_fields__:
        if name not in changes:
            changes[name] = getattr(obj, name)
    return obj.__class__(**changes)


def record(cls: Optional[type] = None, *, eq: bool = True, frozen: bool = False):
    """Give ``cls`` a dataclass's ``__init__``, ``__repr__``, ``__eq__`` (unless
    ``eq=False``) and, with ``frozen``, its read-only fields (see above); as
    ``@record`` or ``@record(eq=..., frozen=...)``."""
    if cls is None:
        return lambda c: record(c, eq=eq, frozen=frozen)
    if "__post_init__" in cls.__dict__ or any(
            "__record_fields__" in base.__dict__ or "__dataclass_fields__" in base.__dict__
            for base in cls.__mro__[1:]):
        raise TypeError(f"{cls.__qualname__}: not a plain record (use @dataclass)")
    names = []
    defaults = {}
    for name, kind in cls.__dict__.get("__annotations__", {}).items():
        shown = kind if isinstance(kind, str) else repr(kind)
        if shown.startswith(("ClassVar", "typing.ClassVar")):
            continue
        if shown.startswith(("InitVar", "dataclasses.InitVar")):
            raise TypeError(f"{cls.__qualname__}: not a plain record (use @dataclass)")
        value = cls.__dict__.get(name, _MISSING)
        if type(value) in (list, dict, set):
            raise ValueError(f"mutable default {type(value)} for field {name} is not "
                             "allowed: use default_factory")
        if value is _MISSING:
            if defaults:
                raise TypeError(f"non-default argument {name!r} follows default argument")
        else:
            defaults[name] = value
            if type(value) is _Factory:
                delattr(cls, name)      # (as dataclasses: no class attribute for it)
        names.append(name)
    cls.__record_fields__ = tuple(names)
    if "__match_args__" not in cls.__dict__:
        cls.__match_args__ = tuple(names)
    _lazy_methods(cls, tuple(names), defaults, eq, frozen)
    if frozen:
        fixed = frozenset(names)

        def __setattr__(self, name, value):
            if type(self) is cls or name in fixed:
                raise FrozenInstanceError(f"cannot assign to field {name!r}")
            super(cls, self).__setattr__(name, value)

        def __delattr__(self, name):
            if type(self) is cls or name in fixed:
                raise FrozenInstanceError(f"cannot delete field {name!r}")
            super(cls, self).__delattr__(name)

        cls.__setattr__, cls.__delattr__ = __setattr__, __delattr__
    return cls


def _lazy_methods(cls: type, names: tuple, defaults: dict, eq: bool, frozen: bool) -> None:
    """Stand-ins for __init__, __repr__, __eq__ and __hash__ that put the real ones
    (:func:`_methods`) in their place on first use (an instance made without __init__,
    as unpickling does, may meet __eq__ or __hash__ first); a method the class defines
    itself is kept (as dataclasses does)."""
    wanted = ["__init__", "__repr__"] + (["__eq__"] if eq else [])
    if eq and frozen:
        wanted.append("__hash__")
    # a class body defining __eq__ gets __hash__ = None from Python: not its own hash
    # (dataclasses' has_explicit_hash)
    own = {key for key in wanted if key in cls.__dict__ and not (
        key == "__hash__" and cls.__dict__[key] is None and "__eq__" in cls.__dict__)}

    def materialize() -> None:
        # the real methods go in before the class is marked made: a thread meeting a
        # stand-in meanwhile builds them again (harmless) instead of calling a stand-in
        # that calls itself; a build that raises leaves the class unmarked
        if not cls.__dict__.get("__record_made__", False):
            for key, fn in _methods(cls.__qualname__, names, defaults, frozen).items():
                if key in wanted and key not in own:
                    setattr(cls, key, fn)
            cls.__record_made__ = True      # (type.__setattr__: a frozen record too)

    def __init__(self, *args, **kwargs) -> None:
        materialize()
        cls.__init__(self, *args, **kwargs)

    def __repr__(self) -> str:
        materialize()
        return cls.__repr__(self)

    def __eq__(self, other):
        materialize()
        return cls.__eq__(self, other)

    def __hash__(self) -> int:
        materialize()
        return cls.__hash__(self)

    stand_ins = {"__init__": __init__, "__repr__": __repr__, "__eq__": __eq__,
                 "__hash__": __hash__}
    for key in wanted:
        if key not in own:
            setattr(cls, key, stand_ins[key])
    if eq and not frozen and "__hash__" not in cls.__dict__:
        cls.__hash__ = None                     # (eq without frozen: unhashable)


def _methods(qualname: str, names: tuple, defaults: dict, frozen: bool) -> dict:
    """The methods dataclasses writes for fields ``names`` (identifiers: annotated names
    of a class body) with ``defaults`` (name -> value or _Factory)."""
    # (the generated code's own names cannot be fields: those start with __record)
    scope: dict = {"__record_missing": _MISSING, "__record_set": object.__setattr__}
    me = "__record_self" if "self" in names else "self"
    params = []
    body = []
    for n in names:
        value = n
        if n not in defaults:
            params.append(n)
        elif type(defaults[n]) is _Factory:
            scope[f"__record_make_{n}"] = defaults[n].make
            params.append(f"{n}=__record_missing")
            value = f"__record_make_{n}() if {n} is __record_missing else {n}"
        else:
            scope[f"__record_default_{n}"] = defaults[n]
            params.append(f"{n}=__record_default_{n}")
        body.append(f"    __record_set({me}, {n!r}, {value})\n" if frozen
                    else f"    {me}.{n} = {value}\n")
    mine = "".join(f"self.{n}," for n in names)
    theirs = "".join(f"other.{n}," for n in names)
    shown = ", ".join(f"{n}={{self.{n}!r}}" for n in names)
    source = (
        f"def __init__({', '.join([me] + params)}):\n" + ("".join(body) or "    pass\n")
        + "def __repr__(self):\n"
        + f"    return f'{{self.__class__.__qualname__}}({shown})'\n"
        + "def __eq__(self, other):\n"
        + "    if other.__class__ is self.__class__:\n"
        + f"        return ({mine}) == ({theirs})\n"
        + "    return NotImplemented\n"
        + "def __hash__(self):\n"
        + f"    return hash(({mine}))\n")
    namespace: dict = {}
    exec(compile(source, f"<record {qualname}>", "exec", dont_inherit=True), scope, namespace)
    for fn in namespace.values():
        fn.__qualname__ = f"{qualname}.{fn.__name__}"
    # as dataclasses: a record that holds itself shows "..." there, not RecursionError
    from reprlib import recursive_repr
    namespace["__repr__"] = recursive_repr()(namespace["__repr__"])
    return namespace
