"""The real-program benchmark (``pyvm-tools bench --real``; under PyPy:
``PYTHONPATH=. pypy3 -m vm.bench --real``).

C programs whose sources ship with the package (``vm/bench/csrc/*.c``) are built with
``gcc -m32 -static -O2`` on first use (cached under the temporary directory, keyed by the
source's hash; without gcc each program is skipped with a one-line note), busybox runs
(gzip, sort, awk) when an i386 busybox is found (``PYVM_BUSYBOX`` or
/tmp/pyvm-busybox/bin/busybox), and a cold-start figure: a glibc hello world run with an
empty code cache, then again with the cache it left (whole-process wall time).

Each program runs once natively and under pyvm in a child process of the Python running
the benchmark (``python -m vm.linux --stats``); its output must match the native run's
byte for byte. The programs run with the persistent code cache off (``PYVM_CODE_CACHE=0``)
so that the time includes translating every block, as a program's first run does.
``--quick`` runs each program on a small input (a few million instructions: the mode the
tests use).
"""

from __future__ import annotations

import hashlib
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable, List, Optional

from formats.private import make_private_dir

HERE = Path(__file__).parent
SRC = HERE / "csrc"
ROOT = HERE.parent.parent
BUSYBOX_DEFAULT = "/tmp/pyvm-busybox/bin/busybox"

# name, kind, full arguments, quick arguments, description
C_PROGRAMS = (
    ("qsort", ["100000"], ["4000"], "qsort of 100,000 ints with a comparison callback"),
    ("hashtable", ["20000"], ["1500"], "hash table with string keys (snprintf, strcmp)"),
    ("sha256", ["65536"], ["4096"], "sha256 over a 64 KiB buffer"),
    ("printf", ["10000"], ["600"], "sprintf of ints, hex and doubles"),
    ("malloc", ["40000"], ["3000"], "malloc/free/realloc churn"),
    ("expr", ["300"], ["20"], "recursive-descent expression evaluator"),
    ("interp", ["6000"], ["800"], "bytecode interpreter with a switch dispatch"),
)

# name, busybox arguments, description (input: the generated text, on stdin)
BUSYBOX_RUNS = (
    ("bb-gzip", ["gzip", "-c", "-6"], "busybox gzip of the text"),
    ("bb-sort", ["sort"], "busybox sort of its lines"),
    ("bb-awk", ["awk", "{n[$2]+=$3; w+=NF} END {for (k in n) s+=n[k]*length(k); print w, s}"],
     "busybox awk summing fields"),
)

STATS = re.compile(r"pyvm: (\d+) instructions in ([0-9.]+) s")


class Skip(Exception):
    """A program that cannot run here (no gcc, no busybox): one line of explanation."""


class Row:
    def __init__(self, name: str, desc: str, instructions: int, seconds: float):
        self.name, self.desc, self.instructions, self.seconds = \
            name, desc, instructions, seconds

    @property
    def mips(self) -> float:
        return self.instructions / self.seconds / 1e6 if self.seconds else 0.0

    def record(self) -> dict:
        return {"name": self.name, "instructions": self.instructions,
                "seconds": round(self.seconds, 4), "mips": round(self.mips, 3)}


# -- building --------------------------------------------------------------------------------

def build_dir() -> Path:
    """A private directory for the built programs (owned by this user, mode 0700)."""
    d = Path(tempfile.gettempdir()) / f"pyvm-bench-{os.getuid()}"
    try:
        make_private_dir(str(d))
    except OSError:
        raise Skip(f"{d} is not a private directory of this user") from None
    return d


def build(name: str) -> Path:
    """``csrc/<name>.c`` built with gcc -m32 -static -O2 (cached by source hash)."""
    gcc = shutil.which("gcc")
    if gcc is None:
        raise Skip("gcc not found (needed to build the C programs)")
    src = SRC / f"{name}.c"
    flags = ["-m32", "-static", "-O2"]
    key = hashlib.sha256(src.read_bytes() + " ".join(flags).encode()).hexdigest()[:16]
    out = build_dir() / f"{name}-{key}"
    if not out.exists():
        tmp = out.with_name(f".{out.name}.{os.getpid()}")
        proc = subprocess.run([gcc, *flags, "-o", str(tmp), str(src)],
                              capture_output=True, text=True)
        if proc.returncode:
            last = (proc.stderr.strip().splitlines() or ["?"])[-1]
            raise Skip(f"gcc -m32 -static failed: {last}")
        os.replace(tmp, out)
    return out


def busybox() -> Path:
    path = os.environ.get("PYVM_BUSYBOX") or BUSYBOX_DEFAULT
    if not os.path.isfile(path):
        raise Skip(f"no i386 busybox at {path} (set PYVM_BUSYBOX)")
    return Path(path)


def text_input(quick: bool, scale: int = 1) -> bytes:
    """Deterministic text for the busybox runs: lines of words and numbers (``scale``
    times as many lines: vm/bench/steady.py)."""
    words = ["alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta", "iota",
             "kappa", "lambda", "mu", "nu", "xi", "omicron", "pi", "rho", "sigma"]
    s = 1
    lines = []
    for i in range((300 if quick else 6000) * scale):
        s = (s * 1103515245 + 12345) & 0x7FFFFFFF
        a, b = words[s % len(words)], words[(s >> 8) % len(words)]
        lines.append(f"{s % 9973:5d} {a} {(s >> 12) % 1000} {b}{i % 7} {i}")
    return ("\n".join(lines) + "\n").encode()


# -- running ---------------------------------------------------------------------------------

def _env(extra: Optional[dict] = None) -> dict:
    """A child's environment: this checkout first on the path (an empty entry, the
    current directory, is not added), pyvm as installed (no PYTHONPYCACHEPREFIX: its
    bytecode and the table's file beside the package, formats/beside.py), the code cache
    off unless asked for, then ``extra``."""
    env = dict(os.environ)
    path = [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), *path])
    env.pop("PYTHONPYCACHEPREFIX", None)
    env.setdefault("PYVM_CODE_CACHE", "0")
    for k, v in (extra or {}).items():     # None: not set in the child
        if v is None:
            env.pop(k, None)
        else:
            env[k] = v
    return env


def run_native(argv: List[str], stdin: bytes) -> bytes:
    proc = subprocess.run(argv, input=stdin, capture_output=True, timeout=300)
    if proc.returncode:
        raise Skip(f"native run failed (status {proc.returncode})")
    return proc.stdout


def run_pyvm(argv: List[str], stdin: bytes, python: str = sys.executable,
             env: Optional[dict] = None) -> tuple:
    """(stdout, instructions, seconds) of ``python -m vm.linux --stats argv``."""
    cmd = [python, "-m", "vm.linux", "--stats", *argv]
    proc = subprocess.run(cmd, input=stdin, capture_output=True, env=_env(env), timeout=3600)
    err = proc.stderr.decode(errors="replace")
    m = STATS.search(err)
    if proc.returncode or m is None:
        tail = err.strip().splitlines()[-1:] or ["?"]
        raise RuntimeError(f"pyvm failed (status {proc.returncode}): {tail[0]}")
    return proc.stdout, int(m.group(1)), float(m.group(2))


def programs(quick: bool, scale: int = 1) -> list:
    """(name, description, argv builder, stdin) for every program of the suite; with
    ``scale``, each input that many times as large (a C program's one count argument,
    the busybox text's lines)."""
    out = []
    for name, full, short, desc in C_PROGRAMS:
        args = [str(int(a) * scale) for a in (short if quick else full)]
        out.append((name, desc, lambda name=name, args=args: [str(build(name)), *args], b""))
    text = text_input(quick, scale)
    for name, args, desc in BUSYBOX_RUNS:
        out.append((name, desc, lambda args=args: [str(busybox()), *args], text))
    return out


def names() -> list:
    return [p[0] for p in C_PROGRAMS] + [p[0] for p in BUSYBOX_RUNS] + ["cold"]


def measure(argv: List[str], stdin: bytes, repeat: int) -> tuple:
    expected = run_native(argv, stdin)
    runs = []
    for _ in range(repeat):
        out, steps, seconds = run_pyvm(argv, stdin)
        if out != expected:
            raise RuntimeError(f"output differs from the native run: {out[:120]!r} "
                               f"instead of {expected[:120]!r}")
        runs.append((steps, seconds))
    return runs[0][0], statistics.median(s for _, s in runs)


def cold_start(repeat: int) -> dict:
    """Wall time of ``python -m vm.linux hello`` with an empty code cache, then warm.
    As a user runs it: pyvm's own modules compiled to bytecode (an installed package
    has its .pyc files), so PYTHONDONTWRITEBYTECODE is unset in the child and one
    untimed run (with a throwaway code cache) writes them first."""
    exe = build("hello")
    expected = run_native([str(exe)], b"")
    cold, warm = [], []
    with tempfile.TemporaryDirectory() as home:
        run_pyvm([str(exe)], b"", env={"XDG_CACHE_HOME": home, "PYVM_CODE_CACHE": "1",
                                       "PYTHONDONTWRITEBYTECODE": None})
    for _ in range(repeat):
        with tempfile.TemporaryDirectory() as home:
            extra = {"XDG_CACHE_HOME": home, "PYVM_CODE_CACHE": "1",
                     "PYTHONDONTWRITEBYTECODE": None}
            for dest in (cold, warm):
                t0 = time.perf_counter()
                out, _, _ = run_pyvm([str(exe)], b"", env=extra)
                dest.append(time.perf_counter() - t0)
                if out != expected:
                    raise RuntimeError(f"hello world printed {out!r}")
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import vm.linux.runner"],
                   env=_env({"PYTHONDONTWRITEBYTECODE": None}), capture_output=True)
    startup = time.perf_counter() - t0
    return {"cold_seconds": round(statistics.median(cold), 4),
            "warm_seconds": round(statistics.median(warm), 4),
            "python_startup_seconds": round(startup, 4)}


def run_suite(selected=None, quick: bool = False, repeat: int = 1,
              json_file: Optional[str] = None, report: Callable = print) -> dict:
    from vm.bench import geomean, save_json
    impl = f"{platform.python_implementation()} {platform.python_version()}"
    report(f"{impl}: real programs ({'quick' if quick else 'full'} inputs, median of "
           f"{repeat}, code cache off)")
    # as an installed pyvm has it after any first run: the instruction table's file beside
    # the package (read with caches off too: it holds the table, no program's code)
    subprocess.run([sys.executable, "-c", "from asm.x86.table import forms; forms()"],
                   env=_env({"PYVM_CODE_CACHE": "1", "PYTHONDONTWRITEBYTECODE": None}),
                   capture_output=True)
    rows: List[Row] = []
    skipped = {}
    for name, desc, argv, stdin in programs(quick):
        if selected and name not in selected:
            continue
        try:
            steps, seconds = measure(argv(), stdin, repeat)
        except Skip as e:
            skipped[name] = str(e)
            report(f"{name:<10} skipped: {e}")
            continue
        except RuntimeError as e:
            raise RuntimeError(f"{name}: {e}") from None
        row = Row(name, desc, steps, seconds)
        rows.append(row)
        report(f"{name:<10} {steps:>12,} instr {seconds:8.3f} s {row.mips:8.2f} MIPS   {desc}")
    g = geomean([r.mips for r in rows])
    if rows:
        report(f"{'geomean':<10} {'':>18} {'':>10} {g:8.2f} MIPS")
    record = {"python": impl, "executable": sys.executable, "machine": platform.machine(),
              "time": time.strftime("%Y-%m-%dT%H:%M:%S"), "quick": quick, "repeat": repeat,
              "programs": [r.record() for r in rows], "geomean_mips": round(g, 3),
              "skipped": skipped}
    if not selected or "cold" in selected:
        try:
            cs = cold_start(repeat)
            record["cold_start"] = cs
            report(f"{'cold':<10} glibc hello world, whole process: {cs['cold_seconds']:.3f} s "
                   f"with an empty code cache, {cs['warm_seconds']:.3f} s warm "
                   f"(Python start-up and imports: {cs['python_startup_seconds']:.3f} s; "
                   f"pyvm's modules as bytecode, as installed)")
        except Skip as e:
            skipped["cold"] = str(e)
            report(f"{'cold':<10} skipped: {e}")
    if json_file:
        save_json(json_file, record)
    return record
