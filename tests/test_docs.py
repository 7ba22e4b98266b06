"""docs/api.md's examples run as doctests, and the examples/ scripts run."""

from __future__ import annotations

import doctest
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def test_api_guide_examples():
    result = doctest.testfile(str(ROOT / "docs" / "api.md"), module_relative=False,
                              optionflags=doctest.ELLIPSIS)
    assert result.attempted > 20 and result.failed == 0


def _example(name: str, *args: str) -> str:
    proc = subprocess.run([sys.executable, str(ROOT / "examples" / name), *args],
                          capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_profiler_example():
    out = _example("profile.py", "samples/factorials.s")
    assert "instructions" in out and "0x" in out


def test_syscall_logger_example():
    out = _example("syscalls.py", "samples/hello.s")
    assert "write(1, " in out and "exit(0)" in out and "Hello, world!" in out


@pytest.mark.parametrize("sample", ["hello.asm", "pattern.asm"])
def test_b32_screen_example(sample):
    out = _example("b32_screen.py", f"samples/b32/{sample}")
    assert out.count("\n") >= 25
