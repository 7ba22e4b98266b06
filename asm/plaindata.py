"""Parse templates as plain data that ``marshal`` reads: what the template store keeps.

The store (asm/parser.py) kept each template as a pickle. Under PyPy ``pickle`` is pure
Python: importing it and unpickling the ~15 templates of a typical run cost ~20 ms
(CPython: ~1 ms), against ~1 ms to rebuild them from marshal's tuples here. A template
is a tree of the parse classes of asm.syntax and asm.expr (plain instances, their state
in ``__dict__`` or ``__slots__``), tuples, lists, strings and numbers; :func:`freeze`
gives None for anything else (the store then keeps a pickle, as before), and a frozen
tree thaws to what unpickling the pickle gives: the same classes with the same state,
an object met twice in the tree the same object twice.

Encoding: atoms (None, bool, int, float, str, bytes) stand for themselves; an instance is
``("\\0o", memo index, class name, __dict__ state or None, slot state or None)``, a later
meeting of it ``("\\0r", memo index)``; a tuple met more than once, or one that could be
read as such a marker, is ``("\\0t", memo index, items...)``; a list is
``["\\0l", memo index, items...]``.
"""

from __future__ import annotations

from typing import Optional

_ATOMS = (type(None), bool, int, float, str, bytes)
_classes: Optional[dict] = None     # "module.qualname" -> class, of the parse classes
_plain: dict = {}                   # class -> whether freeze encodes its instances


class _Refused(Exception):
    """Something freeze does not encode."""


def _parse_classes() -> dict:
    global _classes
    if _classes is None:
        from asm import expr, syntax
        found = {}
        for module in (syntax, expr):
            for value in vars(module).values():
                if isinstance(value, type) and value.__module__ == module.__name__:
                    found[f"{value.__module__}.{value.__qualname__}"] = value
        _classes = found
    return _classes


def _plain_class(cls: type) -> bool:
    """Whether pickle saves an instance of ``cls`` as its class and state alone (no
    reduce, getstate or setstate of its own, no __getattr__ that would make a slot's
    value while pickle reads it), and unpickling sets its slots as thaw does (pickle
    calls setattr: no __setattr__ of its own), its slot names unmangled (a private
    ``__x`` slot is stored as ``_Class__x``)."""
    for name in ("__reduce__", "__reduce_ex__", "__getstate__", "__setstate__",
                 "__getnewargs__", "__getnewargs_ex__", "__getattr__", "__setattr__"):
        mine = getattr(cls, name, None)
        if mine is not None and mine is not getattr(object, name, None):
            return False
    return not any(name.startswith("__") and not name.endswith("__")
                   for name in _slot_names(cls))


def _slot_names(cls: type) -> list:
    names = []
    for klass in cls.__mro__:
        slots = klass.__dict__.get("__slots__", ())
        for name in (slots,) if isinstance(slots, str) else slots:
            if name not in ("__dict__", "__weakref__") and name not in names:
                names.append(name)
    return names


def _slot_values(obj, t: type):
    """(name, value) of each slot ``obj`` has set, as pickle's copyreg reads them."""
    for name in _slot_names(t):
        try:
            value = t.__dict__[name].__get__(obj, t) if name in t.__dict__ \
                else object.__getattribute__(obj, name)
        except AttributeError:
            continue
        yield name, value


def freeze(obj) -> Optional[object]:
    """``obj`` as plain data for marshal, or None when it holds something else."""
    seen: dict = {}             # id -> times met (containers and instances)
    try:
        _count(obj, seen, set())
        return _freeze(obj, seen, {}, [])
    except (_Refused, RecursionError):
        return None


def _count(obj, seen: dict, active: set) -> None:
    t = type(obj)
    if t in _ATOMS:
        return
    key = id(obj)
    if key in active:
        raise _Refused()        # (a cycle)
    seen[key] = seen.get(key, 0) + 1
    if seen[key] > 1:
        return
    active.add(key)
    if t is tuple or t is list:
        for item in obj:
            _count(item, seen, active)
    else:
        plain = _plain.get(t)
        if plain is None:
            plain = _plain[t] = (_parse_classes().get(f"{t.__module__}.{t.__qualname__}") is t
                                 and _plain_class(t))
        if not plain:
            raise _Refused()
        state = getattr(obj, "__dict__", None)
        if state is not None:
            for k, v in state.items():
                if type(k) is not str:
                    raise _Refused()
                _count(v, seen, active)
        for _, value in _slot_values(obj, t):
            _count(value, seen, active)
    active.discard(key)


def _freeze(obj, seen: dict, memo: dict, keep: list):
    t = type(obj)
    if t in _ATOMS:
        return obj
    key = id(obj)
    at = memo.get(key)
    if at is not None:
        return ("\0r", at)
    index = -1
    if seen.get(key, 0) > 1:
        index = memo[key] = len(memo)
        keep.append(obj)
    if t is tuple:
        items = tuple(_freeze(x, seen, memo, keep) for x in obj)
        if index >= 0 or (items and type(items[0]) is str and items[0][:1] == "\0"):
            return ("\0t", index) + items
        return items
    if t is list:
        return ["\0l", index] + [_freeze(x, seen, memo, keep) for x in obj]
    state = getattr(obj, "__dict__", None)
    if state is not None:
        state = {k: _freeze(v, seen, memo, keep) for k, v in state.items()}
    slots = {name: _freeze(value, seen, memo, keep) for name, value in _slot_values(obj, t)}
    return ("\0o", index, f"{t.__module__}.{t.__qualname__}", state, slots or None)


def thaw(data):
    """The tree :func:`freeze` encoded; KeyError or ValueError for data it did not make
    (a class since renamed)."""
    return _thaw(data, {}, _parse_classes())


def _thaw(data, memo: dict, classes: dict):
    t = type(data)
    if t is tuple:
        if data and type(data[0]) is str and data[0][:1] == "\0":
            tag = data[0]
            if tag == "\0r":
                return memo[data[1]]
            if tag == "\0o":
                _, index, name, state, slots = data
                cls = classes[name]
                obj = cls.__new__(cls)
                if index >= 0:
                    memo[index] = obj
                if state is not None:
                    obj.__dict__.update({k: _thaw(v, memo, classes)
                                         for k, v in state.items()})
                if slots is not None:
                    for k, v in slots.items():
                        object.__setattr__(obj, k, _thaw(v, memo, classes))
                return obj
            if tag == "\0t":
                out = tuple(_thaw(x, memo, classes) for x in data[2:])
                if data[1] >= 0:
                    memo[data[1]] = out
                return out
            raise ValueError(f"unknown tag {tag!r}")
        return tuple(_thaw(x, memo, classes) for x in data)
    if t is list:
        out = []
        if data[1] >= 0:
            memo[data[1]] = out
        out.extend(_thaw(x, memo, classes) for x in data[2:])
        return out
    return data
