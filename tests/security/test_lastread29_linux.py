"""Found by the session-29 last read of the Linux personality: lseek(dir, 0, SEEK_CUR)
re-walked the listing (a guest deleting what it had read then lost names: 23 of 40 seen,
natively 40), and a trace file past --max-output was cut with status 0 (its buffer drew on
the budget only when closed, after the run's check)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from conftest import require_tool  # noqa: E402
from linux.kit import _env, build, run_both  # noqa: E402

HERE = Path(__file__).parent


def _forty(work: Path) -> None:
    (work / "skd").mkdir()
    for i in range(1, 41):
        (work / "skd" / f"file{i}").write_bytes(b"")


def test_telling_a_directory_loses_no_names(tmp_path):
    native, guest = run_both(tmp_path, build("lastread29_seekcur", where=HERE), [],
                             prepare=_forty)
    assert native.stdout == b"seen 40 of 40 in 4 rounds\n", native
    assert guest.stdout == native.stdout, guest


def test_a_trace_file_past_max_output_ends_the_run_with_153(tmp_path):
    nasm, ld = require_tool("nasm"), require_tool("ld")
    (tmp_path / "t.asm").write_text("global _start\n_start: mov ecx, 40\nl: dec ecx\n"
                                    "jnz l\nmov eax, 1\nxor ebx, ebx\nint 0x80\n")
    subprocess.run([nasm, "-f", "elf32", "t.asm", "-o", "t.o"], cwd=tmp_path, check=True)
    subprocess.run([ld, "-m", "elf_i386", "t.o", "-o", "t"], cwd=tmp_path, check=True)
    run = subprocess.run([sys.executable, "-m", "vm.cli", "--max-output", "3000",
                          "--trace-file", "tr.txt", "./t"], cwd=tmp_path,
                         capture_output=True, env=_env(None), timeout=300)
    assert run.returncode == 153, run
    assert b"output limit of 3000 bytes reached" in run.stderr, run
    assert (tmp_path / "tr.txt").stat().st_size == 3000
