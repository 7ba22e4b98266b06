"""Found by the session-29 last read: Machine.unmap of the first unreadable page left
blocks compiled without read checks reading it (Unicorn faults); the debugger's history
size estimate raised under PyPy (no sys.getsizeof there); size-0 pseudo files under /sys
mounts were read as debugger sources."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from conftest import require_tool
from flat32_harness import pyvm, pyvm_state, unicorn, unicorn_state
from test_x86_cpu_asm import asm

ROOT = Path(__file__).resolve().parent.parent
CODE, STACK, MEMORY = 0x1000, 0x80000, 0x100000
DEFINED = 0xC5

LOOP = """
again:  mov ecx, 100
top:    add eax, [ebx]
        dec ecx
        jnz top
        inc edi
        jmp again
"""


def test_unmapping_the_first_page_faults_in_code_compiled_before_as_unicorn(monkeypatch):
    monkeypatch.setenv("PYVM_CODE_CACHE", "0")
    code = asm(LOOP, 32, CODE)
    emu, X = unicorn(code, CODE, STACK, MEMORY)
    m = pyvm(code, CODE, STACK, MEMORY)
    for target in (m, ):
        target.set_reg("ebx", 0x50000)
    emu.reg_write(X.UC_X86_REG_EBX, 0x50000)
    assert m.run(max_steps=3000).reason == "limit"
    emu.emu_start(CODE, 0xFFFFFFF0, count=3000)
    m.unmap(0x50000, 0x1000)
    emu.mem_unmap(0x50000, 0x1000)
    assert m.run(max_steps=3000).reason == "fault"
    try:
        emu.emu_start(emu.reg_read(X.UC_X86_REG_EIP), 0xFFFFFFF0, count=3000)
    except Exception:       # (unicorn.UcError: UC_ERR_READ_UNMAPPED)
        pass
    assert m.eip == emu.reg_read(X.UC_X86_REG_EIP)
    assert pyvm_state(m, DEFINED) == unicorn_state(emu, X, DEFINED)


def test_the_debugger_starts_and_steps_back_under_pypy(tmp_path):
    pypy = require_tool("pypy3")
    nasm, ld = require_tool("nasm"), require_tool("ld")
    (tmp_path / "p.asm").write_text("global _start\n_start: mov eax, 1\nmov ebx, 7\n"
                                    "int 0x80\n")
    subprocess.run([nasm, "-f", "elf32", "p.asm", "-o", "p.o"], cwd=tmp_path, check=True)
    subprocess.run([ld, "-m", "elf_i386", "p.o", "-o", "p"], cwd=tmp_path, check=True)
    script = ("import sys; sys.argv = ['pyvm', 'p']\n"
              "from vm.debug.__main__ import main\nmain()\n")
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PYTHONPATH": str(ROOT),
           "PYVM_CODE_CACHE": "0"}
    out = subprocess.run([pypy, "-c", script], input=b"stepi\nstepi\nreverse-stepi\n"
                         b"print $eip\nquit\n", capture_output=True, env=env, cwd=tmp_path,
                         timeout=300)
    text = out.stdout.decode() + out.stderr.decode()
    assert "Traceback" not in text, text
    # after two steps and one back: at the second instruction (mov ebx, 7)
    native = subprocess.run([sys.executable, "-c", script], input=b"stepi\nprint $eip\n"
                            b"quit\n", capture_output=True, env=env, cwd=tmp_path,
                            timeout=300).stdout.decode()
    assert native.strip().splitlines()[-1] in text, (native, text)


def test_a_size_zero_file_is_no_debugger_source(tmp_path):
    """A generated file states size 0 (cgroup, tracefs under /sys: trace_pipe blocks): not
    read, whatever file system it is on."""
    from vm.debug.sourcelines import _read_source
    empty = tmp_path / "gen.c"
    empty.write_bytes(b"")
    assert _read_source(str(empty)) is None
    real = tmp_path / "real.c"
    real.write_text("int main(void) { return 0; }\n")
    assert _read_source(str(real)) == real.read_bytes()
