"""Session 28: translated code is host memory, bounded whatever the guest does.

A guest that writes ever new code in an RWX mapping and runs it (codecap28.c, the red
team's reproducer: `mov eax, imm32; jmp next` blocks) made pyvm grow without bound, past
--memory: 2.3 KB of host memory per block (blocks, the first tier's instances and
records, decoded instructions), and with constants the first tier keeps in a template's
shape (`shl dword [disp], 3`: one template per displacement) or x87 instructions in real
blocks (one global per instruction) more; the run record kept at exit grew with them (one
9 MB row for 100,000 blocks). Now every translator counts what it keeps, and past
vm/x86/compiler.py CODE_BUDGET the largest are flushed whole (Translator.reclaim), as
QEMU flushes its code buffer; a record over tier0.MAX_RECORD bytes is not kept.

Oracles: the native run of the same program (output), the kernel's peak resident size
of the pyvm process (wait4's ru_maxrss), the code cache's rows as sqlite reads them."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from cache_rows import saved_cache  # noqa: E402
from linux.kit import ROOT, build, peak_rss, run_native  # noqa: E402

HERE = Path(__file__).parent


def _pyvm(args, cwd, code: str) -> tuple:
    """(stdout, stderr) of ``python -m vm.linux <args>`` after ``code``, run first in
    the same process."""
    boot = code + "\nfrom vm.linux.__main__ import main\nsys.exit(main(sys.argv[1:]))\n"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYVM_CODE_CACHE": "0"}
    proc = subprocess.run([sys.executable, "-c", boot, *args], cwd=cwd, env=env,
                          capture_output=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout, proc.stderr


def _peak(args, cwd, env=None) -> tuple:
    """(stdout, peak resident KiB) of pyvm running ``args``, in a process of its own."""
    out, status, peak = peak_rss([sys.executable, "-m", "vm.linux", *args], cwd,
                                 env={"PYVM_CODE_CACHE": "0", **(env or {})})
    assert status == 0, out[-400:]
    return out, peak


def test_new_code_without_end_is_bounded_host_memory(tmp_path):
    """200,000 new blocks, each run once: 467 MB resident before (and growing by 2.3 KB
    a block), now the same output as natively within a fixed amount."""
    exe = build("codecap28", where=HERE)
    native = run_native(exe, ["a", "200000"])
    assert native.stdout == b"a 200000: 2de7ef8f\n", native
    out, peak = _peak([str(exe), "a", "200000"], tmp_path)
    assert out == native.stdout
    assert peak < 200 * 1024, f"pyvm peaked at {peak} KiB"


# A small budget (so that a short run spends it many times over), and the most the caches
# keyed by guest addresses or bytes held (looked at every 64th translation), printed at exit.
_SMALL = """
import atexit, sys
import vm.x86.compiler as C
C.CODE_BUDGET, C.CHECK_EVERY = 512 << 10, 64 << 10
from asm.x86.decoder import Insn
from vm.x86 import tier0
peak = {}
calls = [0]
translate = C.Translator.translate
def sizes(tr):
    t0 = tr.tier0
    return dict(blocks=len(tr.blocks), decoded=len(tr.decoded), made=len(t0.made),
                seen=len(t0.seen), by_bytes=len(t0.by_bytes), templates=len(t0.templates),
                shared=len(tier0._shared), lines=len(tier0._lines),
                insns=sum(type(v) is Insn for v in tr.ns.values()))
def counted(self, *args):
    calls[0] += 1
    if calls[0] % 64 == 0:
        for k, v in sizes(self).items():
            peak[k] = max(peak.get(k, 0), v)
    return translate(self, *args)
C.Translator.translate = counted
atexit.register(lambda: print("PEAK", peak, file=sys.stderr))
"""


def test_code_caches_stay_within_the_budget(tmp_path):
    """With the budget spent many times over in one run (glibc's start included) the
    output is the native one, and no cache keyed by guest code holds more than the
    budget allows: before, 6,000 first-tier instances, a template per displacement,
    a global per x87 instruction."""
    exe = build("codecap28", where=HERE)
    args = ["a", "3000", "s", "3000", "x", "300", "10"]
    native = run_native(exe, args)
    assert native.stdout.startswith(b"a 3000: ") and native.status == 0, native
    out, err = _pyvm([str(exe), *args], tmp_path, _SMALL)
    assert out == native.stdout
    line = next(x for x in err.decode().splitlines() if x.startswith("PEAK "))
    sizes = eval(line[5:], {})          # (a dict of ints printed by _SMALL's report)
    # (a 512 KiB budget holds ~300 decoded instructions or first-tier instances, ~60
    # templates, ~90 x87 instructions' globals)
    limits = dict(blocks=400, decoded=1000, made=1000, seen=1000, by_bytes=1000,
                  templates=200, shared=200, lines=1000, insns=300)
    over = {k: v for k, v in sizes.items() if v > limits[k]}
    assert not over, sizes


def test_run_record_is_bounded(tmp_path):
    """The first tier's record of a run is kept in the code cache at exit: 100,000 new
    blocks made one 8.5 MB row; now no row is over 4 MiB."""
    exe = build("codecap28", where=HERE)
    home = tmp_path / "xdg"
    out, _ = _peak([str(exe), "a", "100000"], tmp_path,
                   env={"PYVM_CODE_CACHE": "1", "XDG_CACHE_HOME": str(home)})
    assert out == run_native(exe, ["a", "100000"]).stdout
    with saved_cache(home / "pyvm") as db, sqlite3.connect(db) as c:
        count, biggest = c.execute("SELECT COUNT(*), MAX(LENGTH(code)) FROM blocks").fetchone()
    assert count > 0
    assert biggest <= 4 << 20, biggest
