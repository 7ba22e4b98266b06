"""Loop traces built in one pass (vm/x86/compiler.py Translator._guessed_loop): what a
loop trace needs (the flags at its start, the registers its loop carries, helpers) is
guessed from the plain blocks its path ran through, or, for a tree that grows by one
path, from the trace so far, and the loop pass is kept when it finds exactly that: no
first pass. A path that writes a register no other path writes (a guess that misses),
flags a later block reads across a jump, a call and a switch through a jump table all
run in such traces, stopped at step limits of odd lengths. Oracle: Unicorn."""

from __future__ import annotations

import struct
import subprocess

from flat32_harness import pyvm, pyvm_state, unicorn, unicorn_state
from test_x86_cpu_asm import asm

from vm.x86 import codecache, traces
from vm.x86.compiler import Translator

CODE, STACK, MEMORY = 0x1000, 0x80000, 0x100000
DEFINED = 0xC5

# eight cases through a jump table in a loop: c0 and c6 read the CF the cmp before the
# jump set (in the block before theirs), c4 calls, c5 alone writes ebp
LOOP = """
        xor esi, esi
        xor edi, edi
        xor ebp, ebp
        mov ebx, 1
top:    mov eax, esi
        and eax, 7
        cmp eax, 5
        jmp [table + eax * 4]
c0:     adc edi, 1
        jmp next
c1:     sub edi, 3
        jmp next
c2:     xor edi, 0x55
        jmp next
c3:     rol edi, 3
        jmp next
c4:     call fn
        jmp next
c5:     lea ebp, [ebp + esi + 7]
        jmp next
c6:     sbb edi, ebx
        jmp next
c7:     add edi, esi
next:   mov [0x9000 + esi * 4], edi
        inc esi
        cmp esi, 3000
        jne top
done:   int3
fn:     imul edi, edi, 3
        ret
table:  dd c0, c1, c2, c3, c4, c5, c6, c7
labels: dd top, done
"""


def _no_code_cache(monkeypatch) -> None:
    """No warm cache, also when an earlier test of the session opened it (the process
    opens it once: the variable alone came too late, and traces an earlier run of this
    test stored were loaded instead of built)."""
    monkeypatch.setenv("PYVM_CODE_CACHE", "0")
    monkeypatch.setattr(codecache, "_opened", True)
    monkeypatch.setattr(codecache, "_cache", None)


def _same(m, emu, X) -> None:
    emu.emu_start(emu.reg_read(X.UC_X86_REG_EIP), 0xFFFFFFF0, count=m.steps - emu.steps)
    emu.steps = m.steps
    assert pyvm_state(m, DEFINED) == unicorn_state(emu, X, DEFINED), f"after {m.steps}"


def _sampled_loop(monkeypatch) -> tuple:
    """LOOP assembled and loaded in Unicorn and in pyvm with real blocks from the start,
    the code cache off (a warm cache builds no trace) and trace samples taken often:
    (top, done, emu, X, m)."""
    _no_code_cache(monkeypatch)
    code = asm(LOOP, 32, CODE)
    top, done = struct.unpack_from("<2I", code, len(code) - 8)
    emu, X = unicorn(code, CODE, STACK, MEMORY)
    emu.steps = 0
    m = pyvm(code, CODE, STACK, MEMORY)
    m.tr.tier0 = None       # (cold) real blocks from the start
    monkeypatch.setattr(traces, "SAMPLE", 23)         # samples from the start, often
    monkeypatch.setattr(traces, "BACKOFF", 1)
    return top, done, emu, X, m


def test_loop_traces_and_their_trees_are_built_in_one_pass(monkeypatch):
    top, done, emu, X, m = _sampled_loop(monkeypatch)
    built: list = []        # (paths, builds) of each loop trace translated
    builds = [0]
    build, translate_trace = Translator._build, Translator.translate_trace

    def counting_build(self, *args, **kw):
        builds[0] += kw.get("path") is not None
        return build(self, *args, **kw)

    def counting_trace(self, key, path):
        builds[0] = 0
        fn = translate_trace(self, key, path)
        if fn.meta.loop:
            built.append((len(fn.meta.paths), builds[0]))
        return fn

    monkeypatch.setattr(Translator, "_build", counting_build)
    monkeypatch.setattr(Translator, "translate_trace", counting_trace)
    for n in [1, 5, 40, 3, 97, 13, 250, 7, 64, 31, 500, 11, 29, 120, 2000] + [1] * 30:
        assert m.run(n).reason == "limit"
        _same(m, emu, X)
    assert m.run(1_000_000).reason == "fault" and m.eip == done + 1
    emu.emu_start(emu.reg_read(X.UC_X86_REG_EIP), done)
    assert dict(pyvm_state(m, DEFINED), eip=done) == unicorn_state(emu, X, DEFINED)
    assert m.read(0x9000, 12000) == bytes(emu.mem_read(0x9000, 12000))
    assert (1, 1) in built, f"no new loop trace built in one pass: {built}"
    assert any(n >= 2 and k == 1 for n, k in built), f"no tree grown in one pass: {built}"
    # (a guess that misses costs one more loop pass, not the two passes again)
    assert all(k <= 2 for _, k in built), built
    top_trace = m.tr.cache[top].meta
    assert top_trace.trace and top_trace.loop and len(top_trace.paths) >= 4


# The flags a loop trace needs at its entry are part of the guess: the loop's first block
# reads none, a later one (adc) reads CF that `stc` set before the loop; a trace that
# took the guess without checking its entry flags read the pre-loop CF on every pass
# (found by the review of e337d1e: edi 403550310 where Unicorn has 403550315).
ENTRY_FLAGS = """bits 32
org 0x1000
 mov dword [0x8000], 3000
 mov ebx, 1
 stc
top: lea ebx, [ebx + ebx*4 + 0x3039]
 movzx ecx, bh
 jecxz rare
 adc edi, ebx
 dec dword [0x8000]
 jnz top
 int3
rare: add edi, 0xF0000000
 dec dword [0x8000]
 jnz top
 int3
"""


def test_loop_trace_entry_flags_from_before_the_loop(monkeypatch, tmp_path):
    from unicorn import UcError
    _no_code_cache(monkeypatch)
    monkeypatch.setattr(traces, "SAMPLE", 23)
    monkeypatch.setattr(traces, "BACKOFF", 1)
    (tmp_path / "loop.s").write_text(ENTRY_FLAGS)
    subprocess.run(["nasm", "-f", "bin", str(tmp_path / "loop.s"), "-o",
                    str(tmp_path / "loop.bin")], check=True)
    code = (tmp_path / "loop.bin").read_bytes()
    emu, X = unicorn(code, CODE, STACK, MEMORY)
    emu.steps = 0
    m = pyvm(code, CODE, STACK, MEMORY)
    emu.reg_write(X.UC_X86_REG_EFLAGS, m.reg("eflags"))
    m.tr.tier0 = None
    for n in [1, 5, 40, 3, 97, 13, 250, 7, 64, 31, 500, 11, 29, 120, 2000] * 3:
        assert m.run(n).reason == "limit"
        _same(m, emu, X)
    assert m.run(1_000_000).reason == "fault"      # (the int3 at the end)
    try:
        emu.emu_start(emu.reg_read(X.UC_X86_REG_EIP), 0xFFFFFFF0)
    except UcError:
        pass                                         # (Unicorn stops at the int3)
    assert m.reg("edi") == emu.reg_read(X.UC_X86_REG_EDI)
    assert any(getattr(f.meta, "loop", False) for f in m.tr.cache.values()), "no loop trace"
