"""A failed stack check leaves its block as a fault does (vm/x86/emit.py SlowPath):
blocks hold only the direct accesses (``... or SLOW()`` on the check line); the state
is unwound to the instruction, the block is made again with its slow paths inline
(Translator.slow_keys) and the run goes on. Oracle: Unicorn (registers, flags, the
stack's bytes), also for runs cut by a step limit around the miss; the native run of
static and dynamic gcc -m32 programs, twice with the code cache on.

A block loaded from the warm code cache (warmblocks.py) unwinds too: it must go when its
check fails (it had no block id, so it stayed, failed again and the run hung; in one
process the cache is shared by every Machine, so the hang showed as a pytest-only one).

The run goes on from the failed instruction with a block made inline at once (made
direct, it failed the same check again: a second unwind and build), and the dispatcher's
trace-sampling window goes on across the unwind (restarted, it sampled other steps and
built other traces than the same run without unwinds).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import require_tool
from test_x86_stackpath import CODE, nasm, ours, run_uc, state, state_uc, unicorn

from vm.x86 import codecache

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def no_cache(monkeypatch):
    """No code cache unless a test opens its own (the process's cache would hand one
    test's blocks to the next)."""
    monkeypatch.setattr(codecache, "_opened", True)
    monkeypatch.setattr(codecache, "_cache", None)


@contextlib.contextmanager
def deadline(seconds: int):
    """A hang fails the test (SIGALRM raises in the run) instead of stopping pytest.
    Nests: an outer deadline goes on after an inner one (with what it had left)."""
    def expired(*_):
        raise TimeoutError(f"no end within {seconds} s")
    old = signal.signal(signal.SIGALRM, expired)
    outer = signal.alarm(seconds)
    try:
        yield
    finally:
        left = signal.alarm(0)
        signal.signal(signal.SIGALRM, old)
        if outer:
            signal.alarm(max(outer - (seconds - left), 1))


@pytest.fixture(autouse=True)
def every_run_has_a_deadline():
    """A block that is not dropped when its check fails unwinds at the same
    instruction for ever: every test here fails on a hang, none stops pytest."""
    with deadline(240):
        yield


# f runs hot with an aligned stack (its blocks built without slow paths), then ESP is
# made misaligned (every check fails: the unwind, then the inline blocks), then it walks
# down across page edges (spans of two pages, SPAN)
PHASES = """
start:  mov ecx, 60
        xor edi, edi
top:    push ecx
        call f
        add esp, 4
        add edi, eax
        dec ecx
        jnz top
        cmp esi, 0
        jne walk
        mov esi, 1
        sub esp, 2
        mov ecx, 60
        jmp top
walk:   cmp esi, 2
        je done
        mov esi, 2
        mov ecx, 300
down:   push ecx
        call f
        add esp, 4
        sub esp, 12
        add edi, eax
        dec ecx
        jnz down
        jmp done
f:      push ebp
        mov ebp, esp
        sub esp, 12
        mov eax, [ebp + 8]
        mov [esp], eax
        mov [esp + 4], ecx
        mov [esp + 8], edi
        add eax, [esp + 4]
        xor eax, [esp]
        sub eax, [esp + 8]
        cmp eax, ecx
        leave
        ret
done:   nop
"""


def _machine(tmp_path, monkeypatch, esp=0x9800):
    monkeypatch.setenv("PYVM_TIER0", "0")       # the block builder from the start
    code = nasm(PHASES, tmp_path)
    return code, ours(code, esp)


@pytest.mark.parametrize("esp", [0x9800, 0x9ff8, 0x9c00])
def test_failed_checks_match_unicorn(tmp_path, monkeypatch, esp):
    code, m = _machine(tmp_path, monkeypatch, esp)
    end = CODE + code.rindex(b"\x90")
    emu, X = unicorn(code, esp)
    stop = m.run(1000000, until=end)
    assert stop.reason == "until"
    assert run_uc(emu, X, end) is None
    assert state(m) == state_uc(emu, X)
    assert m.read(0x8000, 0x2000) == bytes(emu.mem_read(0x8000, 0x2000))
    assert m.tr.slow_keys       # (a check failed, and the run went on)


# (the checks fail at steps 1167 and 2294: at them and next to them too)
@pytest.mark.parametrize("count", [700, 731, 732, 733, 740, 900, 1166, 1167, 1168, 2000,
                                   2293, 2294, 2295, 4567])
def test_step_limits_around_a_miss_are_exact(tmp_path, monkeypatch, count):
    code, m = _machine(tmp_path, monkeypatch)
    emu, X = unicorn(code, 0x9800)
    stop = m.run(count)
    assert stop.reason == "limit"
    emu.emu_start(CODE, 0xFFFFFFF0, count=count)
    assert state(m) == state_uc(emu, X)
    assert m.cpu.steps[0] == count


def test_blocks_hold_direct_accesses_until_a_check_fails(tmp_path, monkeypatch):
    code, m = _machine(tmp_path, monkeypatch)
    m.run(700)              # the aligned phase only
    sources = [entry[6] for entry in m.tr.blocks.values() if entry[6]]
    assert any(" or SLOW()" in src for src in sources), sources
    for src in sources:
        assert " if sk" not in src and "if not sk" not in src, src
    assert not m.tr.slow_keys
    m.run(100000, until=CODE + code.rindex(b"\x90"))
    assert m.tr.slow_keys
    inline = [entry[6] for entry in m.tr.blocks.values()
              if entry[6] and entry[0] in m.tr.slow_keys]
    assert inline and all(" or SLOW()" not in src for src in inline)
    assert any(" if sk" in src or "if not sk" in src for src in inline), inline


def test_a_warm_block_that_unwinds_goes(tmp_path, monkeypatch):
    """The aligned phase's blocks go into a private code cache; a second Machine loads
    them (no decoding) and its misaligned phase fails their checks: each is dropped and
    made inline, the run ends as Unicorn's."""
    monkeypatch.setattr(codecache, "_cache",
                        codecache.CodeCache(str(tmp_path / "c.sqlite3"), os.urandom(32)))
    code, m = _machine(tmp_path, monkeypatch)
    m.run(700)
    assert codecache._cache.warm_keys      # (kept by address)
    end = CODE + code.rindex(b"\x90")
    m2 = ours(code, 0x9800)
    emu, X = unicorn(code, 0x9800)
    m2.run(700)
    # (an installed block holds its source unless it came from the cache)
    assert any(entry[6] is None for entry in m2.tr.blocks.values())
    with deadline(30):
        stop = m2.run(1000000, until=end)
    assert stop.reason == "until"
    assert run_uc(emu, X, end) is None
    assert state(m2) == state_uc(emu, X)
    assert m2.tr.slow_keys


GCC_PROGRAM = r"""
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
static int cmp(const void *a, const void *b) {
    return *(const int *)a - *(const int *)b;
}
int main(int argc, char **argv) {
    int v[300]; char buf[64]; unsigned h = 5381;
    for (int i = 0; i < 300; i++) v[i] = (i * 7919) % 1009;
    qsort(v, 300, sizeof v[0], cmp);
    for (int i = 0; i < 300; i++) {
        snprintf(buf, sizeof buf, "%d:%s", v[i], argc > 1 ? argv[1] : "-");
        for (char *p = buf; *p; p++) h = h * 33 + (unsigned char)*p;
    }
    printf("%d %d %u %zu\n", v[0], v[299], h, strlen(buf));
    return 0;
}
"""


@pytest.mark.parametrize("link", ["-static", "-no-pie"])
def test_gcc_programs_run_twice_with_the_cache_on(tmp_path, link):
    """The static run hung on its second (warm) run in glibc's start-up (check_match):
    a block from the cache failed its stack check and was never dropped."""
    gcc = require_tool("gcc")
    (tmp_path / "p.c").write_text(GCC_PROGRAM)
    exe = tmp_path / "p"
    r = subprocess.run([gcc, "-m32", link, "-O1", "-o", str(exe), str(tmp_path / "p.c")],
                       capture_output=True)
    if r.returncode:
        pytest.skip(f"gcc -m32 {link}: {r.stderr.decode()[-200:]}")
    native = subprocess.run([str(exe), "arg"], capture_output=True, timeout=30)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYVM_CODE_CACHE": "1",
           "XDG_CACHE_HOME": str(tmp_path / "cache")}
    for _ in range(2):      # cold, then warm
        ours_ = subprocess.run([sys.executable, "-m", "vm.linux", str(exe), "arg"],
                               capture_output=True, env=env, timeout=90)
        assert (ours_.returncode, ours_.stdout) == (native.returncode, native.stdout)
    assert list((tmp_path / "cache").rglob("x86-blocks-*"))


# the check fails in the middle of a block (after add edi, ecx): the run goes on from the
# push with a block of its own, which must not be made direct and fail again; then a
# loop through an indirect call, sampled for traces
MIDDLE = """
start:  sub esp, 2
        mov ecx, 5
top:    add edi, ecx
        push ecx
        push edi
        pop eax
        pop edx
        dec ecx
        jnz top
        add esp, 2
        mov ecx, 30000
        mov dword [0x8100], g
hot:    push ecx
        call [0x8100]                   ; (a block ends at it: the dispatcher's loop)
        pop eax
        xor edi, eax
        dec ecx
        jnz hot
        jmp done
g:      add edi, ecx
        ret
done:   nop
"""


def _noting(monkeypatch) -> tuple:
    """Lists the unwinds (the key the run went on with, each) and the steps at which
    traces were sampled get."""
    from vm.x86 import machine, traces
    unwinds, samples = [], []
    slow_path, sample = machine.Machine._slow_path, traces.sample

    def noted(self, e):
        slow_path(self, e)
        unwinds.append(self.cpu.key())

    def sampled(tr, *args):
        samples.append(tr.cpu.steps[0])
        return sample(tr, *args)
    monkeypatch.setattr(machine.Machine, "_slow_path", noted)
    monkeypatch.setattr(traces, "sample", sampled)
    return unwinds, samples


def _run_middle(tmp_path, monkeypatch, count: int = 150000):
    """MIDDLE run for count steps (the hot loop's), its state checked against Unicorn's."""
    monkeypatch.setenv("PYVM_TIER0", "0")
    code = nasm(MIDDLE, tmp_path)
    m = ours(code, 0x9800)
    emu, X = unicorn(code, 0x9800)
    stop = m.run(count)
    assert stop.reason == "limit"
    emu.emu_start(CODE, 0xFFFFFFF0, count=count)
    assert state(m) == state_uc(emu, X)
    assert m.read(0x8000, 0x2000) == bytes(emu.mem_read(0x8000, 0x2000))


def test_the_block_from_a_failed_instruction_is_made_inline(tmp_path, monkeypatch):
    unwinds, samples = _noting(monkeypatch)
    _run_middle(tmp_path, monkeypatch)
    # the start block's check fails at the push: the block the run goes on with there
    # is made inline, not made direct and failed again (a second unwind to the push)
    assert unwinds and len(unwinds) == len(set(unwinds)), [hex(k) for k in unwinds]


def test_a_slow_path_keeps_the_trace_sampling_window(tmp_path, monkeypatch):
    from vm.x86 import emit, traces
    monkeypatch.setattr(traces, "SAMPLE", 50)      # (many windows in a short run)
    unwinds, samples = _noting(monkeypatch)
    _run_middle(tmp_path, monkeypatch)
    assert unwinds and samples
    before = list(samples)
    unwinds.clear()
    samples.clear()
    monkeypatch.setattr(emit, "UNWIND_SLOW", False)     # inline from the start
    _run_middle(tmp_path, monkeypatch)
    assert not unwinds
    assert before == samples


def _private_cache(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(codecache, "_cache",
                        codecache.CodeCache(str(tmp_path / "c.sqlite3"), os.urandom(32)))


def test_the_warm_cache_keeps_the_block_made_inline(tmp_path, monkeypatch):
    """A run's failed checks are its last: the blocks made inline after them replace
    the direct ones in the code cache, so a second Machine loading it (a warm run)
    fails none (the direct ones were kept: every warm run failed the same checks and
    made the same blocks again)."""
    code, m = _machine(tmp_path, monkeypatch)
    end = CODE + code.rindex(b"\x90")
    m.run(1000000, until=end)       # (cache off: its step count)
    steps = m.cpu.steps[0]
    # (runs to a step count: a run to an address keeps no block by address)
    _private_cache(tmp_path, monkeypatch)
    unwinds, _ = _noting(monkeypatch)
    m = ours(code, 0x9800)
    assert m.run(steps).reason == "limit" and m.cpu.eip == end
    assert unwinds and codecache._cache.warm_keys
    unwinds.clear()
    for _ in range(2):
        m2 = ours(code, 0x9800)
        emu, X = unicorn(code, 0x9800)
        assert m2.run(steps).reason == "limit" and m2.cpu.eip == end
        assert run_uc(emu, X, end) is None
        assert state(m2) == state_uc(emu, X)
        assert m2.read(0x8000, 0x2000) == bytes(emu.mem_read(0x8000, 0x2000))
        assert any(entry[6] is None for entry in m2.tr.blocks.values())   # (warm)
        assert not unwinds, [hex(k) for k in unwinds]
        # the warm run knows the keys are slow (a trace or block made there is inline)
        assert m2.tr.slow_keys


def test_a_block_from_the_warm_cache_knows_its_id(tmp_path, monkeypatch):
    """warmblocks._install notes the block's id in its meta, as Translator._install
    does (Machine._slow_path drops it by that id; a search of every block otherwise)."""
    _private_cache(tmp_path, monkeypatch)
    code, m = _machine(tmp_path, monkeypatch)
    m.run(700)
    m2 = ours(code, 0x9800)
    m2.run(700)
    warm = [(bid, entry[5]) for bid, entry in m2.tr.blocks.items() if entry[6] is None]
    assert warm
    for bid, meta in warm:
        assert getattr(meta, "bid", None) == bid, hex(meta.key)


@pytest.mark.parametrize("how", ["flush", "reclaim"])
def test_slow_keys_go_with_the_translations(tmp_path, monkeypatch, how):
    """Translator.flush/reclaim forget which keys failed a check, as the blocks they
    describe go: a Machine used again (a spare one for another program: Kernel.
    machine_for) makes its blocks there direct again, not inline for good."""
    code, m = _machine(tmp_path, monkeypatch)
    m.run(1000000, until=CODE + code.rindex(b"\x90"))
    slow = set(m.tr.slow_keys)
    assert slow
    m.flush_translations() if how == "flush" else m.tr.reclaim()
    assert not m.tr.slow_keys
    m.load(CODE, code)
    for reg, value in (("esp", 0x9800), ("eip", CODE), ("esi", 0)):
        m.set_reg(reg, value)
    m.run(700)              # the aligned phase: no check fails
    again = [entry[6] for entry in m.tr.blocks.values() if entry[0] in slow and entry[6]]
    assert any(" or SLOW()" in src for src in again)
    assert not any(" if sk" in src or "if not sk" in src for src in again)


# the check fails at the push, after a compare whose flags the rebuilt block (from the
# push) reads: the unwind puts the compare's lazy flags into the CPU (cpu.lz); without
# them the jb after it sees the flags from before the block
LAZY = """
start:  sub esp, 2
        mov ecx, 40
top:    cmp ecx, 50
        push ecx
        push edi
        push ebx
        mov eax, [esp + 8]
        mov edx, [esp + 4]
        mov [esp], eax
        pop ebx
        pop edx
        pop edx
        jb low
        add edi, edx
        jmp next
low:    add edi, 3                      ; (CF 0: dec keeps it, as the flags before top)
next:   dec ecx
        jnz top
        add esp, 2
done:   nop
"""


def test_an_unwind_keeps_the_flags_set_before_the_check(tmp_path, monkeypatch):
    monkeypatch.setenv("PYVM_TIER0", "0")
    unwinds, _ = _noting(monkeypatch)
    code = nasm(LAZY, tmp_path)
    end = CODE + code.rindex(b"\x90")
    m = ours(code, 0x9800)
    emu, X = unicorn(code, 0x9800)
    assert m.run(100000, until=end).reason == "until"
    assert run_uc(emu, X, end) is None
    assert unwinds
    assert state(m) == state_uc(emu, X)
