"""Session 28: the code shared between the processes of a run is bounded host memory.

vm/linux/codeshare.py keeps the translated blocks of read-only mapped pages, with a copy
of each page's bytes, for the run's next processes. A guest that maps ever new read-only
code (codeshare28.c: a new file of code per child, each at its own address) made it keep
every child's pages and blocks, outside the translation budget the translators count in
(vm/x86/compiler.py CODE_BUDGET): up to 200,000 blocks and a page per (page, bytes), some
800 MB. Now it counts in that budget and is dropped when the process's translations are
over it; the guest sees nothing (its output is the native one).

Oracles: the native run of the same program (output); how many pages and blocks it held
at most, read from the MappedCode objects of the run (a small budget so that a short run
spends it many times over)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from linux.kit import ROOT, build, run_native  # noqa: E402

HERE = Path(__file__).parent

# An 8 MiB budget (the translators of this run hold some 3-6 MiB of it), and the most
# pages and blocks MappedCode held after a harvest, printed at exit.
_SMALL = """
import atexit, sys
import vm.x86.compiler as C
C.CODE_BUDGET, C.CHECK_EVERY = 8 << 20, 256 << 10
from vm.linux import codeshare
peak = dict(pages=0, blocks=0)
harvest = codeshare.MappedCode.harvest
def counted(self, *args):
    harvest(self, *args)
    peak["pages"] = max(peak["pages"], len(self.contents))
    peak["blocks"] = max(peak["blocks"], len(self.blocks))
codeshare.MappedCode.harvest = counted
atexit.register(lambda: print("PEAK", peak, file=sys.stderr))
from vm.linux.__main__ import main
sys.exit(main(sys.argv[1:]))
"""


def test_shared_code_stays_within_the_budget(tmp_path):
    """200 children, each running 64 new pages of read-only mapped code: before, the
    pages of those that exit with it mapped were kept (~3,300 pages, more than the whole
    budget: 2,048 pages of 4 KiB), now some hundreds, and the output is the native one."""
    exe = build("codeshare28", where=HERE)
    args = ["200", "64", "100"]
    native = run_native(exe, args, cwd=tmp_path)
    assert native.status == 0 and b"WRONG" not in native.stdout, native
    assert native.stdout.count(b"\n") == 201, native
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYVM_CODE_CACHE": "0"}
    proc = subprocess.run([sys.executable, "-c", _SMALL, str(exe), *args], cwd=tmp_path,
                          env=env, capture_output=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout == native.stdout
    line = next(x for x in proc.stderr.decode().splitlines() if x.startswith("PEAK "))
    peak = eval(line[5:], {})           # (a dict of ints printed by _SMALL)
    assert peak["blocks"] > 0, peak     # (it was used)
    assert peak["pages"] * 4096 <= 8 << 20, peak
