"""``pypy3 -m vm.bench.jitlog PROGRAM`` (vm/bench/jitlog.py): a pyvm run under PyPy with
PyPy's log on, summarised by how often each compiled loop ran. PyPy's own log is the
oracle: a plain ``PYPYLOG=... pyvm`` run wrote no summary and no run counts (the
re-executed process drops PYPYLOG, and the fast exit skips PyPy's shutdown)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest
from conftest import require_tool

from vm.bench import real
from vm.bench.jitlog import summarise

ROOT = real.ROOT


def test_jitlog_weighs_the_compiled_code_of_a_real_program(tmp_path):
    pypy = require_tool("pypy3")
    if shutil.which("gcc") is None:
        pytest.skip("gcc not installed")
    try:
        exe = real.build("qsort")
    except real.Skip as e:
        pytest.skip(str(e))
    log = tmp_path / "jit.log"
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.run([pypy, "-m", "vm.bench.jitlog", "--log", str(log), str(exe),
                           "4000"], capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    text = log.read_text(errors="replace")
    assert "{jit-backend-counts" in text and "Total # of loops" in text
    lines = proc.stdout.splitlines()
    assert lines[0].startswith("pyvm: ") and " instructions in " in lines[0]
    steps = int(lines[0].split()[1])
    view = summarise(text, steps)         # (recomputed from the kept log)
    assert int(view["summary"]["Total # of loops"]) > 0
    assert view["weighted_ops"] > steps                 # compiled code ran the program
    # the dispatcher's opaque block call is a residual call of the compiled code
    assert any("_dispatch" in name for name, _ in view["calls"])
    assert f"{view['ops_per_instruction']:.1f} per guest instruction" in proc.stdout


def test_jitlog_refuses_cpython():
    proc = subprocess.run([sys.executable, "-m", "vm.bench.jitlog", "/bin/true"],
                          capture_output=True, text=True,
                          env=dict(os.environ, PYTHONPATH=str(ROOT)))
    assert proc.returncode == 2 and "run this under PyPy" in proc.stderr
