"""alarm and the real-time interval timer: SIGALRM when the deadline passes (the
scheduler checks the deadlines between turns and sleeps until the next one)."""

from __future__ import annotations

import errno
import struct
import time

from vm.linux.syscalls import syscall

ITIMERVAL = struct.Struct("<4l")     # it_interval (sec, usec), it_value (sec, usec)
ITIMER_REAL = 0


def remaining(proc) -> float:
    return max(0.0, proc.alarm_at - time.monotonic()) if proc.alarm_at is not None else 0.0


def _itimerval(proc) -> bytes:
    left = remaining(proc)
    iv = proc.alarm_interval
    return ITIMERVAL.pack(int(iv), int(iv * 1e6) % 10**6, int(left), int(left * 1e6) % 10**6)


def _armed(proc) -> None:
    """A timer was set: end this turn, which may have been planned long (a lone process
    runs millions of instructions per turn), so the scheduler plans short, timed turns
    and the signal arrives on time."""
    if proc.alarm_at is not None and proc.machine is not None:
        proc.machine.request_stop()


@syscall(27)
def sys_alarm(proc, seconds, *_):
    left = remaining(proc)
    proc.alarm_at = time.monotonic() + seconds if seconds else None
    proc.alarm_interval = 0.0
    _armed(proc)
    return int(left + 0.5) if left else 0


@syscall(104)
def sys_setitimer(proc, which, new, old, *_):
    if which != ITIMER_REAL:
        return -errno.EINVAL
    if old:
        proc.mem.write(old, _itimerval(proc))
    if new:
        isec, iusec, vsec, vusec = ITIMERVAL.unpack(proc.mem.read(new, 16))
        if min(isec, iusec, vsec, vusec) < 0 or iusec >= 10**6 or vusec >= 10**6:
            return -errno.EINVAL
        value = vsec + vusec / 1e6
        proc.alarm_at = time.monotonic() + value if value else None
        proc.alarm_interval = isec + iusec / 1e6
        _armed(proc)
    return 0


@syscall(105)
def sys_getitimer(proc, which, cur, *_):
    if which != ITIMER_REAL:
        return -errno.EINVAL
    proc.mem.write(cur, _itimerval(proc))
    return 0


def fire(kernel, now: float) -> None:
    """Send SIGALRM to each process whose timer expired; re-arm interval timers."""
    for proc in list(kernel.order):
        if proc.alarm_at is not None and proc.alarm_at <= now:
            proc.alarm_at = now + proc.alarm_interval if proc.alarm_interval else None
            kernel.send_signal(proc, 14)
