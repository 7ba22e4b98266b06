"""``pyvm-tools bench``: the built-in x86 benchmark programs (see vm/bench/)."""

from __future__ import annotations

import platform
import sys

import click


@click.command()
@click.argument("names", nargs=-1)
@click.option("--asm", "asm_lines", type=int, default=None, is_flag=False, flag_value=100_000,
              metavar="[LINES]", help="Instead: time pyasm and nasm on one generated source "
              "of LINES lines (default 100000).")
def command(names, asm_lines) -> None:
    """Run the benchmark programs: instructions retired, seconds, MIPS, geometric mean.

    Under PyPy (no click there): PYTHONPATH=. pypy3 -m vm.bench
    """
    if asm_lines is not None:
        from vm.bench.assembler import run
        if asm_lines < 10:
            raise click.ClickException("--asm needs at least 10 lines")
        try:
            run(asm_lines, click.echo)
        except RuntimeError as e:
            raise click.ClickException(str(e)) from None
        return
    from vm.bench import PROGRAMS, run_all
    known = [p[0] for p in PROGRAMS]
    unknown = [n for n in names if n not in known]
    if unknown:
        raise click.ClickException(f"unknown benchmark {unknown[0]!r}; known: "
                                   f"{', '.join(known)}")
    click.echo(f"{platform.python_implementation()} {platform.python_version()}")
    try:
        run_all(names or None, click.echo)
    except RuntimeError as e:
        raise click.ClickException(str(e)) from None
    sys.stdout.flush()
