"""pyasm's start-up stays lean: assembling a plain source (once its caches exist) imports
no hashlib/hmac (under PyPy that loads OpenSSL, 0.05-0.1 s), no fractions/decimal (pure
Python under PyPy), no Lark; the output is still NASM's."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from test_asm_helpers import nasm

ROOT = Path(__file__).resolve().parent.parent
HEAVY = ("hashlib", "hmac", "_hashlib", "fractions", "decimal", "lark", "ssl", "socket")

_SCRIPT = """
import sys
from asm import cli
status = cli.main(sys.argv[1:])
print(" ".join(m for m in {heavy!r} if m in sys.modules))
sys.exit(status)
"""


def test_plain_source_imports_nothing_heavy(tmp_path):
    src = tmp_path / "t.asm"
    src.write_text("bits 32\nstart: mov eax, [ebx+8]\nadd ecx, 100000\njne start\n"
                   "jmp .end\ndb 'text', 0\n.end: ret\n")
    env = dict(os.environ, XDG_CACHE_HOME=str(tmp_path / "cache"),
               PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    env.pop("PYVM_CODE_CACHE", None)
    out = tmp_path / "t.bin"
    script = _SCRIPT.format(heavy=HEAVY)
    for _ in range(2):          # the first run fills the template and table caches
        r = subprocess.run([sys.executable, "-c", script, "-f", "bin", str(src), "-o",
                            str(out)], capture_output=True, text=True, env=env, cwd=tmp_path)
        assert r.returncode == 0, r.stderr
    assert r.stdout.split() == [], f"imported at start-up: {r.stdout}"
    rc, want, err = nasm(src)
    assert rc == 0, err
    assert out.read_bytes() == want
