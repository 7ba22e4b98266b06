"""The ``pyvm`` console script (pyproject.toml). Under PyPy the process re-executes once
with a larger GC nursery (vm/x86/pypy_tuning.py): that happens here, before the front
end's imports (click, the formats), which the re-executed process would make again.
A plain command line (``pyvm PROGRAM ARGS...``, no option) runs without click
(vm/runfile.py plain, run_plain); any other goes through the click command."""

from __future__ import annotations


def script() -> None:
    import sys

    from vm.x86.pypy_tuning import tune_gc
    tune_gc()
    from vm.runfile import plain, run_plain
    argv = sys.argv[1:]
    if plain(argv):
        from vm.startup import run_entry
        run_entry(lambda: run_plain(argv))
    from vm.cli import script as pyvm
    pyvm()
