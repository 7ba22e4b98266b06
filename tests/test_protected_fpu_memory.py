"""x87, MMX and SSE memory operands in protected mode are linear addresses: they go
through the page tables like every other access (a page mapped elsewhere, a missing
page's #PF), and FXSAVE/FXRSTOR want a 16-byte boundary (#GP(0), at any CPL, with or
without alignment checking: SDM vol. 2A FXSAVE, vol. 3 6.15). Cross-checked with
Unicorn, which models both (it reports #GP as vector 13 and stops)."""

from __future__ import annotations

import struct

import pytest
from protected_kit import FLAT_SEGMENTS, Setup, fault_record, run_pyvm, run_unicorn

PRELUDE = f"""
{FLAT_SEGMENTS}fninit
"""
# linear 0x200000 -> physical 0x300000; the identity page 0x200 is somewhere else
MAPPED = {0x200: 0x300000 | 7}
DATA = struct.pack("<d", 1.5) + b"ABCDEFGH" + bytes(range(16))


def _setup(body: str) -> Setup:
    return Setup(PRELUDE + body, paging=True, pte=MAPPED, memory={0x300000: DATA})


BODIES = {
    "x87": "fld qword [0x200000]\nfmul st0, st0\nfstp qword [0x200020]\n"
           "fld qword [0x200000]\nfistp dword [0x6000]",
    "mmx": "movq mm1, [0x200008]\nmovq [0x200028], mm1\nmovd [0x6004], mm1\nemms",
    "sse": "movdqu xmm2, [0x200010]\nmovdqu [0x200030], xmm2\nmovaps xmm3, [0x200010]\n"
           "movss [0x6008], xmm3",
    "fxsave": "fld1\nfxsave [0x200040]\nmov eax, [0x200040]\nmov [0x600c], eax",
}


@pytest.mark.parametrize("kind", sorted(BODIES))
def test_memory_operands_go_through_paging_as_in_unicorn(tmp_path, kind):
    s = _setup(BODIES[kind])
    m = run_pyvm(tmp_path, s)
    assert fault_record(m)["vector"] == 0           # no exception was taken
    uc = run_unicorn(tmp_path, s)
    assert uc.vector is None
    spans = [(0x300000, 0x40), (0x6000, 16)]
    if kind == "fxsave":    # the image at the mapped page: FCW FSW and ST0 (the FPU
        spans += [(0x300040, 4), (0x300060, 10)]    # pointers and, with CR4.OSFXSR clear,
                                                    # MXCSR are the implementation's)
    for phys, n in spans:
        assert m.read(phys, n) == bytes(uc.uc.mem_read(phys, n)), hex(phys)
    if kind == "fxsave":
        assert m.read(0x300040, 2) == b"\x7f\x03"
    else:
        assert m.read(0x300020, 0x20) != bytes(0x20)


def test_x87_store_to_a_missing_page_is_a_page_fault(tmp_path):
    s = Setup(PRELUDE + "fldz\nfstp qword [0x200ffc]", paging=True,
              pte={0x200: 0x300000 | 7, 0x201: 0})
    rec = fault_record(run_pyvm(tmp_path, s))
    assert (rec["vector"], rec["code"], rec["cr2"]) == (14, 2, 0x201000)
    assert run_pyvm(tmp_path, s).read(0x300ffc, 4) == bytes(4)     # nothing written


@pytest.mark.parametrize("insn", ["fxsave [0x6008]", "fxrstor [0x6004]", "fxsave [0x6001]"])
def test_fxsave_fxrstor_off_a_16_byte_boundary_is_gp0(tmp_path, insn):
    body = f"mov dword [0x8100], here\nhere:\n{insn}"
    s = Setup(PRELUDE + body)
    m = run_pyvm(tmp_path, s)
    rec = fault_record(m)
    here = int.from_bytes(m.read(0x8100, 4), "little")
    assert (rec["vector"], rec["code"], rec["eip"]) == (13, 0, here)
    uc = run_unicorn(tmp_path, s)
    assert uc.vector == 13


@pytest.mark.parametrize("insn", ["fxsave [0x6010]", "fxrstor [0x6000]"])
def test_aligned_fxsave_fxrstor_run(tmp_path, insn):
    s = Setup(PRELUDE + "fxsave [0x6000]\n" + insn)
    assert fault_record(run_pyvm(tmp_path, s))["vector"] == 0
    assert run_unicorn(tmp_path, s).vector is None
