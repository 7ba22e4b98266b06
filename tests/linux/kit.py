"""Helpers for the Linux personality tests: build the C programs of this directory once
(cached by source hash), run a program natively and under pyvm, find busybox."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Optional, Sequence

import pytest

HERE = Path(__file__).parent
ROOT = HERE.parent.parent
CACHE = Path(tempfile.gettempdir()) / f"pyvm-linux-{os.getuid()}"
TIMEOUT = 300
BUSYBOX_DEFAULT = "/tmp/pyvm-busybox/bin/busybox"


def build(name: str, opt: str = "O2", flags: Sequence[str] = ("-static",),
          where: Path = HERE) -> Path:
    """``<where>/<name>.c`` (tests/linux by default) compiled with
    ``gcc -m32 <flags> -<opt> -lm`` (cached)."""
    from conftest import require_tool
    gcc = require_tool("gcc")
    src = where / f"{name}.c"
    args = ["-m32", *flags, f"-{opt}"]
    key = hashlib.sha256(src.read_bytes() + " ".join(args).encode()).hexdigest()[:16]
    out = CACHE / key / f"{name}-{opt}"
    if not out.exists():
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_name(f".{out.name}.{os.getpid()}")
        proc = subprocess.run([gcc, *args, "-o", str(tmp), str(src), "-lm"],
                              capture_output=True, text=True)
        if proc.returncode:
            pytest.fail(f"gcc failed for {src.name}:\n{proc.stderr}")
        os.replace(tmp, out)
    return out


class Result:
    def __init__(self, proc: subprocess.CompletedProcess):
        self.stdout: bytes = proc.stdout
        self.stderr: bytes = proc.stderr
        rc = proc.returncode
        self.status = 128 - rc if rc < 0 else rc     # as a shell reports a killed process

    def __repr__(self) -> str:
        return f"Result(status={self.status}, stdout={self.stdout[:200]!r}, " \
               f"stderr={self.stderr[-400:]!r})"


def _env(extra: Optional[dict]) -> dict:
    env = dict(os.environ)
    env.update(extra or {})
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    return env


def run_native(exe, args: Sequence[str] = (), cwd=None, stdin: bytes = b"",
               env: Optional[dict] = None) -> Result:
    return Result(subprocess.run([str(exe), *args], cwd=cwd, input=stdin,
                                 capture_output=True, env=_env(env), timeout=TIMEOUT))


def run_pyvm(exe, args: Sequence[str] = (), cwd=None, stdin: bytes = b"",
             env: Optional[dict] = None, options: Sequence[str] = (),
             python: Optional[str] = None, module: str = "vm.cli") -> Result:
    """``pyvm [options] exe args``; ``module="vm.linux"`` is the click-free entry point
    (the one PyPy runs)."""
    cmd = [python or sys.executable, "-m", module, *options, str(exe), *args]
    return Result(subprocess.run(cmd, cwd=cwd, input=stdin, capture_output=True,
                                 env=_env(env), timeout=TIMEOUT))


# Runs argv[1:] and prints its stdout, then "<exit status> <peak resident KiB>": wait4 on
# that one child reports its own peak, not the test runner's (a long-lived process).
_PEAK_PROBE = ("import os, subprocess, sys\n"
               "p = subprocess.Popen(sys.argv[1:], stdout=subprocess.PIPE)\n"
               "out = p.stdout.read()\n"
               "_, status, usage = os.wait4(p.pid, 0)\n"
               "sys.stdout.buffer.write(out)\n"
               "print(os.waitstatus_to_exitcode(status), usage.ru_maxrss)\n")


def peak_rss(cmd: Sequence[str], cwd=None, env: Optional[dict] = None,
             timeout: int = 600) -> tuple:
    """(stdout, exit status, peak resident KiB) of ``cmd``, run in a process of its own
    with ``env`` added to the environment (PYTHONPATH finds pyvm)."""
    out = subprocess.run([sys.executable, "-c", _PEAK_PROBE, *map(str, cmd)], cwd=cwd,
                         env=_env(env), capture_output=True, timeout=timeout).stdout
    text, _, last = out.rstrip(b"\n").rpartition(b"\n")
    status, peak = map(int, last.split())
    return text + b"\n", status, peak


def run_both(tmp_path: Path, exe: Path, args: Sequence[str],
             pyvm: Sequence[str] = ("-m", "vm.cli"), prepare=None, timeout: float = TIMEOUT,
             preexec=None) -> tuple:
    """(native, pyvm) CompletedProcess of ``exe args`` (pyvm: ``python <pyvm> exe args``),
    each in a fresh directory (tmp_path/native, tmp_path/pyvm) without stdin: "WORK" in
    an argument is that directory, ``prepare(directory)`` runs first, ``preexec`` in the
    child (a resource limit)."""
    out = []
    for name, argv in (("native", [str(exe)]), ("pyvm", [sys.executable, *pyvm, str(exe)])):
        work = tmp_path / name
        work.mkdir()
        if prepare is not None:
            prepare(work)
        out.append(subprocess.run(argv + [a.replace("WORK", str(work)) for a in args],
                                  cwd=work, stdin=subprocess.DEVNULL, capture_output=True,
                                  env=_env(None), timeout=timeout, preexec_fn=preexec))
    return tuple(out)


def busybox() -> Path:
    """The i386 busybox-static binary .ci/run fetches; skip locally, fail under CI."""
    from conftest import IN_CI
    path = Path(os.environ.get("PYVM_BUSYBOX", BUSYBOX_DEFAULT))
    if not path.is_file():
        message = (f"busybox not found at {path} (set PYVM_BUSYBOX; .ci/run fetches "
                   "Debian's busybox-static:i386 there)")
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    return path
