"""``pyvm-tools disasm FILE``: NASM-syntax disassembly of flat, ELF, B32 and V16 files.

The x86 output is itself NASM source: `bits`/`org` first, then one instruction per line
with its address and bytes as a comment, so it reassembles to the same bytes.
"""

from __future__ import annotations

import sys

import click

from asm.x86.disasm import x86_listing
from formats import detect
from vm.cli import _parse_int
from vm.tools.disasm_elf import elf_listing


@click.command()
@click.argument("path", type=click.Path(dir_okay=False))
@click.option("--bits", type=click.Choice(["16", "32"]), default=None,
              help="Flat binaries: code size (default 32; 16 for .com).")
@click.option("--org", callback=_parse_int, help="Flat binaries: load address.")
@click.option("--format", "fmt", type=click.Choice(["auto", "bin", "com", "b32", "v16", "elf"]),
              default="auto")
def command(path, bits, org, fmt) -> None:
    """Disassemble PATH (flat binary, .com, ELF32, B32 or V16)."""
    from formats.inputs import InputError, read_input
    try:
        data = read_input(path)
    except (OSError, InputError) as e:
        click.echo(f"pyvm-tools: {path}: {getattr(e, 'strerror', None) or e}", err=True)
        sys.exit(1)
    kind = detect(path, data) if fmt == "auto" else fmt
    if kind == "b32":
        from asm.b32.disassembler import disassemble
        from formats.b32 import B32FormatError, read_b32
        try:
            click.echo(disassemble(read_b32(data), path), nl=False)
        except B32FormatError as e:
            click.echo(f"pyvm-tools: {path}: {e}", err=True)
            sys.exit(1)
        return
    if kind == "v16":
        from asm.v16 import disassemble as v16_disassemble
        from formats.v16 import V16FormatError
        try:
            click.echo("\n".join(v16_disassemble(data, path)))
        except V16FormatError as e:
            click.echo(f"pyvm-tools: {path}: {e}", err=True)
            sys.exit(1)
        return
    if kind == "elf":
        try:
            lines = elf_listing(data)
        except ValueError as e:
            click.echo(f"pyvm-tools: {path}: {e}", err=True)
            sys.exit(1)
        # symbol names are the file's bytes (decoded with surrogateescape): as bytes
        click.echo("\n".join(lines).encode("utf-8", "surrogateescape"))
        return
    if kind == "com":
        bits_n, origin = int(bits or 16), 0x100 if org is None else org
    else:
        bits_n, origin = int(bits or 32), org or 0
    click.echo(f"bits {bits_n}\norg 0x{origin:x}\n")
    click.echo("\n".join(x86_listing(data, bits_n, origin)))
