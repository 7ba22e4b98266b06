"""Static glibc programs (tests/linux/*.c, gcc -m32 -static at -O0 and -O2) run natively
and under pyvm: stdout and the exit status must be identical."""

from __future__ import annotations

import pytest
from linux.kit import build, run_native, run_pyvm

STDIN = b"hello world\nthe quick brown fox\n  jumps over\n\n\tthe lazy dog  \nlast line"
ENV = {"PYVM_TEST_A": "alpha", "PYVM_TEST_B": "b e t a"}

# program -> (arguments, expected exit status)
PROGRAMS = {
    "printf_int": ((), 0),
    "printf_float": ((), 0),
    "malloc_test": ((), 0),
    "strings_qsort": ((), 0),
    "setjmp_test": ((), 0),
    "int64": ((), 0),
    "math_test": ((), 0),
    "fileio": ((), 0),
    "stdin_filter": ((), 0),
    "argv_env": (("one", "two words", "", "--flag=x"), 5),
    "abort_test": ((), 134),
    "segv_test": ((), 139),
    "read_faults": ((), 139),
    "signals_test": ((), 0),
    "fork_pipe": ((), 0),
    "unknown_syscall": ((), 0),
    "bad_args": ((), 0),
    "timers": ((), 0),
}


@pytest.mark.parametrize("opt", ["O0", "O2"])
@pytest.mark.parametrize("name", sorted(PROGRAMS))
def test_matches_native(name, opt, tmp_path):
    exe = build(name, opt)
    args, status = PROGRAMS[name]
    (tmp_path / "native").mkdir()
    (tmp_path / "pyvm").mkdir()
    native = run_native(exe, args, tmp_path / "native", STDIN, ENV)
    emulated = run_pyvm(exe, args, tmp_path / "pyvm", STDIN, ENV)
    assert native.status == status, native
    assert emulated.stdout == native.stdout, emulated
    assert emulated.status == native.status, emulated
    # files the program left behind match too
    assert sorted(p.name for p in (tmp_path / "pyvm").iterdir()) == \
        sorted(p.name for p in (tmp_path / "native").iterdir())


def test_fault_report(tmp_path):
    """A guest fault: one line naming the signal and the instruction, then registers."""
    result = run_pyvm(build("segv_test"), cwd=tmp_path)
    assert result.status == 139
    lines = result.stderr.decode().splitlines()
    assert "SIGSEGV" in lines[0] and "memory fault writing 0x00000000" in lines[0], lines
    assert "mov" in lines[0], lines
    assert lines[1].split()[0].startswith("eax=") and "eip=" in lines[2], lines
    assert b"Traceback" not in result.stderr


def test_abort_is_sigabrt_without_report(tmp_path):
    result = run_pyvm(build("abort_test", "O0"), cwd=tmp_path)
    assert (result.status, result.stdout) == (134, b"before abort\n")
    assert b"Traceback" not in result.stderr


def test_environment_options(tmp_path):
    exe = build("argv_env")
    result = run_pyvm(exe, ["x"], tmp_path, env=ENV,
                      options=["--clear-env", "--env", "PYVM_TEST_B=set=by=option"])
    out = result.stdout.decode()
    assert "PYVM_TEST_A=(unset)" in out and "PYVM_TEST_B=set=by=option" in out, out
    assert "PYVM_TEST_* count=1" in out and result.status == 2


def test_trace_shows_system_calls(tmp_path):
    trace = tmp_path / "trace.txt"
    result = run_pyvm(build("unknown_syscall"), cwd=tmp_path,
                      options=["--trace-file", str(trace)])
    assert result.status == 0 and b"syscall 999: -1 ENOSYS" in result.stdout
    text = trace.read_text()
    assert "syscall_999(1, 2, 3" in text and "= -38 (ENOSYS)" in text
    assert "set_thread_area(" in text and "exit_group(0)" in text
    assert "write(1, 0x" in text


def test_static_pie(tmp_path):
    exe = build("printf_int", "O2", ("-static-pie",))
    native = run_native(exe, cwd=tmp_path)
    assert run_pyvm(exe, cwd=tmp_path).stdout == native.stdout


def test_dynamically_linked_program_runs_like_native(tmp_path):
    """gcc's default (a PIE asking for /lib/ld-linux.so.2): ld.so from the guest root runs it."""
    exe = build("printf_int", "O2", ())
    native = run_native(exe, cwd=tmp_path)
    result = run_pyvm(exe, cwd=tmp_path)
    assert (result.status, result.stdout) == (native.status, native.stdout)
    assert b"Traceback" not in result.stderr


def test_max_steps(tmp_path):
    result = run_pyvm(build("malloc_test"), cwd=tmp_path, options=["--max-steps", "50000"])
    assert result.status == 124
    assert b"stopped after 50000 instructions" in result.stderr
