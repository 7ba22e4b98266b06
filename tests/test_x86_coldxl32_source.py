"""A block's source is cheaper to compile (vm/x86/compiler.py ``_source``): it has no
guard (session 33: the dispatcher unwinds a fault from the block's frame in the
traceback; before, ``except UNWIND(META, locals()): pass``), its parameters are found
by a substring test,
and its fault records name the expressions of bindings dropped as dead (emit.py
``_drop_dead``, one rewrite per distinct flags tuple). Oracle: Unicorn, running the same
bytes to the same fault; CPython's bytecode (no handler)."""

from __future__ import annotations

import dis

from flat32_harness import pyvm, pyvm_state, unicorn, unicorn_state
from test_x86_cpu_asm import asm

CODE, STACK, MEMORY = 0x1000, 0x80000, 0x100000
DEFINED = 0xC5

# a push chain (ESP versions nothing reads but the fault records) and flags from the
# stack pointer, then a load that leaves memory on the 16th pass: the fault must come
# back with the registers and flags as they were at that instruction
PROGRAM = """
        mov ebx, 0x10000
        xor esi, esi
        xor edi, edi
top:    add esi, 0x11
        mov ecx, esi
        shl ecx, 12
        push esi
        push ebx
        sub esp, 4
        mov eax, [ecx]
        add edi, eax
        add esp, 12
        cmp edi, 0x7fffffff
        jne top
        int3
"""


def _run_to_fault(tier0: bool):
    code = asm(PROGRAM, 32, CODE)
    emu, X = unicorn(code, CODE, STACK, MEMORY)
    m = pyvm(code, CODE, STACK, MEMORY)
    if not tier0:
        m.tr.tier0 = None       # real blocks from the start
    assert m.run(100_000).reason == "fault"
    try:
        emu.emu_start(CODE, CODE + len(code))
    except Exception as e:          # unicorn.UcError: the unmapped read
        assert "UNMAPPED" in str(e) or "unmapped" in str(e), e
    else:
        raise AssertionError("Unicorn ran past the load")
    return m, emu, X


def test_a_fault_after_a_dropped_push_chain_matches_unicorn():
    for tier0 in (False, True):
        m, emu, X = _run_to_fault(tier0)
        assert pyvm_state(m, DEFINED) == unicorn_state(emu, X, DEFINED)
        assert m.reg("esi") == 0x110


def test_blocks_have_no_guard_and_unwind_from_the_traceback(monkeypatch):
    """(session 33) No try/except in a block: the dispatcher unwinds the fault from the
    block's frame (Translator.unwind_exc), whose META parameter names its metadata."""
    from vm.x86 import compiler
    monkeypatch.setattr(compiler, "warm_key", lambda *a, **k: None)    # (blocks made here)
    m, emu, X = _run_to_fault(False)
    assert pyvm_state(m, DEFINED) == unicorn_state(emu, X, DEFINED)
    made = 0
    for ent in m.tr.blocks.values():
        fn, src = ent[4], ent[6]
        if src is None:
            continue
        made += 1
        assert "try:" not in src and "UNWIND" not in src, src
        ops = [i.opname for i in dis.get_instructions(fn.__code__)]
        assert "PUSH_EXC_INFO" not in ops, src          # (CPython: no handler at all)
        assert ops.count("RAISE_VARARGS") == src.count("raise "), src
        # every object the body names is a parameter (a missing one: NameError), and
        # META always is
        params = set(fn.__code__.co_varnames[:fn.__code__.co_argcount])
        assert "META" in params, src
        assert not (set(fn.__code__.co_names) & set(m.tr.params)) - params, src
    assert made
