"""Accesses through any base register with one page check per block (vm/x86/emit.py,
Builder._stack_ref): a structure's fields through one pointer, aligned globals as
words of memory, and return addresses forwarded from the ``call`` that pushed them.

The edges: a pointer misaligned, at a page's end (the accesses straddle two pages), into
a read-only or unmapped page (a fault in the middle of a block), into code the block
patches; the same bytes written through another pointer the block cannot see is the
same (an alias), byte/word/dword accesses overlapping a stored value, a return address
changed before ``ret``. Oracle: Unicorn, instruction for instruction (registers, flags,
memory, fault point)."""

from __future__ import annotations

import pytest
from test_x86_stackpath import CODE, nasm, run_uc, state, state_uc, unicorn
from test_x86_stackpath import FAULTING as STACK_FAULTING
from test_x86_stackpath import ours as _ours

DATA = 0x5000


def ours(code: bytes, esp: int, readonly=(), unmapped=()):
    """pyvm with the first tier off: every block is compiled from its first run (a
    fault on a first run would otherwise happen in a one-instruction template)."""
    m = _ours(code, esp, readonly, unmapped)
    m.tr.tier0 = None
    return m


def _prime(emu, m, base: int) -> None:
    """The same bytes around the pointer in both machines: a pattern, and at base + 16
    the pointer itself (an alias the block only sees as a loaded value)."""
    blob = bytearray((i * 37 + 11) & 0xFF for i in range(0x3000))
    off = base - (DATA - 0x1000)
    blob[off + 16:off + 20] = base.to_bytes(4, "little")
    emu.mem_write(DATA - 0x1000, bytes(blob))
    m.write(DATA - 0x1000, bytes(blob))


def _set(emu, X, m, regs) -> None:
    for reg, v in regs:
        emu.reg_write(getattr(X, f"UC_X86_REG_{reg.upper()}"), v)
        m.set_reg(reg, v)


def _to_end(code: bytes, prime=None, regs=()):
    """Both machines run code to its last instruction; the same registers and flags
    there. Returns (unicorn, pyvm) for the caller's memory comparison."""
    end = CODE + len(code) - 1
    emu, X = unicorn(code, 0x9800)
    m = ours(code, 0x9800)
    if prime is not None:
        _prime(emu, m, prime)
    _set(emu, X, m, regs)
    assert m.run(until=end).reason == "until"
    assert run_uc(emu, X, end) is None
    assert state(m) == state_uc(emu, X)
    return emu, m


def _to_fault(code: bytes, esp: int, readonly=(), unmapped=(), regs=(), before=None):
    """Both machines run code until it faults; the same registers and flags at the
    faulting instruction. ``before(emu, m)`` fills memory first."""
    emu, X = unicorn(code, esp, readonly, unmapped)
    m = ours(code, esp, readonly, unmapped)
    if before is not None:
        before(emu, m)
    _set(emu, X, m, regs)
    assert m.run(1000).reason == "fault"
    assert run_uc(emu, X, 0xFFFFFFF0) is not None
    assert state(m) == state_uc(emu, X)
    return emu, m


# loads, stores and read-modify-writes through ebx, through copies of it (esi, and edi =
# ebx + 4: the block knows them as the same base) and through ebp, loaded from memory (it
# does not): forwarding must see every write
FIELDS = """
start:  mov ecx, 25
top:    mov eax, [ebx]
        add eax, [ebx + 4]
        mov [ebx + 8], eax
        mov dx, [ebx + 2]
        mov [ebx + 13], dx
        movzx edx, byte [ebx + 9]
        add eax, edx
        mov [ebx - 4], eax
        add eax, [ebx + 8]
        mov byte [ebx + 10], cl
        add eax, [ebx + 8]
        mov esi, ebx
        mov dword [esi + 8], 0x12345678
        lea edi, [ebx + 4]
        mov dword [edi + 4], 0x9abcdef0
        add eax, [ebx + 8]
        mov [ebx + 4], eax
        mov ebp, [ebx + 16]
        mov [ebp + 4], ecx
        add eax, [ebx + 4]
        mov [ebp + 8], eax
        add eax, [ebx + 8]
        mov [ebp + 12], edx
        add eax, [ebp + 12]
        add eax, [ebx + 12]
        add [ebx + 20], eax
        mov edx, [ebx + 20]
        xor edx, [ebx - 4]
        mov [ebx + 24], dl
        mov [ebx + 26], dx
        add eax, [ebx + 24]
        dec ecx
        jnz top
done:   nop
"""


@pytest.mark.parametrize("base", [DATA, DATA + 1, DATA + 2, DATA + 0x10, DATA + 0xFE0,
                                  DATA + 0xFF0, DATA + 0xFFA, DATA + 0x1000 - 12,
                                  DATA + 0x1000 + 2])
def test_fields_through_a_pointer_match_unicorn(tmp_path, base):
    emu, m = _to_end(nasm(FIELDS, tmp_path), base, (("ebx", base),))
    assert m.read(DATA - 0x1000, 0x3000) == bytes(emu.mem_read(DATA - 0x1000, 0x3000))


# stores and loads through one pointer, then one that faults: the registers, flags and
# memory must be those before the faulting instruction
FAULTING = """
start:  mov eax, [ebx]
        add eax, [ebx + 8]
        mov [ebx + 4], eax
        mov edx, [ebx + 12]
        sub edx, eax
        mov [ebx + 16], edx
        mov [ebx + 20], ecx
        add ecx, [ebx + 16]
        mov [ebx + 28], ecx
        mov eax, [ebx + 24]
        jmp start
"""


@pytest.mark.parametrize("base,readonly,unmapped", [
    (DATA, (DATA,), ()),                    # the first store: the page is read-only
    (DATA + 0xFEC, (DATA + 0x1000,), ()),   # [ebx + 20] is the first on the next page
    (DATA + 0xFF0, (DATA + 0x1000,), ()),   # [ebx + 16] is
    (DATA + 0xFF2, (DATA + 0x1000,), ()),   # misaligned, straddling
    (DATA + 0xFF0, (), (DATA + 0x1000,)),   # a load from an unmapped page
    (DATA + 0xFE8, (), (DATA + 0x1000,)),   # [ebx + 24]
    (DATA - 4, (), (DATA - 0x1000,)),       # the first load
])
def test_fault_through_a_pointer_is_precise(tmp_path, base, readonly, unmapped):
    def fill(emu, m) -> None:
        for lo in (DATA - 0x1000, DATA, DATA + 0x1000):
            if lo not in unmapped:
                blob = bytes((i * 13 + lo // 0x1000) & 0xFF for i in range(0x1000))
                emu.mem_write(lo, blob)
                m.mem.load(lo, blob)

    emu, m = _to_fault(nasm(FAULTING, tmp_path), 0x9800, readonly, unmapped,
                       (("ebx", base), ("ecx", 5)), fill)
    for lo in (DATA - 0x1000, DATA, DATA + 0x1000):
        if lo not in unmapped:
            assert m.read(lo, 0x1000) == bytes(emu.mem_read(lo, 0x1000))


# a pointer to the loop's own code: each pass patches the immediate of an instruction
# further on (through the pointer, one page check), which must run with the new value
PATCH = """
start:  mov ecx, 20
        mov ebx, imm - 4
top:    mov eax, ecx
        imul eax, eax, 3
        mov edx, [ebx]
        mov [ebx + 4], eax
        add edx, [ebx + 4]
        add edx, [ebx + 8]
        mov edi, edx
        jmp next
next:   mov eax, 1
        db 0x05                 ; add eax, imm32
imm:    dd 0
        add esi, eax
        dec ecx
        jnz top
done:   nop
"""


def test_store_into_code_through_a_pointer(tmp_path):
    code = nasm(PATCH, tmp_path)
    emu, m = _to_end(code)
    assert m.read(CODE, len(code)) == bytes(emu.mem_read(CODE, len(code)))


# globals at fixed addresses: aligned dwords (a word of memory), misaligned ones, bytes
GLOBALS = f"""
start:  mov ecx, 30
top:    mov eax, [{DATA:#x}]
        add eax, [{DATA + 4:#x}]
        mov [{DATA + 8:#x}], eax
        add eax, [{DATA + 8:#x}]
        mov [{DATA + 0xFFE:#x}], eax
        add eax, [{DATA + 0xFFC:#x}]
        mov byte [{DATA + 13:#x}], cl
        add eax, [{DATA + 12:#x}]
        add [{DATA + 16:#x}], eax
        mov edx, [{DATA + 0x1004:#x}]
        mov [{DATA + 0x1008:#x}], edx
        dec ecx
        jnz top
done:   nop
"""


def test_globals_match_unicorn(tmp_path):
    emu, m = _to_end(nasm(GLOBALS, tmp_path), DATA)
    assert m.read(DATA - 0x1000, 0x3000) == bytes(emu.mem_read(DATA - 0x1000, 0x3000))


@pytest.mark.parametrize("readonly,unmapped", [
    ((DATA,), ()),              # the store to DATA + 8
    ((DATA + 0x1000,), ()),     # the straddling store to DATA + 0xffe
    ((), (DATA + 0x1000,)),     # the same, unmapped
    ((), (DATA,)),              # the first load
])
def test_fault_on_a_global_is_precise(tmp_path, readonly, unmapped):
    _to_fault(nasm(GLOBALS.replace("jnz top", "jmp top"), tmp_path), 0x9800, readonly,
              unmapped)


# a return address pushed by `call` and popped by `ret` in the same block (forwarded:
# no guard), and one the callee replaces, directly or through a pointer it loads
RETURNS = """
start:  mov ecx, 12
        mov [0x5000], esp
top:    call f
        add edi, eax
        call g
        add edi, eax
        call h
        add edi, eax
        dec ecx
        jnz top
        jmp done
f:      mov eax, ecx
        ret
g:      mov eax, 3
        test ecx, 1
        jz g1
        mov dword [esp], skip
g1:     ret
h:      mov eax, 5
        test ecx, 2
        jz h1
        mov edx, [0x5000]
        mov dword [edx - 4], skip2
h1:     ret
skip:   add esi, 100
        call h
        jmp top2
skip2:  add esi, 1000
        dec ecx
        jnz top
        jmp done
top2:   dec ecx
        jnz top
done:   nop
"""


def test_return_addresses_match_unicorn(tmp_path):
    emu, m = _to_end(nasm(RETURNS, tmp_path))
    assert m.read(0x9000, 0x1000) == bytes(emu.mem_read(0x9000, 0x1000))


# the stack path's faults (tests/test_x86_stackpath.py) in compiled blocks: pushes whose
# ESP versions only the fault records name (Builder._drop_dead) and stores that fault
@pytest.mark.parametrize("esp,readonly,unmapped", [
    (0x9008, (0x8000,), ()),
    (0x9010, (0x8000,), ()),
    (0x9008, (), (0x8000,)),
    (0x900c, (0x9000,), ()),
    (0x9014, (0x8000,), ()),
])
def test_stack_fault_in_a_compiled_block_is_precise(tmp_path, esp, readonly, unmapped):
    emu, m = _to_fault(nasm(STACK_FAULTING, tmp_path), esp, readonly, unmapped)
    assert m.read(0x9000, 0x1000) == bytes(emu.mem_read(0x9000, 0x1000))


# calls and pushes, then a fault in a later instruction of the same block (a load from
# an unmapped page, a division by zero): ESP and EBP as they were before it
CALLS_THEN_FAULT = """
start:  push ebp
        mov ebp, esp
        push esi
        push edi
        push ebx
        sub esp, 12
        call f
        add esp, 12
        push eax
        push ecx
        call g
        jmp start
f:      push ebx
        mov eax, [esp + 8]
        pop ebx
        ret
g:      push ebp
        mov ebp, esp
        mov eax, [ebp + 8]
        xor edx, edx
        div ecx
        mov eax, [esi]
        pop ebp
        ret
"""


@pytest.mark.parametrize("ecx,esi", [(0, 0x5000), (3, 0x5000), (3, 0x5ffe)])
def test_fault_after_calls_is_precise(tmp_path, ecx, esi):
    unmapped = (0x6000,) if esi != 0x5000 else (0x5000,)
    emu, m = _to_fault(nasm(CALLS_THEN_FAULT, tmp_path), 0x9800, (), unmapped,
                       (("ecx", ecx), ("esi", esi)))
    assert m.read(0x9000, 0x1000) == bytes(emu.mem_read(0x9000, 0x1000))
