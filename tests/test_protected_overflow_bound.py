"""#OF (INTO, vector 4) and #BR (BOUND, vector 5) in real and protected mode (SDM vol. 3,
6.15 "Interrupt 4" / "Interrupt 5"; vol. 2 INTO, BOUND): INTO is a trap taken only when
OF is set, the saved IP is the instruction after it, and, like INT n, it checks the
gate's DPL in protected mode; BOUND is a fault when the signed index lies outside
[lower, upper], the saved IP names the BOUND; neither pushes an error code.
Cross-checked with Unicorn where it models them: it stops at the exception (it has no
IDT/IVT delivery), so the vector, the registers and the EIP it stops at are compared."""

from __future__ import annotations

import struct

import pytest
from conftest import require_module
from protected_kit import CODE3, DATA0, Setup, fault_record, nasm, run_pyvm, run_unicorn

PM_PRELUDE = f"""
mov ax, {DATA0:#x}
mov ds, ax
mov ss, ax
mov esp, 0x9000
mov dword [0x6000], -10         ; bounds (doubleword pair)
mov dword [0x6004], 20
mov word [0x6010], -3           ; bounds (word pair)
mov word [0x6012], 7
"""

CASES = {   # name: (body, vector or None, EIP after the faulting instruction or not)
    "into_of": ("mov eax, 0x7fffffff\nadd eax, 1\nmark: into", 4, True),
    "into_no_of": ("mov eax, 1\nadd eax, 1\nmark: into", None, None),
    "bound_above": ("mov eax, 21\nmark: bound eax, [0x6000]", 5, False),
    "bound_below": ("mov eax, -11\nmark: bound eax, [0x6000]", 5, False),
    "bound_inside": ("mov eax, -10\nbound eax, [0x6000]\nmov eax, 20\nmark: bound eax, [0x6000]",
                     None, None),
    "bound16_above": ("mov eax, 0x12340008\nmark: bound ax, [0x6010]", 5, False),
    "bound16_inside": ("mov eax, 0x1234fffd\nmark: bound ax, [0x6010]", None, None),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_protected_mode_vector_eip_and_no_error_code(tmp_path, name):
    body, vector, after = CASES[name]
    src = PM_PRELUDE + body + "\nnext_insn:\nud2\n"
    m = run_pyvm(tmp_path, Setup(src))
    rec = fault_record(m)
    labels = _labels(tmp_path, src)
    if vector is None:          # no trap: the ud2 after it faults
        assert (rec["vector"], rec["eip"]) == (6, labels["next_insn"])
        return
    assert rec["vector"] == vector and rec["code"] is None     # no error code pushed
    assert rec["eip"] == labels["next_insn" if after else "mark"]
    assert m.cpu.r[0] == _unicorn_eax(tmp_path, src, vector)


def _labels(tmp_path, src: str) -> dict:
    """Label addresses from NASM's map of the body as protected_kit assembles it."""
    from protected_kit import BODY
    marks = {}
    text = f"bits 32\norg {BODY:#x}\n{src}\nhlt\n"
    for lab in ("mark", "next_insn"):
        probe = text.replace(f"{lab}:", f"{lab}:\nhlt_probe_{lab}:")
        code = nasm(tmp_path, probe + f"\ndd hlt_probe_{lab}\n", f"lab_{lab}")
        marks[lab] = struct.unpack("<I", code[-4:])[0]
    return marks


def _unicorn_eax(tmp_path, src: str, vector: int) -> int:
    """Unicorn stops at the same exception; its EAX there."""
    from unicorn import x86_const as X
    u = run_unicorn(tmp_path, Setup(src))
    assert u.vector == vector
    return u.uc.reg_read(X.UC_X86_REG_EAX)


def test_into_at_cpl3_checks_the_gate_dpl_and_bound_does_not(tmp_path):
    """INTO is a software interrupt: at CPL 3 a DPL-0 gate gives #GP(4 * 8 + 2); BOUND's
    #BR is an exception, delivered whatever the gate's DPL."""
    from test_protected_alignment import _ring3
    for insn, want in (("mov eax, 0x7fffffff\nadd eax, 1\nmark: into", (13, 4 * 8 + 2)),
                       ("mov eax, 99\nmark: bound eax, [0x6000]", (5, None))):
        src = PM_PRELUDE + _ring3(0x202) + insn + "\nnext_insn:\nud2\n"
        m = run_pyvm(tmp_path, Setup(src))
        rec = fault_record(m)
        assert (rec["vector"], rec["code"], rec["cs"]) == (*want, CODE3)
        assert rec["eip"] == _labels(tmp_path, src)["mark"]    # both name the instruction


# ---- real mode -----------------------------------------------------------------------------

REAL = """bits 16
org 0x7c00
xor ax, ax
mov ds, ax
mov ss, ax
mov sp, 0x7000
mov word [4 * 4], h4
mov word [4 * 4 + 2], 0
mov word [5 * 4], h5
mov word [5 * 4 + 2], 0
mov word [6 * 4], h6
mov word [6 * 4 + 2], 0
mov word [0x6000], -10
mov word [0x6002], 20
{body}
next_insn:
ud2
h4: mov byte [0x600], 4
    hlt
h5: mov byte [0x600], 5
    hlt
h6: mov byte [0x600], 6
    hlt
labels: dw mark, next_insn
"""

REAL_CASES = {
    "into_of": ("mov ax, 0x7fff\nadd ax, 1\nmark: into", 4, "next_insn"),
    "into_no_of": ("mov ax, 0x7ffe\nadd ax, 1\nmark: into", 6, "next_insn"),
    "bound_above": ("mov ax, 21\nmark: bound ax, [0x6000]", 5, "mark"),
    "bound_below": ("mov ax, -11\nmark: bound ax, [0x6000]", 5, "mark"),
    "bound_inside": ("mov ax, 20\nmark: bound ax, [0x6000]", 6, "next_insn"),
}


@pytest.mark.parametrize("name", sorted(REAL_CASES))
def test_real_mode_vector_and_pushed_ip(tmp_path, name):
    from vm.x86.machine import Machine
    body, vector, where = REAL_CASES[name]
    code = nasm(tmp_path, REAL.format(body=body), "real")
    mark, nxt = struct.unpack("<HH", code[-4:])
    m = Machine("real")
    m.load(0x7C00, code)
    m.set_segment("cs", 0)
    m.set_reg("eip", 0x7C00)
    assert m.run(max_steps=10_000).reason == "halt"
    assert m.read(0x600, 1)[0] == vector
    sp = m.reg("esp") & 0xFFFF
    ip, cs, _flags = struct.unpack("<HHH", m.read(sp, 6))      # IP, CS, FLAGS: no code
    assert (cs, ip) == (0, mark if where == "mark" else nxt)
    assert sp == 0x7000 - 6
    if vector != 6:             # Unicorn (16-bit) stops at the same exception
        unicorn = require_module("unicorn")
        from unicorn import x86_const as X
        uc = unicorn.Uc(unicorn.UC_ARCH_X86, unicorn.UC_MODE_16)
        uc.mem_map(0, 0x10000)
        uc.mem_write(0x7C00, code)
        seen = []
        uc.hook_add(unicorn.UC_HOOK_INTR, lambda u, n, _: (seen.append(n), u.emu_stop()))
        uc.emu_start(0x7C00, 0x7C00 + len(code), count=1000)
        assert seen == [vector]
        assert uc.reg_read(X.UC_X86_REG_AX) == m.reg("eax") & 0xFFFF
