"""Debugging: the core (core.py), reverse history (snapshots.py), the command-line
debugger (cli.py), the GDB remote stub (gdbstub.py) and program set-up (targets.py).

Entry points for ``pyvm --debug`` and ``pyvm --gdb``: :func:`debug_main`, :func:`gdb_main`.
"""

from __future__ import annotations


def debug_main(kind: str, path: str, data: bytes, opts, *, stdin=None, stdout=None) -> int:
    from vm.debug.cli import debug_main as main
    return main(kind, path, data, opts, stdin=stdin, stdout=stdout)


def gdb_main(kind: str, path: str, data: bytes, opts, address: str) -> int:
    from vm.debug.gdbstub import gdb_main as main
    return main(kind, path, data, opts, address)
