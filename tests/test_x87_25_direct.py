"""x87 memory operands read and written straight from the Memory (vm/x86/x87fast.py
read_op/write_op) only while a page has no flags: stores into translated code, into a
read-only page, and under a debugger's watchpoint must still behave as the other stores.
Oracles: Unicorn running the same bytes; the watchpoint tests check the debugger stops
after the store that wrote the watched bytes (the values an Intel CPU stores: 1.0 as a
dword integer, the control word Linux starts a process with)."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest
from conftest import require_module, require_tool
from flat32_harness import pyvm, unicorn
from test_debug_reverse import elf_debugger

CODE, STACK, MEMORY = 0x1000, 0x80000, 0x100000


def _nasm(tmp_path, source: str) -> bytes:
    require_tool("nasm")
    src, out = tmp_path / "p.s", tmp_path / "p.bin"
    src.write_text(f"bits 32\norg {CODE:#x}\n{source}")
    subprocess.run(["nasm", "-f", "bin", "-o", str(out), str(src)], check=True)
    return out.read_bytes()


# a routine that is run (so translated), then rewritten by fstp, fistp and fnstcw and run
# again after each: the new code must run, as it does on the CPU
SMC = """
        finit
        call patch
        mov edi, eax
        fld qword [newcode]         ; mov eax, 0x12345678 / ret: a normal double
        fstp qword [patch]
        call patch
        mov esi, eax
        fild dword [newint]
        fistp dword [patch + 1]     ; the immediate
        call patch
        mov ebp, eax
        fnstcw [patch + 1]          ; its low word
        call patch
        mov edx, eax
        fld1
        fst qword [data]            ; a plain page, for comparison
        fistp dword [data + 8]
done:   jmp done
patch:  mov eax, 1
        ret
        nop
        nop
newcode: db 0xB8, 0x78, 0x56, 0x34, 0x12, 0xC3, 0x90, 0x90
newint: dd 0x0BADF00D
        align 4096
data:   times 16 db 0
"""


def test_x87_stores_into_translated_code_match_unicorn(tmp_path):
    require_module("unicorn")
    code = _nasm(tmp_path, SMC)
    done = CODE + code.index(bytes.fromhex("ebfe"))     # the jmp $ at "done"
    emu, X = unicorn(code, CODE, STACK, MEMORY)
    emu.emu_start(CODE, done)
    m = pyvm(code, CODE, STACK, MEMORY)
    m.tr.tier0 = None           # compiled blocks from the start
    m.run(until=done, max_steps=10000)
    assert m.eip == done
    regs = ("eax", "edi", "esi", "ebp", "edx")
    want = {r: emu.reg_read(getattr(X, f"UC_X86_REG_{r.upper()}")) for r in regs}
    assert want == {"eax": 0x0BAD037F, "edi": 1, "esi": 0x12345678, "ebp": 0x0BADF00D,
                    "edx": 0x0BAD037F}
    assert {r: m.reg(r) for r in regs} == want
    assert m.read(CODE, len(code)) == bytes(emu.mem_read(CODE, len(code)))


def test_x87_store_to_a_read_only_page_faults_like_unicorn(tmp_path):
    """fstp/fistp/fnstcw onto a read-only page: a fault at the instruction, memory as it
    was (a store the direct path made would change it and run on)."""
    uc = require_module("unicorn")
    for store in ("fstp qword [0x9000]", "fistp dword [0x9ffe]", "fnstcw [0x9fff]"):
        code = _nasm(tmp_path, f"fld1\n{store}\nmov eax, 1\ndone: jmp done\n")
        at = CODE + 2                   # the store, after fld1 (d9 e8)
        emu, X = unicorn(code, CODE, STACK, MEMORY)
        emu.mem_protect(0x9000, 0x1000, uc.UC_PROT_READ)
        emu.mem_protect(0xA000, 0x1000, uc.UC_PROT_READ)
        with pytest.raises(uc.UcError) as e:
            emu.emu_start(CODE, CODE + len(code) - 2)
        assert e.value.errno == uc.UC_ERR_WRITE_PROT
        assert emu.reg_read(X.UC_X86_REG_EIP) == at
        m = pyvm(code, CODE, STACK, MEMORY)
        m.tr.tier0 = None
        m.mem.set_readonly(0x9000, 0xB000)
        stop = m.run(max_steps=100)
        assert stop.reason == "fault", store
        assert m.eip == at, store
        assert m.read(0x9000, 0x2000) == bytes(emu.mem_read(0x9000, 0x2000)) == bytes(0x2000)


@pytest.mark.parametrize("store, want", [
    ("fld1\n        fistp dword [target]", "01000000"),
    ("fnstcw [target]", "7f03"),
])
def test_x87_integer_and_control_stores_hit_a_watchpoint(tmp_path, store, want):
    """As tests/test_debug_reverse.py's fstp: the debugger stops after the store."""
    nasm, ld = shutil.which("nasm"), shutil.which("ld")
    if nasm is None or ld is None:
        if os.environ.get("CI") == "true":
            pytest.fail("nasm or ld is missing")
        pytest.skip("nasm or ld is missing")
    (tmp_path / "x.s").write_text(
        "bits 32\nglobal _start, after\nsection .text\n"
        f"_start: {store}\n"
        "after:  mov eax, 1\n        xor ebx, ebx\n        int 0x80\n"
        "section .data\nglobal target\ntarget: dq 0\n")
    subprocess.run([nasm, "-f", "elf32", str(tmp_path / "x.s"), "-o", str(tmp_path / "x.o")],
                   check=True)
    subprocess.run([ld, "-m", "elf_i386", str(tmp_path / "x.o"), "-o", str(tmp_path / "x")],
                   check=True)
    d = elf_debugger(str(tmp_path / "x"))
    d.add_watchpoint(d.resolve("target"), len(want) // 2)
    ev = d.cont()
    assert ev.reason == "watchpoint" and d.pc == d.resolve("after")
    assert d.read(d.resolve("target"), len(want) // 2) == bytes.fromhex(want)
