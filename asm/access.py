"""What a source may reach while it is assembled: every file (``%include``, ``incbin``)
and the environment (``%!NAME``).

pyasm reads what its user could read, as NASM does. But ``pyvm prog.s`` assembles a
*guest* program: its source is as untrusted as a binary, and reading files or the
environment for it is reading them on the guest's behalf. Under :func:`guest_view` (set
by vm/run_source.py) a file is found only when ``allowed(path)`` says so (the guest's
sandbox: never pyvm's own files, such as the code cache's key, nor the host's /proc),
is read through ``open(path)`` (a descriptor judged again once open, so a name swapped
for a symlink in between reaches nothing more), and ``%!NAME`` reads the environment
the guest gets (none of the host's under
``--clear-env``). Outside it nothing changes. This module sits in ``asm`` so that the
assembler needs no ``vm`` import; ``vm`` supplies the policy.
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from typing import Callable, Iterator, Mapping, Optional, Tuple

_view: Optional[Tuple[Callable[[str], bool], Mapping[str, str], Callable[[str], int]]] = None
# whether the source under the current view asked for any file or the environment: a
# source that asked for neither assembles the same under every view (vm/run_source.py)
_consulted = False


@contextmanager
def guest_view(allowed: Callable[[str], bool], environ: Mapping[str, str],
               opener: Callable[[str], int]) -> Iterator[None]:
    """Within it, files and ``%!NAME`` are those a guest program may see: ``allowed``
    says whether a file may be found, ``opener`` opens one for reading (a descriptor,
    OSError when refused)."""
    global _view, _consulted
    before, _view = _view, (allowed, environ, opener)
    _consulted = False
    try:
        yield
    finally:
        _view = before


def consulted() -> bool:
    """Whether the source assembled under the last view asked for a file or the
    environment (so that what it builds may depend on the view)."""
    return _consulted


def _ask() -> None:
    global _consulted
    _consulted = True


def allowed(path: str) -> bool:
    """Whether a source being assembled may read the file ``path``."""
    if _view is None:
        return True
    _ask()
    return _view[0](path)


def read_input(path: str) -> bytes:
    """formats.inputs.read_input, through the view's opener when there is one."""
    from formats.inputs import read_input as plain
    from formats.inputs import read_open
    if _view is None:
        return plain(path)
    _ask()
    with os.fdopen(_view[2](path), "rb") as f:
        return read_open(f, path)


def read_source(path: str) -> str:
    """formats.inputs.read_source, through the view's opener when there is one."""
    from formats.inputs import decode_source
    return decode_source(read_input(path))


def environ() -> Mapping[str, str]:
    """The environment ``%!NAME`` reads."""
    if _view is None:
        return os.environ
    _ask()
    return _view[1]


__all__ = ["allowed", "consulted", "environ", "guest_view", "read_input", "read_source"]
