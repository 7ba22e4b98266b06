"""RLIMIT_CPU, as a guest sets it (setrlimit/prlimit64, a shell's ``ulimit -t``): past
the soft limit the process gets SIGXCPU (its default action ends it, status 152), and
again each second after, the soft limit moving up one second each time while it is
below the hard one; at the hard limit, SIGKILL (kernel/time/posix-cpu-timers.c
check_process_timers). Without it a guest that set itself one CPU second still ran
until ``--timeout``, or for ever.

The time is the process's CPU time as the guest sees it (vm/linux/cputime.py: the host
CPU time pyvm spent running its threads), checked when a turn ends; a process with a
CPU limit gets short turns (the scheduler's SLICE) so that the check comes in time."""

from __future__ import annotations

from typing import Optional

from vm.linux.cputime import leader, process_seconds

RLIMIT_CPU = 0
SIGKILL, SIGXCPU = 9, 24
RLIM_INFINITY = (1 << 64) - 1


def limited(proc) -> bool:
    """Whether the guest gave ``proc`` a CPU limit (one not infinite)."""
    lim: Optional[tuple] = proc.rlimits.get(RLIMIT_CPU) if proc.rlimits else None
    return lim is not None and lim[0] != RLIM_INFINITY


def check(kernel, proc) -> None:
    """After a turn of ``proc``: the signal its RLIMIT_CPU calls for, if any."""
    if not limited(proc):
        return
    soft, hard = proc.rlimits[RLIMIT_CPU]
    used = process_seconds(proc)
    lead = leader(proc)
    if hard != RLIM_INFINITY and used >= hard:
        kernel.send_signal(lead, SIGKILL)
    elif used >= soft:
        kernel.send_signal(lead, SIGXCPU)
        if soft < hard:
            proc.rlimits[RLIMIT_CPU] = (soft + 1, hard)


__all__ = ["check", "limited"]
