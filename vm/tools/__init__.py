"""``pyvm-tools``: roundtrip, disasm, info, cputest, bench."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from vm.entry import ReturningGroup

SAMPLES = Path(__file__).resolve().parents[2] / "samples"


def isa_of(path: str) -> str:
    """The machine a source is for: by its content (asm/language.py), as pyasm and pyvm
    decide; a binary .b32/.v16 file by its extension."""
    from asm.language import source_language
    low = path.lower()
    if low.endswith((".b32", ".v16")):
        return low[-3:]
    with open(path, "rb") as f:
        return source_language(f.read().decode("utf-8", "surrogateescape"))


def sample_sources() -> list[str]:
    """Every sample source: ./samples when run from a checkout, else the repo's."""
    base = Path("samples") if Path("samples").is_dir() else SAMPLES
    found = []
    for root, _dirs, files in os.walk(base):
        for name in sorted(files):
            if name.endswith((".s", ".asm")):
                found.append(os.path.join(root, name))
    return sorted(found)


@click.group("pyvm-tools", cls=ReturningGroup,
             context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """Developer tools for pyvm."""


def script() -> None:
    """The ``pyvm-tools`` console script (``main([...])`` returns the status)."""
    sys.exit(main())


@main.command()
@click.argument("files", nargs=-1, type=click.Path(exists=True, dir_okay=False))
def roundtrip(files) -> None:
    """Assemble, disassemble, reassemble and compare bytes (default: every sample)."""
    files = list(files) or sample_sources()
    if not files:       # outside a checkout, with no samples installed: nothing was checked
        click.echo("pyvm-tools: roundtrip: no sample sources found (run it in a pyvm "
                   "checkout, or name the files to check)", err=True)
        sys.exit(1)
    failed = 0
    from formats.inputs import InputError, read_input
    for path in files:
        try:
            read_input(path)        # bounded, before the round trip reads it
        except (OSError, InputError) as e:
            click.echo(f"pyvm-tools: {path}: {getattr(e, 'strerror', None) or e}", err=True)
            sys.exit(1)
        isa = isa_of(path)
        if isa == "b32":
            from asm.b32.roundtrip import roundtrip_file
        elif isa == "v16":
            from asm.v16.roundtrip import roundtrip_file
        else:
            from asm.x86.roundtrip import roundtrip_file
        problem = roundtrip_file(path)
        if problem:
            failed += 1
            click.echo(f"{path}: FAIL: {problem}")
        else:
            click.echo(f"{path}: ok")
    click.echo(f"{len(files) - failed} identical, {failed} differ")
    sys.exit(1 if failed else 0)


# Subcommands that live in their own modules of this package (each defines a click
# command named `command`): disasm.py, info.py, cputest.py, bench.py.
def _add_subcommands() -> None:
    from vm.tools import bench, cputest, disasm, info
    for mod in (disasm, info, cputest, bench):
        main.add_command(mod.command, mod.__name__.rsplit(".", 1)[1])


_add_subcommands()

if __name__ == "__main__":
    script()
