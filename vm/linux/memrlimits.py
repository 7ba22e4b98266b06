"""The memory limits a guest sets itself (setrlimit/prlimit64 of RLIMIT_AS and RLIMIT_DATA),
honoured as Linux honours them: a mapping, a brk or an mremap growth that would take the
process past one fails with ENOMEM (mm/mmap.c may_expand_vm and check_data_rlimit).

pyvm's own cap (``--memory``, the run's budget: vm/linux/addrspace.py) stays whatever
the guest does; these only ever lower it. Without them a shell script's ``ulimit -v`` or
``ulimit -d`` in front of a program it does not trust bounded nothing: the program could
still map and touch up to ``--memory``. Only limits the guest has set are looked at (the
process's ``rlimits`` dict), so a program that sets none pays nothing.

RLIMIT_AS caps every mapped byte (``AddressSpace.mapped``), the main stack counted as
Linux's stack mapping is: pyvm maps all of it (8 MiB) at the start, Linux 128 KiB
below the arguments and then what the program touches (here: the lowest stack pointer
seen at a check). RLIMIT_DATA caps the private
writable mappings that are no stack (``data_vm``): the brk heap, writable segments,
anonymous and private file mappings with PROT_WRITE; the stack and MAP_GROWSDOWN
mappings and MAP_SHARED file mappings are left out, as Linux leaves them. brk is
checked as the kernel's check_data_rlimit does: the heap's size plus the data segment's
(end_data - start_data) against the soft limit, then as a data mapping.

As may_expand_vm: a mapping is charged the pages it adds (a MAP_FIXED over mapped pages
only the others); a soft RLIMIT_DATA of 0 means the hard one (valgrind sets it so); an
infinite limit is none. The counts scan the address space only when the mapped total
could pass the limit (data_vm and total_vm never exceed it): a limit far above what the
process maps costs a comparison.
"""

from __future__ import annotations

import errno
from typing import Optional

from vm.x86.state import ESP as _ESP

RLIMIT_DATA = 2
RLIMIT_AS = 9
RLIM_INFINITY = (1 << 64) - 1
PAGE_SHIFT = 12
_STACK_EXPAND = 128 << 10       # Linux's first stack mapping below the arguments
_PROT_WRITE = 2
_MAP_SHARED = 0x01
_MAP_GROWSDOWN = 0x100
# prot bytes (vm/linux/addrspace.py: (prot & 7) | P_MAPPED) of a writable mapped page
_WRITABLE = bytes(1 if b & 8 and b & _PROT_WRITE else 0 for b in range(256))
_MAPPED = bytes(1 if b & 8 else 0 for b in range(256))


def _soft(proc, resource: int) -> Optional[int]:
    """The soft limit the guest set for ``resource``, or None (none set, or infinite)."""
    got = proc.rlimits.get(resource)
    return None if got is None or got[0] == RLIM_INFINITY else got[0]


def _data_cap(proc) -> Optional[int]:
    """may_expand_vm's RLIMIT_DATA: the soft limit, the hard one when the soft is 0
    (Linux's workaround for valgrind), None when there is none."""
    got = proc.rlimits.get(RLIMIT_DATA)
    if got is None:
        return None
    cap = got[1] if got[0] == 0 else got[0]
    return None if cap == RLIM_INFINITY else cap


def _stack_low(proc, asp) -> int:
    """The lowest stack pointer seen at a check (noted at every one, counted or not)."""
    lay = asp.layout
    low = getattr(asp, "rlimit_stack_low", lay.stack_top)
    m = proc.machine
    esp = m.cpu.r[_ESP] if m is not None else low
    if lay.stack_lo <= esp < low:
        low = asp.rlimit_stack_low = esp
    return low


def _as_over(proc, asp, added: int, cap: Optional[int]) -> bool:
    """Whether ``added`` more bytes take the process's total_vm past ``cap``."""
    if cap is None:
        return False
    low = _stack_low(proc, asp)
    return asp.mapped + added > cap and _vm_size(asp, low) + added > cap


def _data_over(asp, added: int, cap: Optional[int]) -> bool:
    """Whether ``added`` more bytes take the process's data_vm past ``cap``."""
    return cap is not None and asp.mapped + added > cap and \
        (_data_pages(asp) << PAGE_SHIFT) + added > cap


def _vm_size(asp, low: int) -> int:
    """Linux's total_vm of the process, in bytes: the mapped bytes less the part of
    the main stack below its lowest stack pointer seen (``low``, and 128 KiB) it has
    not grown into yet."""
    lay = asp.layout
    p0 = lay.stack_lo >> PAGE_SHIFT
    p1 = max(p0, (low - _STACK_EXPAND) >> PAGE_SHIFT)
    unused = (p1 - p0) - asp.prot.count(0, p0, p1)
    return asp.mapped - (unused << PAGE_SHIFT)


def vm_size(proc) -> int:
    """The process's total_vm in bytes, as Linux counts it (/proc/PID/status VmSize,
    /proc/PID/stat vsize): its main stack only as far as it has grown."""
    asp = proc.aspace
    return 0 if asp is None else _vm_size(asp, _stack_low(proc, asp))


def _pages_absent(asp, start: int, end: int) -> int:
    """Pages of [start, end) not mapped now (what a MAP_FIXED over them adds)."""
    p0, p1 = start >> PAGE_SHIFT, end >> PAGE_SHIFT
    have = len(asp.prot)
    return asp.prot.count(0, min(p0, have), min(p1, have)) + max(0, p1 - max(p0, have))


def _data_pages(asp, skip: tuple = (0, 0), writable: tuple = (0, 0)) -> int:
    """Linux's data_vm: the private writable pages that are no stack, outside [skip),
    with the mapped pages of [writable) counted as writable (an mprotect's outcome)."""
    flags = asp.prot.translate(_WRITABLE)
    p0, p1 = writable[0] >> PAGE_SHIFT, min(writable[1] >> PAGE_SHIFT, len(flags))
    if p1 > p0:
        flags[p0:p1] = asp.prot[p0:p1].translate(_MAPPED)
    n = flags.count(1)
    lay = asp.layout
    out = [(lay.stack_lo, lay.stack_top), skip]
    out += [(sf.start, sf.end) for sf in asp.shared]
    out += list(asp.growsdown)
    # (ranges may overlap one another: counted once by clearing them in the copy)
    for lo, hi in out:
        p0, p1 = lo >> PAGE_SHIFT, min(hi >> PAGE_SHIFT, len(flags))
        if p1 > p0:
            n -= flags.count(1, p0, p1)
            flags[p0:p1] = bytes(p1 - p0)
    return n


def refuse_protect(proc, start: int, end: int, prot: int) -> int:
    """0, or -ENOMEM when mprotect making [start, end) writable takes the process's
    private writable pages past its RLIMIT_DATA (mm/mprotect.c: a change that adds
    none is allowed whatever the limit, and so is one the RLIMIT_AS check refuses
    before and after alike: only the data limit decides)."""
    rlimits = proc.rlimits
    if not prot & _PROT_WRITE or not rlimits or RLIMIT_DATA not in rlimits:
        return 0
    cap = _data_cap(proc)
    asp = proc.aspace
    if cap is None or asp.mapped <= cap or \
            _as_over(proc, asp, end - start, _soft(proc, RLIMIT_AS)):
        return 0
    after = _data_pages(asp, writable=(start, end)) << PAGE_SHIFT
    if after > cap and after > _data_pages(asp) << PAGE_SHIFT:
        return -errno.ENOMEM
    return 0


def refuse_map(proc, start: int, length: int, prot: int, flags: int) -> int:
    """0, or -ENOMEM when mapping [start, start + length) (page-rounded; MAP_FIXED over
    pages mapped already adds only the others, for both limits, as mmap_region) takes
    the process past its RLIMIT_AS or, for a private writable mapping, its
    RLIMIT_DATA."""
    rlimits = proc.rlimits
    if not rlimits or (RLIMIT_AS not in rlimits and RLIMIT_DATA not in rlimits):
        return 0
    as_cap = _soft(proc, RLIMIT_AS)
    data_cap = _data_cap(proc) if prot & _PROT_WRITE and \
        not flags & (_MAP_SHARED | _MAP_GROWSDOWN) else None
    if as_cap is None and data_cap is None:
        return 0                                # (infinite: no limit)
    asp = proc.aspace
    added = _pages_absent(asp, start, start + length) << PAGE_SHIFT
    if _as_over(proc, asp, added, as_cap) or _data_over(asp, added, data_cap):
        return -errno.ENOMEM
    return 0


def refuse_grow(proc, start: int, end: int, prot: int) -> int:
    """0, or -ENOMEM when mremap growing the mapping that ends at ``start`` by
    ``end - start`` bytes (in place or moved) takes the process past its RLIMIT_AS or,
    for a private writable one, its RLIMIT_DATA."""
    rlimits = proc.rlimits
    if not rlimits or (RLIMIT_AS not in rlimits and RLIMIT_DATA not in rlimits):
        return 0
    as_cap, data_cap = _soft(proc, RLIMIT_AS), _data_cap(proc)
    if as_cap is None and data_cap is None:
        return 0                                # (infinite: no limit)
    asp = proc.aspace
    grow = end - start
    if _as_over(proc, asp, grow, as_cap):
        return -errno.ENOMEM
    last = start - 1
    if prot & _PROT_WRITE and not any(sf.start <= last < sf.end for sf in asp.shared) \
            and asp.growsdown_start(last) is None and _data_over(asp, grow, data_cap):
        return -errno.ENOMEM
    return 0


def refuse_brk(proc, new_brk: int) -> bool:
    """Whether moving the break up to ``new_brk`` passes the process's RLIMIT_DATA
    (check_data_rlimit: the heap's size plus the data segment's, against the soft
    limit; then the pages it adds as a data mapping) or RLIMIT_AS (the pages it adds)."""
    rlimits = proc.rlimits
    if not rlimits or (RLIMIT_AS not in rlimits and RLIMIT_DATA not in rlimits):
        return False
    cap, as_cap, data_cap = _soft(proc, RLIMIT_DATA), _soft(proc, RLIMIT_AS), _data_cap(proc)
    if cap is None and as_cap is None and data_cap is None:
        return False                            # (infinite: no limit)
    asp = proc.aspace
    if new_brk <= asp.brk:
        return False
    lay = asp.layout
    if cap is not None and new_brk - lay.brk_start + getattr(lay, "data_size", 0) > cap:
        return True
    page = (1 << PAGE_SHIFT) - 1
    lo, hi = (asp.brk + page) & ~page, (new_brk + page) & ~page
    added = _pages_absent(asp, lo, hi) << PAGE_SHIFT
    return _as_over(proc, asp, added, as_cap) or _data_over(asp, added, data_cap)


__all__ = ["refuse_brk", "refuse_grow", "refuse_map", "refuse_protect"]
