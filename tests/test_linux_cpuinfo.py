"""/proc/cpuinfo's flags say what the CPUID instruction says (a program asks both, as
glibc and tools like lscpu do), under pyvm exactly as on the host."""

from __future__ import annotations

from linux.kit import build, run_native, run_pyvm


def test_cpuinfo_flags_agree_with_cpuid():
    prog = build("cpuflags")
    native = run_native(prog)
    assert native.status == 0, native       # the host kernel agrees with its CPU
    guest = run_pyvm(prog)
    assert guest.status == 0, guest
    assert b"sse2 cpuid=1 cpuinfo=1" in guest.stdout


def test_hint_nops_run_as_on_the_cpu():
    prog = build("hint_nops")
    native = run_native(prog)
    assert native.status == 0, native
    guest = run_pyvm(prog)
    assert (guest.status, guest.stdout) == (native.status, native.stdout), guest
