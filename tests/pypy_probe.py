"""Run a probe script under PyPy: the oracle of the JIT tests (a compile hook in the
script reports what PyPy's JIT compiled)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from conftest import require_tool

ROOT = Path(__file__).resolve().parent.parent


def run_pypy(script: str, *args: str, clean_env: bool = False, timeout: int = 600) -> bytes:
    """stdout of ``pypy3 -c script args`` with pyvm importable and the code cache off;
    ``clean_env``: PATH alone of this environment (no PYPY* or PYVM* settings leak in).
    Skips without pypy3; fails with PyPy's stderr if the script does."""
    pypy = require_tool("pypy3")
    base: dict = ({"PATH": os.environ.get("PATH", "/usr/bin:/bin")} if clean_env
                  else dict(os.environ))
    env = {**base, "PYTHONPATH": str(ROOT), "PYVM_CODE_CACHE": "0"}
    proc = subprocess.run([pypy, "-c", script, *args], capture_output=True, env=env,
                          timeout=timeout)
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")[-2000:]
    return proc.stdout


def flat_run(steps: str) -> str:
    """A probe's lines that run the flat-mode program argv[2] (hex) with argv[3]'s JSON
    (CODE, STACK, MEMORY, REGS, DEFINED) for ``steps`` (its literal) and leave ``m``,
    ``stop`` and ``state`` (the registers and the defined flags)."""
    return f"""
from vm.x86.machine import Machine
code = bytes.fromhex(sys.argv[2])
CODE, STACK, MEMORY, REGS, DEFINED = json.loads(sys.argv[3])
m = Machine("flat32", MEMORY)
m.load(CODE, code)
m.set_reg("esp", STACK)
m.set_reg("eip", CODE)
stop = m.run({steps})
state = {{n: m.reg(n) for n in REGS}}
state["flags"] = m.reg("eflags") & DEFINED
"""
