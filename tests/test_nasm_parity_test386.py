"""test386.asm (../shared/test386, GPL test data read in place) assembles unmodified with
pyasm, byte-identical to NASM, in both of its configurations: the default 64 KiB ROM and
the 128 KiB ROM (its configuration.asm with `ROM128 equ 1`, found first on the include
path, as a user selecting that configuration without editing test386.asm would do).

The command line is test386's makefile's: `-i./src/ -f bin src/test386.asm -w-all`."""

from __future__ import annotations

import io
import os
import subprocess
from pathlib import Path

import pytest
from conftest import IN_CI, require_tool

from asm import cli

REPO = Path(__file__).resolve().parent.parent
TEST386 = REPO.parent / "shared" / "test386"


def _sources() -> Path:
    src = TEST386 / "src"
    if not (src / "test386.asm").is_file():
        if IN_CI:
            pytest.fail(f"test386 sources missing under CI: {src}")
        pytest.skip("no test386 sources")
    return src


def _include_dirs(tmp_path: Path, config: str) -> list:
    src = _sources()
    dirs = [f"{src}/"]
    if config == "rom128":
        cfg = tmp_path / "cfg"
        cfg.mkdir()
        text = (src / "configuration.asm").read_text()
        assert "ROM128 equ 0" in text
        (cfg / "configuration.asm").write_text(text.replace("ROM128 equ 0", "ROM128 equ 1"))
        dirs.insert(0, f"{cfg}/")
    return dirs


@pytest.mark.parametrize("config,size", [("rom64", 65536), ("rom128", 131072)])
def test_test386_identical_to_nasm(tmp_path, config, size):
    exe = require_tool("nasm")
    dirs = _include_dirs(tmp_path, config)
    main = str(_sources() / "test386.asm")
    ref = tmp_path / "nasm.bin"
    incs = [f"-i{d}" for d in dirs]
    r = subprocess.run([exe, *incs, "-f", "bin", main, "-w-all", "-o", str(ref)],
                       capture_output=True, text=True, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    expected = ref.read_bytes()
    assert len(expected) == size

    out = tmp_path / "pyasm.bin"
    err = io.StringIO()
    old = os.getcwd()
    os.chdir(tmp_path)
    try:
        status = cli.run(main, fmt="bin", output=str(out), include_paths=dirs, stderr=err)
    finally:
        os.chdir(old)
    assert status == 0, err.getvalue()
    got = out.read_bytes()
    assert len(got) == len(expected)
    if got != expected:
        first = next(i for i, (a, b) in enumerate(zip(got, expected)) if a != b)
        pytest.fail(f"first difference at offset {first:#x}")


def test_test386_makefile_command_line(tmp_path):
    """The makefile's own command (with -w-all and a listing) through the pyasm CLI."""
    require_tool("nasm")
    src = _sources()
    exe = [os.environ.get("PYTHON", "python3"), "-m", "asm.cli"]
    r = subprocess.run([*exe, f"-i{src}/", "-f", "bin", str(src / "test386.asm"), "-w-all",
                        "-l", str(tmp_path / "test386.lst"), "-o", str(tmp_path / "t.bin")],
                       capture_output=True, text=True, cwd=REPO)
    assert r.returncode == 0, r.stderr
    assert r.stderr == ""
    assert (tmp_path / "t.bin").stat().st_size == 65536
