"""The ``pyvm`` console script (pyproject.toml). Under PyPy the process re-executes once
with a larger GC nursery (vm/x86/pypy_tuning.py): that happens here, before the front
end's imports (click, the formats), which the re-executed process would make again."""

from __future__ import annotations


def script() -> None:
    from vm.x86.pypy_tuning import tune_gc
    tune_gc()
    from vm.cli import script as pyvm
    pyvm()
