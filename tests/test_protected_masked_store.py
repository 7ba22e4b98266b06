"""MASKMOVQ/MASKMOVDQU and CLFLUSH in protected mode address linear memory: with paging
on they go through the page tables like every other access (a page mapped elsewhere, a
missing page's #PF and CR2, U/S and R/W at CPL 3), and MASKMOVQ/MASKMOVDQU write only
the bytes their mask selects, through DS:EDI or a segment override. Cross-checked with
Unicorn where it models the access (it reports the vector and stops; the error code is
checked against the SDM's bits: P 1, W/R 2, U/S 4). QEMU (so Unicorn) treats CLFLUSH as
a no-op that touches no memory, so CLFLUSH's faults are checked against the SDM's text
(vol. 2A CLFLUSH: "subject to all permission checking and faults associated with a byte
load ... Like a load, the CLFLUSH instruction sets the A bit but not the D bit")."""

from __future__ import annotations

import struct

import pytest
from protected_kit import (
    CODE3,
    DATA0,
    DATA3,
    FLAT_SEGMENTS,
    PT0,
    STANDARD_GDT,
    TSS_SEL,
    Setup,
    desc,
    fault_record,
    run_pyvm,
    run_unicorn,
)

FS_SEL = 0x30           # a data segment based at 0x1000 (GDT entry 6)
GDT = STANDARD_GDT + [desc(0x1000, 0xFFFFF, 0x92)]
DATA = bytes(range(0x40, 0x80))         # the data and mask sources at 0x6000
MASK = bytes([0x80, 0, 0xFF, 0x7F, 0x81, 0, 0, 0xC0, 0, 0x80, 0, 0, 0x90, 0, 0x80, 0xFF])
PRELUDE = f"""
{FLAT_SEGMENTS}mov ax, {FS_SEL:#x}
mov fs, ax
movq mm0, [0x6000]
movq mm1, [0x7000]
movdqu xmm0, [0x6010]
movdqu xmm1, [0x7000]
"""
# linear 0x200000 -> physical 0x300000 (its identity page is elsewhere); 0x201 missing
MAPPED = {0x200: 0x300000 | 7, 0x201: 0}


def _setup(body: str, pte: dict = MAPPED) -> Setup:
    return Setup(PRELUDE + body, gdt=GDT, paging=True, pte=pte,
                 memory={0x6000: DATA, 0x7000: MASK, 0x300000: b"\xee" * 0x40,
                         0x300fc0: b"\xee" * 0x40})


def _same_memory(m, uc, spans) -> None:
    for phys, n in spans:
        assert m.read(phys, n) == bytes(uc.uc.mem_read(phys, n)), hex(phys)


def test_masked_stores_go_through_paging_as_in_unicorn(tmp_path):
    s = _setup("""
mov edi, 0x200004
maskmovq mm0, mm1
mov edi, 0x200010
maskmovdqu xmm0, xmm1
mov edi, 0x1ff028                   ; fs base 0x1000: linear 0x200028
fs maskmovq mm0, mm1
clflush [0x200000]
emms
""")
    m = run_pyvm(tmp_path, s)
    assert fault_record(m)["vector"] == 0           # no exception was taken
    uc = run_unicorn(tmp_path, s)
    assert uc.vector is None
    _same_memory(m, uc, [(0x300000, 0x40), (0x200000, 0x40)])
    written = m.read(0x300000, 0x40)
    assert written[4] == DATA[0] and written[5] == 0xEE     # mask 80h writes, 00h does not
    assert written[0x28] == DATA[0] and m.read(0x200000, 0x40) == bytes(0x40)


def test_masked_store_skips_a_missing_page_its_mask_leaves_out(tmp_path):
    """Only selected bytes are accesses: a store straddling into a missing page whose
    bytes there are all masked off does not fault."""
    s = _setup("mov edi, 0x200ffc\nmov dword [0x7004], 0\nmovq mm1, [0x7000]\n"
               "maskmovq mm0, mm1\nemms")
    m = run_pyvm(tmp_path, s)
    assert fault_record(m)["vector"] == 0
    uc = run_unicorn(tmp_path, s)
    assert uc.vector is None
    _same_memory(m, uc, [(0x300ff8, 8)])


@pytest.mark.parametrize("insn,edi", [("maskmovq mm0, mm1", 0x201000),
                                      ("maskmovdqu xmm0, xmm1", 0x200ffc)])
def test_masked_store_to_a_missing_page_is_a_page_fault(tmp_path, insn, edi):
    s = _setup(f"mov edi, {edi:#x}\nmov dword [0x8100], here\nhere:\n{insn}")
    m = run_pyvm(tmp_path, s)
    rec = fault_record(m)
    here = int.from_bytes(m.read(0x8100, 4), "little")
    # a supervisor write to a page not present: error code 2 (W/R), CR2 its first byte
    assert (rec["vector"], rec["code"], rec["cr2"], rec["eip"]) == (14, 2, 0x201000, here)
    assert m.read(0x300ffc, 4) == b"\xee" * 4       # checked before any byte changes
    uc = run_unicorn(tmp_path, s)
    assert uc.vector == 14
    from unicorn import x86_const as X
    assert uc.uc.reg_read(X.UC_X86_REG_CR2) == 0x201000


RING3 = f"""
mov dword [0x3004], 0x8800          ; TSS.ESP0
mov dword [0x3008], {DATA0:#x}      ; TSS.SS0
mov ax, {TSS_SEL:#x}
ltr ax
push dword {DATA3:#x}
push dword 0x5000
push dword 0x202
push dword {CODE3:#x}
push dword user
iretd
user:
mov ax, {DATA3:#x}
mov ds, ax
mov es, ax
mov edi, 0x200008
mov dword [0x8100], here            ; (the recording page is a user page)
here:
"""


@pytest.mark.parametrize("pte,insn", [
    (0x300000 | 3, "maskmovq mm0, mm1"),        # supervisor page
    (0x300000 | 5, "maskmovq mm0, mm1"),        # read-only user page
    (0x300000 | 3, "maskmovdqu xmm0, xmm1"),
    (0x300000 | 5, "maskmovdqu xmm0, xmm1"),
])
def test_masked_store_at_cpl3_checks_user_and_write_bits(tmp_path, pte, insn):
    s = _setup(RING3 + insn, pte={0x200: pte})
    m = run_pyvm(tmp_path, s)
    rec = fault_record(m)
    here = int.from_bytes(m.read(0x8100, 4), "little")
    # present, a write, at CPL 3: error code 7
    assert (rec["vector"], rec["code"], rec["cr2"], rec["eip"], rec["cs"]) == \
        (14, 7, 0x200008, here, CODE3)
    assert m.read(0x300008, 16) == b"\xee" * 16
    uc = run_unicorn(tmp_path, s)
    assert uc.vector == 14
    from unicorn import x86_const as X
    assert uc.uc.reg_read(X.UC_X86_REG_CR2) == 0x200008


def test_masked_store_at_cpl3_to_a_user_page_runs(tmp_path):
    s = _setup(RING3 + "maskmovq mm0, mm1\nmov edi, 0x200020\nmaskmovdqu xmm0, xmm1\n"
               "emms")
    m = run_pyvm(tmp_path, s)
    rec = fault_record(m)
    assert (rec["vector"], rec["eip"]) == (13, s.body_end)     # the final hlt at CPL 3
    uc = run_unicorn(tmp_path, s)
    assert uc.vector is None                        # (it stops at the hlt)
    _same_memory(m, uc, [(0x300000, 0x40)])


def test_clflush_faults_and_sets_accessed_as_a_byte_load(tmp_path):
    pte_a = PT0 + 0x200 * 4
    body = "mov dword [0x8100], here\nclflush [0x200010]\nhere:\nclflush [0x201000]"
    m = run_pyvm(tmp_path, _setup(body, pte={0x200: 0x300000 | 7, 0x201: 0}))
    rec = fault_record(m)
    here = int.from_bytes(m.read(0x8100, 4), "little")
    # a supervisor read of a page not present: error code 0
    assert (rec["vector"], rec["code"], rec["cr2"], rec["eip"]) == (14, 0, 0x201000, here)
    pte = struct.unpack("<I", m.read(pte_a, 4))[0]
    assert pte & 0x60 == 0x20                       # A set, D not


def test_clflush_at_cpl3_of_a_supervisor_page_faults(tmp_path):
    m = run_pyvm(tmp_path, _setup(RING3 + "clflush [0x200000]", pte={0x200: 0x300000 | 3}))
    rec = fault_record(m)
    here = int.from_bytes(m.read(0x8100, 4), "little")
    assert (rec["vector"], rec["code"], rec["cr2"], rec["eip"]) == (14, 5, 0x200000, here)


def test_clflush_of_a_read_only_page_is_not_a_write(tmp_path):
    body = RING3 + "clflush [0x200000]\nud2"
    m = run_pyvm(tmp_path, _setup(body, pte={0x200: 0x300000 | 5}))
    assert fault_record(m)["vector"] == 6
