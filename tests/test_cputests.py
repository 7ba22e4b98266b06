"""The real-mode hardware vectors (../shared/cputests/80286-real): every applicable test
must pass; the skips are the ones vm/tools/cputest.py lists with their reasons."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from conftest import IN_CI

from vm.tools.cputest import SKIPS, run_paths

REPO = Path(__file__).resolve().parent.parent
VECTORS = REPO.parent / "shared" / "cputests" / "80286-real"


def vectors() -> Path:
    if not VECTORS.is_dir():
        if IN_CI:
            pytest.fail(f"CPU test vectors missing under CI: {VECTORS}")
        pytest.skip("no CPU test vectors")
    return VECTORS


def test_every_applicable_vector_passes():
    passed, failed, skipped, failures = run_paths([str(vectors())])
    detail = "\n".join(f"{stem}: {items[0]}" for stem, items in sorted(failures.items()))
    assert failed == 0, detail
    assert passed > 7900 and skipped < 200


def test_cli_reports_the_summary_line(tmp_path):
    path = vectors()
    files = [str(path / "00.json.gz"), str(path / "F0.json.gz"), str(path / "D0.4.json.gz")]
    files = [f for f in files if Path(f).exists()]
    r = subprocess.run([sys.executable, "-m", "vm.tools", "cputest", *files],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    last = r.stdout.splitlines()[-1]
    passed, skipped = int(last.split()[0]), int(last.split(", ")[2].split()[0])
    assert last == f"{passed} passed, 0 failed, {skipped} skipped"
    assert passed + skipped == 25 * len(files) and skipped > 0
    assert f"{SKIPS[1][0]}" in r.stdout     # the LOCK skips, named with their opcode


def test_unreadable_vectors_are_an_error(tmp_path):
    bad = tmp_path / "00.json.gz"
    bad.write_bytes(b"not gzip")
    r = subprocess.run([sys.executable, "-m", "vm.tools", "cputest", str(bad)],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode != 0 and "cannot read test vectors" in r.stderr
    assert "Traceback" not in r.stderr
