"""``python -m vm.linux`` under PyPy re-executes itself once with a larger GC nursery
(vm/x86/pypy_tuning.py, ``tune_gc``). The oracles: PyPy's own GC statistics
(``gc.get_stats().nursery_size``) for the nursery the run got, and a native run of a
static i386 program that prints its environment for what the guest sees (the variables
the re-execution used must not reach it)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from conftest import require_tool

ROOT = Path(__file__).resolve().parent.parent

PROBE = """
import gc, importlib, json, os, sys
importlib.import_module(sys.argv[1]).tune_gc(*sys.argv[2:3])
print(json.dumps({"nursery": gc.get_stats().nursery_size, "argv": sys.argv[2:],
                  "env": {k: v for k, v in os.environ.items() if "GC" in k}}))
"""

ENVIRON_C = r"""
#include <stdio.h>
extern char **environ;
int main(void) {
    for (char **e = environ; *e; e++)
        puts(*e);
    return 0;
}
"""


def probe_tune_gc(module: str, *args: str, **env: str) -> dict:
    """A PyPy process that calls ``module.tune_gc(args[0])``: the nursery it then runs
    with, its command line after ``module`` and the GC variables left in its
    environment."""
    import json
    pypy = require_tool("pypy3")
    full = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PYTHONPATH": str(ROOT), **env}
    proc = subprocess.run([pypy, "-c", PROBE, module, *args], capture_output=True, env=full,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")[-2000:]
    return json.loads(proc.stdout)


def _probe(*args: str, **env: str) -> dict:
    return probe_tune_gc("vm.x86.pypy_tuning", *args, **env)


def test_reexecuted_with_the_larger_nursery():
    want = f"{_size('PYPY_GC_NURSERY'):.1f}MB"
    got = _probe("/proc/self/cmdline", "two words", "x")
    # the same command line, the nursery PyPy reports, and no variable left behind
    assert got == {"nursery": want, "argv": ["/proc/self/cmdline", "two words", "x"],
                   "env": {}}


def test_user_setting_kept_and_no_proc_no_reexecution():
    assert _probe("/proc/self/cmdline", PYPY_GC_NURSERY="2MB") == {
        "nursery": "2.0MB", "argv": ["/proc/self/cmdline"], "env": {"PYPY_GC_NURSERY": "2MB"}}
    default = _probe("/nonexistent/cmdline")      # (the control: PyPy's own size)
    assert default["env"] == {}
    assert default["nursery"] != f"{_size('PYPY_GC_NURSERY'):.1f}MB"


def _size(name: str) -> float:
    from vm.x86.pypy_tuning import NURSERY
    assert name == "PYPY_GC_NURSERY"
    text = NURSERY
    assert text.endswith("MB")
    return float(text[:-2])


@pytest.fixture(scope="module")
def environ_exe(tmp_path_factory) -> Path:
    gcc = require_tool("gcc")
    tmp = tmp_path_factory.mktemp("pypygc")
    src, exe = tmp / "environ.c", tmp / "environ"
    src.write_text(ENVIRON_C)
    proc = subprocess.run([gcc, "-m32", "-static", "-O1", "-o", str(exe), str(src)],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    return exe


def test_guest_environment_is_the_hosts(environ_exe):
    pypy = require_tool("pypy3")
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PYTHONPATH": str(ROOT),
           "PYVM_CODE_CACHE": "0", "SOME_VAR": "a b=c"}
    native = subprocess.run([str(environ_exe)], capture_output=True, env=env, timeout=30)
    ours = subprocess.run([pypy, "-m", "vm.linux", str(environ_exe)], capture_output=True,
                          env=env, timeout=300)
    assert native.returncode == 0 and b"SOME_VAR=a b=c" in native.stdout
    assert (ours.returncode, ours.stdout) == (0, native.stdout), ours.stderr[-2000:]
