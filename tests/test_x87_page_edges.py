"""x87 memory operands on page edges in the Linux personality, natively and under pyvm
(tests/linux/x87_page_edges.c): the FPU's memory accesses (system.FPUContext) take an
inline path when the page holds no flag, so loads and stores of 2 to 28 bytes that
straddle into the next page, into a PROT_NONE page, out of or into a read-only page must
read, write or fault (SIGSEGV address, no pop) exactly as on the CPU."""

from __future__ import annotations


def test_x87_accesses_on_page_edges_match_native(tmp_path):
    from linux.kit import build, run_native, run_pyvm
    exe = build("x87_page_edges")
    native = run_native(exe, (), tmp_path)
    assert native.status == 0 and native.stdout.count(b"SIGSEGV") >= 40, native
    emulated = run_pyvm(exe, (), tmp_path)
    want, got = native.stdout.splitlines(), emulated.stdout.splitlines()
    bad = [f"native {w.decode()}\n  pyvm {g.decode()}" for w, g in zip(want, got) if w != g]
    assert not bad and len(got) == len(want), "\n".join(bad[:12]) or emulated
    assert emulated.status == native.status, emulated
