"""The cyclic collector in a short run (vm/startup.py quiet_gc): a glibc hello world,
cold (an empty code cache) and warm, makes no collector pass once pyvm has started
(with a young-generation threshold of 100,000 a cold run made six passes over the
objects it had just made and kept, freeing almost nothing: 3% of its instructions).
Oracles: CPython's collector itself (gc.callbacks sees every pass) and the native run
of the same program (the output must not change)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import require_tool

ROOT = Path(__file__).resolve().parent.parent

# the ``pyvm`` console script (vm/launch.py) with every collector pass counted from the
# moment quiet_gc has set the thresholds
RUNNER = """
import gc, sys
import vm.startup
passes = []
plain = vm.startup.quiet_gc
def counted():
    plain()
    gc.callbacks.append(lambda phase, info: phase == "start" and passes.append(info))
    import atexit
    atexit.register(lambda: print(f"passes={len(passes)}", file=sys.stderr))
vm.startup.quiet_gc = counted
sys.argv = ["pyvm", sys.argv[1]]
from vm.launch import script
script()
"""


@pytest.mark.skipif(sys.implementation.name != "cpython", reason="CPython's collector")
def test_a_hello_world_makes_no_collector_pass(tmp_path):
    gcc = require_tool("gcc")
    src = tmp_path / "hello.c"
    src.write_text('#include <stdio.h>\nint main(void) { puts("hello, world"); return 0; }\n')
    exe = tmp_path / "hello"
    r = subprocess.run([gcc, "-m32", "-static", "-O2", "-o", str(exe), str(src)],
                       capture_output=True)
    if r.returncode:
        pytest.fail(f"gcc -m32 -static failed: {r.stderr.decode()[-300:]}")
    native = subprocess.run([str(exe)], capture_output=True)
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache"), "PYVM_CODE_CACHE": "1",
           "PYVM_BACKGROUND_SAVE": "0", "PYTHONPATH": str(ROOT)}
    for run in ("cold", "warm"):
        p = subprocess.run([sys.executable, "-c", RUNNER, str(exe)], capture_output=True,
                           env=env, timeout=300)
        assert (p.returncode, p.stdout) == (native.returncode, native.stdout), run
        assert p.stderr.splitlines()[-1] == b"passes=0", (run, p.stderr[-500:])
