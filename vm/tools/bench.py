"""``pyvm-tools bench``: the built-in x86 benchmark programs (see vm/bench/)."""

from __future__ import annotations

import platform
import sys

import click


@click.command()
@click.argument("names", nargs=-1)
@click.option("--asm", "asm_lines", type=int, default=None, is_flag=False, flag_value=100_000,
              metavar="[LINES]", help="Instead: time pyasm and nasm (own processes, median of "
              "--repeat runs) on a generated source of LINES lines (default 100000) and a "
              "%rep/%assign loop.")
@click.option("--real", is_flag=True, help="Run the real-program suite instead: C programs "
              "built with gcc -m32 -static -O2, busybox runs, a cold start (vm/bench/real.py).")
@click.option("--quick", is_flag=True, help="With --real/--debug-overhead: small inputs.")
@click.option("--repeat", type=int, default=None,
              help="With --real/--debug-overhead (default 1) or --asm (default 3): runs per "
              "program (the median is reported).")
@click.option("--python", "pythons", multiple=True, metavar="EXE",
              help="With --asm: run pyasm under this interpreter (repeatable; default: "
              "the one running the benchmark), e.g. --python python3 --python pypy3.")
@click.option("--rep-count", type=int, default=1_000_000, show_default=True,
              help="With --asm: the %rep count of the %rep/%assign case (0: skip it).")
@click.option("--json", "json_file", metavar="FILE",
              help="With --real/--debug-overhead: write the results as JSON.")
@click.option("--debug-overhead", is_flag=True, help="Time a real program plain, under the "
              "debugging core with nothing set, with a breakpoint never reached and with a "
              "watchpoint.")
def command(names, asm_lines, real, quick, repeat, pythons, rep_count, json_file,
            debug_overhead) -> None:
    """Run the benchmark programs: instructions retired, seconds, MIPS, geometric mean.

    The default set is the loop kernels (quick); --real runs real programs (each checked
    against its native run) and --json FILE keeps a record to compare runs.

    Under PyPy (no click there): PYTHONPATH=. pypy3 -m vm.bench [--real ...]
    """
    if asm_lines is not None:
        from vm.bench.assembler import run
        if asm_lines < 10:
            raise click.ClickException("--asm needs at least 10 lines")
        try:
            run(asm_lines, click.echo, repeat=max(repeat or 3, 1), pythons=pythons,
                rep_count=max(rep_count, 0))
        except (RuntimeError, OSError) as e:
            raise click.ClickException(str(e)) from None
        return
    repeat = repeat or 1
    if real or debug_overhead:
        from vm.bench import real as suite
        unknown = [n for n in names if n not in suite.names()]
        if unknown:
            raise click.ClickException(f"unknown program {unknown[0]!r}; known: "
                                       f"{', '.join(suite.names())}")
        try:
            if debug_overhead:
                from vm.bench.debugcost import run as debug_run
                debug_run(names or None, quick, max(repeat, 1), json_file, click.echo)
            else:
                suite.run_suite(names or None, quick, max(repeat, 1), json_file, click.echo)
        except (RuntimeError, suite.Skip) as e:
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
