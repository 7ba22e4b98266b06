"""``vm.run``: run a program as ``pyvm`` would, from Python, with its standard streams
captured (docs/api.md).

Capture works the same for every personality: the guest's stdin, stdout and stderr are
three anonymous temporary files. The Linux personality gets their descriptors
(RunOptions.std_fds), the others read and write ``sys.stdin``/``sys.stdout``/
``sys.stderr``, which are pointed at the same files for the duration of the call, so
pyvm's own messages (a fault report, ``--regs``) land in ``stderr`` in the order they
were written. That swap makes :func:`run` unsafe to call from two threads at once.
"""

from __future__ import annotations

import dataclasses
import io
import os
import sys
import tempfile
from dataclasses import dataclass, field
from typing import Callable, Optional, Sequence, Union

from vm.options import RunOptions


@dataclass
class RunResult:
    """The outcome of :func:`run`: ``status`` as pyvm's exit status (the program's own
    status, or 124 step limit, 128+n fault... see the README's table), the captured
    ``stdout``/``stderr`` bytes, ``instructions`` retired (all CPUs of the run) and the
    final ``registers`` of the first CPU the program ran on."""
    status: int
    stdout: bytes
    stderr: bytes
    instructions: int
    registers: dict = field(default_factory=dict)
    fmt: str = ""

    def __repr__(self) -> str:
        return (f"RunResult(status={self.status}, stdout={self.stdout!r}, "
                f"stderr={self.stderr[:200]!r}, instructions={self.instructions})")


def registers_of(cpu) -> dict:
    """Name -> value of a CPU's registers (x86 Machine, B32CPU or V16CPU)."""
    regs = getattr(cpu, "regs", None)
    if callable(regs):
        return regs()
    return dict(cpu.registers())


def _check_size(name: str, value: object) -> None:
    """A byte count given to the API, refused as ``--max-output`` refuses it on the
    command line (a negative one ran with a "limit of -1 bytes"; 1.5 was an internal
    error, status 70)."""
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name}: not a size: {value!r} (an integer number of bytes)")
    if value < 0:
        raise ValueError(f"{name}: not a size: {value!r} (a number of bytes, 0 or more)")


def run(program: Union[str, os.PathLike, bytes], *, fmt: Optional[str] = None,
        args: Sequence[str] = (), stdin: bytes = b"", env: Optional[dict] = None,
        max_steps: Optional[int] = None, memory: Optional[int] = None,
        root: Optional[str] = None, timeout: Optional[float] = None,
        max_output: Optional[int] = None,
        bits: Optional[int] = None, org: Optional[int] = None,
        setup: Optional[Callable[[object], None]] = None) -> RunResult:
    """Run a program and capture its output.

    ``program``: a path, or the program's bytes (then ``fmt`` names the format when the
    bytes do not: ``bin``, ``com``; ELF, B32 and V16 are recognised by magic). ``args``:
    argv[1:] (Linux, DOS). ``env``: the whole environment of a Linux program (None: the
    host's). ``bits``/``org``: flat binaries (default: 16-bit boot sector for 512 bytes
    ending in 55AA, else 32-bit Linux). ``setup`` is called with each CPU as it is
    created (``vm.x86.Machine``, B32 or V16 CPU) to add hooks before it runs.
    ``max_output``: bytes written for the program in all (stdout, stderr, the files it
    writes), as ``--max-output`` (status 153 past it): the captured output is held in memory; an
    integer, 0 or more (else TypeError or ValueError, as the command line refuses it).
    """
    from formats import detect, is_boot_sector
    _check_size("max_output", max_output)
    if isinstance(program, (bytes, bytearray, memoryview)):
        data, path = bytes(program), "<program>"
        if fmt is None:
            fmt = detect("", data)
    else:
        path = os.fspath(program)
        from formats.inputs import read_input
        data = read_input(path)
    kind = fmt or detect(path, data)
    if kind == "bin" and path.lower().endswith((".b32", ".v16")):
        kind = path[-3:].lower()
    if bits is None:
        bits = 16 if kind in ("bin", "raw") and is_boot_sector(data) else 32
    opts = RunOptions(args=tuple(args), max_steps=max_steps, memory=memory, root=root,
                      timeout=timeout, bits=bits, org=org, color="never",
                      max_output=max_output)
    if env is not None:
        opts = dataclasses.replace(opts, clear_env=True,
                                   env=[f"{k}={v}" for k, v in env.items()])
    from vm.b32.cpu import B32CPU
    from vm.v16.cpu import V16CPU
    from vm.x86.machine import Machine
    cpus: list = []

    def created(cpu) -> None:
        cpus.append(cpu)
        if setup is not None:
            setup(cpu)
    classes = (Machine, B32CPU, V16CPU)
    saved = [c.on_create for c in classes]
    files = [tempfile.TemporaryFile() for _ in range(3)]
    files[0].write(bytes(stdin))
    files[0].seek(0)
    streams = (sys.stdin, sys.stdout, sys.stderr)
    try:
        for c in classes:
            c.on_create = created
        opts.std_fds = tuple(f.fileno() for f in files)
        sys.stdin, sys.stdout, sys.stderr = (_text(f.fileno(), n == 0)
                                             for n, f in enumerate(files))
        from vm.cli import run as run_kind
        try:
            status = run_kind(kind, path, data, opts)
        finally:
            for s in (sys.stdout, sys.stderr):
                s.flush()
    finally:
        sys.stdin, sys.stdout, sys.stderr = streams
        for c, old in zip(classes, saved):
            c.on_create = old
    out = []
    for f in files[1:]:
        f.seek(0)
        out.append(f.read())
    for f in files:
        f.close()
    steps = sum(int(getattr(c, "steps", 0)) for c in cpus)
    regs = registers_of(cpus[0]) if cpus else {}
    return RunResult(status, out[0], out[1], steps, regs, kind)


def _text(fd: int, reading: bool) -> io.TextIOWrapper:
    """A text stream on a capture file: unbuffered below (``.buffer`` writes go straight
    to the file, in order with the Linux guest's own writes to the descriptor)."""
    raw = io.FileIO(fd, "r" if reading else "w", closefd=False)
    return io.TextIOWrapper(raw, encoding="utf-8", errors="surrogateescape",
                            write_through=True)
