"""`pyvm-tools bench --asm` (vm/bench/assembler.py) runs both cases and checks pyasm's
outputs against nasm's; the speed targets live in the benchmark, not in tests."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from conftest import require_tool

from vm.bench.assembler import generate, rep_assign

ROOT = Path(__file__).resolve().parent.parent


def test_generated_sources(tmp_path):
    src = generate(1000)
    assert src.count("\n") == 1000
    (tmp_path / "g.asm").write_text(src)
    (tmp_path / "r.asm").write_text(rep_assign(300))
    nasm = require_tool("nasm")
    for name, fmt in (("g", "elf32"), ("r", "bin")):
        subprocess.run([nasm, "-f", fmt, f"{name}.asm", "-o", f"{name}.n"], cwd=tmp_path,
                       check=True)
        subprocess.run([sys.executable, "-m", "asm.cli", "-f", fmt, f"{name}.asm", "-o",
                        f"{name}.p"], cwd=tmp_path, check=True,
                       env=dict(os.environ, PYTHONPATH=str(ROOT)))
        assert (tmp_path / f"{name}.p").read_bytes() == (tmp_path / f"{name}.n").read_bytes()
    assert (tmp_path / "r.p").read_bytes() == (300).to_bytes(4, "little") + bytes([300 & 255])


def test_bench_asm_reports_both_cases():
    require_tool("nasm")
    for cmd in ([sys.executable, "-m", "vm.tools", "bench", "--asm", "300"],
                [sys.executable, "-m", "vm.bench", "--asm", "300"]):
        r = subprocess.run(cmd + ["--rep-count", "200", "--repeat", "1"], cwd=ROOT,
                           capture_output=True, text=True, timeout=300)
        assert r.returncode == 0, r.stderr
        out = r.stdout
        assert "generated: 300 source lines" in out
        assert "rep-assign:" in out
        assert out.count("output identical to nasm's") == 2
        assert "cpu time against nasm: lines under CPython" in out
