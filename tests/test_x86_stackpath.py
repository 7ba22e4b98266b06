"""Stack accesses with one page check per block (vm/x86/emit.py, Builder._stack_ref): a
block checks once that the ESP/EBP-relative accesses it makes lie in one readable page
without code, read-only or watch flags (and, for word accesses, that the base is
aligned), then indexes memory directly; otherwise each access takes the checked path.

The edges: a base near a page boundary or misaligned, byte/word/unaligned accesses, a
store into code through a block compiled while the page held none (the stack page gets
code later), faults on read-only and unmapped stack pages in the middle of a block.
Oracle: Unicorn, instruction for instruction (registers, flags, memory, fault point)."""

from __future__ import annotations

import subprocess

import pytest
from conftest import require_module, require_tool
from flat32_harness import pyvm_state, unicorn_state

from vm.x86.machine import Machine

MEMORY = 0x20000
CODE = 0x1000
DEFINED = 0x8D5     # CF PF AF ZF SF OF


def nasm(source: str, tmp_path, org: int = CODE) -> bytes:
    exe = require_tool("nasm")
    src = tmp_path / "t.asm"
    out = tmp_path / "t.bin"
    src.write_text(f"bits 32\norg {org:#x}\n" + source)
    subprocess.run([exe, "-f", "bin", "-o", str(out), str(src)], check=True)
    return out.read_bytes()


def unicorn(code: bytes, esp: int, readonly=(), unmapped=()):
    uc = require_module("unicorn")
    from unicorn import x86_const as X
    emu = uc.Uc(uc.UC_ARCH_X86, uc.UC_MODE_32)
    for page in range(0, MEMORY, 0x1000):
        if page in unmapped:
            continue
        perms = uc.UC_PROT_READ | uc.UC_PROT_EXEC if page in readonly else uc.UC_PROT_ALL
        emu.mem_map(page, 0x1000, perms)
    emu.mem_write(CODE, code)
    emu.reg_write(X.UC_X86_REG_ESP, esp)
    emu.reg_write(X.UC_X86_REG_EIP, CODE)
    return emu, X


def ours(code: bytes, esp: int, readonly=(), unmapped=()) -> Machine:
    m = Machine("flat32", MEMORY)
    m.load(CODE, code)
    for page in readonly:
        m.map(page, 0x1000, "r")
    for page in unmapped:
        m.unmap(page, 0x1000)
    m.set_reg("esp", esp)
    m.set_reg("eip", CODE)
    return m


def state_uc(emu, X) -> dict:
    return unicorn_state(emu, X, DEFINED)


def state(m: Machine) -> dict:
    return pyvm_state(m, DEFINED)


def run_uc(emu, X, until: int) -> Exception:
    """Run to `until` (or a fault: returned)."""
    try:
        emu.emu_start(emu.reg_read(X.UC_X86_REG_EIP), until)
    except Exception as e:      # unicorn.UcError: the registers are at the fault
        return e
    return None


# calls, pushes and pops, frame-pointer accesses, byte/word/dword and unaligned offsets,
# negative offsets, a loop whose blocks run many times
MIXED = """
start:  mov ecx, 30
        mov ebx, 0x11223344
top:    push ebx
        push ecx
        call f
        add esp, 8
        add edi, eax
        dec ecx
        jnz top
        mov eax, [esp - 4]
        mov dx, [esp - 6]
        mov bl, [esp - 3]
        jmp done
f:      push ebp
        mov ebp, esp
        sub esp, 16
        mov eax, [ebp + 8]
        mov edx, [ebp + 12]
        mov [esp], eax
        mov [esp + 5], edx
        mov word [esp + 10], 0x7788
        mov byte [esp + 15], 0x99
        add eax, [esp + 5]
        movzx edx, word [esp + 10]
        add eax, edx
        movzx edx, byte [esp + 15]
        add eax, edx
        add eax, [ebp - 11]
        mov [ebp - 16], eax
        xor eax, [esp]
        leave
        ret
done:   nop
"""


@pytest.mark.parametrize("esp", [0x9000, 0x9002, 0x9003, 0x9010, 0x9ff0, 0x9020 - 3,
                                 0xa004, 0x9fd8, 0x9fe6])
def test_stack_accesses_match_unicorn(tmp_path, esp):
    code = nasm(MIXED, tmp_path)
    end = CODE + len(code) - 1          # the final nop
    emu, X = unicorn(code, esp)
    m = ours(code, esp)
    stop = m.run(until=end)
    assert stop.reason == "until"
    assert run_uc(emu, X, end) is None
    assert state(m) == state_uc(emu, X)
    assert m.read(0x8000, 0x3000) == bytes(emu.mem_read(0x8000, 0x3000))


# a block compiled while the stack page held no code (patch: its stores go straight to
# memory), then code on the stack page runs (the page now holds translated code), then
# the same block stores into that code: the new bytes must run
CODE_ON_STACK = """
start:  mov ecx, 20
top:    mov eax, ecx
        imul eax, eax, 100
        call patch
        lea edx, [esp - 0x100]
        call edx
        add ebx, eax
        dec ecx
        jnz top
        jmp done
patch:  mov byte [esp - 0xfc], 0xb8     ; mov eax, imm32 at [esp(caller) - 0x100]
        mov [esp - 0xfb], eax
        mov byte [esp - 0xf7], 0xc3     ; ret
        mov [esp - 0xf6], eax
        ret
done:   nop
"""


def test_store_into_code_through_the_stack_path(tmp_path):
    code = nasm(CODE_ON_STACK, tmp_path)
    end = CODE + len(code) - 1
    emu, X = unicorn(code, 0x9800)
    m = ours(code, 0x9800)
    stop = m.run(until=end)
    assert stop.reason == "until"
    assert run_uc(emu, X, end) is None
    assert state(m) == state_uc(emu, X)
    assert m.reg("ebx") == 100 * sum(range(21))     # each call ran the new bytes
    assert m.read(0x9000, 0x1000) == bytes(emu.mem_read(0x9000, 0x1000))


def test_store_into_code_on_the_page_of_the_stack(tmp_path):
    # the stack shares its page with the code the stores patch (mov eax, imm32 of f)
    src = """
start:  mov ecx, 20
again:  call f
        add ebx, eax
        mov eax, ecx
        imul eax, eax, 100
        mov [esp + (f + 1 - 0x1800)], eax
        mov [esp - 4], ecx
        dec ecx
        jnz again
        jmp done
f:      mov eax, 7
        ret
done:   nop
"""
    code = nasm(src, tmp_path)
    end = CODE + len(code) - 1
    emu, X = unicorn(code, 0x1800)
    m = ours(code, 0x1800)
    assert m.run(until=end).reason == "until"
    assert run_uc(emu, X, end) is None
    assert state(m) == state_uc(emu, X)
    assert m.reg("ebx") == 7 + 100 * sum(range(2, 21))


# pushes and stores, then a fault in the middle of the block: registers, flags and the
# faulting instruction must be those before it, as Unicorn reports them
FAULTING = """
start:  mov eax, 1
        mov ebx, 2
        add eax, ebx
        push eax
        mov [esp - 8], ebx
        push ebx
        mov ecx, [esp + 4]
        sub ecx, 7
        push ecx
        push eax
        push ebx
        pop edx
        jmp start
"""


@pytest.mark.parametrize("esp,readonly,unmapped", [
    (0x9008, (0x8000,), ()),        # the third push writes a read-only page
    (0x9010, (0x8000,), ()),        # the fifth
    (0x9008, (), (0x8000,)),        # an unmapped page
    (0x900c, (0x9000,), ()),        # the first push: the whole stack page is read-only
])
def test_fault_in_the_middle_of_a_block_is_precise(tmp_path, esp, readonly, unmapped):
    code = nasm(FAULTING, tmp_path)
    emu, X = unicorn(code, esp, readonly, unmapped)
    m = ours(code, esp, readonly, unmapped)
    stop = m.run(1000)
    assert stop.reason == "fault"
    assert run_uc(emu, X, 0xFFFFFFF0) is not None
    assert state(m) == state_uc(emu, X)
    assert m.read(0x9000, 0x1000) == bytes(emu.mem_read(0x9000, 0x1000))


def test_pop_from_an_unmapped_page_faults(tmp_path):
    src = """
start:  pop eax
        pop ebx
        add eax, ebx
        pop ecx
        pop edx
        jmp start
"""
    code = nasm(src, tmp_path)
    emu, X = unicorn(code, 0x9ff8, unmapped=(0xa000,))
    m = ours(code, 0x9ff8, unmapped=(0xa000,))
    emu.mem_write(0x9ff8, bytes(range(1, 9)))
    m.write(0x9ff8, bytes(range(1, 9)))
    stop = m.run(1000)
    assert stop.reason == "fault"
    assert run_uc(emu, X, 0xFFFFFFF0) is not None
    assert state(m) == state_uc(emu, X)
    assert m.reg("eip") == CODE + 4 and m.reg("eax") == 0x08070605 + 0x04030201


# a block forwards what it stored through a stack check to a later load of the same
# bytes: stores through other bases, partial overwrites and string instructions between
# them must be seen
ALIASES = """
start:  mov ecx, 20
top:    mov [esp - 40], esp
        mov eax, [esp - 40]
        sub eax, 8                      ; eax = esp - 8, but not as the block sees it
        mov dword [esp - 8], 1
        mov dword [eax], 2
        add edi, [esp - 8]
        mov dword [esp - 16], 0x11111111
        mov byte [esp - 15], 0x22
        add edi, [esp - 16]
        mov dword [esp - 24], 5
        push edi
        lea edi, [esp - 20]
        mov eax, 0x33
        stosd
        pop edi
        add edi, [esp - 24]
        push ecx
        mov [esp], edx
        pop esi
        add edi, esi
        mov dword [esp - 32], 7
        mov ebx, [esp - 40]
        mov dword [ebx - 32], 9
        add edi, [esp - 32]
        dec ecx
        jnz top
        jmp done
done:   nop
"""


def test_store_to_load_forwarding_sees_aliases(tmp_path):
    code = nasm(ALIASES, tmp_path)
    end = CODE + len(code) - 1
    emu, X = unicorn(code, 0x9800)
    m = ours(code, 0x9800)
    assert m.run(until=end).reason == "until"
    assert run_uc(emu, X, end) is None
    assert state(m) == state_uc(emu, X)
    assert m.read(0x9000, 0x1000) == bytes(emu.mem_read(0x9000, 0x1000))
