"""Reads straddling into an unmapped page, natively and under pyvm
(tests/linux/hygiene25_read_edges.c): Memory.readable is the one "may [addr, addr + n)
be read" test of the first tier's instances (made earlier in the run, the same bytes at
another start, replayed from the code cache's record) and of REP MOVS's slice copy. Each
must leave the access to the precise path, which faults as the CPU does: the SIGSEGV
address (the first unmapped byte), EIP, and a string instruction's ESI/EDI/ECX."""

from __future__ import annotations


def _same_lines(native, emulated) -> None:
    want, got = native.stdout.splitlines(), emulated.stdout.splitlines()
    bad = [f"native {w.decode()}\n  pyvm {g.decode()}" for w, g in zip(want, got) if w != g]
    assert not bad and len(got) == len(want), "\n".join(bad[:12]) or emulated
    assert emulated.status == native.status, emulated


def test_straddling_reads_and_fetches_match_native(tmp_path):
    from linux.kit import build, run_native, run_pyvm
    exe = build("hygiene25_read_edges")
    native = run_native(exe, (), tmp_path)
    assert native.status == 0 and native.stdout.count(b"SIGSEGV") == 9, native
    _same_lines(native, run_pyvm(exe, (), tmp_path, env={"PYVM_CODE_CACHE": "0"}))


def test_recorded_instance_on_a_page_edge_faults_when_its_tail_is_gone(tmp_path):
    """A first run records the instruction on the page edge (its tail's page mapped); the
    next run unmaps that page before running it: the record's instance must not run."""
    from linux.kit import build, run_native, run_pyvm
    exe = build("hygiene25_read_edges")
    env = {"XDG_CACHE_HOME": str(tmp_path / "cache"), "PYVM_CODE_CACHE": "1"}
    first = run_pyvm(exe, ("setup",), tmp_path, env=env)
    assert first.status == 0 and first.stdout == run_native(exe, ("setup",), tmp_path).stdout
    native = run_native(exe, ("edge",), tmp_path)
    assert b"SIGSEGV at +4096 eip +4095" in native.stdout, native
    _same_lines(native, run_pyvm(exe, ("edge",), tmp_path, env=env))
