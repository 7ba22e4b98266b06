"""``pyvm FILE [ARGS...]``: run any supported program, chosen by its magic or extension."""

from __future__ import annotations

if __name__ == "__main__":
    from vm.x86.pypy_tuning import tune_gc
    tune_gc()       # (PyPy) once more with a larger GC nursery, before the imports below

import click  # noqa: E402

from formats import FORMATS  # noqa: E402
from vm.entry import ReturningCommand  # noqa: E402
from vm.options import RunOptions  # noqa: E402
from vm.runfile import reporting_output_errors, run, run_file  # noqa: E402,F401 (vm/api.py: run)

# The one exit-status table (README "pyvm" section, vm/options.py EXIT_*), every machine.
EXIT_STATUS_HELP = """\b
Exit status (every machine: x86, DOS, BIOS, Linux, B32, V16):
  0-255  the program's own status (exit(n); HLT or B32 BRK/V16 hlt: 0)
  1      pyvm could not run it (unreadable file, bad format or option)
  2      usage error (unknown option, missing argument)
  70     internal error (a bug in pyvm, reported in one line)
  124    --max-steps instructions executed without the program ending
  125    deadlock: every process of a Linux program waits
  128+n  the program faulted, as a shell reports a killed process:
         132 invalid instruction (SIGILL), 135 bus error (SIGBUS),
         136 divide error (SIGFPE), 139 memory fault (SIGSEGV)
  130    interrupted (Ctrl-C, SIGINT)
  142    --timeout SECONDS ran out (SIGALRM)
  153    --max-output bytes exceeded (SIGXFSZ)"""


def _parse_int(ctx, param, value):
    if value is None:
        return None
    try:
        return int(value, 0)
    except ValueError:
        raise click.BadParameter(f"not a number: {value!r}") from None


def _parse_size(ctx, param, value):
    if value is None:
        return None
    text = value.strip().lower()
    mult = {"k": 1 << 10, "m": 1 << 20, "g": 1 << 30}.get(text[-1:], 1)
    try:
        size = int(text[:-1] if mult > 1 else text, 0) * mult
    except ValueError:
        raise click.BadParameter(f"not a size: {value!r}") from None
    if size < 0:
        raise click.BadParameter(f"not a size: {value!r}")
    return size


@click.command("pyvm", cls=ReturningCommand, epilog=EXIT_STATUS_HELP,
               context_settings={"allow_interspersed_args": False,
                                 "help_option_names": ["-h", "--help"]})
@click.argument("program", type=click.Path(dir_okay=False), required=False)
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
@click.option("--format", "fmt", type=click.Choice(FORMATS), help="Override format detection.")
@click.option("--max-steps", type=int, help="Stop with an error after N instructions.")
@click.option("--regs", is_flag=True, help="Print the registers when the program ends.")
@click.option("--stats", is_flag=True,
              help="Print instructions retired, seconds and MIPS when the program ends.")
@click.option("--trace", is_flag=True, help="Trace each instruction and system call to stderr.")
@click.option("--trace-file", type=click.Path(dir_okay=False), help="Write the trace here.")
@click.option("--color", type=click.Choice(["auto", "always", "never"]), default="auto",
              help="B32 and PC (VGA text) screen colours (ANSI) on stdout.")
@click.option("--screen-html", type=click.Path(dir_okay=False),
              help="B32, PC: write the final screen as an HTML page.")
@click.option("--org", callback=_parse_int, help="Flat binary load address (default 0).")
@click.option("--bits", type=click.Choice(["16", "32"]),
              help="Flat binary mode: 32 (Linux int 0x80) or 16 (BIOS, 0000:7C00). "
                   "Default: 16 for a 512-byte boot sector ending in 55AA, else 32.")
@click.option("--memory", callback=_parse_size, metavar="SIZE",
              help="Guest memory cap, every personality (e.g. 64M; flat binaries: 16M "
                   "when not given; a PC's RAM, 32M when not given).")
@click.option("--max-procs", type=click.IntRange(min=1), default=64, show_default=True,
              help="Linux programs: processes alive at once (fork beyond: EAGAIN).")
@click.option("--max-output", callback=_parse_size, metavar="SIZE",
              help="Stop (status 153) once the program writes more than SIZE bytes in "
                   "all: stdout, stderr, its files, the trace, --serial, --port-log.")
@click.option("--timeout", type=click.FloatRange(min=0, min_open=True), metavar="SECONDS",
              help="Stop (status 142) after SECONDS of wall-clock time.")
@click.option("--env", multiple=True, help="Linux programs: add K=V to the environment.")
@click.option("--clear-env", is_flag=True, help="Linux programs: start with an empty environment.")
@click.option("--root", type=click.Path(file_okay=False), help="Linux programs: guest '/'.")
@click.option("--allow-write", multiple=True, help="Linux programs: also writable path.")
@click.option("--seed", type=click.IntRange(min=0), default=None,
              help="Linux programs: the guest's random bytes (AT_RANDOM, getrandom, "
                   "/dev/urandom) follow from N, the same every run (default: the "
                   "host's random bytes).")
@click.option("--debug", is_flag=True,
              help="Debug the program: gdb-like commands on stdin (docs/debugging.md).")
@click.option("--gdb", metavar="[HOST:]PORT",
              help="Serve the GDB remote protocol on PORT (host 127.0.0.1 by default).")
@click.option("--debug-input", type=click.Path(dir_okay=False), metavar="FILE",
              help="With --debug/--gdb: the program's stdin (commands stay on stdin).")
@click.option("--no-history", is_flag=True,
              help="With --debug/--gdb: record nothing, so no reverse execution.")
@click.option("--bios", "bios_rom", type=click.Path(dir_okay=False), metavar="ROM",
              help="PC: run a ROM image mapped to end at 1 MiB, from F000:FFF0 "
                   "(docs: README 'Booting your own kernel').")
@click.option("--disk", type=click.Path(dir_okay=False), metavar="IMAGE",
              help="PC: boot a disk image's first sector at 0000:7C00 (DL=80h).")
@click.option("--disk-write", is_flag=True,
              help="With --disk: write to the image itself (default: to a copy).")
@click.option("--serial", metavar="stdout|FILE",
              help="PC: where COM1 output goes (with stdout, COM1 also reads stdin).")
@click.option("--port-log", type=click.Path(dir_okay=False), metavar="FILE",
              help="PC: log every port write (POST codes named) to FILE.")
def main(program, args, fmt, max_steps, regs, stats, trace, trace_file, color, screen_html, org, bits,
         memory, max_procs, max_output, timeout, env, clear_env, root, allow_write, debug,
         gdb, debug_input, no_history, bios_rom=None, disk=None, disk_write=False,
         serial=None, port_log=None, seed=None) -> int:
    """Run PROGRAM (B32, flat binary, DOS .COM, static i386 ELF or assembly source), or
    boot a PC (--bios ROM, --disk IMAGE)."""
    if bios_rom or disk:
        from vm.pc.launch import run_pc
        opts = RunOptions(max_steps=max_steps, regs=regs, stats=stats, trace=trace,
                          trace_file=trace_file, color=color, screen_html=screen_html,
                          memory=memory, max_output=max_output, timeout=timeout,
                          bios=bios_rom, disk=disk, disk_write=disk_write, serial=serial,
                          port_log=port_log)
        if program is not None:
            click.echo(f"pyvm: {program}: --bios and --disk boot a PC and take no "
                       "program", err=True)
            return 2
        if debug or gdb:
            click.echo("pyvm: --debug and --gdb do not work with --bios or --disk yet",
                       err=True)
            return 1
        return reporting_output_errors(bios_rom or disk, run_pc, opts)
    if program is None:
        raise click.MissingParameter(param_type="argument", param_hint="'PROGRAM'")
    if disk_write or serial or port_log:
        click.echo("pyvm: --disk-write, --serial and --port-log need --bios or --disk",
                   err=True)
        return 2
    opts = RunOptions(args=tuple(args), max_steps=max_steps, regs=regs, stats=stats,
                      trace=trace,
                      trace_file=trace_file, color=color, screen_html=screen_html, org=org,
                      bits=int(bits) if bits else 32, memory=memory, max_procs=max_procs,
                      max_output=max_output, timeout=timeout, env=list(env),
                      clear_env=clear_env, root=root, allow_write=list(allow_write),
                      seed=seed)
    debugging = dict(gdb=gdb, program_input=debug_input, history=not no_history) \
        if debug or gdb else None
    return run_file(program, opts, fmt, bits, _OPTION_NAMES, debugging)


def script() -> None:
    """``pyvm``: the console script (vm/launch.py) and ``python -m vm.cli`` run this,
    after their PyPy re-execution."""
    from vm.startup import run_entry
    run_entry(main)


_OPTION_NAMES = frozenset(n for p in main.params for n in getattr(p, "opts", ())
                         if n.startswith("-"))


if __name__ == "__main__":
    script()
