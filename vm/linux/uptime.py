"""The sandbox's time since boot ("boot": when pyvm started). /proc/uptime, sysinfo,
times() and the monotonic clocks (CLOCK_MONOTONIC, _RAW, _COARSE, CLOCK_BOOTTIME) all
read it, so they agree with each other as on Linux (which does not suspend here) and
none of them tells the host's uptime. It runs on the host's monotonic clock: a change
of the wall clock moves none of them."""

from __future__ import annotations

import time

BOOT = time.time()                      # the wall-clock time of the "boot": /proc/stat's btime
_BOOT_NS = time.monotonic_ns()


def monotonic_ns() -> int:
    """ns since the sandbox's boot: what the guest's monotonic clocks read."""
    return time.monotonic_ns() - _BOOT_NS


def uptime() -> float:
    """Seconds since the sandbox's boot."""
    return monotonic_ns() / 1e9

