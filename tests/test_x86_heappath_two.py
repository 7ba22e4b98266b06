"""A pointer used twice in a block gets its own page check (vm/x86/emit.py, HEAP_USES
2, was 3): its two accesses index memory as words (``MV[sq + k]``) instead of each
testing its page (``U32(mem, a)[0] if not rf[a >> 12] ...``). The edges of that path
with two accesses a base: a pointer misaligned, at a page's end (the second access on
the next page, or straddling it), the next page read-only or unmapped (a precise fault
between the two), a store into the code the block runs, an alias through a second
pointer, and a write hook on the page (each store seen). Oracle: Unicorn, instruction
for instruction (registers, flags, memory, fault point)."""

from __future__ import annotations

import pytest
from test_x86_heappath import DATA, _prime, _to_end, _to_fault, ours
from test_x86_stackpath import CODE, nasm, run_uc, state, state_uc, unicorn

# ebx: a load and a store; esi (= ebx + 4: an alias the block cannot see): two loads,
# the second of the bytes ebx's store wrote
TWO = """
start:  mov ecx, 25
        lea esi, [ebx + 4]
top:    mov eax, [ebx + 4]
        add eax, ecx
        mov [ebx + 8], eax
        mov edx, [esi]
        add edx, [esi + 4]
        add edi, edx
        rol edi, 5
        dec ecx
        jnz top
done:   nop
"""


def _checked(m) -> bool:
    """Whether some block indexes memory as words through a pointer's check."""
    return any("MV[sq" in blk[6] for blk in m.tr.blocks.values())


@pytest.mark.parametrize("base", [DATA, DATA + 1, DATA + 2, DATA + 0xFF4, DATA + 0xFF6,
                                  DATA + 0xFF8, DATA + 0xFFA, DATA + 0x1000 - 4])
def test_two_accesses_through_a_pointer_match_unicorn(tmp_path, base):
    emu, m = _to_end(nasm(TWO, tmp_path), base, (("ebx", base),))
    assert m.read(DATA - 0x1000, 0x3000) == bytes(emu.mem_read(DATA - 0x1000, 0x3000))
    if base == DATA:
        assert _checked(m), "no block checks the pointer once"


@pytest.mark.parametrize("base,readonly,unmapped", [
    (DATA, (DATA,), ()),                    # the store: the page is read-only
    (DATA + 0xFF8, (DATA + 0x1000,), ()),   # the store is the first on the next page
    (DATA + 0xFFA, (DATA + 0x1000,), ()),   # misaligned, straddling
    (DATA + 0xFF8, (), (DATA + 0x1000,)),   # the store, to an unmapped page
    (DATA + 0xFF6, (), (DATA + 0x1000,)),   # the store straddles into it
    (DATA + 0xFFC, (), (DATA + 0x1000,)),   # the first load
])
def test_fault_between_two_accesses_is_precise(tmp_path, base, readonly, unmapped):
    def fill(emu, m) -> None:
        for lo in (DATA - 0x1000, DATA, DATA + 0x1000):
            if lo not in unmapped:
                blob = bytes((i * 13 + lo // 0x1000) & 0xFF for i in range(0x1000))
                emu.mem_write(lo, blob)
                m.mem.load(lo, blob)

    emu, m = _to_fault(nasm(TWO.replace("jnz top", "jmp top"), tmp_path), 0x9800,
                       readonly, unmapped, (("ebx", base), ("ecx", 5)), fill)
    split = base + 8 if (base + 8) & 0xFFF > 0xFFC and unmapped else None
    if split is not None:
        # a store that faults on its second page writes nothing on i386 (a native
        # gcc -m32 run: the bytes before the page end keep their value), where Unicorn
        # writes the first part: those bytes are compared with what was there
        old = bytes((i * 13 + DATA // 0x1000) & 0xFF for i in range(0x1000))
        n = 0x1000 - (split & 0xFFF)
        assert m.read(split, n) == old[-n:]
        emu.mem_write(split, old[-n:])
    for lo in (DATA - 0x1000, DATA, DATA + 0x1000):
        if lo not in unmapped:
            assert m.read(lo, 0x1000) == bytes(emu.mem_read(lo, 0x1000))


# a pointer to the loop's own code, used twice: a load and a store into the immediate
# of an instruction further on, which must run with the new value
PATCH = """
start:  mov ecx, 20
        mov ebx, imm - 4
top:    mov eax, ecx
        imul eax, eax, 7
        mov edx, [ebx]
        mov [ebx + 4], eax
        add edi, edx
        jmp next
next:   mov eax, 1
        db 0x05                 ; add eax, imm32
imm:    dd 0
        add esi, eax
        dec ecx
        jnz top
done:   nop
"""


def test_store_into_code_through_a_pointer_used_twice(tmp_path):
    code = nasm(PATCH, tmp_path)
    emu, m = _to_end(code)
    assert m.read(CODE, len(code)) == bytes(emu.mem_read(CODE, len(code)))


def test_a_write_hook_sees_each_store_through_the_pointer(tmp_path):
    """A hooked page carries a flag the check tests (its stores take the slow path)."""
    code = nasm(TWO, tmp_path)
    end = CODE + len(code) - 1
    emu, X = unicorn(code, 0x9800)
    m = ours(code, 0x9800)
    _prime(emu, m, DATA)
    for e in (emu, m):
        (e.reg_write(X.UC_X86_REG_EBX, DATA) if e is emu else e.set_reg("ebx", DATA))
    seen: list = []
    m.hook_mem_write(lambda machine, addr, data: seen.append((addr, bytes(data))),
                     DATA, DATA + 0x1000)
    assert m.run(until=end).reason == "until"
    assert run_uc(emu, X, end) is None
    assert state(m) == state_uc(emu, X)
    assert m.read(DATA - 0x1000, 0x3000) == bytes(emu.mem_read(DATA - 0x1000, 0x3000))
    assert [a for a, _ in seen] == [DATA + 8] * 25
    assert [d for _, d in seen][-1] == bytes(emu.mem_read(DATA + 8, 4))
