"""What the block compiler saves while translating (vm/x86/compiler.py): instructions
decoded once per address while their bytes stay the same (Translator.fetch).

Oracle: Unicorn, for the state and memory after code rewrote itself."""

from __future__ import annotations

from flat32_harness import pyvm, pyvm_state, unicorn, unicorn_state
from test_x86_cpu_asm import asm

CODE, STACK, MEMORY = 0x1000, 0x80000, 0x100000
DEFINED = 0x8D5     # CF PF AF ZF SF OF


def _label(src: str, name: str) -> int:
    """The address of a label of src assembled at CODE."""
    return CODE + len(asm(src.split(f"{name}:")[0], 32, CODE))


def _both(src: str, steps: int = 2_000_000):
    """The program run to its int3 (at ``done``) by pyvm and by Unicorn: (machine,
    pyvm's state, Unicorn's state, pyvm's stop)."""
    code = asm(src, 32, CODE)
    emu, X = unicorn(code, CODE, STACK, MEMORY)
    emu.emu_start(CODE, _label(src, "done"))
    m = pyvm(code, CODE, STACK, MEMORY)
    stop = m.run(steps)
    want = unicorn_state(emu, X, DEFINED)
    want["eip"] += 1                                # (pyvm stops after the int3)
    assert m.read(0x9000, 0x60) == bytes(emu.mem_read(0x9000, 0x60))
    return m, pyvm_state(m, DEFINED), want, stop


# f runs often enough to get a real block, then the program rewrites an instruction in
# the middle of it (not its start: the block is made again from f, and that instruction
# is fetched from an address decoded before), with one of the same length, then with
# shorter ones; the sums differ if the old instruction ran
REWRITTEN = """
        xor eax, eax
        xor esi, esi
outer:  mov ecx, 20
inner:  call f
        mov [0x9000 + esi * 4], eax
        dec ecx
        jnz inner
        inc esi
        cmp esi, 1
        jne second
        mov dword [patch], 0x0403022d
        jmp outer
second: cmp esi, 2
        jne done
        mov dword [patch], 0x90904040
        mov byte [patch + 4], 0x48
        jmp outer
done:   int3
f:      add eax, 0x11
patch:  add eax, 0x01020304
        imul eax, eax, 3
        ret
"""


def test_an_instruction_rewritten_inside_a_block_is_decoded_again():
    m, state, want, stop = _both(REWRITTEN)
    assert stop.reason == "fault" and state == want
    patch = _label(REWRITTEN, "patch")
    assert m.tr.decoded[patch].raw == bytes([0x40])        # inc eax, as it is now
