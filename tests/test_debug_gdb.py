"""The GDB remote stub, driven by the real gdb in batch mode (every step has a
timeout: a stuck session fails instead of hanging)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _need(tool: str) -> None:
    if shutil.which(tool) is None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{tool} is missing")
        pytest.skip(f"{tool} is missing")


@pytest.fixture(scope="module")
def cprog(tmp_path_factory) -> str:
    _need("gcc")
    out = str(tmp_path_factory.mktemp("gdb") / "prog")
    subprocess.run(["gcc", "-m32", "-static", "-g", "-O0", "-o", out,
                    os.path.join(ROOT, "tests", "debug", "prog.c")], check=True, timeout=120)
    return out


def gdb_session(program: str, commands: list, *extra: str, before: tuple = (),
                timeout: float = 90) -> str:
    """Start the stub on a free port (it reports the port it got), run gdb -batch."""
    _need("gdb")
    stub = subprocess.Popen([sys.executable, "-m", "vm.debug", "--input", "/dev/null",
                             *extra, "--gdb", "127.0.0.1:0", program],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT)
    try:
        line = stub.stderr.readline().decode()
        m = re.search(r"listening for gdb on 127\.0\.0\.1:(\d+)", line)
        assert m, line
        args = ["gdb", "-batch", "-nx"]
        for c in before:
            args += ["-ex", c]
        args += ["-ex", f"target remote 127.0.0.1:{m.group(1)}"]
        for c in commands:
            args += ["-ex", c]
        r = subprocess.run(args, capture_output=True, text=True, timeout=timeout, cwd=ROOT)
        stub.wait(timeout=30)
        return r.stdout + r.stderr + stub.stdout.read().decode()
    finally:
        if stub.poll() is None:
            stub.kill()
            stub.wait(timeout=10)
        stub.stdout.close()
        stub.stderr.close()


def test_gdb_c_program_break_regs_reverse_and_exit_code(cprog):
    out = gdb_session(cprog, [
        "break sum_to", "continue", "info registers eip", "bt",
        "watch counter", "continue", "continue",
        "reverse-stepi", "print counter", "reverse-continue", "print counter",
        "delete", "stepi", "info float", "continue"])
    assert "Breakpoint 1, sum_to (n=10) at" in out
    assert re.search(r"eip\s+0x[0-9a-f]+\s+0x[0-9a-f]+ <sum_to\+\d+>", out)
    assert "#1  0x" in out and "in main (" in out
    assert "Old value = 0\nNew value = 1" in out
    assert "Old value = 1\nNew value = 2" in out
    assert "$1 = 1" in out          # before the second increment
    assert "$2 = 1" in out          # back at the first hit
    assert "Control Word:        0x037f" in out
    assert "sum=385 counter=10" in out
    assert "exited with code 03" in out


def test_gdb_register_edit_changes_the_outcome(cprog):
    out = gdb_session(cprog, ["break square", "continue", "finish",
                              "set var $eax = 1000", "delete", "continue"])
    assert "Value returned is $1 = 1" in out
    assert "sum=1384 counter=10" in out
    assert "exited with code 012]" in out


def test_gdb_flat_program_exits(tmp_path):
    out = gdb_session("samples/hello.s", ["stepi", "info registers eip", "stepi 3",
                                          "reverse-stepi", "info registers eip",
                                          "continue"])
    assert re.search(r"eip\s+0x5\s+0x5", out)
    assert re.search(r"eip\s+0xf\s+0xf", out)
    assert "Hello, world!" in out
    assert "exited normally" in out


def test_gdb_boot_sector_i8086(tmp_path):
    _need("nasm")
    boot = tmp_path / "boot.bin"
    subprocess.run(["nasm", "-f", "bin", "-o", str(boot),
                    os.path.join(ROOT, "samples", "bios", "boot.s")], check=True, timeout=60)
    out = gdb_session(str(boot), ["x/3i $pc", "break *0x7c0d", "continue",
                                  "info registers eip", "stepi", "info registers eax",
                                  "reverse-stepi", "info registers esi", "delete",
                                  "continue"],
                      "--bits", "16", before=("set architecture i8086",))
    assert "xor    ax,ax" in out or "xor    %ax,%ax" in out
    assert "Breakpoint 1, 0x00007c0d" in out
    assert re.search(r"eip\s+0x7c0d", out)
    assert re.search(r"eax\s+0x48\s+72", out)       # 'H' loaded by lodsb
    assert re.search(r"esi\s+0x7c1d", out)          # undone
    assert "Hello from the boot sector!" in out
    assert "exited normally" in out
