"""The exit-status table (README, ``pyvm --help``) holds for every machine: a fault is
128 + the signal with one line and the registers, --max-steps is 124, and Ctrl-C (SIGINT
to a child ``pyvm``) is 130 with the registers, never click's "Aborted!"."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import asm

ROOT = Path(__file__).resolve().parent.parent
B32_HEADER = bytes.fromhex("42 33 32 00 10 00 10")


def _boot(code: str) -> bytes:
    image = asm.assemble("bits 16\norg 0x7c00\n" + code).data
    return image + bytes(510 - len(image)) + b"\x55\xaa"


def _elf(code: str) -> bytes:
    obj = asm.assemble("global _start\nsection .text\n_start:\n" + code, fmt="elf32")
    return asm.link([obj]).data


# machine -> (file name, fault program, loop program, fault status, register-dump marker)
MACHINES = {
    "x86-flat": ("prog.bin", lambda: asm.assemble("bits 32\nnop\nud2\n").data,
                 lambda: asm.assemble("bits 32\nmov esi, 0x1234\ntop: inc eax\njmp top\n").data,
                 132, "esi=00001234"),
    "boot-sector": ("boot.bin", lambda: _boot("nop\nud2\n"),
                    lambda: _boot("mov si, 0x1234\ntop: inc ax\njmp top\n"),
                    132, "si=1234"),
    "dos-com": ("prog.com", lambda: asm.assemble("org 0x100\nnop\nud2\n").data,
                lambda: asm.assemble("org 0x100\nmov si, 0x1234\ntop: inc ax\njmp top\n").data,
                132, "si=1234"),
    "linux-elf": ("prog", lambda: _elf("nop\nud2\n"),
                  lambda: _elf("mov esi, 0x1234\ntop: inc eax\njmp top\n"),
                  132, "esi=00001234"),
    "b32": ("prog.b32", lambda: B32_HEADER + bytes.fromhex("01 41 FF"),
            lambda: B32_HEADER + bytes.fromhex("01 41 0A 02 10"), 132, "A=$41"),
    "v16": ("prog.v16", lambda: asm.assemble((ROOT / "samples/v16/example3c_instr.asm")
                                             .read_text()).data,
            lambda: asm.assemble("main: mov ax, 0x1234\ntop: jmp top\n", fmt="v16").data,
            132, "AX=1234"),
}


def write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    path.chmod(0o755)
    return path


def pyvm_cmd(*args) -> list:
    return [sys.executable, "-m", "vm.cli", *map(str, args)]


ENV = {**os.environ, "PYTHONPATH": str(ROOT)}


@pytest.mark.parametrize("machine", sorted(MACHINES))
def test_fault(machine, tmp_path):
    name, fault, _loop, status, _marker = MACHINES[machine]
    r = subprocess.run(pyvm_cmd(write(tmp_path, name, fault())), capture_output=True,
                       timeout=120, env=ENV, text=True)
    assert r.returncode == status, r.stderr
    assert "Traceback" not in r.stderr and r.stderr.count("\n") >= 2, r.stderr


@pytest.mark.parametrize("machine", sorted(MACHINES))
def test_step_limit(machine, tmp_path):
    name, _fault, loop, _status, marker = MACHINES[machine]
    r = subprocess.run(pyvm_cmd("--max-steps", "1000", write(tmp_path, name, loop())),
                       capture_output=True, timeout=120, env=ENV, text=True)
    assert r.returncode == 124, r.stderr
    assert marker in r.stderr and "Traceback" not in r.stderr, r.stderr


def _cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@pytest.mark.skipif(not os.path.exists("/proc/self/stat"), reason="needs /proc")
@pytest.mark.parametrize("machine", sorted(MACHINES))
def test_sigint(machine, tmp_path):
    name, _fault, loop, _status, marker = MACHINES[machine]
    p = subprocess.Popen(pyvm_cmd(write(tmp_path, name, loop())), stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, env=ENV)
    try:
        # well past start-up (about half a second of CPU): the program is in its loop
        end = time.monotonic() + 60
        while _cpu_seconds(p.pid) < 2.0 and time.monotonic() < end and p.poll() is None:
            time.sleep(0.1)
        p.send_signal(signal.SIGINT)
        _out, err = p.communicate(timeout=60)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    text = err.decode()
    assert p.returncode == 130, text
    assert "interrupted" in text and marker in text, text
    assert "Aborted" not in text and "Traceback" not in text, text
