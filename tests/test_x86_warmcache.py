"""Blocks kept by address across runs (vm/x86/warmblocks.py): a warm run installs them
without decoding or building, only where memory holds the bytes they came from; a fault
or a trace in a loaded block names the right instruction; an entry that is tampered
with, signed under another key or made by another translator is not used."""

from __future__ import annotations

import io
import os
import sqlite3

import pytest
from test_x86_cpu_asm import asm

from vm.x86 import codecache
from vm.x86.compiler import Translator
from vm.x86.faults import BP, MemoryFault
from vm.x86.machine import Machine

BASE = 0x1000

PROGRAM = """
        mov esi, 0x3000
        mov edi, 0x4000
        mov ecx, 16
        rep movsb               ; a string operation (helper call + fast path)
        xor eax, eax
        mov ecx, 10
top:    add eax, ecx            ; a loop block
        call twice
        dec ecx
        jnz top
        movdqa xmm0, [0x3000]   ; SSE helpers come from tables of functions
        pcmpeqb xmm0, [0x4000]
        pmovmskb edx, xmm0
        movdqa [0x5000], xmm0
        fild dword [0x3000]     ; x87: the block names its decoded instruction
        fistp dword [0x5010]
        mov ebx, [0x5010]
        int3
twice:  add eax, eax
        ret
"""


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """A private code cache for this test; returns a function that reopens it as a new
    process would (same file and key, nothing pending)."""
    path = str(tmp_path / "blocks.sqlite3")
    secret = os.urandom(32)

    def reopen(key: bytes = secret) -> codecache.CodeCache:
        if codecache._cache is not None:
            codecache._cache.flush()
        c = codecache.CodeCache(path, key)
        monkeypatch.setattr(codecache, "_cache", c)
        return c

    monkeypatch.setattr(codecache, "_opened", True)
    # blocks by address, as the first tier (test_x86_tier0.py) hands them over
    monkeypatch.setenv("PYVM_TIER0", "0")
    reopen()
    return reopen


@pytest.fixture
def builds(monkeypatch) -> list:
    """Every block the translator builds from decoded instructions (key, loop mode)."""
    seen: list = []
    orig = Translator._build

    def counting(self, key, single, loop_mode, *rest, **kw):
        seen.append((key, loop_mode))
        return orig(self, key, single, loop_mode, *rest, **kw)

    monkeypatch.setattr(Translator, "_build", counting)
    return seen


def run(source: str, data: bytes = bytes(range(3, 19))):
    m = Machine("flat32", 1 << 20)
    m.load(BASE, asm(source, 32, BASE))
    m.load(0x3000, data)
    m.load(0x4000, bytes(16))
    m.set_reg("eip", BASE)
    m.set_reg("esp", 1 << 20)
    return m, m.run()


def state(m) -> tuple:
    return (m.regs(), m.steps, m.read(0x4000, 16), m.read(0x5000, 20))


def test_warm_run_builds_nothing_and_runs_the_same(cache, builds):
    cold, stop = run(PROGRAM)
    assert stop.fault.vector == BP and builds
    assert cold.reg("ebx") == 0x06050403          # fild/fistp of the first dword
    assert cold.reg("edx") == 0xFFFF              # rep movsb copied all 16 bytes
    cache()
    builds.clear()
    warm, stop = run(PROGRAM)
    assert stop.fault.vector == BP
    assert builds == []
    assert state(warm) == state(cold)


def test_traces_are_kept_too(cache, builds):
    """A superblock the sampler made (vm/x86/traces.py) along a path is loaded again."""
    from vm.x86 import traces
    n = 2 * traces.SAMPLE * traces.BACKOFF // 4 // 2 * 2     # loops of 5 or 4 instructions
    src = f"""
        xor eax, eax
        mov ecx, {n}
top:    test ecx, 1
        jz even
        add eax, ecx
        jmp next
even:   sub eax, 3
next:   dec ecx
        jnz top
        int3"""
    cold, _ = run(src)
    assert any(fn.meta.trace for fn in cold.tr.cache.values())
    cache()
    builds.clear()
    warm, _ = run(src)
    assert builds == [] and any(fn.meta.trace for fn in warm.tr.cache.values())
    half = n // 2                   # odd counts added, even ones subtract 3
    assert state(warm) == state(cold) and warm.reg("eax") == (half * half - 3 * half) % 2**32


def test_changed_guest_bytes_are_translated_again(cache, builds):
    one, _ = run("mov eax, 1\nmov ebx, eax\nint3")
    assert one.reg("ebx") == 1
    cache()
    builds.clear()
    two, _ = run("mov eax, 2\nmov ebx, eax\nint3")        # same address, other bytes
    assert two.reg("ebx") == 2 and builds
    # and code the guest writes over a loaded block still takes effect
    cache()
    builds.clear()
    src = """
        mov byte [patch + 1], 7
        jmp patch
patch:  mov eax, 1
        int3"""
    first, _ = run(src)
    cache()
    again, _ = run(src)
    assert first.reg("eax") == again.reg("eax") == 7


def test_fault_in_a_loaded_block_names_its_instruction(cache, builds):
    src = """
        mov eax, 1
        mov ebx, 2
        cmp eax, ebx
        mov [0xfffffff0], eax
        mov ecx, 3
        int3"""
    run(src)
    cache()
    builds.clear()
    m, stop = run(src)
    assert builds == []
    f = stop.fault
    assert isinstance(f, MemoryFault) and f.address == 0xFFFFFFF0 and f.write
    assert (m.reg("eax"), m.reg("ebx"), m.reg("ecx")) == (1, 2, 0)
    assert m.eip == BASE + 12 and m.steps == 3
    assert m.reg("eflags") & 0x81 == 0x81          # the CMP's flags: CF, SF
    assert f.insn.mnemonic == "mov" and f.insn.address == BASE + 12 and f.lin == BASE + 12


def test_trace_of_loaded_blocks_is_the_same(cache, builds):
    from vm.x86.trace import Tracer

    def traced() -> str:
        out = io.StringIO()
        m = Machine("flat32", 1 << 20)
        m.load(BASE, asm("mov eax, 5\nadd eax, 3\nimul eax, eax\nint3", 32, BASE))
        m.set_reg("eip", BASE)
        m.set_reg("esp", 1 << 20)
        m.tracer = Tracer(out)
        m.run()
        return out.getvalue()

    first = traced()
    cache()
    builds.clear()
    second = traced()
    assert builds == [] and "imul eax, eax" in second and second == first


@pytest.mark.parametrize("spoil", ["tamper", "other-key", "other-translator"])
def test_entries_not_from_this_translator_are_ignored(cache, builds, monkeypatch, spoil):
    path = codecache._cache.db.execute("PRAGMA database_list").fetchone()[2]
    cold, _ = run(PROGRAM)
    cache()
    if spoil == "tamper":                           # flip a byte of every stored entry
        with sqlite3.connect(path) as db:
            rows = db.execute("SELECT key, code FROM blocks").fetchall()
            db.executemany("UPDATE blocks SET code = ? WHERE key = ?",
                           [(v[:-1] + bytes([v[-1] ^ 1]), k) for k, v in rows])
    elif spoil == "other-key":
        cache(os.urandom(32))
    else:
        monkeypatch.setattr(codecache, "_fingerprint", b"another translator")
    builds.clear()
    warm, stop = run(PROGRAM)
    assert stop.fault.vector == BP and builds
    assert state(warm) == state(cold)


def test_x87_mnemonics_listed_are_the_tables():
    """vm/x86/system.py lists the x87 mnemonics instead of parsing the table at import:
    the list must be exactly the table's (a new x87 row needs it added there)."""
    from asm.x86.table import forms
    from vm.x86.system import X87_MNEMONICS
    table = {f.mnemonic for f in forms() if f.mnemonic.startswith("f") or f.mnemonic == "wait"}
    assert X87_MNEMONICS == table


def test_a_warm_run_does_not_load_the_instruction_table(tmp_path):
    """The warm hello-world path neither decodes nor parses insns.tab."""
    import subprocess
    import sys

    from test_x86_cpu_flat import HELLO, program
    path = program(tmp_path, HELLO)
    probe = (f"import runpy, sys; import asm.x86.table as t; sys.argv = ['pyvm', {str(path)!r}]\n"
             "try:\n    runpy.run_module('vm.cli', run_name='__main__')\n"
             "except SystemExit:\n    pass\n"
             "print('parsed' if t.forms.cache_info().currsize else 'not parsed',"
             " file=sys.stderr)")
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache"), "PYVM_CODE_CACHE": "1"}
    runs = [subprocess.run([sys.executable, "-c", probe], capture_output=True, env=env,
                           timeout=120) for _ in range(2)]
    assert [r.stdout for r in runs] == [b"Hello, world!\n"] * 2, runs[0].stderr
    assert runs[0].stderr.endswith(b"parsed\n") and not runs[0].stderr.endswith(b"not parsed\n")
    assert runs[1].stderr.endswith(b"not parsed\n"), runs[1].stderr


def test_nothing_is_kept_by_address_when_pyvm_changed_during_the_run(cache, builds,
                                                                       monkeypatch):
    """Blocks translated while pyvm's translator files changed (an edit, an upgrade)
    may come from either version: the flush keeps none of them."""
    run("mov eax, 1\nmov ebx, eax\nint3")
    real = codecache.fingerprint()
    monkeypatch.setattr(codecache, "_fingerprint", b"taken before an edit")
    codecache._cache.flush()
    monkeypatch.setattr(codecache, "_fingerprint", real)
    cache()
    builds.clear()
    m, _ = run("mov eax, 1\nmov ebx, eax\nint3")
    assert builds and m.reg("ebx") == 1
