"""Hostile guests, resource limits: guest memory is shared copy-on-write across fork,
allocations are lazy up to a cap (2 GiB by default, ``--memory``), and ``--max-procs``
turns a fork bomb into EAGAIN for the guest. Oracles: the native run of the same program
(stdout, exit status), the host kernel's own accounting of pyvm's memory (Pss from
/proc/PID/smaps_rollup), and the outputs the programs print for the limits."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from conftest import require_tool
from linux.kit import _env, build, run_native, run_pyvm

from vm.linux.addrspace import DEFAULT_LIMIT, STACK_SIZE, TASK_SIZE, AddressSpace, Layout
from vm.x86.faults import MemoryFault
from vm.x86.memory import Memory

HERE = Path(__file__).parent
GIB = 1 << 30
MIB = 1 << 20


def _clean(result) -> None:
    assert b"Traceback" not in result.stderr and b"internal error" not in result.stderr, \
        result


def _smaps(pid: int) -> dict:
    """Rss and Pss of a process, in bytes."""
    out = {}
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            parts = line.split()
            if parts[0] in ("Rss:", "Pss:"):
                out[parts[0][:-1]] = int(parts[1]) * 1024
    return out


# -- the memory object and the layout on their own ------------------------------------------

def test_fork_shares_memory_copy_on_write():
    parent = Memory(TASK_SIZE)
    runs = [(0x08048000, 0x08148000), (0x40000000, 0x80000000)]
    parent.load(0x08048000, b"text" * 1024)
    parent.data[0x40000000 + 5] = 1
    a = Memory(TASK_SIZE)
    parent.fork_into(a, runs)
    assert a.data[0x08048000:0x08048004] == b"text" and a.data[0x40000005] == 1
    a.data[0x40000005] = 2
    parent.data[0x08048000] = ord("T")
    assert parent.data[0x40000005] == 1 and a.data[0x08048000] == ord("t")
    parent.zero(0x40000000, 0x80000000)              # munmap of a big region
    parent.data[0x50000000] = 9
    b = Memory(TASK_SIZE)
    parent.fork_into(b, runs)                        # the second fork: snapshot + changes
    assert b.data[0x08048000:0x08048004] == b"Text"
    assert b.data[0x40000005] == 0 and b.data[0x50000000] == 9
    assert a.data[0x40000005] == 2 and a.data[0x50000000] == 0
    c = Memory(TASK_SIZE)
    b.fork_into(c, runs)                             # a grandchild
    assert c.data[0x50000000] == 9 and c.data[0x08048000] == ord("T")


def test_layout_is_the_kernels_with_a_lazy_2g_cap():
    lay = Layout(0x08048000, 0x08100000)
    assert lay.size == lay.stack_top == TASK_SIZE == 0xC0000000
    assert lay.stack_top - lay.stack_lo == STACK_SIZE
    assert lay.brk_start == 0x08100000 and lay.mmap_hi < lay.stack_lo
    pie = Layout(4 * MIB, 6 * MIB)
    assert pie.brk_start == 6 * MIB < pie.mmap_hi < pie.stack_lo
    mem = Memory(lay.size)
    asp = AddressSpace(mem, lay)
    assert asp.limit == DEFAULT_LIMIT == 2 * GIB
    big = asp.find_free(GIB)
    assert big is not None and asp.fits(big, big + GIB)
    asp.map(big, big + GIB, 3)
    mem.write(big + GIB - 1, b"x")
    assert asp.mapped == GIB and not asp.fits(0x10000000, 0x10000000 + GIB + MIB)
    asp.unmap(big, big + GIB)
    assert asp.mapped == 0 and mem.data[big + GIB - 1] == 0
    with pytest.raises(MemoryFault):
        mem.write(big, b"x")


def test_brk_stops_at_the_memory_cap():
    lay = Layout(0x08048000, 0x08100000)
    asp = AddressSpace(Memory(lay.size), lay, limit=16 * MIB)
    assert asp.set_brk(lay.brk_start + 8 * MIB) == lay.brk_start + 8 * MIB
    assert asp.set_brk(lay.brk_start + 32 * MIB) == lay.brk_start + 8 * MIB


# -- whole programs -------------------------------------------------------------------------

def test_100_forked_children_share_a_10mb_heap():
    exe = build("mem_fork_many", where=HERE)
    native = run_native(exe, ["100"], stdin=b"x\n")
    assert native.status == 0 and b"good copies: 100" in native.stdout, native
    cmd = [sys.executable, "-m", "vm.cli", "--max-procs", "200", str(exe), "100"]
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=_env(None))
    try:
        first = proc.stdout.readline()              # all 100 children are alive now
        usage = _smaps(proc.pid)
        rest, err = proc.communicate(b"x\n", timeout=600)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    print(f"pyvm with 100 children: Pss {usage['Pss'] / MIB:.0f} MiB, "
          f"Rss {usage['Rss'] / MIB:.0f} MiB")
    assert b"Traceback" not in err and b"internal error" not in err, err
    assert first + rest == native.stdout and proc.returncode == 0
    assert usage["Pss"] < GIB


def test_fork_until_failure_gets_eagain():
    exe = build("mem_fork_bomb", where=HERE)
    r = run_pyvm(exe, options=["--max-procs", "20"])
    _clean(r)
    assert r.stdout == b"fork failed after 19 children: EAGAIN\nreaped 19\n" and r.status == 3, r


def test_fork_bomb_ends_with_the_guests_status():
    exe = build("mem_fork_bomb", where=HERE)
    r = run_pyvm(exe, ["bomb"], options=["--max-procs", "20"])
    _clean(r)
    assert r.stdout == b"bomb done\n" and r.status == 42, r


def test_malloc_1g_succeeds_by_default():
    exe = build("mem_big_malloc", where=HERE)
    native = run_native(exe)
    r = run_pyvm(exe)
    _clean(r)
    assert native.stdout == b"malloc(1024 MiB) OK: 6\n" and native.status == 0
    assert (r.stdout, r.status) == (native.stdout, native.status), r


def test_memory_cap_makes_malloc_return_null():
    exe = build("mem_big_malloc", where=HERE)
    r = run_pyvm(exe, options=["--memory", "256M"])
    _clean(r)
    assert r.stdout == b"malloc(1024 MiB) returned NULL\n" and r.status == 2, r
    r = run_pyvm(exe, ["200"], options=["--memory", "256M"])
    assert r.stdout == b"malloc(200 MiB) OK: 6\n" and r.status == 0, r
    r = run_pyvm(exe, ["2100"])                      # past the 2 GiB default
    _clean(r)
    assert r.stdout == b"malloc(2100 MiB) returned NULL\n" and r.status == 2, r


def test_pypy_forks_to_the_default_process_limit():
    pypy = require_tool("pypy3")
    exe = build("mem_fork_bomb", where=HERE)
    r = run_pyvm(exe, python=pypy, module="vm.linux")
    _clean(r)
    assert r.stdout == b"fork failed after 63 children: EAGAIN\nreaped 63\n" and r.status == 3, r


def test_pypy_forked_children_see_their_own_copies():
    pypy = require_tool("pypy3")
    exe = build("mem_fork_many", where=HERE)
    native = run_native(exe, ["40"], stdin=b"x\n")
    r = run_pyvm(exe, ["40"], stdin=b"x\n", python=pypy, module="vm.linux")
    _clean(r)
    assert (r.stdout, r.status) == (native.stdout, native.status), r


def test_all_processes_together_stay_within_twice_the_cap(tmp_path):
    """--memory caps each process; forking cannot multiply it: the run's processes
    together map at most twice the cap (default 2 x 2 GiB), so the third 1.5 GiB child
    gets NULL. The native run is the oracle that every child would succeed unbounded."""
    exe = build("mem_fork_budget", where=HERE)
    native = run_native(exe, cwd=tmp_path)
    assert native.stdout == b"child 0: ok\nchild 1: ok\nchild 2: ok\nchild 3: ok\n"
    result = run_pyvm(exe, cwd=tmp_path)
    _clean(result)
    assert result.status == 0, result
    assert result.stdout == b"child 0: ok\nchild 1: ok\nchild 2: null\nchild 3: null\n"
