"""The x86 CPU: real mode and 32-bit flat user mode, compiled basic blocks.

Public API: :class:`vm.x86.machine.Machine` (also ``vm.x86.Machine``), see machine.py.
"""

from __future__ import annotations


def __getattr__(name: str):
    if name in ("Machine", "Stop"):
        from vm.x86 import machine
        return getattr(machine, name)
    raise AttributeError(name)
