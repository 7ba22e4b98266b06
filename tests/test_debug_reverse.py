"""Reverse execution: reverse steps restore registers and memory exactly, reverse-continue
finds earlier watchpoint hits, and a program reading input, time and random bytes
replays identically."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess

import pytest

from vm.debug.core import make_debugger
from vm.debug.targets import load
from vm.options import RunOptions

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="module")
def cprog(tmp_path_factory) -> str:
    if shutil.which("gcc") is None:
        if os.environ.get("CI") == "true":
            pytest.fail("gcc is missing")
        pytest.skip("gcc is missing")
    out = str(tmp_path_factory.mktemp("rev") / "prog")
    subprocess.run(["gcc", "-m32", "-static", "-g", "-O0", "-o", out,
                    os.path.join(ROOT, "tests", "debug", "prog.c")], check=True, timeout=120)
    return out


def elf_debugger(path: str, **kw):
    with open(path, "rb") as f:
        data = f.read()
    return make_debugger(load("elf", path, data, RunOptions()), **kw)


def state(d, ranges) -> tuple:
    mem = hashlib.sha256(b"".join(d.read(a, n) for a, n in ranges)).hexdigest()
    return tuple(sorted(d.registers().items())), d.m.cpu.lz and d.m.cpu.get_eflags(), mem


def test_reverse_steps_restore_registers_and_memory_exactly(cprog):
    stdin_r, stdin_w = os.pipe()
    os.write(stdin_w, b"xyz\n")
    os.close(stdin_w)
    saved = os.dup(0)
    os.dup2(stdin_r, 0)
    try:
        d = elf_debugger(cprog)
        d.hist.interval = 1_000          # several snapshots within the walk
        d.add_breakpoint(d.resolve("main"))
        assert d.cont().reason == "breakpoint"
        sp = d.get_reg("esp")
        counter = d.resolve("counter")
        ranges = [(sp - 6144, 6144 + 1024), (counter, 64)]
        states = []
        for _ in range(3_000):             # through printf's write() and more
            states.append((d.steps, state(d, ranges)))
            ev = d.stepi()
            assert ev.reason == "step", ev
        final = state(d, ranges)
        for steps, st in reversed(states[-300:]):
            d.reverse_stepi()
            assert d.steps == steps
            assert state(d, ranges) == st
        # a long jump back, then forward again to the same end state
        d.reverse_stepi(2_000)
        assert state(d, ranges) == states[-2_300][1]
        d.stepi(2_300)
        assert state(d, ranges) == final
    finally:
        os.dup2(saved, 0)
        os.close(saved)
        os.close(stdin_r)


def test_reverse_continue_to_earlier_watchpoint_hit(cprog):
    d = elf_debugger(cprog)
    d.add_watchpoint(d.resolve("counter"), 4)
    seen = []
    for _ in range(4):
        ev = d.cont()
        assert ev.reason == "watchpoint"
        seen.append((d.steps, d.pc, ev.watch[2]))
    ev = d.reverse_continue()
    assert ev.reason == "watchpoint"
    assert (d.steps, d.pc, d.read(d.resolve("counter"), 4)) == seen[2]
    ev = d.reverse_continue()
    assert (d.steps, d.pc, d.read(d.resolve("counter"), 4)) == seen[1]
    # and forward again: the next hit is the third one
    ev = d.cont()
    assert (d.steps, d.pc) == seen[2][:2]


def test_input_time_random_replay_identically(cprog, tmp_path):
    """Run to the end (stopped before exit), back to the start, and forward again: the
    replay reads the same input, time and random bytes, writes the same output (not to
    the terminal again) and ends in the same state."""
    script = (
        "import os, sys\n"
        "from vm.debug.core import make_debugger\n"
        "from vm.debug.targets import load\n"
        "from vm.options import RunOptions\n"
        "p = sys.argv[1]\n"
        "d = make_debugger(load('elf', p, open(p, 'rb').read(), RunOptions()))\n"
        "d.catch_syscalls = {252}\n"                 # exit_group: stop before it
        "ev = d.cont(); assert ev.reason == 'syscall', ev\n"
        "end = (d.steps, sorted(d.registers().items()), d.read(d.get_reg('esp') - 2048, 2080))\n"
        "ev = d.reverse_stepi(d.steps)\n"
        "assert d.steps == 0, d.steps\n"
        "ev = d.cont(); assert ev.reason == 'syscall', ev\n"
        "again = (d.steps, sorted(d.registers().items()), d.read(d.get_reg('esp') - 2048, 2080))\n"
        "assert again == end\n"
        "out = b''.join(d.hist.output_log)\n"
        "sys.stderr.write('REPLAYED %d\\n' % len(d.hist.events))\n"
        "d.catch_syscalls = None\n"
        "ev = d.cont(); print('EXIT', ev.status)\n")
    r = subprocess.run(["python", "-c", script, cprog], input=b"hello\n",
                       capture_output=True, timeout=120, cwd=ROOT)
    assert r.returncode == 0, r.stderr.decode()
    out = r.stdout.decode()
    # printed once (by the live run), not again by the replay
    assert out.count("input=6 sum=385 counter=10") == 1, out
    assert "EXIT 3" in out


def test_an_x87_store_hits_a_watchpoint(tmp_path):
    """fstp in a flat program writes through the memory the debugger watches (the x87
    unit once kept the memory's write from before the debugger replaced it)."""
    nasm, ld = shutil.which("nasm"), shutil.which("ld")
    if nasm is None or ld is None:
        if os.environ.get("CI") == "true":
            pytest.fail("nasm or ld is missing")
        pytest.skip("nasm or ld is missing")
    (tmp_path / "x.s").write_text(
        "bits 32\nglobal _start, after\nsection .text\n"
        "_start: fld1\n        fstp qword [target]\n"
        "after:  mov eax, 1\n        xor ebx, ebx\n        int 0x80\n"
        "section .data\nglobal target\ntarget: dq 0\n")
    subprocess.run([nasm, "-f", "elf32", str(tmp_path / "x.s"), "-o", str(tmp_path / "x.o")],
                   check=True)
    subprocess.run([ld, "-m", "elf_i386", str(tmp_path / "x.o"), "-o", str(tmp_path / "x")],
                   check=True)
    d = elf_debugger(str(tmp_path / "x"))
    d.add_watchpoint(d.resolve("target"), 8)
    ev = d.cont()
    assert ev.reason == "watchpoint" and d.pc == d.resolve("after")
    assert d.read(d.resolve("target"), 8) == bytes.fromhex("000000000000f03f")   # 1.0
