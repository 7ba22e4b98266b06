"""pyasm under PyPy: the regular expressions its modules compile, kept between runs.

PyPy runs the regular-expression compiler (sre_parse and sre_compile, pure Python) in its
interpreter, before the JIT has anything to compile: the ~140 patterns pyasm's modules
compile when imported cost ~1.3 million instructions each, about a quarter of a pyasm
run's start-up (CPython's run of the same code is several times quicker: not kept).

:func:`install` puts a front on ``sre_compile.compile``: a pattern compiled by an earlier
run is built from what that run gave ``_sre.compile`` (the engine's own code, a list of
ints), read from a signed cache file (asm/cachefile.py: only a file this user's pyvm
wrote is used); other patterns go the usual way and are recorded. :func:`save` writes the
file when the run recorded new patterns. The patterns are the same objects either way:
only where their code comes from differs. A pyasm process installs it (asm/cli.py); a
library that imports asm does not.
"""

from __future__ import annotations

import marshal
import sys
from typing import Optional

# (name, stamp): the file is the interpreter's own (cachefile.cache_name adds its tag),
# and its body is only read by the same PyPy (the engine's code format is its own)
_NAME = "pypy-re"
_LIMIT = 500                    # patterns kept (the modules compile ~150; patterns made
#                                 from input text take room too, never more than this)

_stored: Optional[dict] = None  # (pattern, flags) -> _sre.compile's arguments
_new: dict = {}                 # what this run compiled the usual way


def _stamp() -> tuple:
    return (sys.version, marshal.version)


def _load() -> dict:
    from asm import cachefile
    data = cachefile.load(cachefile.cache_name(_NAME))
    if data is None:
        return {}
    try:
        stamp, table = marshal.loads(data)
        if stamp == _stamp() and type(table) is dict:
            return table
    except Exception:       # half-written or stale: compile afresh
        pass
    return {}


class _Recorder:
    """sre_compile's ``_sre`` while it compiles a pattern: keeps what it gives
    ``_sre.compile``."""

    def __init__(self, engine, key: tuple):
        self._engine = engine
        self._key = key

    def compile(self, pattern, flags, code, groups, groupindex, indexgroup):
        if len(_stored) + len(_new) < _LIMIT:
            # (plain types: what marshal writes)
            _new[self._key] = (pattern, int(flags), [int(c) for c in code], int(groups),
                               dict(groupindex), tuple(indexgroup))
        return self._engine.compile(pattern, flags, code, groups, groupindex, indexgroup)

    def __getattr__(self, name: str):
        return getattr(self._engine, name)


def install() -> None:
    """(PyPy) From now on, patterns compiled before come from the cache file."""
    global _stored
    if sys.implementation.name != "pypy" or _stored is not None:
        return
    try:
        import sre_compile
        engine = sre_compile._sre
        usual = sre_compile.compile
        debug = sre_compile.SRE_FLAG_DEBUG      # (it prints the code: never kept)
    except (ImportError, AttributeError):     # (another layout of the re package)
        return
    _stored = _load()

    def compile(p, flags=0):
        if (type(p) is not str and type(p) is not bytes) or flags & debug:
            return usual(p, flags)          # (a parsed pattern: sre_compile's own use)
        key = (p, int(flags))
        args = _stored.get(key)
        if args is not None:
            try:
                return engine.compile(*args)
            except Exception:   # (not what this engine takes: compile it the usual way)
                pass
        sre_compile._sre = _Recorder(engine, key)
        try:
            return usual(p, flags)
        finally:
            sre_compile._sre = engine

    sre_compile.compile = compile


def save() -> None:
    """Write the cache file if this run compiled patterns it did not hold."""
    if not _new or _stored is None:
        return
    table = dict(_stored)
    table.update(_new)
    _new.clear()
    try:
        data = marshal.dumps((_stamp(), table))
    except ValueError:          # (an argument marshal cannot write: keep nothing)
        return
    from asm import cachefile
    cachefile.store(cachefile.cache_name(_NAME), data)
