"""Resource limits (sbx33). Oracle: the native run of sbx33_limits.c (gcc -m32 -static).
Before: RLIMIT_NPROC was recorded and never applied (10 forks under a limit of 4),
getrlimit(RLIMIT_AS) reported the host's (infinite) value while pyvm caps memory at
--memory, prlimit(2) on a child's pid was ESRCH, and /proc/self/status's VmSize
counted pyvm's whole 8 MiB stack (9008 kB for a program Linux puts at 976 kB).
"""
from __future__ import annotations

import resource
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from linux.kit import _env, build  # noqa: E402

HERE = Path(__file__).parent


def _both(*args: str, pyvm_opts: tuple = (), pre=None) -> tuple:
    exe = build("sbx33_limits", opt="O1", where=HERE)
    native = subprocess.run([str(exe), *args], capture_output=True, timeout=60,
                            stdin=subprocess.DEVNULL, preexec_fn=pre)
    ours = subprocess.run([sys.executable, "-m", "vm.cli", *pyvm_opts, str(exe), *args],
                          env=_env({"PYVM_CODE_CACHE": "0"}), capture_output=True,
                          timeout=300, stdin=subprocess.DEVNULL)
    assert native.returncode == 0, native
    return native, ours


@pytest.mark.parametrize("mode, expect", [
    ("nproc", b"forked 3, then EAGAIN\nafter reaping: forked\n"),
    ("prlimit", b"prlimit child: 0 0 32 64\n"),
])
def test_limits_as_natively(mode, expect):
    native, ours = _both(mode)
    assert native.stdout.startswith(expect), native
    assert ours.stdout == native.stdout, ours.stderr.decode()[-2000:]


def test_rlimit_as_reports_the_memory_cap():
    """The soft limit is pyvm's cap; the hard one stays infinite, so a guest may still
    set any soft limit (pyvm's cap holds whatever it sets)."""
    cap, inf = 256 << 20, resource.RLIM_INFINITY
    native, ours = _both("as", pyvm_opts=("--memory", "256M"),
                         pre=lambda: resource.setrlimit(resource.RLIMIT_AS, (cap, inf)))
    assert native.stdout == b"as %d %d\nas64 %d %d\n" % (cap, 2**32 - 1, cap, 2**64 - 1), \
        native
    assert ours.stdout == native.stdout, ours.stderr.decode()[-2000:]


def test_vmsize_counts_the_stack_as_grown():
    """Linux's VmSize has the stack as far as it grew (132 kB here), not pyvm's 8 MiB
    reservation; the rest (vvar pages and the like) differs by a few pages."""
    native, ours = _both("vmsize")
    kb = lambda out: int(out.split()[1])  # noqa: E731
    assert kb(native.stdout) < 4096, native
    assert abs(kb(ours.stdout) - kb(native.stdout)) < 256, (ours.stdout, native.stdout)


@pytest.mark.parametrize("args", [("512",), ("1024", "exec")])
def test_rlimit_stack_bounds_stack_growth(args):
    """Before: the limit was recorded only; the recursion went on to pyvm's 8 MiB."""
    exe = build("sbx33_stack", opt="O0", where=HERE)
    native = subprocess.run([str(exe), *args], capture_output=True, timeout=60)
    ours = subprocess.run([sys.executable, "-m", "vm.cli", str(exe), *args],
                          env=_env({"PYVM_CODE_CACHE": "0"}), capture_output=True, timeout=300)
    limit = int(args[0])
    for run in (native, ours):
        words = run.stdout.split()
        assert words[:3] == [b"fault", b"at", b"depth"] and words[-3:] == \
            [b"11", b"code", b"1"], run
        assert 0.9 * limit <= int(words[3]) <= 1.1 * limit, run
