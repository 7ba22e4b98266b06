"""``python -m vm.bench [NAME...]``: the benchmark without the click-based CLI (PyPy)."""

import platform
import sys

from vm.bench import run_all

print(f"{platform.python_implementation()} {platform.python_version()}")
run_all(sys.argv[1:] or None)
