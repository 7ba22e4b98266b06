"""The real-program benchmark in its short mode (``--quick``): every program builds, runs
under pyvm and prints what its native run prints. Timing is reported, never checked."""

from __future__ import annotations

import json
import shutil

import pytest

from vm.bench import real


@pytest.mark.skipif(shutil.which("gcc") is None, reason="gcc not installed")
def test_quick_suite_matches_native(tmp_path):
    lines = []
    out = tmp_path / "bench.json"
    record = real.run_suite(["qsort", "hashtable", "sha256", "printf", "malloc", "expr",
                             "interp", "bb-sort"], quick=True, json_file=str(out),
                            report=lines.append)
    done = {p["name"] for p in record["programs"]}
    for name in ("qsort", "hashtable", "sha256", "printf", "malloc", "expr", "interp"):
        if name in record["skipped"]:
            pytest.skip(record["skipped"][name])     # e.g. no 32-bit libc for gcc -m32
        assert name in done
    assert all(p["instructions"] > 100_000 for p in record["programs"])
    assert json.loads(out.read_text())["geomean_mips"] > 0
    assert any(line.startswith("geomean") for line in lines)


def test_unknown_kinds_are_skipped_with_a_note(monkeypatch):
    monkeypatch.setattr(real.shutil, "which", lambda name: None)
    with pytest.raises(real.Skip, match="gcc"):
        real.build("qsort")
