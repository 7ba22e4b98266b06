"""Running one program file, the part of ``pyvm FILE [ARGS...]`` after its options
(vm/cli.py): read it, choose the machine, run it. Nothing here imports click, so that
the ``pyvm`` script (vm/launch.py) can run a plain command line, a program and its
arguments with no option, without loading click and its command (~10-25 ms of CPython's
start, more under PyPy); click is imported only to print a report."""

from __future__ import annotations

import os
from typing import Callable, Optional, Sequence

from formats import detect, is_boot_sector
from formats.inputs import InputError, read_input
from vm.options import EXIT_INTERRUPTED, RunOptions, no_screen
from vm.startup import status_of


def echo(message: str) -> None:
    """One line of pyvm's on stderr, as click prints it (``click.echo(err=True)``)."""
    import click
    click.echo(message, err=True)


def run_file(program: str, opts: RunOptions, fmt: Optional[str] = None,
             bits: Optional[str] = None, option_names: frozenset = frozenset(),
             debug: Optional[dict] = None) -> int:
    """Run ``program`` with ``opts``: ``fmt`` overrides the detected format, ``bits`` is
    --bits as given (None: not given), ``option_names`` pyvm's options (one of them
    among the arguments of a program that takes none is an option put too late), and
    ``debug`` the arguments of vm.debug.launch (None: no debugger)."""
    try:
        data = read_input(program)
    except OSError as e:
        echo(f"pyvm: {program}: {e.strerror or e}")
        return 1
    except InputError as e:
        echo(f"pyvm: {program}: {e}")
        return 1
    kind = fmt or detect(program, data)
    if kind in ("bin", "raw") and bits is None and is_boot_sector(data):
        opts.bits = 16      # a boot sector: real mode at 0000:7C00, as a PC would run it
    if kind == "bin" and program.lower().endswith((".b32", ".v16")):
        kind = program[-3:].lower()  # a damaged file: say what is wrong with its header
    if opts.screen_html and kind not in ("b32", "asm"):  # (a source may make a B32 program)
        echo(no_screen(program))                         # (a source: vm/run_source.py)
        return 2
    args = opts.args
    misplaced = [a for a in args if a.split("=")[0] in option_names]
    if misplaced and kind not in ("elf", "com"):
        # only Linux and DOS programs take arguments: this is a pyvm option put too late
        echo(f"pyvm: {program}: {misplaced[0]} comes after the program, so it would "
             f"be the program's argument; put pyvm's options first: "
             f"pyvm {' '.join(args)} {program}")
        return 2
    if debug is not None:
        from vm.debug import launch
        return launch(kind, program, data, opts, **debug)
    return reporting_output_errors(program, run, kind, program, data, opts)


def reporting_output_errors(path: str, fn: Callable[..., int], *args) -> int:
    """``fn(*args)``, with a file written during the run that cannot be written (the
    trace, --serial, --port-log: a full disk) reported in one line as pyvm's other
    output files are: status 1."""
    from formats.outputs import OutputWriteError
    try:
        return fn(*args)
    except OutputWriteError as e:
        echo(f"pyvm: {path}: {e}")
        return 1


# Machines whose RAM is fixed: --memory caps guest memory everywhere, so a cap below it
# cannot be honoured and is an error rather than silently ignored.
_FIXED_RAM = {"b32": (0x10000, "64 KiB"), "v16": (0x10000, "64 KiB"),
              "com": (0x110000, "1 MiB + the HMA"), "boot": (0x110000, "1 MiB + the HMA")}


def run(kind: str, path: str, data: bytes, opts: RunOptions) -> int:
    """Run a program of the given format; returns the exit status."""
    fixed = _FIXED_RAM.get("boot" if kind in ("bin", "raw") and opts.bits == 16 else kind)
    if fixed is not None and opts.memory is not None and opts.memory < fixed[0]:
        echo(f"pyvm: {path}: --memory {opts.memory} is below this machine's fixed "
             f"RAM ({fixed[1]})")
        return 1
    if kind == "b32":
        from vm.b32.runner import run_b32
        return run_b32(path, data, opts)
    if kind == "v16":
        from vm.v16.runner import run_v16
        return run_v16(path, data, opts)
    if kind == "elf":
        from vm.linux.runner import run_elf
        return run_elf(path, data, opts)
    if kind in ("bin", "raw") and opts.bits == 32:
        from vm.linux.flat import run_flat
        return run_flat(path, data, opts)
    if kind in ("bin", "raw") and opts.bits == 16:
        from vm.pc.runner import run_boot
        return run_boot(path, data, opts)
    if kind == "com":
        from vm.dos.runner import run_com
        return run_com(path, data, opts)
    if kind == "asm":
        from vm.run_source import run_source
        return run_source(path, data, opts)
    echo(f"pyvm: {path}: running {kind} programs is not implemented yet")
    return 1


# -- the plain command line, without click ---------------------------------------------------

def plain(argv: Sequence[str]) -> bool:
    """A command line that click would parse into a readable program and its arguments,
    every option at its default: no word starts with '-' (no option, no '--', no '-'
    for stdin), the program is a readable file (click's check of PROGRAM: readable,
    not a directory), and no shell completion is asked for (click's _PYVM_COMPLETE)."""
    if not argv or any(a.startswith("-") for a in argv) or "_PYVM_COMPLETE" in os.environ:
        return False
    return os.path.isfile(argv[0]) and os.access(argv[0], os.R_OK)


def run_plain(argv: Sequence[str]) -> int:
    """``pyvm PROGRAM ARGS...`` for a :func:`plain` command line, as the click command
    runs it (vm/entry.py call): the same run, and the same statuses for what escapes it
    (Ctrl-C or end of input: a new line on stderr and 130, as click's Abort;
    SystemExit's code)."""
    def main() -> int:
        try:
            return run_file(argv[0], RunOptions(args=tuple(argv[1:])))
        except (EOFError, KeyboardInterrupt):
            echo("")
            return EXIT_INTERRUPTED
    return status_of(main)
