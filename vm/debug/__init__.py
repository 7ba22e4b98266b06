"""Debugging: the core (core.py), reverse history (snapshots.py), the command-line
debugger (cli.py), the GDB remote stub (gdbstub.py) and program set-up (targets.py).

Entry point for ``pyvm --debug``, ``pyvm --gdb`` and ``python -m vm.debug``:
:func:`launch`.
"""

from __future__ import annotations

import io
import os
import sys
from typing import Optional


def launch(kind: str, path: str, data: bytes, opts, *, gdb: Optional[str] = None,
           program_input: Optional[str] = None, history: bool = True) -> int:
    """Debug a program: commands on stdin (the command-line debugger) or, with ``gdb``
    (``[HOST:]PORT``), a GDB remote stub. ``program_input`` is a file the program reads
    as its stdin, so the debugger's own commands can keep stdin. Returns the status."""
    commands = sys.stdin
    if program_input is not None:
        # the program reads fd 0: put the file there, keep the commands on another fd
        try:
            fd = os.open(program_input, os.O_RDONLY)
        except OSError as e:
            print(f"pyvm: {program_input}: {e.strerror or e}", file=sys.stderr)
            return 1
        if gdb is None:
            commands = io.TextIOWrapper(os.fdopen(os.dup(0), "rb"))
        os.dup2(fd, 0)
        os.close(fd)
        sys.stdin = io.TextIOWrapper(os.fdopen(os.dup(0), "rb"))
    if gdb is not None:
        from vm.debug.gdbstub import gdb_main
        return gdb_main(kind, path, data, opts, gdb, history=history)
    from vm.debug.cli import debug_main
    return debug_main(kind, path, data, opts, stdin=commands, history=history)
