"""The Python API (docs/api.md): asm.assemble / asm.link, vm.run with captured output for
every personality, the Machine's Unicorn-like surface, and CLI entry points that return
their status (each called twice in one process)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import asm
import vm
from vm.x86 import Machine

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "samples"


# -- asm.assemble / asm.link ------------------------------------------------------------------

@pytest.mark.skipif(shutil.which("nasm") is None, reason="nasm not installed")
def test_assemble_matches_nasm(tmp_path):
    src = "bits 16\norg 0x100\nstart: mov ax, [bx+si+4]\n jmp start\n db 'hi', 0\n"
    (tmp_path / "a.s").write_text(src)
    subprocess.run(["nasm", "-f", "bin", "-o", str(tmp_path / "a.bin"), str(tmp_path / "a.s")],
                   check=True)
    r = asm.assemble(src)
    assert r.data == (tmp_path / "a.bin").read_bytes()
    assert r.symbols["start"] == 0x100 and r.origin == 0x100
    assert r.sections[0].name == ".text" and "mov ax, [bx+si+4]" in r.listing


def test_assemble_origin_and_bits():
    r = asm.assemble("here: dd here\n", bits=32, origin=0x7C00)
    assert r.data == (0x7C00).to_bytes(4, "little") and r.bits == 32
    assert r.listing.count("\n") == 1          # the appended org line is not listed


def test_assembly_error_carries_every_diagnostic():
    with pytest.raises(asm.AssemblyError) as info:
        # (two errors NASM reports in pass 1: an operand combination error would be left
        # out, as NASM leaves it out when pass 1 fails)
        asm.assemble("nop\nmov ax, [bx\nfoo bar baz\n", filename="bad.s")
    diags = info.value.diagnostics
    assert [(d.file, d.line) for d in diags] == [("bad.s", 2), ("bad.s", 3)]
    assert all(d.message for d in diags) and "bad.s:2: error:" in str(info.value)


def test_assemble_b32_and_v16_by_content():
    b = asm.assemble((SAMPLES / "b32" / "hello.asm").read_text())
    assert b.fmt == "b32" and b.data[:3] == b"B32" and b.entry == b.symbols["START"]
    v = asm.assemble((SAMPLES / "v16" / "hello.asm").read_text())
    assert v.fmt == "v16" and v.data[:4] == b"V16\0"
    with pytest.raises(asm.AssemblyError) as info:
        asm.assemble("  LDA #$FFFF\n", fmt="b32", filename="t.asm")
    assert info.value.diagnostics[0].line == 1


def test_link_and_run_capture():
    obj = asm.assemble("global _start\nsection .data\nmsg: db 'linked', 10\nsection .text\n"
                       "_start: mov eax, 4\n mov ebx, 1\n mov ecx, msg\n mov edx, 7\n"
                       " int 0x80\n mov eax, 1\n mov ebx, 9\n int 0x80\n", fmt="elf32")
    exe = asm.link([obj])
    assert exe.data[:4] == b"\x7fELF" and exe.entry == exe.symbols["_start"]
    r = vm.run(exe.data)
    assert (r.status, r.stdout, r.stderr) == (9, b"linked\n", b"")
    with pytest.raises(asm.LinkError) as info:
        asm.link([obj, obj])
    assert "duplicate" in info.value.messages[0]


# -- vm.run: every personality captured ----------------------------------------------------

def test_run_flat32_source_and_registers():
    r = vm.run(SAMPLES / "hello.s")
    assert (r.status, r.stdout) == (0, b"Hello, world!\n")
    assert r.instructions > 0 and r.registers["eax"] == 1


def test_run_boot_sector_bytes_default_real_mode():
    img = asm.assemble((SAMPLES / "bios" / "boot.s").read_text()).data
    assert len(img) == 512 and img[-2:] == b"\x55\xaa"
    r = vm.run(img, max_steps=1_000_000)
    assert r.status == 0 and b"boot sector" in r.stdout


def test_run_dos_stdin():
    r = vm.run(SAMPLES / "dos" / "upcase.asm", stdin=b"hello\n")
    assert (r.status, r.stdout) == (0, b"HELLO\n")


def test_run_b32_and_v16():
    r = vm.run(SAMPLES / "b32" / "hello.asm")
    assert r.status == 0 and b"Hello, World!" in r.stdout and "IP" in r.registers
    r = vm.run(SAMPLES / "v16" / "hello.asm")
    assert r.stdout == b"Hello, V16!\n" and b"SysHlt" in r.stderr


@pytest.mark.skipif(shutil.which("gcc") is None, reason="gcc not installed")
def test_run_elf_matches_native(tmp_path):
    c = tmp_path / "t.c"
    c.write_text('#include <stdio.h>\n#include <unistd.h>\n'
                 'int main(int c, char **v) { char b[64]; int n = read(0, b, 64);\n'
                 ' write(1, b, n); fprintf(stderr, "E %s %s\\n", v[1], getenv("K"));'
                 ' return 3; }\n')
    exe = tmp_path / "t"
    if subprocess.run(["gcc", "-m32", "-static", "-o", str(exe), str(c)]).returncode:
        pytest.skip("gcc -m32 -static unavailable")
    native = subprocess.run([str(exe), "arg"], input=b"abc", capture_output=True,
                            env={"K": "v"})
    r = vm.run(exe, args=["arg"], stdin=b"abc", env={"K": "v"})
    assert (r.status, r.stdout, r.stderr) == (native.returncode, native.stdout,
                                              native.stderr)


def test_run_fault_and_step_limit_statuses():
    r = vm.run(asm.assemble("bits 32\nmov eax, [0xffffff00]\n").data)
    assert r.status == 139 and b"memory fault" in r.stderr
    r = vm.run(asm.assemble("bits 32\njmp $\n").data, max_steps=500)
    assert r.status == 124 and r.instructions == 500


def test_run_setup_sees_system_calls():
    calls = []

    def setup(m):
        m.hook_interrupt(lambda m, v, sw: calls.append(m.reg("eax")) and False, 0x80, 0x81)
    r = vm.run(SAMPLES / "hello.s", setup=setup)
    assert r.status == 0 and calls == [4, 1]


# -- Machine ---------------------------------------------------------------------------------

LOOP = """bits 32
start: mov ecx, 3
again: add eax, ecx
  mov [0x2000], eax
  mov ebx, [0x2000]
  loop again
done: int 0x80
"""


def _machine():
    code = asm.assemble(LOOP, origin=0x1000)
    m = Machine("flat32", 1 << 20)
    m.write(0x1000, code.data)
    m.write_reg("eip", 0x1000)
    return m, code.symbols


def test_machine_hooks_and_until():
    m, sym = _machine()
    log = []
    hooks = [m.hook_code(lambda m, a: log.append(("code", a)), sym["again"], sym["done"]),
             m.hook_mem_write(lambda m, a, d: log.append(("w", a, d)), 0x2000, 0x2004),
             m.hook_mem_read(lambda m, a, n, v: log.append(("r", a, v)), 0x2000, 0x2004),
             m.hook_interrupt(lambda m, v, sw: log.append(("int", v)) or True)]
    stop = m.run(until=sym["done"])
    assert stop.reason == "until" and m.eip == sym["done"] and m.reg("eax") == 6
    assert log.count(("code", sym["again"])) == 3
    assert ("w", 0x2000, (6).to_bytes(4, "little")) in log and ("r", 0x2000, 6) in log
    m.run(count=1)
    assert log[-1] == ("int", 0x80)
    for h in hooks:
        m.hook_del(h)
    assert m.tracer is None and not m.mem.guarded
    m.write_reg("eip", sym["start"])
    n = len(log)
    assert m.run(until=sym["done"]).reason == "until" and len(log) == n


def test_machine_ports_real_mode_and_timeout():
    code = asm.assemble("in al, 0x60\nout 0x61, al\nhlt\n")
    m = Machine("real")
    m.write(0x7C00, code.data)
    m.set_segment("cs", 0)
    m.write_reg("ip", 0x7C00)
    outs = []
    m.hook_port_in(lambda m, port, size: 0x42)
    m.hook_port_out(lambda m, port, size, v: outs.append((port, v)) or True)
    assert m.run().reason == "halt" and outs == [(0x61, 0x42)]
    m.write(0x7C00, b"\xeb\xfe")
    m.write_reg("ip", 0x7C00)
    assert m.run(timeout=0.2).reason == "timeout"


def test_machine_map():
    m = Machine("flat32", 1 << 16)
    with pytest.raises(ValueError):
        m.map(0xF000, 0x2000)
    m.map(0x1000, 0x1000, "r")
    m.write_reg("eip", 0)
    m.write(0, asm.assemble("bits 32\nmov dword [0x1000], 1\n").data)
    assert m.run(count=1).reason == "fault"


# -- CLI entry points return their status ---------------------------------------------------

def test_entry_points_twice_in_one_process(tmp_path, capsys):
    import asm.cli
    import asm.link.cli
    import vm.cli
    import vm.tools
    src = tmp_path / "t.s"
    src.write_text("bits 32\nmov eax, 1\nmov ebx, 5\nint 0x80\n")
    for _ in range(2):
        assert asm.cli.main([str(src), "-o", str(tmp_path / "t.bin")]) == 0
        assert asm.cli.main([str(tmp_path / "missing.s")]) == 1
        assert vm.cli.main([str(tmp_path / "t.bin")]) == 5
        assert vm.cli.main(["--no-such-option"]) == 2
        assert asm.link.cli.main(["--version"]) == 0
        assert asm.link.cli.main([str(tmp_path / "missing.o")]) == 1
        assert vm.tools.main(["info", str(tmp_path / "t.bin")]) == 0
        assert vm.tools.main(["disasm"]) == 2


def test_pyvm_help_has_the_exit_status_table():
    out = subprocess.run([sys.executable, "-m", "vm.cli", "--help"], capture_output=True,
                         text=True).stdout
    for line in ("124", "128+n", "130", "142", "153"):
        assert line in out


def test_roundtrip_without_samples_is_an_error(tmp_path, monkeypatch):
    import vm.tools
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(vm.tools, "SAMPLES", tmp_path / "none")
    assert vm.tools.main(["roundtrip"]) == 1
