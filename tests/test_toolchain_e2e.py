"""The whole toolchain on one program: start-up code assembled by pyasm (-f elf32) and
freestanding C from gcc, linked by pyld and by GNU ld. All four runs (each executable
natively and under pyvm) give the same output and exit status."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from link.linkkit import HERE, gcc_c, ld, libgcc, pyld, run_native

from asm.cli import run as pyasm_run


def _pyvm(exe: Path) -> tuple[int, bytes]:
    proc = subprocess.run([sys.executable, "-m", "vm.cli", str(exe)], capture_output=True,
                          timeout=300)
    assert b"Traceback" not in proc.stderr, proc.stderr.decode()
    return proc.returncode, proc.stdout


def test_pyasm_pyld_and_ld_builds_agree_natively_and_under_pyvm(tmp_path):
    start = tmp_path / "start.o"
    assert pyasm_run(str(HERE / "start.asm"), fmt="elf32", output=str(start)) == 0
    objs = [start, gcc_c("prog.c", tmp_path / "prog.o"), gcc_c("util.c", tmp_path / "util.o")]
    ld(*objs, libgcc(), "-o", tmp_path / "by_ld")
    status, err = pyld(*objs, libgcc(), "-o", tmp_path / "by_pyld")
    assert status == 0, err
    reference = run_native(tmp_path / "by_ld")
    assert reference[1], "the program prints something"
    assert run_native(tmp_path / "by_pyld") == reference
    assert _pyvm(tmp_path / "by_pyld") == reference
    assert _pyvm(tmp_path / "by_ld") == reference
