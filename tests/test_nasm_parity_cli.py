"""NASM's command-line options that makefiles use, through both programs: the same exit
status, the same diagnostics kept or silenced, NASM's wording for unknown options."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest
from conftest import require_tool
from nasm_parity import diagnostics

SOURCE = """\
lbl
db 300
lock mov [0], ax
"""


def _both(tmp_path, *args: str, source: str = SOURCE) -> tuple:
    exe = require_tool("nasm")
    src = tmp_path / "t.asm"
    src.write_text(source)
    n = subprocess.run([exe, *args, str(src), "-o", str(tmp_path / "n.bin")],
                       capture_output=True, text=True, cwd=tmp_path)
    p = subprocess.run([sys.executable, "-m", "asm.cli", *args, str(src), "-o",
                        str(tmp_path / "p.bin")], capture_output=True, text=True,
                       cwd=tmp_path)
    return n, p


@pytest.mark.parametrize("args", [
    (), ("-w-all",), ("-w-label-orphan",), ("-w-orphan-labels",), ("-Wno-number-overflow",),
    ("-w-all", "-w+prefix-lock"), ("-w-number",), ("-Ox",), ("-O3",), ("-Ov",),
    ("-g",), ("-Xgnu",), ("-s",),
])
def test_options_keep_nasm_diagnostics(tmp_path, args):
    n, p = _both(tmp_path, *args)
    assert p.returncode == n.returncode
    assert diagnostics(p.stderr + p.stdout) == diagnostics(n.stderr + n.stdout)
    if n.returncode == 0:
        assert (tmp_path / "p.bin").read_bytes() == (tmp_path / "n.bin").read_bytes()


@pytest.mark.parametrize("args", [("-q",), ("--foo",), ("-F", "dwarf"), ("-Oq",),
                                  ("-Xfoo",), ("-f", "elf32", "-F", "foo")])
def test_bad_options_rejected_like_nasm(tmp_path, args):
    n, p = _both(tmp_path, *args, source="nop\n")
    assert n.returncode != 0
    assert p.returncode == n.returncode
    nasm_line = n.stderr.splitlines()[0]
    pyasm_line = p.stderr.splitlines()[0]
    assert re.sub(r"^nasm", "pyasm", nasm_line) == pyasm_line


def test_unknown_option_wording(tmp_path):
    n, p = _both(tmp_path, "-q", source="nop\n")
    assert "unrecognised option `-q'" in n.stderr
    assert p.stderr.startswith("pyasm: error: unrecognised option `-q'")


def test_version(tmp_path):
    n = subprocess.run([require_tool("nasm"), "-v"], capture_output=True, text=True)
    p = subprocess.run([sys.executable, "-m", "asm.cli", "-v"], capture_output=True,
                       text=True)
    assert p.returncode == n.returncode == 0
    assert n.stdout.split()[-1] == p.stdout.split()[-1]


def test_error_file(tmp_path):
    src = tmp_path / "t.asm"
    src.write_text("foo bar baz\n")
    p = subprocess.run([sys.executable, "-m", "asm.cli", "-Z", str(tmp_path / "err.txt"),
                        str(src), "-o", str(tmp_path / "p.bin")], capture_output=True,
                       text=True)
    assert p.returncode == 1
    assert p.stderr == ""
    assert ": error: " in (tmp_path / "err.txt").read_text()
