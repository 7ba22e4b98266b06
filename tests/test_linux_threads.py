"""Threads (vm/linux/threads.py): static pthread programs (tests/threads/*.c, gcc -m32
-static -pthread) run natively and under pyvm with identical stdout and exit status, and a
racy program gives the same result on every pyvm run (deterministic scheduling)."""

from __future__ import annotations

import pytest
from linux.kit import HERE, build, run_native, run_pyvm

THREADS = HERE.parent / "threads"

# program -> [(arguments, expected exit status)]
PROGRAMS = {
    "basic": [((), 0)],
    "cond": [((), 0)],
    "cancel": [((), 0)],
    "signals": [((), 0)],
    "exit": [((), 0), (("exit",), 3)],
    "futex_ops": [((), 0)],
}
CASES = [(name, args, status) for name, runs in PROGRAMS.items() for args, status in runs]


def _build(name: str, opt: str = "O2"):
    return build(name, opt, flags=("-static", "-pthread"), where=THREADS)


@pytest.mark.parametrize("name,args,status", CASES,
                         ids=[f"{n}{'-' + '-'.join(a) if a else ''}" for n, a, _ in CASES])
def test_matches_native(name, args, status, tmp_path):
    exe = _build(name)
    native = run_native(exe, args, tmp_path)
    emulated = run_pyvm(exe, args, tmp_path)
    assert native.status == status, native
    assert emulated.stdout == native.stdout, emulated
    assert emulated.status == native.status, emulated
    assert b"Traceback" not in emulated.stderr, emulated


def test_basic_at_O0(tmp_path):
    exe = _build("basic", "O0")
    native = run_native(exe, (), tmp_path)
    emulated = run_pyvm(exe, (), tmp_path)
    assert emulated.stdout == native.stdout and emulated.status == native.status == 0, \
        emulated


def test_racy_program_is_deterministic(tmp_path):
    """Unsynchronised updates lose some increments; which ones depends only on the
    program, so two runs print the same (the same interleaving)."""
    exe = _build("race")
    first = run_pyvm(exe, (), tmp_path)
    second = run_pyvm(exe, (), tmp_path)
    assert first.status == 0, first
    assert first.stdout == second.stdout, (first, second)
    counter = first.stdout.split(b"\n")[0].split()
    assert counter[0] == b"counter" and 0 < int(counter[1]) <= int(counter[3]), first
    assert len(set(first.stdout.split(b"\n")[2][4:])) == 4, first   # every thread logged


def test_deadlock_is_reported(tmp_path):
    """Threads waiting for each other forever: pyvm says so instead of hanging."""
    src = tmp_path / "dead.c"
    src.write_text("#include <pthread.h>\n"
                   "static pthread_mutex_t a = PTHREAD_MUTEX_INITIALIZER;\n"
                   "static void *t(void *p) { (void)p; pthread_mutex_lock(&a); return 0; }\n"
                   "int main(void) { pthread_t x; pthread_mutex_lock(&a);\n"
                   "  pthread_create(&x, 0, t, 0); pthread_join(x, 0); return 0; }\n")
    exe = build("dead", "O2", flags=("-static", "-pthread"), where=tmp_path)
    result = run_pyvm(exe, (), tmp_path)
    assert result.status == 125, result
    assert b"deadlock" in result.stderr and b"futex" in result.stderr, result
