"""Bytes -> behaviour: memory, CPUs, execution engine, OS personalities, screens.

Public API (docs/api.md): :func:`run` and :class:`RunResult` (vm/api.py), the CPUs
``vm.x86.Machine``, ``vm.b32.cpu.B32CPU`` and ``vm.v16.cpu.V16CPU``.
"""

from __future__ import annotations


def __getattr__(name: str):
    if name in ("run", "RunResult"):
        from vm import api
        return getattr(api, name)
    raise AttributeError(f"module 'vm' has no attribute {name!r}")
