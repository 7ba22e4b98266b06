"""The SIMD state outside the instructions: FXSAVE images against the real CPU's, and XMM
registers and MXCSR in ``--trace`` and ``--regs``."""

from __future__ import annotations

import struct

from linux.kit import build, run_native, run_pyvm
from simd.kit import HERE

# bytes of an FXSAVE image that are implementation-specific or reserved (Intel SDM vol. 1,
# table 10-2): FOP/FIP/FCS/FDP/FDS (AMD stores them only while an exception is pending,
# Intel parts differ by FOP-compatibility mode), MXCSR_MASK (checked on its own), bytes
# 10-15 of each ST slot, and 288-511 (XMM8-15 in 64-bit mode, reserved, software's)
MASKED = set(range(6, 24)) | set(range(28, 32)) | {32 + 16 * k + j for k in range(8)
                                                   for j in range(10, 16)} | set(range(288, 512))


def _images(text: bytes) -> dict:
    out, cur = {}, None
    for line in text.decode().splitlines():
        if line.startswith("case "):
            cur = out.setdefault(int(line[5:]), bytearray())
        else:
            cur += bytes.fromhex(line)
    return out


def test_fxsave_image_matches_the_cpu(tmp_path):
    exe = build("fxsave_dump", "O1", ("-static", "-msse2"), where=HERE)
    native = run_native(exe, cwd=tmp_path)
    emulated = run_pyvm(exe, cwd=tmp_path)
    assert native.status == 0 and emulated.status == 0, emulated
    want, got = _images(native.stdout), _images(emulated.stdout)
    assert sorted(want) == sorted(got) == [1, 2, 3]
    for n in want:
        w, g = want[n], got[n]
        assert len(w) == len(g) == 512
        diffs = [f"byte {k}: cpu {w[k]:02x} pyvm {g[k]:02x}" for k in range(512)
                 if k not in MASKED and w[k] != g[k]]
        assert not diffs, f"case {n}: " + ", ".join(diffs[:20])
        assert struct.unpack_from("<I", w, 28)[0] in (0xFFFF, 0x2FFFF)    # Intel, AMD
        assert struct.unpack_from("<I", g, 28)[0] == 0xFFFF    # what pyvm's LDMXCSR takes
    # the fields pyvm defines are really there: MXCSR with flags/DAZ/RU, XMM4, abridged tag
    assert struct.unpack_from("<I", got[1], 24)[0] == 0x5FE5
    assert got[1][4] == 0xF8 and got[2][4] == 0xFF and got[3][4] == 0x80
    assert got[1][224:240] == struct.pack("<4I", 0x11111111, 0x22222222, 0x33333333,
                                          0x44444444)


SOURCE = """bits 32
    mov eax, 3
    cvtsi2sd xmm1, eax
    mov eax, 1
    cvtsi2sd xmm0, eax
    divsd xmm0, xmm1
    mov eax, 1
    xor ebx, ebx
    int 0x80
"""


def test_xmm_and_mxcsr_in_trace_and_regs(tmp_path):
    src = tmp_path / "t.s"
    src.write_text(SOURCE)
    r = run_pyvm(src, options=("--trace", "--regs"), cwd=tmp_path)
    assert r.status == 0, r
    err = r.stderr.decode() + r.stdout.decode()
    third = struct.unpack("<Q", struct.pack("<d", 1 / 3))[0]     # the host's IEEE 1/3
    line = next(ln for ln in err.splitlines() if "divsd" in ln)
    assert f"xmm0={third:032x}" in line and "mxcsr=1fa0 [PE RN]" in line, line
    cvt = next(ln for ln in err.splitlines() if "cvtsi2sd xmm1" in ln)
    assert f"xmm1={struct.unpack('<Q', struct.pack('<d', 3.0))[0]:032x}" in cvt
    assert "mxcsr" not in cvt                   # exact: no flag changed
    assert "  mxcsr=1fa0 [PE RN]" in err        # --regs
    assert f"xmm0={third:032x} xmm1=" in err


def test_monitor_and_mwait_are_invalid_in_user_mode(tmp_path):
    exe = build("monitor", "O1", ("-static",), where=HERE)
    for args in ((), ("mwait",)):
        native = run_native(exe, args, cwd=tmp_path)
        emulated = run_pyvm(exe, args, cwd=tmp_path)
        assert native.status == 132 and native.stdout == b"before\n", native
        assert emulated.status == 132 and emulated.stdout == b"before\n", emulated
        assert b"invalid opcode" in emulated.stderr


def test_reserved_mxcsr_bits_and_pending_x87_exception_fault_as_on_the_cpu(tmp_path):
    exe = build("simd_faults", "O1", ("-static", "-msse2", "-mmmx"), where=HERE)
    for what, status in (("ldmxcsr", 139), ("fxrstor", 139), ("mmx", 136), ("none", 0)):
        native = run_native(exe, (what,), cwd=tmp_path)
        emulated = run_pyvm(exe, (what,), cwd=tmp_path)
        assert native.status == status and emulated.status == status, (what, emulated)
        assert emulated.stdout == native.stdout, (what, emulated)
