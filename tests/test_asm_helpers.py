"""Helpers shared by the assembler tests: run nasm (the oracle) and pyasm on the same source.

pyasm runs in-process through ``asm.cli.run`` (the whole CLI minus argument parsing), so the
comparisons exercise the same code path as the ``pyasm`` command at a fraction of the cost.
"""

from __future__ import annotations

import io
import os
import re
import subprocess
from pathlib import Path
from typing import Optional

from conftest import require_tool

from asm import cli


def nasm(src: Path, *args: str, out: Optional[Path] = None) -> tuple:
    """Run nasm -f bin; returns (returncode, output bytes or None, stderr)."""
    exe = require_tool("nasm")
    out = out or src.with_suffix(".nasm.bin")
    if out.exists():
        out.unlink()
    r = subprocess.run([exe, "-f", "bin", str(src), "-o", str(out), *args],
                       capture_output=True, text=True, cwd=src.parent)
    data = out.read_bytes() if r.returncode == 0 and out.exists() else None
    return r.returncode, data, r.stderr


def pyasm(src: Path, out: Optional[Path] = None, **kwargs) -> tuple:
    """Run pyasm in-process; returns (status, output bytes or None, stderr)."""
    out = out or src.with_suffix(".pyasm.bin")
    if out.exists():
        out.unlink()
    err = io.StringIO()
    old = os.getcwd()
    os.chdir(src.parent)            # %include and incbin resolve like nasm's, from the cwd
    try:
        status = cli.run(str(src), output=str(out), stderr=err, **kwargs)
    finally:
        os.chdir(old)
    data = out.read_bytes() if out.exists() else None
    return status, data, err.getvalue()


def write(tmp_path: Path, name: str, text: str) -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


def both(tmp_path: Path, text: str, name: str = "t.s") -> tuple:
    """Assemble with both; returns (nasm bytes, pyasm bytes, pyasm stderr)."""
    src = write(tmp_path, name, text)
    rc, nb, nerr = nasm(src)
    assert rc == 0, f"nasm rejected the test source:\n{nerr}"
    status, pb, perr = pyasm(src)
    assert status == 0, perr
    return nb, pb, perr


def error_lines(stderr: str, kind: str = "error") -> list:
    return sorted({int(m) for m in re.findall(rf":(\d+): (?:{kind}|fatal):", stderr)})


def split_cases(text: str) -> list:
    """Cases separated by lines of dashes, as (id, source)."""
    cases = [c.strip("\n") + "\n" for c in re.split(r"\n-{4,}\n", text.strip("\n"))]
    return [(f"{k}:{c.splitlines()[0][:40]}", c) for k, c in enumerate(cases)]
