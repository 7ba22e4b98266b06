"""``pyvm --bios ROM`` and ``pyvm --disk IMAGE``: which PC to start."""

from __future__ import annotations

from formats.inputs import InputError, read_input
from vm.options import RunOptions
from vm.pc.boot import run_disk
from vm.pc.system import fail, run_bios


def run_pc(opts: RunOptions) -> int:
    """``pyvm --bios ROM`` or ``pyvm --disk IMAGE``: returns the exit status."""
    if opts.bios:
        try:
            rom = read_input(opts.bios)
        except InputError as e:
            return fail(opts.bios, str(e))
        except OSError as e:
            return fail(opts.bios, e.strerror or str(e))
        if opts.disk:
            return fail(opts.bios, "--bios with --disk: pyvm's own BIOS boots disks; a "
                        "ROM of yours runs alone")
        return run_bios(opts.bios, rom, opts)
    return run_disk(opts.disk, opts)
