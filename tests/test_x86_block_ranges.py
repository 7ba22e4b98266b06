"""Cheaper code inside compiled blocks (vm/x86/emit.py), each edge a small nasm program
run natively and under pyvm (same stdout, same exit status):

- BT/BTS/BTR/BTC save their flags as a flags.KEEP_CF tuple over the operation before
  them (Builder.set_cf): the flags after a bit test must read the same everywhere they
  can be read: right after it, in the next block (the tuple), after a second bit test,
  at the head of the next loop iteration, and in a signal handler's context when the
  next instruction faults.
- masks left out where a value's range is known (byte and word loads, shifts, ANDs, sums
  of those: Builder._narrow), a byte or word register read right after it was written
  (the value written: Builder.low), and MUL/IMUL computing the signed product only for
  the flags: the values and flags at the edges (sums just below and above 2**32, a
  write of AL read as AX, AH written between, products that overflow).
"""

from __future__ import annotations

import subprocess

import pytest
from conftest import require_tool
from test_x86_cpu_flat import pyvm

EXIT_AND_WRITE = """
finish: mov eax, 4
        mov ebx, 1
        mov ecx, res
        mov edx, res_end - res
        int 0x80
        mov eax, 1
        xor ebx, ebx
        int 0x80
"""

# CF from the bit test, ZF kept (Intel: "ZF is unaffected"; OF SF AF PF undefined)
BT_FLAGS = 0x41
_PRODUCERS = ["add edx, ecx", "sub edx, ecx", "cmp edx, ecx", "test edx, ecx", "inc edx",
              "dec edx", "neg edx", "and edx, ecx", "shl edx, 1", "add dl, cl",
              "cmp dx, cx", "stc\n        inc edx", "xor edx, edx"]
_BITS = ["bt eax, 3", "bt eax, 31", "bts eax, 0", "btr eax, 7", "btc eax, 12", "bt ax, 9",
         "bt eax, ebx", "bt dword [mem], 4", "bts dword [mem], ebx", "bt eax, 3\n        bt eax, 4"]

_STEPS = []
for _i, _p in enumerate(_PRODUCERS):
    _b = _BITS[_i % len(_BITS)]
    _b2 = _BITS[(_i * 3 + 1) % len(_BITS)]
    _STEPS.append(f"""
        mov eax, [esi]
        mov [mem], eax
        mov edx, [esi + 4]
        mov ecx, [esi + 8]
        mov ebx, ecx
        and ebx, 31
        {_p}
        {_b}
        push dword .t{_i}
        jmp [targets + {_i % 2} * 4]    ; leaves the block: .t{_i} reads the flags
.t{_i}:
        pushfd
        pop ecx
        and ecx, {BT_FLAGS:#x}
        mov [edi], ecx
        mov [edi + 4], eax
        mov edx, [esi + 4]
        mov ecx, [esi + 8]
        {_p}
        {_b2}
        setc [edi + 8]
        setz [edi + 9]
        jnc .nc{_i}
        or byte [edi + 10], 1
.nc{_i}:
        jnz .nz{_i}
        or byte [edi + 11], 2
.nz{_i}:
        mov ecx, 0
        adc ecx, 0
        mov [edi + 12], ecx
        add edi, 16""")
BIT_TESTS = """bits 32
global _start
section .text
_start: mov dword [rounds], 60  ; (hot enough for blocks and traces, not just tier 0)
again:  mov esi, vals
        mov edi, res
        mov ebp, 5
top:""" + "".join(_STEPS) + """
        add esi, 12
        dec ebp
        jnz top
        dec dword [rounds]
        jnz again
        jmp finish
""" + EXIT_AND_WRITE + """
section .data
rounds: dd 0
targets: dd nop1, nop2
vals:   dd 0x80000009, 0x7fffffff, 1, 0, 0, 0, 0xffffffff, 0xffffffff, 0x1f
        dd 0x00001008, 0x80000000, 0x80000000, 0x12345678, 0x9abcdef0, 7
mem:    dd 0
res:    times 5 * 13 * 16 db 0
res_end:
section .text
nop1:   ret
nop2:   lea esp, [esp]
        ret
"""

# a loop whose body starts with a bit test over the flags the previous iteration left
# (the loop block's entry flags), its CF counted by adc and its ZF by setz
BT_LOOP = """bits 32
global _start
section .text
_start: xor ecx, ecx
        xor edi, edi
        xor esi, esi
        mov eax, 0x5a5a1234
        cmp eax, eax
top:    bt eax, ecx
        adc edi, 0
        setz bl
        movzx ebx, bl
        add esi, ebx
        cmp ecx, 17
        inc ecx
        cmp ecx, 40
        jne top
        mov [res], edi
        mov [res + 4], esi
        jmp finish
""" + EXIT_AND_WRITE + """
section .data
res:    dd 0, 0
res_end:
"""

# the instruction after a bit test faults (an unmapped page): the SIGSEGV handler
# finds the flags of the bit test in the signal context (CF and ZF)
BT_FAULT = """bits 32
global _start
section .text
_start: mov eax, 174            ; rt_sigaction(SIGSEGV, act, 0, 8)
        mov ebx, 11
        mov ecx, act
        xor edx, edx
        mov esi, 8
        int 0x80
        mov eax, 0x10
        mov ecx, 5
        mov edx, [limit]
        cmp ecx, 5              ; ZF set
        bt eax, 4               ; CF set
        mov ebx, [edx]          ; faults
        jmp finish
handler:
        mov eax, [esp + 12]     ; ucontext; its mcontext starts at +20
        mov eax, [eax + 20 + 64]
        and eax, 0x41
        mov [res], eax          ; eflags: CF, ZF
        jmp finish
""" + EXIT_AND_WRITE + """
section .data
act:    dd handler, 4, 0, 0, 0  ; SA_SIGINFO
limit:  dd 0
res:    dd 0
res_end:
"""

# each round: values from the table through byte/word registers, shifts, sums and
# products; everything written to res (values and CF|ZF|SF|OF where they are defined)
NARROW = """bits 32
global _start
section .text
_start: mov dword [rounds], 40
again:  mov esi, vals
        mov edi, res
        mov ebp, 6
top:    mov eax, [esi]
        shr eax, 3
        lea ebx, [eax + eax * 4]        ; below 2**32 (no mask)
        lea ecx, [ebx + ebx]            ; may pass 2**32 (masked)
        mov [edi], ebx
        mov [edi + 4], ecx
        mov eax, [esi]
        mov al, [esi + 5]               ; AL written, AX and EAX read
        mov [edi + 8], ax
        mov [edi + 10], al
        mov [edi + 12], eax
        mov ah, [esi + 6]               ; AH between: AL still the byte
        mov dl, al
        cmp al, [esi + 4]
        setz [edi + 16]
        setb [edi + 17]
        mov [edi + 18], dl
        mov [edi + 19], ah
        mov ax, [esi + 6]               ; AX written, AL read
        mov [edi + 20], al
        add ax, 0xff01                  ; wraps at 16 bits
        mov [edi + 22], ax
        movzx ecx, byte [esi + 7]
        add ecx, 0xffffff00             ; a byte plus a constant: up to 2**32 - 1
        mov [edi + 24], ecx
        movzx ecx, byte [esi + 7]
        add ecx, 0xffffff81             ; passes 2**32 for a byte of 0x7f and up
        mov [edi + 72], ecx
        mov eax, [esi]
        shr eax, 1
        lea ecx, [eax + eax * 2]        ; passes 2**32 for the larger halves
        mov [edi + 76], ecx
        movzx ecx, byte [esi + 3]
        and ecx, 0x1f0                  ; not a run of low ones: an AND that changes it
        mov [edi + 64], ecx
        movzx ecx, word [esi + 2]
        and ecx, 0xff0
        shl ecx, 20
        mov [edi + 68], ecx
        mov eax, [esi]
        mov ecx, [esi + 4]
        mul ecx                         ; unsigned: EDX the high half
        mov [edi + 32], eax
        mov [edi + 36], edx
        pushfd
        pop edx
        and edx, 0x801
        mov [edi + 40], edx
        mov eax, [esi]
        imul ebx, eax, 0x83             ; three operands: low half, CF=OF signed overflow
        mov [edi + 44], ebx
        seto [edi + 48]
        setc [edi + 49]
        imul ecx, [esi + 4]
        mov [edi + 52], ecx
        jo .o1
        or byte [edi + 50], 1
.o1:    mov ax, [esi]
        imul ax, [esi + 4]
        mov [edi + 56], ax
        setc [edi + 51]
        mov al, [esi + 1]
        mul byte [esi + 5]              ; AX = AL * byte
        mov [edi + 58], ax
        pushfd
        pop edx
        and edx, 0x801
        mov [edi + 60], edx
        add esi, 8
        add edi, 80
        dec ebp
        jnz top
        dec dword [rounds]
        jnz again
        jmp finish
""" + EXIT_AND_WRITE + """
section .data
rounds: dd 0
vals:   dd 0xffffffff, 0xfffffff7, 0x7fffffff, 0x80000001, 0x12345678, 0x0000ff80
        dd 0x00010000, 0x00010001, 0x9abcdef0, 0x00000083, 0x01000193, 0xfffffffe
res:    times 6 * 80 db 0
res_end:
"""

CASES = {"bit_tests": BIT_TESTS, "bt_loop": BT_LOOP, "bt_fault": BT_FAULT, "narrow": NARROW}


@pytest.fixture(scope="module")
def tools():
    return require_tool("nasm"), require_tool("ld")


def build(tmp_path, tools, source: str):
    nasm, ld = tools
    src = tmp_path / "p.asm"
    src.write_text(source)
    subprocess.run([nasm, "-f", "elf32", str(src), "-o", str(tmp_path / "p.o")], check=True)
    exe = tmp_path / "p"
    subprocess.run([ld, "-m", "elf_i386", str(tmp_path / "p.o"), "-o", str(exe)],
                   check=True, capture_output=True)
    return exe


@pytest.mark.parametrize("name", sorted(CASES))
def test_matches_native(tmp_path, tools, name):
    exe = build(tmp_path, tools, CASES[name])
    native = subprocess.run([str(exe)], capture_output=True, timeout=10)
    assert native.returncode == 0 and native.stdout, native
    ours = pyvm(exe)
    assert ours.returncode == native.returncode, ours.stderr.decode()
    assert ours.stdout == native.stdout
