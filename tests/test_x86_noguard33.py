"""Blocks without an except clause (session 33, vm/x86/compiler.py ``_source``): a fault
is unwound from the block's frame in the traceback by whoever first handles it
(``Translator.unwind_exc``: the dispatcher, the tracer, a data breakpoint's step). The
state and the instruction count at the fault must be what Unicorn reaches: inside a
loop block (its iteration counter ``c`` among the locals), traced one instruction at a
time, and after a stop for code the block wrote over."""

from __future__ import annotations

import io

from conftest import require_module
from flat32_harness import pyvm, pyvm_state, unicorn, unicorn_state
from test_x86_coldxl32_source import CODE, DEFINED, MEMORY, PROGRAM, STACK
from test_x86_cpu_asm import asm

from vm.x86.trace import Tracer


def _unicorn_to_fault(code: bytes):
    """Unicorn to the faulting load: (emu, X, instructions completed before it)."""
    uc = require_module("unicorn")
    emu, X = unicorn(code, CODE, STACK, MEMORY)
    count = [0]
    emu.hook_add(uc.UC_HOOK_CODE, lambda *a: count.__setitem__(0, count[0] + 1))
    try:
        emu.emu_start(CODE, CODE + len(code))
    except uc.UcError:
        pass
    else:
        raise AssertionError("Unicorn ran past the load")
    return emu, X, count[0] - 1         # (the hook saw the faulting one too)


def _pyvm_to_fault(code: bytes, tracer=None):
    m = pyvm(code, CODE, STACK, MEMORY)
    m.tr.tier0 = None           # real blocks (a loop block) from the start
    m.tracer = tracer
    stop = m.run(100_000)
    assert stop.reason == "fault", stop
    return m, stop


def test_a_loop_blocks_fault_counts_its_iterations():
    code = asm(PROGRAM, 32, CODE)
    emu, X, done = _unicorn_to_fault(code)
    m, stop = _pyvm_to_fault(code)
    assert any(info[5].loop for info in m.tr.blocks.values())
    assert pyvm_state(m, DEFINED) == unicorn_state(emu, X, DEFINED)
    assert m.steps == done
    assert stop.fault.lin == m.reg("eip")       # (its instruction, from the unwind)


def test_a_traced_fault_is_unwound_once():
    """Tracing runs one instruction per block through Machine._traced, which unwinds
    the fault for the tracer; the dispatcher then finds it unwound (no second count)."""
    code = asm(PROGRAM, 32, CODE)
    emu, X, done = _unicorn_to_fault(code)
    out = io.StringIO()
    m, _stop = _pyvm_to_fault(code, Tracer(out))
    assert pyvm_state(m, DEFINED) == unicorn_state(emu, X, DEFINED)
    assert m.steps == done
    lines = out.getvalue().splitlines()
    assert len(lines) == done + 1
    assert lines[-1].startswith(f"{m.reg('eip'):08x}") and "!!" in lines[-1]


# a block that writes the immediate of an instruction ahead of it in the same block:
# stopped before that instruction (smc.py), unwound from the traceback, and run anew
SMC = """
        mov esi, 3
        mov dword [patch + 1], 0x1234
        add esi, 1
patch:  mov eax, 0x5555
        add eax, esi
        mov ebx, [0x7fff0000]
"""


def test_a_block_stopped_for_code_it_wrote():
    code = asm(SMC, 32, CODE)
    emu, X, done = _unicorn_to_fault(code)
    m, _stop = _pyvm_to_fault(code)
    assert pyvm_state(m, DEFINED) == unicorn_state(emu, X, DEFINED)
    assert m.reg("eax") == 0x1234 + 4
    # five ran before the fault (Unicorn's code hook counts one more: QEMU translates
    # the rest of its block again after the store and the hook sees it twice)
    assert m.steps == 5 and done == 6
