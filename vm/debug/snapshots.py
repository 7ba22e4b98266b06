"""Reverse execution: periodic snapshots plus deterministic re-execution.

The x86 history (:class:`History`) keeps

- snapshots every ``interval`` instructions: the CPU state and an *undo log* of the
  memory pages written since (each page's bytes as they were at the snapshot, saved by
  the first write to it: pages take the slow write path while the ``WF_SAVE`` bit of
  ``Memory.wf`` is set, and the bit is cleared once the page is saved), so a snapshot
  costs only the pages the program actually changes;
- a log of everything that came from outside the CPU: each personality hook call
  (``int n``: system calls, BIOS and DOS services; port I/O; HLT) and each "glue" step
  a runner does between two ``Machine.run`` calls (signal frames, timer ticks) is
  stored as its effect: the memory operations it made, the CPU state after it, its
  return value or exception.

Going back to step T restores the latest snapshot at or before T and runs forward to
T; while the log has unconsumed entries, hooks are not called but replayed from it, so
input, time and random bytes come out exactly as they did, and no output is written
twice. The personality itself is left as it was at the far end of the log (the
"frontier"); once the log is consumed, execution is live again and consistent with it.
"""

from __future__ import annotations

import bisect
import copy
import sys
from typing import Any, Callable, Dict, List, Optional

PAGE_SHIFT = 12
PAGE = 1 << PAGE_SHIFT
WF_SAVE = 0x80          # page not yet saved in the current snapshot interval
WF_DBGWATCH = 0x40      # page holds a data watchpoint (vm/debug/core.py)
WF_READONLY = 2
_SET_SAVE = bytes(b | WF_SAVE for b in range(256))
_CLEAR_SAVE = bytes(b & ~WF_SAVE for b in range(256))
_RO_ONLY = bytes(b & WF_READONLY for b in range(256))
_CLEAR_RO = bytes(b & ~WF_READONLY for b in range(256))
_ZERO_PAGE = bytes(PAGE)
# What the history may hold (undo pages, page-protection maps, the event log's bytes):
# past it the oldest snapshots go, as past ``limit``. Without it the program chose the
# debugger's memory: one that writes a new page every few instructions filled 400
# snapshots of ~270 MB each (12 GB in 35 s); one reading 1 MiB of /dev/zero in a loop
# logged every MiB, 33 GB in one interval of 200,000 instructions. An interval that
# holds a quarter of it ends early (``crowded``: the core takes a snapshot), so older
# ones can go.
MAX_BYTES = 256 << 20
_ENTRY = 64             # (a dict entry, roughly)
_FPU_FIELDS = ("regs", "empty", "cw", "sw", "top", "fip", "fdp", "fop", "fcs", "fds",
               "mxcsr", "xmm")


class Divergence(Exception):
    """Replay did not follow the recorded history (a bug, or the past was edited)."""


def cpu_capture(m) -> tuple:
    """Everything of a Machine's CPU a snapshot needs (not memory)."""
    cpu = m.cpu
    fpu = m._fpu
    fstate = None
    if fpu is not None:
        fstate = {k: copy.copy(getattr(fpu, k)) for k in _FPU_FIELDS if hasattr(fpu, k)}
    return (tuple(cpu.r), cpu.eip, cpu.flags, cpu.lz, cpu.idt_base, cpu.tsc_base,
            dict(m.control), dict(m.descriptors), fstate)


def cpu_restore(m, st: tuple) -> None:
    cpu = m.cpu
    r, cpu.eip, cpu.flags, cpu.lz, cpu.idt_base, cpu.tsc_base, control, desc, fstate = st
    cpu.r[:] = r
    m.control.clear()
    m.control.update(control)
    m.descriptors.clear()
    m.descriptors.update(desc)
    if fstate is not None:
        fpu = m.fpu()
        for k, v in fstate.items():
            setattr(fpu, k, copy.copy(v))


def _regs_key(m) -> tuple:
    cpu = m.cpu
    return (tuple(cpu.r), cpu.eip, cpu.flags, cpu.lz)


def _flags_delta(prev: Optional[tuple], new: tuple,
                 span: Optional[tuple] = None) -> tuple:
    """An event's page protections as (lo, ro, ur): the span of pages where ``new``
    differs from ``prev`` (the maps before it), with the new bytes there. A whole-map
    copy per event was 2 MiB of a 4 GiB address space: a loop of mmap/munmap held
    gigabytes in its events. Whole maps (lo 0) when there is nothing to compare with.
    ``span``: the pages the changes were made to (a hint, checked: nothing differs
    outside it)."""
    if prev is None or len(prev[0]) != len(new[0]) or len(prev[1]) != len(new[1]):
        return (0, new[0], new[1])
    if span is not None:
        lo, hi = span
        if all(old is cur or (old[:lo] == cur[:lo] and old[hi:] == cur[hi:])
               for old, cur in zip(prev, new)):
            return (lo, new[0][lo:hi], new[1][lo:hi])
    lo, hi = len(new[0]), 0
    for old, cur in zip(prev, new):
        if old is not cur and old != cur:
            lo = min(lo, _first_diff(old, cur))
            hi = max(hi, _last_diff(old, cur) + 1)
    if hi <= lo:
        return (0, b"", b"")
    return (lo, new[0][lo:hi], new[1][lo:hi])


def _first_diff(a: bytes, b: bytes) -> int:
    """Index of the first byte where a and b (same length, not equal) differ: halving
    a window known to hold it, compared by memcmp (as big integers, the XOR of two 1 MiB
    maps cost ~40 M instructions an event)."""
    lo, hi = 0, len(a)
    while hi - lo > 64:
        mid = (lo + hi) >> 1
        if a[lo:mid] == b[lo:mid]:
            lo = mid
        else:
            hi = mid
    while a[lo] == b[lo]:
        lo += 1
    return lo


def _last_diff(a: bytes, b: bytes) -> int:
    """Index of the last byte where a and b (same length, not equal) differ."""
    lo, hi = 0, len(a)
    while hi - lo > 64:
        mid = (lo + hi) >> 1
        if a[mid:hi] == b[mid:hi]:
            hi = mid
        else:
            lo = mid
    hi -= 1
    while a[hi] == b[hi]:
        hi -= 1
    return hi


def _deep_size(obj: object, seen: set) -> int:
    """Bytes of an object and of the containers and values it holds (once each)."""
    if id(obj) in seen:
        return 0
    seen.add(id(obj))
    n = sys.getsizeof(obj, 64)      # (PyPy has no size for most objects: an estimate)
    if isinstance(obj, dict):
        n += sum(_deep_size(k, seen) + _deep_size(v, seen) for k, v in obj.items())
    elif isinstance(obj, (list, tuple, set)):
        n += sum(_deep_size(x, seen) for x in obj)
    return n


class Snapshot:
    __slots__ = ("steps", "cpu", "undo", "flags", "event", "size", "base")

    def __init__(self, steps: int, cpu: tuple, flags: Optional[tuple], event: int):
        self.steps, self.cpu, self.flags, self.event = steps, cpu, flags, event
        self.undo: Dict[int, bytes] = {}
        self.size = 200             # bytes held: its CPU state, undo pages, own flag maps
        self.base = 200             # ... of them without the undo pages


class Event:
    """One effect from outside the CPU. ``kind``: 'hook' (a personality call, replayed
    in order) or 'glue' (applied when the machine stands at ``steps``)."""
    __slots__ = ("kind", "steps", "ops", "after", "result", "exc", "stop", "flags",
                 "where", "output", "size")

    def __init__(self, kind: str, steps: int, where: tuple):
        self.kind, self.steps, self.where = kind, steps, where
        self.ops: list = []
        self.after: Optional[tuple] = None
        self.result: Any = None
        self.exc: Optional[BaseException] = None
        self.stop = False
        self.flags: Optional[tuple] = None
        self.output = b""
        self.size = 0


class History:
    """Snapshots and the external-event log of one x86 Machine (see the module doc).

    ``interval``: instructions between snapshots; ``limit``: snapshots kept (the oldest
    are dropped, bounding memory)."""

    def __init__(self, machine, interval: int = 200_000, limit: int = 400,
                 max_bytes: int = MAX_BYTES):
        self.m = machine
        self.interval = max(1, interval)
        self.limit = max(2, limit)
        self.max_bytes = max_bytes
        self.bytes = 0                  # held by the snapshots and events kept (sizes)
        self.current = 0                # ... of them since the latest snapshot
        self.snaps: List[Snapshot] = []
        self.events: List[Event] = []
        self.cursor = 0                 # next event to replay; == len(events): live
        self.recording: Optional[Event] = None
        self.glue: Optional[Event] = None
        self.truncated = False          # the oldest snapshots were dropped
        self._flags_prev: Optional[tuple] = None
        self.flags_dirty = True         # set_unreadable ran (page protections changed)
        self.output_log: List[bytes] = []   # write(2) bytes met while replaying
        self._capture_sizes: Dict[tuple, int] = {}
        self._flags_span: Optional[tuple] = None    # pages changed since _flags_prev

    def note_flags(self, start: int, end: int) -> None:
        """Page protections of [start, end) (bytes) changed."""
        self.flags_dirty = True
        p0, p1 = start >> PAGE_SHIFT, (end + PAGE - 1) >> PAGE_SHIFT
        span = self._flags_span
        self._flags_span = (p0, p1) if span is None else (min(span[0], p0), max(span[1], p1))

    # -- state ------------------------------------------------------------------------------
    @property
    def replaying(self) -> bool:
        return self.cursor < len(self.events)

    @property
    def oldest(self) -> int:
        return self.snaps[0].steps if self.snaps else self.m.steps

    def capture_size(self, st: tuple) -> int:
        """Bytes a :func:`cpu_capture` holds (~2.6 KB with the FPU state: each event
        and snapshot keeps one; counted as 200 a syscall loop's events held 13 times
        what the byte bound saw). Measured once per shape."""
        key = (st[-1] is None, len(st[6]), len(st[7]))
        size = self._capture_sizes.get(key)
        if size is None:
            size = self._capture_sizes[key] = _deep_size(st, set())
        return size

    def memory_bytes(self) -> int:
        """Bytes held by the undo pages, the page-protection maps and the event log (an
        estimate of the history's memory; each object counted once)."""
        seen: set = set()
        total = 0
        for s in self.snaps:
            for page in s.undo.values():
                if id(page) not in seen:
                    seen.add(id(page))
                    total += len(page) + 33
            total += 200 + self.capture_size(s.cpu)
            if s.flags is not None:
                for part in s.flags:
                    if id(part) not in seen:
                        seen.add(id(part))
                        total += len(part)
        for e in self.events:
            total += self._event_size(e)
        return total

    def _event_size(self, ev: Event) -> int:
        """Bytes an event holds: its CPU state after, its memory operations, its output
        and its page-protection change."""
        size = 200 + len(ev.output) + sum(
            len(op[2]) if isinstance(op[2], (bytes, bytearray)) else 16 for op in ev.ops)
        if ev.after is not None:
            size += self.capture_size(ev.after)
        if ev.flags is not None:
            size += len(ev.flags[1]) + len(ev.flags[2])
        return size

    def _flags_state(self) -> Optional[tuple]:
        """Page protections (Linux): the read-only bits and the unreadable map, shared
        with the previous snapshot while unchanged."""
        mem = self.m.mem
        if not mem.guarded:
            return None
        if not self.flags_dirty and self._flags_prev is not None:
            return self._flags_prev
        self.flags_dirty = False
        self._flags_span = None
        ro = bytes(mem.wf.translate(_RO_ONLY))
        ur = bytes(mem.unreadable)
        prev = self._flags_prev
        if prev is not None:
            ro = prev[0] if prev[0] == ro else ro
            ur = prev[1] if prev[1] == ur else ur
        self._flags_prev = (ro, ur)
        return self._flags_prev

    def _set_flags(self, flags: Optional[tuple]) -> None:
        """Restore a snapshot's page protections: the whole (ro, unreadable) maps."""
        if flags is not None:
            self._patch_flags(0, *flags)

    def _patch_flags(self, lo: int, ro: bytes, ur: bytes) -> None:
        """Set pages [lo, lo + len(ro)) to these read-only bits and unreadable map (an
        event's :func:`_flags_delta`, or lo 0 and whole maps)."""
        mem = self.m.mem
        hi = lo + len(ro)
        wf = mem.wf
        cleared = wf[lo:hi].translate(_CLEAR_RO)
        wf[lo:hi] = (int.from_bytes(cleared, "little") | int.from_bytes(ro, "little")) \
            .to_bytes(hi - lo, "little")
        full = mem.unreadable
        full[lo:hi] = ur
        # rf[p] = ur[p] | ur[p + 1]: the span and the page before it
        a = max(lo - 1, 0)
        cur = bytes(full[a:hi])
        nxt = bytes(full[a + 1:hi + 1]).ljust(len(cur), b"\0")
        mem.rf[a:hi] = (int.from_bytes(cur, "little") | int.from_bytes(nxt, "little")) \
            .to_bytes(len(cur), "little")
        mem.guarded = True

    # -- snapshots --------------------------------------------------------------------------
    def start(self) -> None:
        """First snapshot: from now on every page is saved before its first write."""
        wf = self.m.mem.wf
        wf[:] = wf.translate(_SET_SAVE)
        self.snaps = [self._new_snapshot()]
        self.bytes = self.snaps[0].size + sum(e.size for e in self.events)
        self.current = self.snaps[0].size

    def stop(self) -> None:
        wf = self.m.mem.wf
        wf[:] = wf.translate(_CLEAR_SAVE)
        self.snaps = []
        self.events = []
        self.cursor = 0
        self.bytes = self.current = 0

    @property
    def crowded(self) -> bool:
        """The current interval holds enough to end it now (a snapshot), so that the
        budget can drop what came before."""
        return self.current > self.max_bytes >> 2

    def _new_snapshot(self) -> Snapshot:
        prev = self.snaps[-1].flags if self.snaps else None
        snap = Snapshot(self.m.steps, cpu_capture(self.m), self._flags_state(), self.cursor)
        snap.size += self.capture_size(snap.cpu)
        if snap.flags is not None:
            snap.size += sum(len(part) for k, part in enumerate(snap.flags)
                             if prev is None or part is not prev[k])
        snap.base = snap.size
        return snap

    def _trim(self) -> None:
        """Drop the oldest snapshots past ``limit`` or ``max_bytes`` (never the current
        one), and the events only they could replay."""
        snaps = self.snaps
        while len(snaps) > 1 and (len(snaps) > self.limit or self.bytes > self.max_bytes):
            self.bytes -= snaps.pop(0).size
            self.truncated = True
        cut = snaps[0].event if snaps else 0
        if cut > 0:
            self.bytes -= sum(e.size for e in self.events[:cut])
            del self.events[:cut]
            self.cursor -= cut
            for s in snaps:
                s.event -= cut

    def snapshot(self) -> bool:
        """A new interval starts here (called at instruction boundaries); False when
        the latest one is already here."""
        last = self.snaps[-1]
        if last.steps == self.m.steps:
            return False
        wf = self.m.mem.wf
        for p in last.undo:
            if p < len(wf):
                wf[p] |= WF_SAVE
        snap = self._new_snapshot()
        self.snaps.append(snap)
        self.bytes += snap.size
        self.current = snap.size
        if len(self.snaps) > self.limit or self.bytes > self.max_bytes:
            self._trim()
        return True

    def save_pages(self, addr: int, n: int) -> None:
        """Called before a write of [addr, addr + n): keep the first copy of each page."""
        if not self.snaps or n <= 0:
            return
        mem = self.m.mem
        wf, data = mem.wf, mem.data
        snap = self.snaps[-1]
        undo = snap.undo
        added = 0
        p1 = min((addr + n - 1) >> PAGE_SHIFT, len(wf) - 1)
        for p in range(max(addr, 0) >> PAGE_SHIFT, p1 + 1):
            if wf[p] & WF_SAVE:
                page = bytes(data[p << PAGE_SHIFT:(p + 1) << PAGE_SHIFT])
                if page == _ZERO_PAGE:
                    undo[p] = _ZERO_PAGE
                    added += _ENTRY
                else:
                    undo[p] = page
                    added += PAGE + _ENTRY
                wf[p] &= ~WF_SAVE
        if added:
            snap.size += added
            self.bytes += added
            self.current += added
            if self.bytes > self.max_bytes:
                self._trim()

    def snapshot_before(self, steps: int) -> int:
        """Index of the latest snapshot at or before ``steps``."""
        keys = [s.steps for s in self.snaps]
        return max(bisect.bisect_right(keys, steps) - 1, 0)

    def restore(self, k: int, load: Callable[[int, bytes], None]) -> None:
        """Put the machine back to snapshot k and forget the later ones (replay makes
        them again); ``load`` writes memory without the debugger's hooks."""
        pages: Dict[int, bytes] = {}
        for s in reversed(self.snaps[k:]):
            pages.update(s.undo)
        for p, content in pages.items():
            load(p << PAGE_SHIFT, content)
        snap = self.snaps[k]
        self.bytes -= sum(s.size for s in self.snaps[k:]) - snap.base
        del self.snaps[k + 1:]
        snap.size = self.current = snap.base
        wf = self.m.mem.wf
        for p in pages:
            if p < len(wf):
                wf[p] |= WF_SAVE
        snap.undo = {}
        m = self.m
        cpu_restore(m, snap.cpu)
        self._set_flags(snap.flags)
        m.cpu.steps[0] = snap.steps
        self.cursor = snap.event
        self._flags_prev = snap.flags
        self._flags_span = None

    # -- the external-event log ----------------------------------------------------------------
    def begin(self, kind: str, where: tuple) -> Event:
        ev = Event(kind, self.m.steps, where)
        self.recording = ev
        return ev

    def end(self, ev: Event, keep: bool = True) -> None:
        self.recording = None
        ev.after = cpu_capture(self.m)
        if self.m.mem.guarded and self.flags_dirty:
            prev, span = self._flags_prev, self._flags_span
            ev.flags = _flags_delta(prev, self._flags_state(), span)
        if keep:
            ev.size = self._event_size(ev)
            self.events.append(ev)
            self.cursor = len(self.events)
            self.bytes += ev.size
            self.current += ev.size
            if self.bytes > self.max_bytes:
                self._trim()

    def log(self, op: str, addr: int, payload) -> None:
        ev = self.recording
        if ev is not None:
            ev.ops.append((op, addr, payload))

    def next_event(self, kind: str) -> Event:
        if self.cursor >= len(self.events):
            raise Divergence("replay ran past the recorded history")
        ev = self.events[self.cursor]
        if ev.kind != kind:
            raise Divergence(f"replay expected a {ev.kind} event, met a {kind} one")
        self.cursor += 1
        return ev

    def apply(self, ev: Event, ops: Dict[str, Callable]) -> None:
        """Replay an event's effects on memory and the CPU."""
        for op, addr, payload in ev.ops:
            ops[op](addr, payload)
        if ev.after is not None:
            cpu_restore(self.m, ev.after)
        if ev.flags is not None:
            self._patch_flags(*ev.flags)
            # (the maps held as the latest are now behind: made again from memory)
            self._flags_prev = self._flags_span = None
            self.flags_dirty = True
        if ev.output:
            self.output_log.append(ev.output)

    def next_glue_steps(self) -> Optional[int]:
        """Steps of the next glue event to replay, if the next events hold one before the
        next hook event... (glue events are applied by step count)."""
        for ev in self.events[self.cursor:]:
            if ev.kind == "glue":
                return ev.steps
            return None
        return None

    @staticmethod
    def same_regs(m, key: tuple) -> bool:
        return _regs_key(m) == key

    @staticmethod
    def regs_key(m) -> tuple:
        return _regs_key(m)
