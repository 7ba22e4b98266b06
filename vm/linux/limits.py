"""--max-output and --timeout for Linux programs, outside the kernel proper: the host's
standard output streams wrapped so that writes draw on the run's OutputBudget, and the
check the scheduler makes between turns (Kernel.stop_check); and RLIMIT_NPROC as a guest
sets it (nproc_refused)."""

from __future__ import annotations

import errno
from typing import Callable, Optional

from vm.linux.files import FdTable, GuestFileError, HostStream
from vm.options import EXIT_OUTPUT_LIMIT, EXIT_TIMEOUT, Deadline, OutputBudget
from vm.startup import closed_std_fds


class LimitedHostStream(HostStream):
    """fd 1 or 2 of the host: writes beyond the budget are refused (EFBIG, as with
    RLIMIT_FSIZE), and the first refusal stops the run."""

    def __init__(self, fd: int, budget: OutputBudget, std: Optional[int] = None):
        super().__init__(fd, std)
        self.budget = budget

    def write(self, data: bytes) -> int:
        allowed = self.budget.take(len(data))
        if not allowed:
            if not data:
                return 0
            raise GuestFileError(errno.EFBIG)
        written = super().write(bytes(data[:allowed]))
        self.budget.used -= allowed - written        # a short write: give back the rest
        return written


RLIMIT_NPROC = 6


def nproc_refused(proc) -> bool:
    """Whether fork/clone is EAGAIN under the RLIMIT_NPROC the guest set (kernel/fork.c
    copy_process): the run's tasks, threads and unreaped zombies included, are the
    user's, and a guest never has CAP_SYS_RESOURCE (so root's exemption is not its)."""
    got = proc.rlimits.get(RLIMIT_NPROC)
    return got is not None and tasks(proc.kernel) >= got[0]


def tasks(kernel) -> int:
    """The run's tasks as Linux counts them for RLIMIT_NPROC: every process (a zombie
    until it is reaped, a thread group's leader while any of its threads lives) and
    every other thread of a group that has not exited."""
    n = len(kernel.procs)
    for p in kernel.procs.values():
        g = p.group
        if g is not None and g.leader is p:
            n += sum(1 for t in g.tasks if t is not p)
    return n


def std_streams(budget: OutputBudget, host_fds: Optional[tuple] = None) -> FdTable:
    """fds 0-2 on the host's streams (or ``host_fds``), stdout and stderr drawing on the
    budget."""
    if budget.limit is None:
        table = FdTable.with_std_streams(host_fds)
    else:
        fds = host_fds or (0, 1, 2)
        table = FdTable()
        table.install(HostStream(fds[0], 0), 0)
        for fd in (1, 2):
            table.install(LimitedHostStream(fds[fd], budget, fd), fd)
    if host_fds is None:            # closed when pyvm started: closed for the guest too
        for fd in closed_std_fds():     # (pyvm's are on /dev/null: vm/startup.py)
            table.close(fd)
    return table


def stop_check(kernel, deadline: Deadline, budget: OutputBudget) -> \
        Optional[Callable[[], Optional[int]]]:
    """The scheduler's check between turns: None while the run may go on, else its exit
    status after one line on stderr. None when neither limit is set."""
    if deadline.seconds is None and budget.limit is None:
        return None

    def stop_machine() -> None:
        m = kernel.current_machine()
        if m is not None:
            m.request_stop()

    deadline.stoppers.append(stop_machine)
    budget.stoppers.append(stop_machine)

    def check() -> Optional[int]:
        if budget.exceeded:
            kernel.message(f"{kernel.name}: {budget.message()}")
            return EXIT_OUTPUT_LIMIT
        if deadline.seconds is not None and deadline.expired:
            kernel.message(f"{kernel.name}: {deadline.message()}")
            return EXIT_TIMEOUT
        return None
    return check
