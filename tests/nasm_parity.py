"""The check every tests/test_nasm_parity_*.py case makes: one small source through nasm
(the oracle) and pyasm; the same exit status, the same bytes, and the same diagnostics
(line, kind and message; pyasm's extra source and caret lines are not compared)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from conftest import require_tool
from test_asm_helpers import nasm, pyasm, write

_DIAG = re.compile(r"^[^:\n]*:(\d+): (error|warning|fatal): (.*)$", re.M)


def diagnostics(stderr: str) -> list:
    return sorted((int(n), kind, msg.strip()) for n, kind, msg in _DIAG.findall(stderr))


def diagnostics_in_order(stderr: str) -> list:
    """The diagnostics as printed: NASM prints each as it goes, errors and warnings
    interleaved."""
    return [(int(n), kind, msg.strip()) for n, kind, msg in _DIAG.findall(stderr)]


def check(tmp_path: Path, text: str, *args: str, messages: bool = True, name: str = "t.asm",
          ordered: bool = False, **kwargs) -> tuple:
    """Assemble with both and assert parity; returns (status, bytes, pyasm stderr).
    ``ordered``: the diagnostics in the same order too."""
    src = write(tmp_path, name, text)
    rc, nb, nerr = nasm(src, *args)
    status, pb, perr = pyasm(src, **kwargs)
    assert (status != 0) == (rc != 0), f"nasm rc={rc} {nerr!r}\npyasm {status} {perr!r}"
    assert status == rc, (rc, status)
    assert pb == nb, f"nasm {nb and nb.hex()} pyasm {pb and pb.hex()}\n{perr}"
    if messages:
        same = diagnostics_in_order if ordered else diagnostics
        assert same(perr) == same(nerr), f"nasm:\n{nerr}\npyasm:\n{perr}"
    return status, pb, perr


def objdump_body(objdump: str, path: Path, flags: str = "-dr") -> str:
    """``objdump -dr`` (or ``flags``) of an object without its first lines (they name
    the file)."""
    text = subprocess.run([objdump, flags, str(path)], capture_output=True, text=True,
                          check=True).stdout
    return text.split("\n", 2)[2]


def elf_dumps(tmp_path: Path, text: str, flags: str = "-dr") -> tuple:
    """(nasm's, pyasm's) ``objdump flags`` of text assembled to elf32 by each; both
    must accept it."""
    objdump = require_tool("objdump")
    src = write(tmp_path, "t.asm", text)
    rc, _, nerr = nasm(src, "-f", "elf32", out=tmp_path / "n.o")
    assert rc == 0, nerr
    status, _, perr = pyasm(src, out=tmp_path / "p.o", fmt="elf32")
    assert status == 0, perr
    return (objdump_body(objdump, tmp_path / "n.o", flags),
            objdump_body(objdump, tmp_path / "p.o", flags))


def same_diagnostics(tmp_path: Path, text: str, fmt: str = "elf32") -> int:
    """Assemble to ``fmt`` with both: the same exit status and diagnostics (not the bytes:
    an object file's layout may differ); returns the status."""
    src = write(tmp_path, "t.asm", text)
    rc, _, nerr = nasm(src, "-f", fmt, out=tmp_path / "n.o")
    status, _, perr = pyasm(src, out=tmp_path / "p.o", fmt=fmt)
    assert (rc, diagnostics(nerr)) == (status, diagnostics(perr)), (nerr, perr)
    return rc


def same_listing(tmp_path: Path, text: str, fmt: str = "bin") -> None:
    """Both accept text (as ``fmt``) and write the same listing (-l)."""
    src = write(tmp_path, "t.asm", text)
    rc, _, nerr = nasm(src, "-f", fmt, "-l", str(tmp_path / "n.lst"), out=tmp_path / "n.o")
    status, _, perr = pyasm(src, out=tmp_path / "p.o", fmt=fmt,
                            listing=str(tmp_path / "p.lst"))
    assert rc == status == 0, (nerr, perr)
    assert (tmp_path / "p.lst").read_text() == (tmp_path / "n.lst").read_text()


_NOTE = re.compile(r"^[^:\n]*:(\d+): (\.\.\. from macro .*|info: .*)$", re.M)


def same(tmp_path, text: str, fmt: str = "bin") -> None:
    """The same status, bytes (bin), diagnostics in order and notes as nasm -f fmt."""
    if fmt == "bin":
        _, _, perr = check(tmp_path, text, ordered=True)
        _, _, nerr = nasm(tmp_path / "t.asm")
    else:
        src = write(tmp_path, "t.asm", text)
        rc, _, nerr = nasm(src, "-f", fmt, out=tmp_path / "n.o")
        status, _, perr = pyasm(src, out=tmp_path / "p.o", fmt=fmt)
        assert (rc, diagnostics_in_order(nerr)) == (status, diagnostics_in_order(perr)), \
            (nerr, perr)
    assert _NOTE.findall(perr) == _NOTE.findall(nerr), (nerr, perr)
    assert _nasm_lines(perr, tmp_path) == _nasm_lines(nerr, tmp_path), (nerr, perr)


def _nasm_lines(stderr: str, where) -> list:
    """Every line NASM prints (pyasm's source and caret lines are indented), the
    directory left out (one without a line number too: `t.asm: fatal: ...`)."""
    return [line.replace(f"{where}/", "") for line in stderr.splitlines()
            if line and not line.startswith(" ")]
