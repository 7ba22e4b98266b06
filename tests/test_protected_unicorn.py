"""Protected mode and paging, instruction by instruction against Unicorn (UC_MODE_32 with
the GDT, IDT and page tables built in memory and CR0/CR3 written with reg_write; see
protected_kit.py). pyvm gets there from real mode through its own CR0.PE/PG switch.

Compared: registers after segment loads with bases, limits and expand-down segments,
LAR/LSL/VERR/VERW/ARPL/SGDT/SIDT/SMSW, the accessed and dirty bits the page walk sets,
and for faults the vector, the faulting EIP and CR2 (Unicorn reports the vector to its
interrupt hook; the error code it does not show is checked against the 386 manual's
rule in test_protected_system.py)."""

from __future__ import annotations

import struct

from protected_kit import (
    FLAT_SEGMENTS,
    PD,
    PT0,
    STANDARD_GDT,
    Setup,
    desc,
    fault_record,
    run_pyvm,
    run_unicorn,
    uc_regs,
)

PROLOGUE = f"""
{FLAT_SEGMENTS}"""


def _same_regs(tmp_path, setup: Setup, names=("eax", "ebx", "ecx", "edx", "esi", "edi")):
    m = run_pyvm(tmp_path, setup)
    u = run_unicorn(tmp_path, setup)
    assert u.vector is None, f"unicorn stopped with vector {u.vector}"
    ur = uc_regs(u)
    got = {n: m.reg(n) for n in names}
    want = {n: ur[n] for n in names}
    assert got == want
    return m, u


def test_segment_bases_limits_and_expand_down(tmp_path):
    gdt = STANDARD_GDT + [
        desc(0x50000, 0x0FFF, 0x92, 0x4),      # 0x30: data, base 0x50000, byte limit 0xFFF
        desc(0x60000, 0x0FFF, 0x96, 0x4),      # 0x38: expand-down, valid 0x1000..0xFFFFFFFF
        desc(0x70000, 0x00010, 0x92, 0xC),     # 0x40: 4 KiB granular limit 0x10FFF
        desc(0x40000, 0xFFFF, 0x9A, 0x4),      # 0x48: code, readable
    ]
    body = PROLOGUE + """
mov ax, 0x30
mov fs, ax
mov dword [fs:0xFFC], 0x11223344
mov ax, 0x38
mov gs, ax
mov dword [gs:0x2000], 0x55667788
mov ax, 0x40
mov es, ax
mov dword [es:0x10FFC], 0x99AABBCC
mov eax, [0x50FFC]
mov ebx, [0x62000]
mov ecx, [0x80FFC]
mov dx, fs
shl edx, 16
mov dx, gs
"""
    _same_regs(tmp_path, Setup(body, gdt=gdt))


def test_lar_lsl_verr_verw_arpl(tmp_path):
    gdt = STANDARD_GDT + [
        desc(0x1000, 0x1234, 0x92, 0x4),       # 0x30 data rw
        desc(0x1000, 0x00005, 0xF0, 0xC),      # 0x38 data ro, DPL 3, 4K granular
        desc(0x1000, 0xFFFF, 0x98, 0x4),       # 0x40 code execute-only
        desc(0x1000, 0xFFFF, 0x9E, 0x4),       # 0x48 conforming readable code
        desc(0x3000, 0x67, 0x89, 0x0),         # 0x50 available 386 TSS
        desc(0x1000, 0xFFFF, 0x12, 0x4),       # 0x58 not present
    ]
    lines = [PROLOGUE, "xor ebp, ebp"]
    for k, sel in enumerate((0x30, 0x38, 0x40, 0x48, 0x50, 0x58, 0x60, 0x00, 0x33)):
        lines += [f"mov ecx, {sel:#x}", "mov eax, 0xFFFFFFFF", "mov edx, 0xFFFFFFFF",
                  "lar eax, ecx", "pushfd", "lsl edx, ecx", "pushfd",
                  "verr cx", "pushfd", "verw cx", "pushfd",
                  "mov ebx, [esp]", "and ebx, 0x40", "add ebp, ebx",
                  f"mov [0x7000 + {k * 8}], eax", f"mov [0x7004 + {k * 8}], edx",
                  "add esp, 16"]
    lines += ["mov ax, 0x1233", "mov bx, 0x0040", "arpl ax, bx", "pushfd", "pop esi",
              "and esi, 0x40", "mov cx, 0x0012", "mov dx, 0x0033", "arpl dx, cx",
              "pushfd", "pop edi", "and edi, 0x40", "shl edi, 16", "or di, dx",
              "mov edx, ebp"]
    setup = Setup("\n".join(lines), gdt=gdt)
    m, u = _same_regs(tmp_path, setup)
    assert m.read(0x7000, 72) == bytes(u.uc.mem_read(0x7000, 72))


def test_sgdt_sidt_smsw_sldt_str(tmp_path):
    body = PROLOGUE + """
sgdt [0x7000]
sidt [0x7010]
smsw ax
smsw [0x7020]
mov ebx, cr0
"""
    setup = Setup(body)
    m, u = _same_regs(tmp_path, setup, ("eax", "ebx"))
    assert m.read(0x7000, 6) == bytes(u.uc.mem_read(0x7000, 6))
    assert m.read(0x7010, 6) == bytes(u.uc.mem_read(0x7010, 6))
    assert m.read(0x7020, 2) == bytes(u.uc.mem_read(0x7020, 2))


def test_paging_sets_accessed_and_dirty_bits(tmp_path):
    body = PROLOGUE + """
mov eax, [0x200000]
mov dword [0x201000], 5
mov ebx, [0x202000]
mov [0x202004], ebx
add dword [0x203000], 7
"""
    # pages 0x200..0x203: no A/D yet (identity mapped, U/W/P)
    setup = Setup(body, paging=True)
    m = run_pyvm(tmp_path, setup)
    u = run_unicorn(tmp_path, setup)
    assert u.vector is None
    for p in range(0x200, 0x204):
        a = PT0 + p * 4
        assert m.read(a, 4) == bytes(u.uc.mem_read(a, 4)), f"PTE {p:#x}"
    assert m.read(PD, 4) == bytes(u.uc.mem_read(PD, 4))
    pte = [struct.unpack("<I", m.read(PT0 + p * 4, 4))[0] for p in range(0x200, 0x204)]
    assert [v & 0x60 for v in pte] == [0x20, 0x60, 0x60, 0x60]


def test_page_fault_not_present_and_cr2(tmp_path):
    body = PROLOGUE + """
mov eax, [0x200000]
mov ebx, [0x300ffe]
"""
    setup = Setup(body, paging=True, pte={0x301: 0})
    m = run_pyvm(tmp_path, setup)
    u = run_unicorn(tmp_path, setup)
    from unicorn import x86_const as X
    rec = fault_record(m)
    assert (rec["vector"], rec["cr2"], rec["eip"]) == (
        u.vector, u.uc.reg_read(X.UC_X86_REG_CR2), u.uc.reg_read(X.UC_X86_REG_EIP))
    assert rec["vector"] == 14 and rec["cr2"] == 0x301000
    assert rec["code"] == 0             # not present, read, supervisor


def test_cr0_wp_supervisor_write_to_read_only_page(tmp_path):
    from unicorn import x86_const as X
    for wp in (0, 0x10000):
        body = PROLOGUE + "mov dword [0x200010], 0x1234\nmov eax, [0x200010]\n"
        setup = Setup(body, paging=True, cr0_extra=wp, pte={0x200: 0x200000 | 5})
        m = run_pyvm(tmp_path, setup)
        u = run_unicorn(tmp_path, setup)
        if wp:
            rec = fault_record(m)
            assert (rec["vector"], rec["cr2"], rec["eip"]) == (
                u.vector, u.uc.reg_read(X.UC_X86_REG_CR2), u.uc.reg_read(X.UC_X86_REG_EIP))
            assert rec["code"] == 3         # present, write, supervisor
        else:
            assert u.vector is None
            assert m.reg("eax") == uc_regs(u)["eax"] == 0x1234


def test_cmps_reads_es_edi_before_ds_esi(tmp_path):
    """Both operands on not-present pages: the fault's CR2 is EDI's page (the CPU and
    Unicorn read ES:EDI first), with and without REP."""
    from unicorn import x86_const as X
    for prefix in ("", "rep "):
        body = PROLOGUE + f"""
mov esi, 0x300010
mov edi, 0x301020
mov ecx, 2
{prefix}cmpsd
"""
        setup = Setup(body, paging=True, pte={0x300: 0, 0x301: 0})
        m = run_pyvm(tmp_path, setup)
        u = run_unicorn(tmp_path, setup)
        rec = fault_record(m)
        assert (rec["vector"], rec["cr2"], rec["eip"]) == (
            u.vector, u.uc.reg_read(X.UC_X86_REG_CR2), u.uc.reg_read(X.UC_X86_REG_EIP))
        assert rec["vector"] == 14 and rec["cr2"] == 0x301020
