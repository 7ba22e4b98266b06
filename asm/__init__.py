"""Machine-code knowledge: text <-> bytes (grammars, preprocessor, instruction tables,
encoders, decoders, disassemblers, the assembler drivers and the linker).

Public API (docs/api.md): :func:`assemble`, :func:`link`, :class:`AssemblyError`,
:class:`LinkError`, :class:`Diagnostic` (all from asm/api.py, imported on first use).
"""

from __future__ import annotations

import sys

_API = ("assemble", "link", "AssemblyError", "LinkError", "Diagnostic", "Assembled",
        "Linked")


def __getattr__(name: str):
    if name == "link":            # the package asm/link is callable (see its __init__)
        import asm.link  # noqa: F401  (registers the package in sys.modules)
        return sys.modules["asm.link"]
    if name in _API:
        from asm import api
        return getattr(api, name)
    raise AttributeError(f"module 'asm' has no attribute {name!r}")
