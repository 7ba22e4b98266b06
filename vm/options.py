"""Options shared by every program kind that ``pyvm`` runs."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional


@dataclass
class RunOptions:
    """How ``pyvm`` runs a program: its command line's options, field by field.
    (A docstring of its own: without one, @dataclass makes one from the signature, and
    inspect.signature of 26 fields was ~1 ms of every run.)"""
    args: tuple = ()                 # guest argv[1:]
    max_steps: Optional[int] = None  # stop with an error after this many instructions
    regs: bool = False               # print final registers
    stats: bool = False              # print instructions, seconds and MIPS at exit
    trace: bool = False
    trace_file: Optional[str] = None
    color: str = "auto"              # B32 screen: auto | always | never
    screen_html: Optional[str] = None
    org: Optional[int] = None        # flat binaries: load address
    bits: int = 32                   # flat binaries: 32 (Linux int 0x80) or 16 (BIOS real mode)
    memory: Optional[int] = None     # guest memory cap in bytes (None: the personality's default)
    env: list = field(default_factory=list)  # extra K=V for Linux programs
    clear_env: bool = False
    root: Optional[str] = None
    allow_write: list = field(default_factory=list)
    max_procs: int = 64              # Linux: processes alive at once; fork beyond it is EAGAIN
    seed: Optional[int] = None       # Linux: the guest's random bytes follow from it (--seed)
    max_output: Optional[int] = None  # bytes a run may write for the guest, in all
    timeout: Optional[float] = None  # wall-clock seconds before the run is stopped
    # host descriptors behind the guest's stdin, stdout, stderr where a personality uses
    # descriptors (Linux); None: the process's own 0, 1, 2 (vm.run passes capture files)
    std_fds: Optional[tuple] = None
    # flat binaries: a fault in the first instructions suggests --bits 16 (not for code
    # whose mode its source declared)
    hint_bits: bool = True
    # the PC in system mode (vm/pc/system.py): --bios ROM, --disk IMAGE
    bios: Optional[str] = None       # a ROM image mapped to end at 1 MiB
    disk: Optional[str] = None       # a disk image booted from its first sector
    disk_write: bool = False         # write the image itself, not a copy
    serial: Optional[str] = None     # COM1: "stdout" or a file name
    port_log: Optional[str] = None   # one line per OUT (POST codes named)


# -- limits on a run: --timeout and --max-output, the same for every machine kind -----------
#
# A run that reaches a limit ends with one line on stderr and its own exit status, named
# as a shell names a process killed by the signal Linux would send for it:
#   142 = 128 + SIGALRM: --timeout SECONDS of wall-clock time ran out
#   153 = 128 + SIGXFSZ: the guest tried to write more than --max-output bytes in all
#         (stdout, stderr, its files, the trace, COM1, the port log: as Linux does for
#         RLIMIT_FSIZE)
# (--max-steps keeps 124, as timeout(1) reports.)

EXIT_BAD_FILE = 1                   # a file or option that cannot be run
EXIT_USAGE = 2                      # a command line that cannot be understood
EXIT_STEP_LIMIT = 124
EXIT_INTERNAL = 70                  # a bug in pyvm, reported in one line
EXIT_INTERRUPTED = 130              # Ctrl-C: 128 + SIGINT
EXIT_TIMEOUT = 142
EXIT_OUTPUT_LIMIT = 153


class TimedOut(BaseException):
    """Raised by the SIGALRM handler when a run did not stop at a block boundary within
    Deadline.GRACE seconds of its deadline (it waits in a host call, e.g. reading stdin).
    A BaseException, as KeyboardInterrupt, so no ``except Exception`` swallows it."""


class Deadline:
    """--timeout: SIGALRM at the deadline asks the running machine to stop at its next
    block boundary (each callable in ``stoppers``; again every TICK seconds, in case it
    was between two runs), and the runners check ``expired`` between slices, so nothing
    is checked per instruction. Outside the main thread (no signals) ``expired`` still
    reads the clock, and the runners that work in slices stop on it."""

    TICK = 0.05
    GRACE = 0.5

    def __init__(self, seconds: Optional[float] = None):
        self.seconds = seconds
        self.at: Optional[float] = None
        self.fired = False
        self.stoppers: list = []
        self._old = None
        self._armed = False

    def start(self) -> Deadline:
        if self.seconds is None:
            return self
        # (imported here: the signal module is ~0.7 ms of a start without --timeout)
        import signal
        import threading
        import time
        self.at = time.monotonic() + self.seconds
        if hasattr(signal, "setitimer") and \
                threading.current_thread() is threading.main_thread():
            self._old = signal.signal(signal.SIGALRM, self._on_alarm)
            signal.setitimer(signal.ITIMER_REAL, max(self.seconds, 1e-6), self.TICK)
            self._armed = True
        return self

    def cancel(self) -> None:
        if self._armed:
            import signal
            self._armed = False
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, self._old if self._old is not None
                          else signal.SIG_DFL)

    def __enter__(self) -> Deadline:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.cancel()

    @property
    def expired(self) -> bool:
        import time
        if self.fired:
            return True
        if self.at is not None and time.monotonic() >= self.at:
            self.fired = True
        return self.fired

    def _on_alarm(self, signum, frame) -> None:
        import time
        self.fired = True
        for stop in self.stoppers:
            stop()
        if self.at is not None and time.monotonic() >= self.at + self.GRACE:
            self.cancel()
            raise TimedOut()

    def message(self) -> str:
        return f"timed out after {self.seconds:g} s"


class OutputBudget:
    """--max-output: bytes the run may still write for the guest (stdout, stderr, its
    files, the trace, COM1, the port log).
    ``take(n)`` grants what fits; the first refusal sets ``exceeded`` and calls each of
    ``stoppers`` (a machine's request_stop), and the run then ends with
    EXIT_OUTPUT_LIMIT."""

    def __init__(self, limit: Optional[int] = None):
        self.limit = limit
        self.used = 0
        self.exceeded = False
        self.stoppers: list = []

    def take(self, n: int) -> int:
        if self.limit is None:
            return n
        allowed = max(0, min(n, self.limit - self.used))
        self.used += allowed
        if allowed < n and not self.exceeded:
            self.exceeded = True
            for stop in self.stoppers:
                stop()
        return allowed

    def message(self) -> str:
        return f"output limit of {self.limit} bytes reached"


class BudgetWriter:
    """A binary host stream whose writes draw on an OutputBudget: what does not fit is
    dropped (the run is being stopped). Everything else is the stream's own."""

    def __init__(self, stream, budget: OutputBudget):
        self._stream = stream
        self._budget = budget

    def write(self, data) -> int:
        n = len(data)
        allowed = self._budget.take(n)
        if allowed:
            self._stream.write(bytes(data[:allowed]) if allowed < n else data)
        return n

    def __getattr__(self, name):
        return getattr(self._stream, name)


class BudgetText:
    """A text stream (``--trace`` on stderr) whose writes draw on an OutputBudget in
    UTF-8 bytes: what does not fit is dropped (the run is being stopped)."""

    def __init__(self, stream, budget: OutputBudget):
        self._stream = stream
        self._budget = budget

    def write(self, text: str) -> int:
        data = text.encode("utf-8", "replace")
        allowed = self._budget.take(len(data))
        if allowed == len(data):
            self._stream.write(text)
        elif allowed:       # (whole lines: the limit's message then starts a line)
            self._stream.write(data[:data.rfind(b"\n", 0, allowed) + 1].decode("utf-8"))
        return len(text)

    def __getattr__(self, name):
        return getattr(self._stream, name)


def budgeted_text(stream, budget: Optional[OutputBudget]):
    """``stream`` drawing on ``budget`` (itself when there is no limit)."""
    if budget is None or budget.limit is None:
        return stream
    return BudgetText(stream, budget)


def limited_streams(budget: OutputBudget, stdout, stderr) -> tuple:
    """(stdout, stderr) drawing on the budget; the streams themselves when unlimited."""
    if budget.limit is None:
        return stdout, stderr
    return BudgetWriter(stdout, budget), BudgetWriter(stderr, budget)


def no_screen(program: str) -> str:
    """The refusal of --screen-html for a program whose machine keeps no screen (exit
    status 2): only B32 programs and --bios/--disk PCs have one."""
    return (f"pyvm: {program}: --screen-html needs a B32 program or --bios/--disk "
            "(this machine has no screen to write)")
