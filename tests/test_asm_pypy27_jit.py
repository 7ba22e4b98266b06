"""pyasm under PyPy keeps a few callees out of the JIT's traces (asm/pypy_gc.py,
``tune_jit``): they are compiled as functions of their own and called. The oracle is
PyPy's JIT itself: its compile hook shows which functions a compiled trace holds."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from conftest import require_tool

from asm import pypy_gc, shapes
from asm.assembler import Assembler

ROOT = Path(__file__).resolve().parent.parent

# a loop that calls shapes.lookup: the functions of the trace compiled for the loop (the
# trace whose code includes `caller`), and those of the other traces
PROBE = """
import json, sys, pypyjit
from asm import pypy_gc, shapes
if sys.argv[1] == "hint":
    pypy_gc.tune_jit()
traces = []
def hook(info):
    traces.append(sorted({op.pycode.co_name for op in info.operations
                          if op.name == "debug_merge_point" and getattr(op, "pycode", None)}))
pypyjit.set_compile_hook(hook)
def caller(n):
    skip = frozenset()
    got = 0
    for i in range(n):
        got += shapes.lookup("add ecx, 5000", 32, skip) is None
    return got
caller(5000)
print(json.dumps({"loop": sorted({f for t in traces if "caller" in t for f in t}),
                  "others": sorted({f for t in traces if "caller" not in t for f in t})}))
"""


def _traces(mode: str) -> dict:
    pypy = require_tool("pypy3")
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PYTHONPATH": str(ROOT),
           "PYVM_CODE_CACHE": "0"}
    proc = subprocess.run([pypy, "-c", PROBE, mode], capture_output=True, env=env,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")[-2000:]
    return json.loads(proc.stdout)


def test_lookup_compiled_on_its_own_under_pypy():
    control = _traces("none")
    assert "lookup" in control["loop"]          # (PyPy's default: inlined into the loop)
    got = _traces("hint")
    assert "caller" in got["loop"] and "lookup" not in got["loop"]
    assert "lookup" in got["others"]            # (its own trace, called from the loop)


def test_the_functions_named_exist():
    """A renamed function would stop pyasm under PyPy (tune_jit looks them up)."""
    assert pypy_gc.not_inlined() == [shapes.lookup.__code__, Assembler._insn.__code__]


def test_nothing_under_cpython():
    pypy_gc.tune_jit()              # (no pypyjit: nothing to do, no error)
