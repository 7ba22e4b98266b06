"""pyasm under PyPy compiles loops and functions sooner than PyPy's defaults (asm/pypy_gc.py
JIT_PARAMS: threshold 600, function_threshold 800; PyPy's are 1039 and 1619). The oracle
is PyPy's JIT itself: its compile hook shows what it compiled."""

from __future__ import annotations

import json

PROBE = """
import json, sys, pypyjit
from asm import pypy_gc
if sys.argv[1] == "tuned":
    pypy_gc.tune_jit()
compiled = set()
def hook(info):
    key = info.greenkey and info.greenkey[0]
    if hasattr(key, "co_name"):
        compiled.add(key.co_name)
pypyjit.set_compile_hook(hook)
def looped(n):
    total = 0
    for i in range(n):
        total += i
    return total
def recursed(n):
    return recursed(n - 1) + 1 if n else 0
looped(800)          # iterations: past 600, not 1039
recursed(900)        # calls: past 800, not 1619
pypyjit.set_compile_hook(None)
print(json.dumps(sorted(compiled & {"looped", "recursed"})))
"""


def _compiled(mode: str) -> list:
    from pypy_probe import run_pypy
    return json.loads(run_pypy(PROBE, mode, clean_env=True, timeout=120))


def test_loops_and_functions_compiled_sooner():
    assert _compiled("default") == []
    assert _compiled("tuned") == ["looped", "recursed"]
