"""The command lines as a user runs them: one decision about which machine a source or a
file is for (pyasm with no -f, pyvm, pyvm-tools agree), V16 through every tool, and
``pyvm --debug`` on a pipe. Expected values come from the specs (v16-spec.md section 8)
and the samples, not from our own code."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "samples"
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}

# v16-spec.md section 8, example 2: bytes, stdout, dump
EXAMPLE_2_BYTES = bytes.fromhex(
    "56 31 36 00 00 00 00 00 0A 00 00 0C 00 02 1C 18 00 24 02 27 02 0A 00 2C 03 00 08 0A 00"
    " 03 00 02 21 00 30 00 03 00 1D")
EXAMPLE_2_DUMP = ("V16 SysHlt (0x01)\nAX=000A BX=0000 CX=000A DX=0000\n"
                  "SP=0000 IP=0017 FLAGS=0008 [E---]\n")


def tool(name: str, *args, cwd=None, stdin: bytes = b"") -> subprocess.CompletedProcess:
    module = {"pyasm": "asm.cli", "pyvm": "vm.cli", "pyvm-tools": "vm.tools"}[name]
    return subprocess.run([sys.executable, "-m", module, *map(str, args)], cwd=cwd,
                          capture_output=True, input=stdin, env=ENV, timeout=120)


@pytest.mark.parametrize("sample, ext, machine", [
    ("b32/hello.asm", ".b32", "b32"), ("v16/example2.asm", ".v16", "v16"),
    ("hello.s", "", "x86")])
def test_pyasm_picks_the_machine_from_the_source(tmp_path, sample, ext, machine):
    src = tmp_path / Path(sample).name
    src.write_bytes((SAMPLES / sample).read_bytes())
    r = tool("pyasm", src.name, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    out = tmp_path / (src.stem + ext)
    assert out.exists(), sorted(os.listdir(tmp_path))
    head = out.read_bytes()[:4]
    assert head[:3] == {"b32": b"B32", "v16": b"V16", "x86": head[:3]}[machine]
    # pyvm-tools roundtrip makes the same decision wherever the file is
    r = tool("pyvm-tools", "roundtrip", src.name, cwd=tmp_path)
    assert r.returncode == 0 and b"1 identical, 0 differ" in r.stdout, r


def test_v16_through_every_tool(tmp_path):
    src = tmp_path / "ex2.asm"
    src.write_bytes((SAMPLES / "v16" / "example2.asm").read_bytes())
    r = tool("pyasm", "-f", "v16", "ex2.asm", "-o", "ex2.v16", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "ex2.v16").read_bytes() == EXAMPLE_2_BYTES
    r = tool("pyvm", "ex2.v16", cwd=tmp_path)
    assert (r.returncode, r.stdout, r.stderr.decode()) == (0, b"0123456789\n", EXAMPLE_2_DUMP)
    r = tool("pyvm", "ex2.asm", cwd=tmp_path)             # the source runs as V16 too
    assert (r.returncode, r.stdout, r.stderr.decode()) == (0, b"0123456789\n", EXAMPLE_2_DUMP)
    r = tool("pyvm-tools", "info", "ex2.v16", cwd=tmp_path)
    assert b"V16 program" in r.stdout and b"entry:    0x0000" in r.stdout, r
    r = tool("pyvm-tools", "disasm", "ex2.v16", cwd=tmp_path)
    assert r.returncode == 0
    (tmp_path / "back.asm").write_bytes(r.stdout)
    r = tool("pyasm", "-f", "v16", "back.asm", "-o", "back.v16", cwd=tmp_path)
    assert r.returncode == 0 and (tmp_path / "back.v16").read_bytes() == EXAMPLE_2_BYTES
    (tmp_path / "bad.v16").write_bytes(b"V16\0\x01")
    r = tool("pyvm", "bad.v16", cwd=tmp_path)
    assert r.returncode == 1 and b"Traceback" not in r.stderr
    assert len(r.stderr.decode().strip().splitlines()) == 1, r.stderr


def test_pyvm_debug_on_a_pipe(tmp_path):
    out = tmp_path / "hello.bin"
    assert tool("pyasm", SAMPLES / "hello.s", "-o", out).returncode == 0
    # samples/hello.s: the write system call's int 0x80 is at 0x14
    script = b"break *0x14\ncontinue\ninfo registers eip\nstepi\ncontinue\n"
    r = tool("pyvm", "--debug", out, stdin=script)
    assert r.returncode == 0, r.stderr
    text = r.stdout.decode()
    assert "Breakpoint 1 at 0x14" in text and "eip            0x14" in text, text
    assert text.index("eip            0x14") < text.index("Hello, world!")
    assert "exited normally" in text, text


@pytest.mark.parametrize("name, build", [("b.b32", "b32/hello.asm"), ("h.com", "dos/hello.asm"),
                                         ("v.v16", "v16/hello.asm")])
def test_memory_cap_below_a_fixed_machine_is_an_error(tmp_path, name, build):
    """--memory caps every machine; a machine with fixed RAM cannot honour a smaller cap,
    so pyvm says so instead of ignoring it; a cap above it runs the program."""
    assert tool("pyasm", SAMPLES / build, "-o", tmp_path / name).returncode == 0
    r = tool("pyvm", "--memory", "1K", tmp_path / name)
    assert r.returncode == 1 and b"below this machine's fixed RAM" in r.stderr, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    r = tool("pyvm", "--memory", "16M", tmp_path / name)
    assert r.returncode == 0, r.stderr
