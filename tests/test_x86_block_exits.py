"""Edges of the block compiler's speculation, each a small nasm program run natively and
under pyvm (same stdout, same exit status): a ``ret`` whose return address the callee
rewrote (the predicted return inside a loop block), an indirect call whose target
changes, code rewritten after it ran, a fault in the middle of a loop block (the
registers the signal handler sees), and constant rotates whose flags are computed only
when read."""

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

# the callee rewrites its return address in iteration 6: the guard of the predicted
# return leaves the loop block, whose registers written later in the body (ebx, ecx,
# edi: carried from the previous iteration) must reach the CPU
RET_MODIFIED = """bits 32
global _start
section .text
_start: xor ebx, ebx
        xor ecx, ecx
        xor edi, edi
top:    call f
after:  inc ebx
        add ecx, 3
        lea edi, [edi + ebx * 2]
        cmp ebx, 10
        jne top
        mov [res], ebx
        mov [res + 4], ecx
        mov [res + 8], edi
        jmp finish
alt:    add ecx, 1000
        jmp after
f:      mov eax, [table + ebx * 4]
        mov [esp], eax
        ret
""" + EXIT_AND_WRITE + """
section .data
table:  dd after, after, after, after, after, alt, after, after, after, after, after
res:    dd 0, 0, 0
res_end:
"""

# the same call site reaches three functions in turn
INDIRECT_CALL = """bits 32
global _start
section .text
_start: xor ebx, ebx
        xor esi, esi
top:    mov eax, ebx
        and eax, 3
        call [fns + eax * 4]
        add esi, eax
        imul esi, esi, 7
        inc ebx
        cmp ebx, 50
        jne top
        mov [res], esi
        jmp finish
f1:     mov eax, 1
        ret
f2:     mov eax, 20
        ret
f3:     lea eax, [ebx + 300]
        ret
""" + EXIT_AND_WRITE + """
section .data
fns:    dd f1, f2, f3, f2
res:    dd 0
res_end:
"""

# a loop calls g, then stores a new immediate into g's code: every later call must see it
CODE_REWRITTEN = """bits 32
global _start
section .text progbits alloc exec write
_start: xor ebx, ebx
        xor esi, esi
top:    call g
        add esi, eax
        lea ecx, [ebx * 8 + 5]
        mov [g + 1], ecx
        inc ebx
        cmp ebx, 12
        jne top
        mov [res], esi
        jmp finish
g:      mov eax, 1
        ret
""" + EXIT_AND_WRITE + """
section .data
res:    dd 0
res_end:
"""

# iteration 37 of a loop reads past the end of the data (an unmapped page): the
# SIGSEGV handler writes the registers of the faulting instruction and its eip's offset
FAULT_IN_LOOP = """bits 32
global _start
section .text
_start: mov eax, 174            ; rt_sigaction(SIGSEGV, act, 0, 8)
        mov ebx, 11
        mov ecx, act
        xor edx, edx
        mov esi, 8
        int 0x80
        xor ecx, ecx
        mov ebx, 0x1000
        mov edi, 7
        mov esi, [limit]
top:    add edi, ecx
        add ecx, 3
        lea edx, [ebx * 4 + esi]
        mov eax, [edx]
        add edi, eax
        inc ebx
        jmp top
handler:
        mov eax, [esp + 12]     ; ucontext; its mcontext starts at +20
        lea esi, [eax + 20]
        mov eax, [esi + 16]
        mov [res], eax          ; edi
        mov eax, [esi + 32]
        mov [res + 4], eax      ; ebx
        mov eax, [esi + 36]
        mov [res + 8], eax      ; edx
        mov eax, [esi + 40]
        mov [res + 12], eax     ; ecx
        mov eax, [esi + 56]
        sub eax, _start
        mov [res + 16], eax     ; eip
        jmp finish
""" + EXIT_AND_WRITE + """
section .data
act:    dd handler, 4, 0, 0, 0  ; SA_SIGINFO
limit:  dd 0
res:    dd 0, 0, 0, 0, 0
res_end:
"""

# ROL/ROR by constants (registers and memory, 8/16/32 bits) after every kind of flag
# producer; the flags are read by pushfd, adc, setcc and jcc (OF only for a count of 1,
# AF not after the producers that leave it undefined)
_ROT_STEPS = []
for _i, (_setup, _rot, _mask) in enumerate([
        ("add edx, 0x7fffffff", "rol eax, 1", 0x8D5),
        ("cmp edx, 0x80000000", "ror eax, 1", 0x8D5),
        ("inc edx", "rol eax, 13", 0xD5),
        ("sub edx, ecx", "ror eax, 31", 0xD5),
        ("and edx, 0xf0f0", "rol ax, 17", 0xC5),
        ("dec edx", "ror al, 8", 0xD5),
        ("neg edx", "rol byte [mem], 3", 0xD5),
        ("xor edx, 0x5a5a", "ror dword [mem], 1", 0x8C5),
        ("shl edx, 3", "rol word [mem], 1", 0x8C5),
        ("add edx, edx", "rol eax, 5\n        ror eax, 2", 0xD5)]):
    _ROT_STEPS.append(f"""
        mov eax, [esi]
        mov [mem], eax
        mov edx, [esi + 4]
        {_setup}
        {_rot}
        pushfd
        pop ecx
        and ecx, {_mask:#x}
        mov [edi], eax
        mov [edi + 4], ecx
        mov ecx, [mem]
        mov [edi + 8], ecx
        {_setup}
        {_rot}
        mov ecx, 0
        adc ecx, 0
        setc [edi + 12]
        jnc .nc{_i}
        or byte [edi + 13], 1
.nc{_i}:
        {_setup}
        {_rot}
        setz [edi + 14]
        js .ns{_i}
        or byte [edi + 15], 2
.ns{_i}:
        add ecx, eax
        mov [edi + 16], ecx
        add edi, 20""")
ROTATES = """bits 32
global _start
section .text
_start: mov esi, vals
        mov edi, res
        mov ebp, 6
top:""" + "".join(_ROT_STEPS) + """
        add esi, 8
        dec ebp
        jnz top
        jmp finish
""" + EXIT_AND_WRITE + """
section .data
vals:   dd 0x80000001, 0x7fffffff, 0, 0, 0xffffffff, 1, 0x12345678, 0x9abcdef0
        dd 0x00ff00ff, 0x80000000, 0x40000000, 0xdeadbeef
mem:    dd 0
res:    times 6 * 10 * 20 db 0
res_end:
"""

CASES = {"ret_modified": RET_MODIFIED, "indirect_call": INDIRECT_CALL,
         "code_rewritten": CODE_REWRITTEN, "fault_in_loop": FAULT_IN_LOOP,
         "rotates": ROTATES}


@pytest.fixture(scope="module")
def tools():
    return require_tool("nasm"), require_tool("ld")


@pytest.mark.parametrize("name", sorted(CASES))
def test_matches_native(tmp_path, tools, name):
    nasm, ld = tools
    src = tmp_path / "p.asm"
    src.write_text(CASES[name])
    subprocess.run([nasm, "-f", "elf32", str(src), "-o", str(tmp_path / "p.o")], check=True)
    exe = tmp_path / "p"
    omagic = ["-N"] if "write" in CASES[name] else []     # writable text
    subprocess.run([ld, "-m", "elf_i386", *omagic, str(tmp_path / "p.o"), "-o", str(exe)],
                   check=True, capture_output=True)
    native = subprocess.run([str(exe)], capture_output=True, timeout=10)
    assert native.returncode == 0 and native.stdout, native
    ours = pyvm(exe)
    assert ours.returncode == native.returncode, ours.stderr.decode()
    assert ours.stdout == native.stdout
