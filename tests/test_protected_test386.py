"""test386.asm (../shared/test386, GPL test data used in place) run as a BIOS ROM:
`pyvm --bios test386.bin` must pass every POST code in the order the source emits them,
up to the final FFh, and print on the debug port exactly test386-EE-reference.txt.

It is assembled by NASM with its configuration selected without editing it: a copy of
configuration.asm with `OUT_PORT equ 0xE9` (and `ROM128 equ 1` for the 128 KiB build)
found first on the include path, as in tests/test_nasm_parity_test386.py. The POST codes
expected are read from test386.asm itself (its `POST xx` lines, in source order, which
is their execution order)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import IN_CI, require_tool

REPO = Path(__file__).resolve().parent.parent
TEST386 = REPO.parent / "shared" / "test386"


def _sources() -> Path:
    src = TEST386 / "src"
    if not (src / "test386.asm").is_file():
        if IN_CI:
            pytest.fail(f"test386 sources missing under CI: {src}")
        pytest.skip("no test386 sources")
    return src


def _build(tmp_path: Path, rom128: bool) -> Path:
    nasm = require_tool("nasm")
    src = _sources()
    cfg = tmp_path / "cfg"
    cfg.mkdir()
    text = (src / "configuration.asm").read_text()
    assert "OUT_PORT equ 0\n" in text and "ROM128 equ 0" in text
    text = text.replace("OUT_PORT equ 0\n", "OUT_PORT equ 0xE9\n")
    if rom128:
        text = text.replace("ROM128 equ 0", "ROM128 equ 1")
    (cfg / "configuration.asm").write_text(text)
    out = tmp_path / "test386.bin"
    r = subprocess.run([nasm, f"-i{cfg}/", f"-i{src}/", "-f", "bin",
                        str(src / "test386.asm"), "-w-all", "-o", str(out)],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    return out


def _expected_posts() -> list:
    text = (_sources() / "test386.asm").read_text(errors="replace")
    return [int(m.group(1), 16) for m in re.finditer(r"^\s*POST\s+([0-9A-Fa-f]+)\b", text,
                                                     re.M)]


@pytest.mark.parametrize("rom128", [False, True], ids=["rom64", "rom128"])
def test_test386_posts_and_output(tmp_path, rom128):
    rom = _build(tmp_path, rom128)
    log = tmp_path / "ports.log"
    env = dict(os.environ, PYTHONPATH=str(REPO))
    r = subprocess.run([sys.executable, "-m", "vm.cli", "--bios", str(rom), "--port-log",
                        str(log), "--max-steps", "200000000"],
                       capture_output=True, cwd=REPO, env=env, timeout=1500)
    posts = [int(m.group(1), 16) for m in
             re.finditer(r"POST ([0-9A-Fa-f]{2})h", log.read_text(errors="replace"))]
    expected = _expected_posts()
    assert expected[0] == 0 and expected[-1] == 0xFF
    assert posts == expected, (f"POST codes {[f'{p:02X}' for p in posts]}; "
                               f"stderr: {r.stderr.decode(errors='replace')[-2000:]}")
    assert r.returncode == 0, r.stderr.decode(errors="replace")[-2000:]
    reference = (TEST386 / "test386-EE-reference.txt").read_bytes()
    assert r.stdout == reference
