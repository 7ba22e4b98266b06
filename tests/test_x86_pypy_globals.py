"""Blocks' globals under PyPy (vm/x86/compiler.py Translator.block_globals): each block
runs with a module dict of its own holding the translator's objects it names, never
written after, so that PyPy's JIT keeps folding them to constants. The translator's
namespace itself gains names while a run goes on (one per x87 instruction translated,
system.py; one per helper first used), and each new key of a module dict throws away
every compiled loop that reads a global from it (printf's doubles ran 30% slower with
the blocks reading the namespace itself). Under CPython the blocks keep the namespace
(their objects are parameters there): that path must not change.

The oracle is the native run of a gcc -m32 program whose doubles are x87 code."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from conftest import require_tool

ROOT = Path(__file__).resolve().parent.parent

SOURCE = r"""
#include <stdio.h>
#include <stdlib.h>
int main(int argc, char **argv) {
    int n = argc > 1 ? atoi(argv[1]) : 3000;
    double s = 0.0, p = 1.0;
    for (int i = 1; i <= n; i++) {
        s += 1.0 / (double)i;
        p = p * 1.0001 + (double)(i % 7) / 3.0;
        if (i % 500 == 0)
            printf("%d %.9f %.6e %g\n", i, s, p, s / p);
    }
    printf("done %.12f\n", s);
    return 0;
}
"""

# run the program, then describe every compiled block's globals (one JSON line)
SCRIPT = """
import json, sys
from types import FunctionType
from vm.x86 import compiler
if sys.implementation.name == "pypy":
    from vm.x86 import pypy_tuning
    pypy_tuning.configure(function_threshold=7, threshold=11, trace_eagerness=3)
    from __pypy__ import strategy
else:
    strategy = lambda d: type(d).__name__
made = []
plain = compiler.Translator.__init__
def init(self, machine):
    plain(self, machine)
    made.append(self)
compiler.Translator.__init__ = init
from vm.linux.runner import run_elf
from vm.options import RunOptions
exe, out = sys.argv[1], sys.argv[2]
with open(out, "wb") as f, open("/dev/null", "rb") as null:
    status = run_elf(exe, open(exe, "rb").read(),
                     RunOptions(std_fds=(null.fileno(), f.fileno(), f.fileno())))
blocks = shared = wrong = 0
kinds = set()
for tr in made:
    ns = tr.ns
    for info in tr.blocks.values():
        fn = info[4]
        if not isinstance(fn, FunctionType) or fn.__name__ != "_blk":
            continue
        blocks += 1
        g = fn.__globals__
        shared += g is ns
        kinds.add(strategy(g))
        # every object the block names is the namespace's (nothing else, nothing stale)
        wrong += sum(1 for n in fn.__code__.co_names if n in ns and g.get(n) is not ns[n])
        wrong += sum(1 for n in g if n not in fn.__code__.co_names and not n.startswith("__"))
x87 = sum(1 for tr in made for n in tr.ns if n.startswith("insn_"))
print(json.dumps({"status": status, "blocks": blocks, "shared": shared, "wrong": wrong,
                  "kinds": sorted(kinds), "x87": x87}))
"""


@pytest.fixture(scope="module")
def program(tmp_path_factory) -> tuple:
    """(the executable, its native run)."""
    gcc = require_tool("gcc")
    tmp = tmp_path_factory.mktemp("pypyglobals")
    src, exe = tmp / "x87.c", tmp / "x87"
    src.write_text(SOURCE)
    proc = subprocess.run([gcc, "-m32", "-static", "-O2", "-o", str(exe), str(src)],
                          capture_output=True, text=True)
    if proc.returncode:
        pytest.skip(f"gcc -m32 -static failed: {proc.stderr.strip()[-200:]}")
    return exe, subprocess.run([str(exe)], capture_output=True, timeout=30)


def _run(python: str, exe: Path) -> tuple:
    out = exe.with_suffix(f".{os.path.basename(python)}.out")
    env = dict(os.environ, PYTHONPATH=str(ROOT), PYVM_CODE_CACHE="0")
    proc = subprocess.run([python, "-c", SCRIPT, str(exe), str(out)], capture_output=True,
                          env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")[-2000:]
    return json.loads(proc.stdout.decode().splitlines()[-1]), out.read_bytes()


def test_blocks_have_their_own_module_globals_under_pypy(program):
    exe, native = program
    assert native.returncode == 0 and native.stdout.startswith(b"500 ")
    result, out = _run(require_tool("pypy3"), exe)
    assert (result["status"], out) == (0, native.stdout)
    assert result["blocks"] > 100 and result["x87"] > 0, result
    # no block reads the namespace, which grew by the x87 instructions' names
    assert result["shared"] == 0, result
    assert result["kinds"] == ["ModuleDictStrategy"], result
    assert result["wrong"] == 0, result


def test_blocks_keep_the_namespace_under_cpython(program):
    import sys
    exe, native = program
    result, out = _run(sys.executable, exe)
    assert (result["status"], out) == (0, native.stdout)
    assert result["blocks"] > 100 and result["x87"] > 0, result
    assert result["shared"] == result["blocks"], result
    assert result["kinds"] == ["dict"], result
