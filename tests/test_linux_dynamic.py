"""Dynamic i386 programs (gcc -m32 -O2, no -static): pyvm loads the interpreter the
program names (/lib/ld-linux.so.2 from the guest's root: here the host's, gcc-multilib's
libc6-i386) and ld.so does the rest through file-backed mmap. Output and exit status
must equal the native run's; two runs give the same trace."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys

import pytest
from conftest import require_tool
from linux.kit import HERE, TIMEOUT, _env, build, run_native, run_pyvm

DYNAMIC = HERE.parent / "dynamic"
THREADS = HERE.parent / "threads"

# (directory, program, arguments, expected status)
PROGRAMS = [
    (HERE, "printf_int", (), 0),
    (HERE, "printf_float", (), 0),
    (HERE, "malloc_test", (), 0),
    (HERE, "strings_qsort", (), 0),
    (HERE, "math_test", (), 0),
    (HERE, "setjmp_test", (), 0),
    (HERE, "fileio", (), 0),
    (HERE, "fork_pipe", (), 0),
    (HERE, "signals_test", (), 0),
    (HERE, "argv_env", ("one", "two words"), 3),
    (THREADS, "basic", (), 0),
    (THREADS, "cond", (), 0),
    (THREADS, "cancel", (), 0),
    (THREADS, "exit", ("exit",), 3),
    (THREADS, "futex_ops", (), 0),
    (DYNAMIC, "mmap_file", (), 0),
    (DYNAMIC, "mmap_file", ("exit-mapped",), 3),
]


def _dynamic(name: str, where=HERE):
    require_tool("gcc")
    if not os.path.exists("/lib/ld-linux.so.2"):
        from conftest import IN_CI
        if IN_CI:
            pytest.fail("/lib/ld-linux.so.2 is missing (gcc-multilib's libc6-i386)")
        pytest.skip("no i386 ld.so on this host")
    return build(name, "O2", flags=("-pthread",), where=where)


def _ids(cases):
    return [f"{p}{'-' + a[0].replace(' ', '_') if a else ''}" for _, p, a, _ in cases]


@pytest.mark.parametrize("where,name,args,status", PROGRAMS, ids=_ids(PROGRAMS))
def test_matches_native(where, name, args, status, tmp_path):
    exe = _dynamic(name, where)
    native = run_native(exe, args, tmp_path)
    emulated = run_pyvm(exe, args, tmp_path)
    assert native.status == status, native
    assert emulated.stdout == native.stdout, emulated
    assert emulated.status == native.status, emulated
    assert b"Traceback" not in emulated.stderr, emulated


def test_map_shared_reaches_the_file_at_exit(tmp_path):
    """The process ends with a MAP_SHARED mapping still in place: its stores are in the
    file afterwards, as with the native run."""
    exe = _dynamic("mmap_file", DYNAMIC)
    run_native(exe, ("x",), tmp_path)
    native = (tmp_path / "mmap_file.dat").read_bytes()
    (tmp_path / "mmap_file.dat").unlink()
    emulated = run_pyvm(exe, ("x",), tmp_path)
    assert emulated.status == 3, emulated
    assert (tmp_path / "mmap_file.dat").read_bytes() == native == b"Jello, MAPPED worlD"


def _shlib_program(tmp_path):
    """shlib_main with its own library (via $ORIGIN) and a dlopen'd plugin, in tmp_path."""
    gcc = require_tool("gcc")
    _dynamic("printf_int")              # the ld.so check
    cmds = [
        ["-fPIC", "-shared", str(DYNAMIC / "libcounter.c"), "-o", "libcounter.so"],
        ["-fPIC", "-shared", str(DYNAMIC / "plugin.c"), "-o", "plugin.so", "-L.",
         "-lcounter"],
        [str(DYNAMIC / "shlib_main.c"), "-o", "shlib_main", "-L.", "-lcounter",
         "-Wl,-rpath,$ORIGIN", "-pthread", "-ldl"],
    ]
    for args in cmds:
        proc = subprocess.run([gcc, "-m32", "-O2", *args], cwd=tmp_path,
                              capture_output=True, text=True)
        assert proc.returncode == 0, proc.stderr
    return tmp_path / "shlib_main"


def test_own_shared_library_tls_and_dlopen(tmp_path):
    """Relocations, TLS (main program, its library, a dlopen'd plugin, a thread),
    constructors, dlsym: all done by ld.so, all as native."""
    exe = _shlib_program(tmp_path)
    native = run_native(exe, (), tmp_path)
    emulated = run_pyvm(exe, (), tmp_path)
    assert native.status == 5 and b"plugin 146" in native.stdout, native
    assert emulated.stdout == native.stdout and emulated.status == 5, emulated


def test_dynamic_program_execs_dynamic_program(tmp_path):
    """execve of a dynamic program from a dynamic one, in a forked child and in the
    process itself: the interpreter is loaded for each new image."""
    exe = _dynamic("argv_env")
    src = tmp_path / "runner.c"
    src.write_text('#include <stdio.h>\n#include <unistd.h>\n#include <sys/wait.h>\n'
                   'int main(int c, char **v) { (void)c; int st; fflush(stdout);\n'
                   '  if (fork() == 0) { execl(v[1], v[1], "child", (char *)0); return 99; }\n'
                   '  wait(&st); printf("child status %d\\n", WEXITSTATUS(st));\n'
                   '  fflush(stdout); execl(v[1], v[1], "replaced", (char *)0); return 98; }\n')
    runner = build("runner", "O2", flags=(), where=tmp_path)
    native = run_native(runner, (str(exe),), tmp_path)
    emulated = run_pyvm(runner, (str(exe),), tmp_path)
    assert native.status == 2 and b"child status 2" in native.stdout, native  # argc
    assert b"argv[1]=replaced" in native.stdout, native
    assert emulated.stdout == native.stdout and emulated.status == 2, emulated


def _traced(exe, tmp_path, name: str) -> bytes:
    """``pyvm --trace-file`` of ``exe`` with stdout on /dev/null: the program's fstat of
    its stdout then reads the same times every run (a pipe's are its creation time)."""
    trace = tmp_path / name
    cmd = [sys.executable, "-m", "vm.cli", "--seed", "1", "--trace-file", str(trace), str(exe)]
    proc = subprocess.run(cmd, cwd=tmp_path, stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE, env=_env(None), timeout=TIMEOUT * 3)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return trace.read_bytes()


def _without_registers(trace: bytes) -> list:
    """Each instruction's address, bytes and mnemonic, and every system call line whole."""
    return [line if line.startswith(b"    [") else
            b"  ".join(re.split(rb"\s{2,}", line.strip())[:3]) for line in trace.splitlines()]


# Two runs give the same trace, register values and process ids included: guest ids are
# the kernel's own (the first process is 2, threads and children take the next numbers),
# AT_RANDOM follows from --seed, and the scheduler switches threads only on blocking
# calls and every SLICE instructions. (Before, the host's pids went into the guest: when
# they crossed a power of ten between two runs, /proc/self/task's entries changed length
# and the traces parted.) What is not the guest's own stays the host's: the time, stat
# times, which glibc reads when it fstat()s stdout (a pipe's times, or /dev/null's, which
# change as anyone writes to it) and when opendir fstat()s /proc/self/task. interleave.c
# avoids both, so its traces are equal byte for byte; for the others the register values
# are left out (the instructions and system calls, ids included, must be the same). The threaded case of the default run is a small program
# (interleave.c: unlocked updates, a condition variable with a timed wait, sched_yield,
# /proc/self/task); basic.c is 2.6 M traced instructions per run: slow-only.
@pytest.mark.parametrize("name,where", [
    ("printf_int", HERE), ("interleave", THREADS),
    pytest.param("basic", THREADS, marks=pytest.mark.slow)])
def test_repeated_run_gives_the_same_trace(name, where, tmp_path):
    exe = _dynamic(name, where)
    first = _traced(exe, tmp_path, "t0")
    second = _traced(exe, tmp_path, "t1")
    if name != "interleave":
        first, second = (b"\n".join(_without_registers(t)) for t in (first, second))
    lines = first.count(b"\n")
    assert lines > 50_000
    assert (b"] clone" in first) == (where == THREADS)
    if first != second:
        a, b = first.splitlines(), second.splitlines()
        at = next(i for i, (x, y) in enumerate(zip(a, b)) if x != y) if \
            any(x != y for x, y in zip(a, b)) else min(len(a), len(b))
        pytest.fail(f"the traces part at line {at + 1}:\n{a[at:at + 1]}\n{b[at:at + 1]}")


def test_missing_interpreter_is_one_line(tmp_path):
    exe = tmp_path / "noint"
    gcc = require_tool("gcc")
    src = tmp_path / "p.c"
    src.write_text("int main(void) { return 0; }\n")
    subprocess.run([gcc, "-m32", "-O2", str(src), "-o", str(exe),
                    "-Wl,--dynamic-linker=/no/such/ld.so"], check=True)
    result = run_pyvm(exe, (), tmp_path)
    assert result.status == 1, result
    assert result.stderr.decode().strip().splitlines() == [
        f"pyvm: {exe}: cannot start: interpreter /no/such/ld.so: No such file or directory"]


def test_interpreter_in_pyvm_cache_is_hidden(tmp_path):
    """A program naming an interpreter inside pyvm's own cache directory (a working
    ld.so planted there, reached directly and through a symlink) does not get it."""
    require_tool("gcc")
    cache = tmp_path / "cache"
    (cache / "pyvm").mkdir(parents=True)
    shutil.copy("/lib/ld-linux.so.2", cache / "pyvm" / "ld.so")
    (tmp_path / "work").mkdir()
    os.symlink(cache / "pyvm" / "ld.so", tmp_path / "work" / "ld-link.so")
    src = tmp_path / "p.c"
    src.write_text('#include <stdio.h>\nint main(void) { puts("ran"); return 0; }\n')
    for interp in (cache / "pyvm" / "ld.so", tmp_path / "work" / "ld-link.so"):
        exe = tmp_path / "work" / "prog"
        subprocess.run(["gcc", "-m32", "-O2", str(src), "-o", str(exe),
                        f"-Wl,--dynamic-linker={interp}"], check=True)
        assert run_native(exe, (), tmp_path).stdout == b"ran\n"      # the file works
        env = {"XDG_CACHE_HOME": str(cache)}
        result = run_pyvm(exe, (), tmp_path / "work", env=env)
        assert result.status == 1 and result.stdout == b"", result
        assert b"No such file or directory" in result.stderr, result


def test_root_confines_the_interpreter(tmp_path):
    """With --root, PT_INTERP is a path in that tree: a symlink climbing out of it
    (which on the host reaches the real ld.so) stays inside, where there is none."""
    exe = _dynamic("printf_int")
    root = tmp_path / "root"
    (root / "lib").mkdir(parents=True)
    os.symlink("../../../../../../../../lib32/ld-linux.so.2", root / "lib" / "ld-linux.so.2")
    result = run_pyvm(exe, (), tmp_path, options=("--root", str(root)))
    assert result.status == 1 and result.stdout == b"", result
    assert b"interpreter /lib/ld-linux.so.2: No such file" in result.stderr, result

