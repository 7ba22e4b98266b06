"""Files pyvm keeps beside its own code, in a package's ``__pycache__`` as Python keeps its
.pyc files (the instruction table's cache, asm/x86/table.py; the first tier's template
library, vm/x86/tier0lib.py): there for every user's first run, whatever their cache
directory holds.

Trust is that of a .pyc file: the package directory, ``__pycache__`` and the file must be
real directories and files (no symlinks) owned by this user or root and writable by no
one else. Then only those who could change pyvm's code can change them (the sandbox lets
no guest write pyvm's packages: vm/sandbox.py). Nothing is written where Python would
write no bytecode (``PYTHONDONTWRITEBYTECODE``), and nothing is kept beside the code when
bytecode goes elsewhere (``pycache_prefix``).
"""

from __future__ import annotations

import os
import stat
import sys
from typing import Optional

from formats.outputs import write_atomic
from formats.private import owned_privately, read_private


def private_place(st: os.stat_result) -> bool:
    """A directory or file (not a symlink) of this user's or root's, that no one else
    may write."""
    return (stat.S_ISDIR(st.st_mode) or stat.S_ISREG(st.st_mode)) and \
        owned_privately(st, root_ok=True)


def file_beside(module_file: str, name: str) -> Optional[str]:
    """The path of ``name`` in the ``__pycache__`` beside ``module_file``, or None when
    that place is not as safe as the package's code. Nothing is made here (a reader
    needs no ``__pycache__``): :func:`write_beside` makes it, as the import system
    does, only where bytecode may be written."""
    if getattr(sys, "pycache_prefix", None):
        return None
    here = os.path.dirname(os.path.abspath(module_file))
    folder = os.path.join(here, "__pycache__")
    try:
        if not private_place(os.lstat(here)):
            return None
        st = os.lstat(folder)
    except FileNotFoundError:
        return None if sys.dont_write_bytecode else os.path.join(folder, name)
    except OSError:
        return None
    if not (stat.S_ISDIR(st.st_mode) and private_place(st)):
        return None
    return os.path.join(folder, name)


def read_beside(path: str) -> Optional[bytes]:
    """The file's bytes, or None when it is missing, a symlink or not a private place."""
    try:
        return read_private(path, root_ok=True)
    except OSError:
        return None


def write_beside(path: str, data: bytes) -> bool:
    """Replace the file whole (atomic rename); False when it cannot be (read-only, not
    this user's to write, or PYTHONDONTWRITEBYTECODE asks for no files there)."""
    if sys.dont_write_bytecode:
        return False
    prefix = "." + os.path.basename(path).split(".")[0] + "-"
    folder = os.path.dirname(path)
    try:
        if not stat.S_ISREG(os.lstat(path).st_mode):
            return False        # (a symlink or device there: not replaced, not written)
    except FileNotFoundError:
        pass
    except OSError:
        return False
    try:
        try:
            os.mkdir(folder, 0o755)
        except FileExistsError:
            pass
        st = os.lstat(folder)       # (made by someone else meanwhile: checked again)
        if not (stat.S_ISDIR(st.st_mode) and private_place(st)):
            return False
        write_atomic(path, data, mode=0o644, prefix=prefix)
    except OSError:
        return False
    return True
