"""The first tier's template library: templates kept beside the package, as Python keeps
its .pyc files, for every program's first run.

A first-tier template (tier0.py) depends on the instruction's shape alone (its form,
which registers are the same, prefixes, which constants are 0) and on the translator's
own code, never on a program: a glibc hello world with an empty code cache makes ~320
of them (building, canonicalising, compiling ~210). The code cache keeps them too,
but it lives in a user's cache directory, which a first run (a new user, a fresh
``XDG_CACHE_HOME``) has empty. So the *general* templates (the shape without the
instruction's length, ModRM byte or constants: no guest byte is in one) and the general
shapes the builder refused are also kept in one marshal file in ``vm/x86/__pycache__``,
read at a run's first missing template.

Trust is that of a .pyc file: the file and its directories must be this user's or
root's and writable by no one else (asm/x86/table.py's checks), so only those who could
change pyvm's code can change it; the sandbox lets no guest write pyvm's packages
(vm/sandbox.py). It is stamped with the translator's :func:`codecache.fingerprint`
(any edit of vm/x86 or asm/x86 makes it stale) and Python's bytecode magic, and written
whole by an atomic rename. Off with the code cache (``PYVM_CODE_CACHE=0``: nothing on
disk) or with ``PYVM_TIER0_LIBRARY=0``; no file is written where Python would write no
bytecode (``PYTHONDONTWRITEBYTECODE``, a ``pycache_prefix``).
"""

from __future__ import annotations

import importlib.util
import marshal
import sys
from typing import Optional

from formats.beside import file_beside, read_beside, write_beside
from formats.envswitch import env_switch
from vm.x86.codecache import fingerprint

VERSION = 3         # (2: templates take registers as parameters: Template.avoid kept;
                    # 3: shapes without the ModRM bit and displacement sizes)
# templates kept across runs, in the library and (the shapes it lacks) in the code cache
# (a glibc hello world: ~900; every benchmark program: ~2,000; all programs: ~10 MB)
MAX_TEMPLATES = 8_000


def enabled() -> bool:
    return env_switch("PYVM_CODE_CACHE", True) and \
        env_switch("PYVM_TIER0_LIBRARY", True)


def path() -> Optional[str]:
    """The library's file, or None when its place is not as safe as pyvm's code (or
    bytecode goes elsewhere): formats/beside.py."""
    tag = sys.implementation.cache_tag or "python"
    return file_beside(__file__, f"tier0-templates.{tag}.marshal")


def _stamp() -> tuple:
    return (VERSION, importlib.util.MAGIC_NUMBER, fingerprint())


def load() -> dict:
    """shape key -> (code, insns, binds, lits, avoid), or None for a shape the builder refused;
    empty when there is no usable library."""
    where = path() if enabled() else None
    data = read_beside(where) if where else None
    if not data:
        return {}
    try:
        stamp, entries = marshal.loads(data)
        if stamp != _stamp() or type(entries) is not dict:
            return {}
        return entries
    except Exception:       # damaged or half-written by something else: no library
        return {}


def store(entries: dict) -> bool:
    """Replace the library with ``entries`` (False when it cannot be written)."""
    if not enabled() or sys.dont_write_bytecode:
        return False
    where = path()
    if where is None:
        return False
    try:
        data = marshal.dumps((_stamp(), entries))
    except ValueError:
        return False
    return write_beside(where, data)
