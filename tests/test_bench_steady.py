"""``python -m vm.bench --steady K`` (vm/bench/steady.py): each real program also runs on
a K times larger input, both outputs checked against the native runs, and the marginal
rate is reported. Timing is reported, never checked."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest

from vm.bench import real, steady

pytestmark = pytest.mark.skipif(shutil.which("gcc") is None, reason="gcc not installed")


def test_scaled_inputs_follow_the_factor():
    small = {name: (argv, stdin) for name, _, argv, stdin in real.programs(True)}
    large = {name: (argv, stdin) for name, _, argv, stdin in real.programs(True, 3)}
    try:
        assert large["qsort"][0]()[1:] == ["12000"] and small["qsort"][0]()[1:] == ["4000"]
    except real.Skip as e:
        pytest.skip(str(e))
    assert large["bb-sort"][1].count(b"\n") == 3 * small["bb-sort"][1].count(b"\n")
    assert large["bb-sort"][1].startswith(small["bb-sort"][1])


def test_steady_runs_both_sizes_against_native(tmp_path):
    out = tmp_path / "steady.json"
    lines = []
    record = steady.run_steady(["qsort"], scale=2, json_file=str(out), report=lines.append,
                               quick=True)
    if "qsort" in record["skipped"]:
        pytest.skip(record["skipped"]["qsort"])
    (row,) = record["programs"]
    # qsort's instruction count grows a little faster than its input (n log n)
    assert 2 * row["instructions"] < row["large_instructions"] < 3 * row["instructions"]
    assert row["steady_mips"] > 0 and row["cpu_seconds"] > 0
    assert json.loads(out.read_text())["scale"] == 2
    assert lines[-1].startswith("geomean")


def test_steady_option_rejects_a_factor_below_two():
    proc = subprocess.run([sys.executable, "-m", "vm.bench", "--steady", "1"],
                          capture_output=True, text=True)
    assert proc.returncode == 2 and "--steady needs K >= 2" in proc.stderr
