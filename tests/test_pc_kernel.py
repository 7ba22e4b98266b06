"""samples/os: the sample kernel, built only with this project's tools (pyasm, pyld) and
gcc, boots under qemu-system-i386 and under ``pyvm --disk`` with the same serial output:
protected mode, an IDT, the PICs remapped, paging with a demand-mapped page, a trap gate,
and five timer interrupts from the 8254 through the 8259A."""

from __future__ import annotations

import os
import subprocess
import sys

from conftest import require_tool
from pc_harness import MEMORY_MB, QEMU_ICOUNT, QEMU_TIMEOUT, REPO, run_pyvm

EXPECTED = """\
sample kernel: protected mode
IDT loaded, PICs at 20h/28h
paging on: screen[79] via 0xc00b8000 = 0x00004f21
page fault at 0x40001234, error 2: mapped
0x40001234 holds 0x0000cafe
system call 21
system call returned 42
tick 1
tick 2
tick 3
tick 4
tick 5
done after 5 timer interrupts
"""


def build(tmp_path) -> str:
    require_tool("gcc")
    env = dict(os.environ, PYTHONPATH=str(REPO), PYASM=f"{sys.executable} -m asm.cli",
               PYLD=f"{sys.executable} -m asm.link.cli")
    r = subprocess.run(["sh", str(REPO / "samples" / "os" / "build.sh"), str(tmp_path)],
                       capture_output=True, text=True, env=env)
    assert r.returncode == 0, r.stdout + r.stderr
    return str(tmp_path / "os.img")


def test_sample_kernel_boots_the_same_under_qemu_and_pyvm(tmp_path):
    image = build(tmp_path)
    qemu = require_tool("qemu-system-i386")
    serial = tmp_path / "qemu-serial.txt"
    q = subprocess.run([qemu, "-display", "none", "-m", str(MEMORY_MB), "-monitor", "none",
                        "-serial", f"file:{serial}", "-no-reboot", *QEMU_ICOUNT,
                        "-drive", f"format=raw,file={image}"],
                       capture_output=True, timeout=QEMU_TIMEOUT, stdin=subprocess.DEVNULL)
    assert q.returncode == 0, q.stderr      # ACPI power-off
    assert serial.read_text() == EXPECTED

    out = tmp_path / "pyvm-serial.txt"
    p = run_pyvm("--disk", image, "--serial", str(out), "--screen-html",
                 str(tmp_path / "screen.html"))
    assert p.returncode == 0, p.stderr.decode()
    assert out.read_text() == serial.read_text()
    # the VGA screen, shown at exit: the same lines, white on blue, the '!' via paging
    screen = p.stdout.decode()
    assert screen.splitlines()[0].startswith("sample kernel: protected mode")
    assert screen.splitlines()[0].endswith("!")
    assert "done after 5 timer interrupts" in screen
    assert "#0000aa" in (tmp_path / "screen.html").read_text()


def test_sample_kernel_on_the_serial_console(tmp_path):
    """--serial stdout: COM1 is the console, the screen is not printed after it."""
    image = build(tmp_path)
    p = run_pyvm("--disk", image, "--serial", "stdout")
    assert p.returncode == 0, p.stderr.decode()
    assert p.stdout.decode() == EXPECTED


def test_sample_kernel_bytes_match_nasm_and_gnu_ld(tmp_path):
    """The image pyasm and pyld build is the one NASM and GNU ld build from the same
    sources and the same gcc object."""
    build(tmp_path)
    nasm, ld = require_tool("nasm"), require_tool("ld")
    src = REPO / "samples" / "os"
    subprocess.run([nasm, "-f", "bin", str(src / "boot.asm"), "-o", str(tmp_path / "nb.bin")],
                   check=True)
    subprocess.run([nasm, "-f", "elf32", str(src / "entry.asm"), "-o", str(tmp_path / "ne.o")],
                   check=True)
    subprocess.run([ld, "-m", "elf_i386", "-Ttext=0x10000", "-e", "_start", "--oformat",
                    "binary", str(tmp_path / "ne.o"), str(tmp_path / "kernel.o"), "-o",
                    str(tmp_path / "ld.bin")], check=True)
    assert (tmp_path / "nb.bin").read_bytes() == (tmp_path / "boot.bin").read_bytes()
    assert (tmp_path / "ld.bin").read_bytes() == (tmp_path / "kernel.bin").read_bytes()
