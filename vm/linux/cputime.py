"""A task's CPU time: the host CPU time pyvm spent running it (its turns, charged by the
scheduler through :func:`charge`), kept per thread, per process (with what its ended
threads used) and for the children it reaped. getrusage, wait4 (vm/linux/rusage.py),
times() and the CPU-time clocks (vm/linux/syscalls.py) all read it, so none of them
shows the host process's time (every guest process together, and pyvm's own start)."""

from __future__ import annotations

import time


def leader(proc):
    """The thread-group leader, which keeps the process's totals."""
    return proc.group.leader if proc.group is not None else proc


def charge(proc, seconds: float) -> None:
    """The scheduler ran ``proc`` for ``seconds`` of host CPU time: the thread's and
    its process's (which keeps what its ended threads used)."""
    proc.cpu_time = getattr(proc, "cpu_time", 0.0) + seconds
    lead = leader(proc)
    lead.group_time = getattr(lead, "group_time", 0.0) + seconds
    asp = proc.aspace
    if asp is not None and asp.mapped > getattr(lead, "max_mapped", 0):
        lead.max_mapped = asp.mapped


def up_to_now(proc) -> None:
    """Charge the turn in progress so far: a task asking sees its time run on."""
    kernel = proc.kernel
    began = getattr(kernel, "turn_cpu", None)
    if began is not None and kernel.current is proc:
        now = time.process_time()
        charge(proc, now - began)
        kernel.turn_cpu = now


def thread_seconds(task) -> float:
    return getattr(task, "cpu_time", 0.0)


def process_seconds(task) -> float:
    return getattr(leader(task), "group_time", 0.0)


def children_seconds(task) -> float:
    """What the children the process reaped used (with their own reaped children)."""
    return getattr(leader(task), "child_time", 0.0)
