"""The benchmark programs: their machine code is what NASM makes of the sources, and each
computes the result Unicorn computes (checked by the benchmark runner itself)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from conftest import require_tool

from vm.bench import PROGRAMS, geomean, program, run_program
from vm.bench import __file__ as bench_init

BENCH = Path(bench_init).parent


@pytest.mark.parametrize("name", [p[0] for p in PROGRAMS])
def test_machine_code_matches_nasm(tmp_path, name):
    nasm = require_tool("nasm")
    out = tmp_path / f"{name}.bin"
    subprocess.run([nasm, "-f", "bin", "-o", str(out), str(BENCH / f"{name}.s")], check=True)
    assert out.read_bytes() == program(name)


@pytest.mark.parametrize("name, mode, expected", [(p[0], p[2], p[3]) for p in PROGRAMS])
def test_programs_compute_their_result(name, mode, expected):
    res = run_program(name, mode)
    assert res.status == expected
    assert res.instructions > 100_000 and res.mips > 0


def test_geomean():
    assert abs(geomean([1.0, 4.0, 16.0]) - 4.0) < 1e-9
    assert geomean([]) == 0.0


def test_cli_table(tmp_path):
    r = subprocess.run([sys.executable, "-m", "vm.tools", "bench", "calls"],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[1].startswith("calls") and "MIPS" in lines[1]
    assert lines[-1].startswith("geomean")
    r = subprocess.run([sys.executable, "-m", "vm.tools", "bench", "nope"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode != 0 and "unknown benchmark" in r.stderr
