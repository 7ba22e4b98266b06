"""Session 28: the code cache on disk is bounded in bytes, not only in rows.

vm/x86/codecache.py dropped the least recently stored rows past MAX_ROWS (200,000) only:
a row can be a run's first-tier record of up to 4 MiB (vm/x86/tier0.py MAX_RECORD), one
per distinct program, so a guest exec'ing ever new programs (or a user running many)
could fill ~800 GB of the user's cache directory. Now past MAX_BYTES of code the oldest
rows go, as past MAX_ROWS.

Oracle: the cache file as sqlite reads it (tests/cache_rows.py waits for the saver)."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from cache_rows import saved_cache  # noqa: E402
from linux.kit import ROOT  # noqa: E402

HERE = Path(__file__).parent
CAP = 4 << 20           # the cap of the runs below (the default is 256 MiB)
BLOCKS = 15_000         # new blocks a program makes

# pyvm with a small byte cap (the forked saver inherits it)
_BOOT = f"""
import sys
import vm.x86.codecache as cc
cc.MAX_BYTES = {CAP}
from vm.linux.__main__ import main
sys.exit(main(sys.argv[1:]))
"""


def _program(tmp_path: Path, seed: int) -> Path:
    """codeshare28_gen.asm for ``seed``, by nasm and ld."""
    obj, exe = tmp_path / f"gen{seed}.o", tmp_path / f"gen{seed}"
    subprocess.run(["nasm", "-f", "elf32", f"-DSEED={seed}", f"-DN={BLOCKS}", "-o", str(obj),
                    str(HERE / "codeshare28_gen.asm")], check=True)
    subprocess.run(["ld", "-m", "elf_i386", "-o", str(exe), str(obj)], check=True)
    return exe


def test_cache_bytes_are_capped(tmp_path):
    """Five programs of new code each leave ~1.3 MB of rows (a run record): the file
    keeps at most the cap's worth of code (before, all of them: 6.5 MB)."""
    home = tmp_path / "xdg"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYVM_CODE_CACHE": "1",
           "XDG_CACHE_HOME": str(home)}
    sizes = []
    for seed in range(1, 6):
        exe = _program(tmp_path, seed)
        native = subprocess.run([str(exe)], capture_output=True, timeout=60)
        proc = subprocess.run([sys.executable, "-c", _BOOT, str(exe)], cwd=tmp_path,
                              env=env, capture_output=True, timeout=600)
        assert (proc.returncode, proc.stdout) == (native.returncode, native.stdout), \
            proc.stderr[-2000:]
        with saved_cache(home / "pyvm") as db, sqlite3.connect(db) as c:
            sizes.append(c.execute("SELECT SUM(LENGTH(code)) FROM blocks").fetchone()[0])
    assert sizes[0] > CAP // 4, sizes       # (a run stores that much)
    assert max(sizes) <= CAP, sizes
