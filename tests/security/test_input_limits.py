"""Limits on inputs and on runs, through the real console scripts: endless or oversized
inputs are refused in one line with status 1, failed runs of pyasm (as NASM, the oracle)
and pyld (as GNU ld) leave no output file, and --timeout / --max-output end a guest with
their documented statuses (142, 153) on every machine kind."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest

from formats.inputs import MAX_INPUT

HAVE_NASM = shutil.which("nasm") is not None
HAVE_LD = shutil.which("ld") is not None
needs_nasm = pytest.mark.skipif(not HAVE_NASM, reason="needs nasm")
needs_ld = pytest.mark.skipif(not (HAVE_NASM and HAVE_LD), reason="needs nasm and GNU ld")

EXIT_TIMEOUT = 142
EXIT_OUTPUT_LIMIT = 153

ENTRY = {
    "pyvm": "from vm.launch import script; script()",
    "pyasm": "from asm.cli import script; script()",
    "pyld": "from asm.link.cli import script; script()",
    "pyvm-tools": "from vm.tools import script; script()",
}


def tool(name: str, *args, cwd=None, timeout: float = 60, stdin=subprocess.DEVNULL):
    env = dict(os.environ, PYVM_CODE_CACHE="0")
    env.pop("PYVM_DEBUG", None)
    return subprocess.run([sys.executable, "-c", ENTRY[name], *map(str, args)], cwd=cwd,
                          env=env, stdin=stdin, capture_output=True, timeout=timeout)


def one_error_line(proc, prefix: str) -> str:
    err = proc.stderr.decode()
    assert proc.returncode == 1, err
    assert "Traceback" not in err, err
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith(prefix), err
    return lines[0]


COMMANDS = [
    (["pyvm", "{f}"], "pyvm: {f}: "),
    (["pyvm", "--disk", "{f}"], "pyvm: {f}: "),
    (["pyvm", "--bios", "{f}"], "pyvm: {f}: "),
    (["pyasm", "{f}", "-o", "out.bin"], "pyasm: {f}: "),
    (["pyld", "{f}", "-o", "out"], "pyld: error: {f}: "),
    (["pyvm-tools", "info", "{f}"], "pyvm-tools info: error: {f}: "),
    (["pyvm-tools", "disasm", "{f}"], "pyvm-tools: {f}: "),
]


@pytest.mark.parametrize("command,prefix", COMMANDS, ids=lambda c: " ".join(c)
                         if isinstance(c, list) else "")
def test_dev_zero_is_refused(tmp_path, command, prefix):
    f = "/dev/zero"
    proc = tool(*[a.format(f=f) for a in command], cwd=tmp_path)
    line = one_error_line(proc, prefix.format(f=f))
    assert "too large" in line
    assert not (tmp_path / "out").exists() and not (tmp_path / "out.bin").exists()


@pytest.mark.parametrize("command,prefix", COMMANDS, ids=lambda c: " ".join(c)
                         if isinstance(c, list) else "")
def test_oversized_file_is_refused(tmp_path, command, prefix):
    big = tmp_path / "big.bin"
    with open(big, "wb") as fh:
        fh.truncate(300 << 20)                  # sparse: no disk space used
    assert big.stat().st_size > MAX_INPUT
    proc = tool(*[a.format(f="big.bin") for a in command], cwd=tmp_path, timeout=30)
    line = one_error_line(proc, prefix.format(f="big.bin"))
    assert "too large" in line and str(300 << 20) in line


def test_pipe_input_still_works(tmp_path):
    proc = subprocess.run([sys.executable, "-c", ENTRY["pyasm"], "/dev/stdin", "-o",
                           "out.bin"], cwd=tmp_path, input=b"db 1, 2\n",
                          capture_output=True, timeout=60)
    assert proc.returncode == 0, proc.stderr.decode()
    assert (tmp_path / "out.bin").read_bytes() == b"\x01\x02"


def test_oversized_incbin_and_include(tmp_path):
    with open(tmp_path / "big.dat", "wb") as fh:
        fh.truncate(300 << 20)
    (tmp_path / "a.asm").write_text("incbin 'big.dat'\n")
    (tmp_path / "b.asm").write_text("%include 'big.dat'\n")
    for src in ("a.asm", "b.asm"):
        proc = tool("pyasm", src, "-o", "out.bin", cwd=tmp_path)
        err = proc.stderr.decode()
        assert proc.returncode == 1 and "Traceback" not in err, err
        assert err.startswith(f"{src}:1: error:") and "too large" in err, err
        assert not (tmp_path / "out.bin").exists()


# -- no partial outputs ------------------------------------------------------------------

@needs_nasm
@pytest.mark.parametrize("source", ["mov eax, [\n", "db undefined_symbol\n",
                                    "%error stop here\n"])
def test_failed_pyasm_leaves_no_output_as_nasm(tmp_path, source):
    (tmp_path / "bad.asm").write_text(source)
    results = {}
    for name, cmd in (("nasm", ["nasm", "-f", "bin"]),
                      ("pyasm", [sys.executable, "-c", ENTRY["pyasm"], "-f", "bin"])):
        out, lst = tmp_path / f"{name}.bin", tmp_path / f"{name}.lst"
        out.write_bytes(b"an older output")
        lst.write_bytes(b"an older listing")
        proc = subprocess.run(cmd + ["bad.asm", "-o", out.name, "-l", lst.name],
                              cwd=tmp_path, capture_output=True, timeout=60)
        assert "Traceback" not in proc.stderr.decode()
        results[name] = (proc.returncode, out.exists(), lst.exists())
    # the output: as NASM, none. The listing: as NASM, one (with the errors in it) when
    # they are found in the final pass, none otherwise
    assert results["pyasm"][:2] == results["nasm"][:2] == (1, False)
    assert results["pyasm"] == results["nasm"]


@needs_nasm
def test_failed_pyasm_missing_input_as_nasm(tmp_path):
    for name, cmd in (("nasm", ["nasm"]), ("pyasm", [sys.executable, "-c", ENTRY["pyasm"]])):
        out = tmp_path / f"{name}.bin"
        out.write_bytes(b"old")
        proc = subprocess.run(cmd + ["missing.asm", "-o", out.name], cwd=tmp_path,
                              capture_output=True, timeout=60)
        assert proc.returncode == 1
        assert not out.exists(), name


@needs_ld
def test_failed_pyld_leaves_no_output_as_ld(tmp_path):
    (tmp_path / "u.s").write_text("extern nowhere\nglobal _start\n_start: call nowhere\n")
    subprocess.run(["nasm", "-f", "elf32", "u.s", "-o", "u.o"], cwd=tmp_path, check=True)
    results = {}
    for name, cmd in (("ld", ["ld", "-m", "elf_i386"]),
                      ("pyld", [sys.executable, "-c", ENTRY["pyld"]])):
        out = tmp_path / f"{name}.out"
        out.write_bytes(b"an older output")
        proc = subprocess.run(cmd + ["u.o", "-o", out.name], cwd=tmp_path,
                              capture_output=True, timeout=60)
        assert "Traceback" not in proc.stderr.decode()
        results[name] = (proc.returncode, out.exists())
    assert results["pyld"] == results["ld"] == (1, False)


# -- run limits --------------------------------------------------------------------------

LOOP32 = "bits 32\nagain: inc eax\njmp again\n"
PRINT32 = ("bits 32\nagain: mov eax, 4\nmov ebx, 1\nmov ecx, msg\nmov edx, 6\nint 0x80\n"
           "jmp again\nmsg: db 'hello', 10\n")


def nasm_bin(tmp_path, name: str, source: str) -> str:
    (tmp_path / f"{name}.asm").write_text(source)
    out = tmp_path / name
    if HAVE_NASM:
        subprocess.run(["nasm", "-f", "bin", f"{name}.asm", "-o", name], cwd=tmp_path,
                       check=True)
    else:
        assert tool("pyasm", f"{name}.asm", "-o", name, cwd=tmp_path).returncode == 0
    return out.name


def elf(tmp_path, name: str, source: str) -> str:
    (tmp_path / f"{name}.s").write_text("global _start\n_start:\n" +
                                        source.replace("bits 32\n", ""))
    subprocess.run(["nasm", "-f", "elf32", f"{name}.s", "-o", f"{name}.o"], cwd=tmp_path,
                   check=True)
    subprocess.run(["ld", "-m", "elf_i386", f"{name}.o", "-o", name], cwd=tmp_path,
                   check=True)
    return name


def assert_timed_out(proc, name: str) -> None:
    err = proc.stderr.decode()
    assert proc.returncode == EXIT_TIMEOUT, err
    assert err.splitlines()[0] == f"pyvm: {name}: timed out after 1 s", err


@pytest.mark.parametrize("kind", ["flat32", "elf", "com", "boot", "b32", "source"])
def test_timeout_ends_an_endless_loop(tmp_path, kind):
    options: list = []
    if kind == "flat32":
        name = nasm_bin(tmp_path, "loop.bin", LOOP32)
    elif kind == "elf":
        if not HAVE_LD:
            pytest.skip("needs nasm and GNU ld")
        name = elf(tmp_path, "loop", LOOP32)
    elif kind == "com":
        name = nasm_bin(tmp_path, "loop.com", "org 0x100\nagain: inc ax\njmp again\n")
    elif kind == "boot":
        name = nasm_bin(tmp_path, "boot.bin", "org 0x7c00\nagain: inc ax\njmp again\n")
        options = ["--bits", "16"]
    elif kind == "b32":
        (tmp_path / "loop.asm").write_text("Start: LDA #$41\nLoop: INCX\n"
                                           "       JMP #Loop\n       END Start\n")
        assert tool("pyasm", "loop.asm", "-o", "loop.b32", cwd=tmp_path).returncode == 0
        name = "loop.b32"
    else:
        (tmp_path / "loop.s").write_text(LOOP32)
        name = "loop.s"
    proc = tool("pyvm", "--timeout", "1", *options, name, cwd=tmp_path, timeout=30)
    assert_timed_out(proc, name)


@pytest.mark.parametrize("kind", ["flat32", "elf"])
def test_timeout_while_waiting_for_input(tmp_path, kind):
    reader = ("bits 32\nmov eax, 3\nmov ebx, 0\nmov ecx, buf\nmov edx, 1\nint 0x80\n"
              "mov eax, 1\nint 0x80\nbuf: dd 0\n")
    if kind == "elf":
        if not HAVE_LD:
            pytest.skip("needs nasm and GNU ld")
        name = elf(tmp_path, "reader",
                   reader.replace("buf: dd 0\n", "section .bss\nbuf: resd 1\n"))
    else:
        name = nasm_bin(tmp_path, "reader.bin", reader)
    r, w = os.pipe()                            # stdin that never ends nor gives a byte
    try:
        proc = tool("pyvm", "--timeout", "1", name, cwd=tmp_path, timeout=30, stdin=r)
    finally:
        os.close(r)
        os.close(w)
    assert_timed_out(proc, name)


@pytest.mark.parametrize("kind", ["flat32", "elf", "com"])
def test_max_output_ends_an_endless_printer(tmp_path, kind):
    if kind == "flat32":
        name = nasm_bin(tmp_path, "print.bin", PRINT32)
    elif kind == "elf":
        if not HAVE_LD:
            pytest.skip("needs nasm and GNU ld")
        name = elf(tmp_path, "print", PRINT32.replace("msg: db", "section .data\nmsg: db"))
    else:
        name = nasm_bin(tmp_path, "print.com", "org 0x100\nagain: mov ah, 9\nmov dx, msg\n"
                        "int 21h\njmp again\nmsg: db 'hello', 13, 10, '$'\n")
    proc = tool("pyvm", "--max-output", "1000", "--timeout", "20", name, cwd=tmp_path,
                timeout=60)
    err = proc.stderr.decode()
    assert proc.returncode == EXIT_OUTPUT_LIMIT, err
    assert err.splitlines() == [f"pyvm: {name}: output limit of 1000 bytes reached"], err
    assert 900 <= len(proc.stdout) <= 1000


def test_max_output_not_reached_is_silent(tmp_path):
    name = nasm_bin(tmp_path, "hi.bin", "bits 32\nmov eax, 4\nmov ebx, 1\nmov ecx, msg\n"
                    "mov edx, 3\nint 0x80\nmov eax, 1\nmov ebx, 5\nint 0x80\nmsg: db 'hi', 10\n")
    proc = tool("pyvm", "--max-output", "3", "--timeout", "20", name, cwd=tmp_path)
    assert (proc.returncode, proc.stdout, proc.stderr) == (5, b"hi\n", b"")


def test_limits_reject_bad_values(tmp_path):
    for args in (["--timeout", "0"], ["--timeout", "x"], ["--max-output", "lots"],
                 ["--max-procs", "0"]):
        proc = tool("pyvm", *args, "x.bin", cwd=tmp_path)
        assert proc.returncode == 2 and b"Traceback" not in proc.stderr, proc.stderr
