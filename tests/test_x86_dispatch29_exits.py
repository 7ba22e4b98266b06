"""PYVM_DISPATCH_STATS's exit counts (vm/x86/dispatchstats.py): how each block the
dispatcher called ended, so that a profile says which exits (returns, indirect calls,
conditional branches) cost the dispatches of a program (issue 14). The program is
assembled by nasm (the oracle for its bytes); the counts are those of the code as
written: N indirect calls, N returns, N conditional branches, one indirect jump."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from vm.x86.dispatchstats import exit_label, install
from vm.x86.machine import Machine

N = 500
SOURCE = f"""bits 32
org 0x1000
        xor eax, eax
        mov ecx, {N}
        mov esi, f
l:      call esi            ; an indirect call: ends the block
        dec ecx
        jnz l               ; a conditional branch
        mov edx, table
        jmp [edx]           ; an indirect jump
g:      int 0x80            ; the end (the hook stops the run)
f:      inc eax
        ret
table:  dd g
"""


def _nasm(tmp_path) -> bytes:
    if shutil.which("nasm") is None:
        pytest.fail("nasm is needed (apt-get install -y nasm)")
    src = tmp_path / "exits.asm"
    src.write_text(SOURCE)
    out = tmp_path / "exits.bin"
    subprocess.run(["nasm", "-f", "bin", str(src), "-o", str(out)], check=True)
    return out.read_bytes()


@pytest.mark.parametrize("tier0", [False, True])
def test_exits_counted_per_kind(tmp_path, tier0):
    code = _nasm(tmp_path)
    m = Machine("flat32", 1 << 20)
    m.load(0x1000, code)
    m.set_reg("eip", 0x1000)
    m.set_reg("esp", 0x8000)
    if not tier0:
        m.tr.tier0 = None           # real blocks from the start
    ends = []

    def end(machine, vector, software):
        ends.append(vector)
        machine.request_stop()
        return True

    m.on_interrupt = end
    stats = install(m, at_exit=False)
    stop = m.run(100_000)
    assert stop.reason == "stopped" and ends == [0x80]
    assert m.reg("eax") == N
    stats._account()
    ex = stats.exits
    # every call esi and every ret ended a block (a first-tier instance is one
    # instruction: its call and ret are exits of their own)
    assert ex["call*"] == N
    assert ex["ret"] == N
    assert ex["jmp*"] == 1
    assert ex["jcc"] >= N - 1 - (8 if tier0 else 0)
    assert sum(ex.values()) == sum(stats.calls)     # (the last: the int 0x80 block)
    assert ex["int" if not tier0 else "first-tier step"] >= 1
    # and the report names them
    import io
    out = io.StringIO()
    stats.report(out)
    assert "pyvm: exits: " in out.getvalue() and "call* " in out.getvalue()


def test_exit_label_of_each_branch_kind(tmp_path):
    from asm.x86.decoder import decode
    code = _nasm(tmp_path)
    labels = []
    ip = 0
    while ip < len(code) - 4:       # (the table's dword is data)
        insn = decode(code, ip, 32, 0x1000 + ip)
        labels.append(exit_label(insn))
        ip += insn.length
    assert labels == ["cut:xor", "cut:mov", "cut:mov", "call*", "cut:dec", "jcc",
                      "cut:mov", "jmp*", "int", "cut:inc", "ret"]
    # a far jump through memory is indirect, a far pointer direct (nasm's encodings)
    assert exit_label(decode(bytes.fromhex("ff2d00100000"))) == "jmp*"
    assert exit_label(decode(bytes.fromhex("ea000000000800"))) == "jmp"
