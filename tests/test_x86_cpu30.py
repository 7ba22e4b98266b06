"""CPU fidelity holes a red team found in the Linux personality (session 30), each
checked against the native run of the same i386 program (this host runs them):

- EFLAGS.TF: set by POPF, by sigreturn (TF in the saved context) or by IRET, the next
  instruction runs and then traps: SIGTRAP, si_code TRAP_TRACE (2), trapno 1, at the
  next instruction's EIP; not after INT n / INT3 (they clear TF), and a REP string
  instruction traps after each iteration with EIP still on it.
- an FS/GS base plus the offset wraps at 4 GiB (string instructions too), and
  set_thread_area(-1) takes the first free TLS slot (it always took glibc's 12).
- SGDT/SIDT/SMSW/SLDT/STR in user mode give what Linux's UMIP emulation gives.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.skipif(
    not os.environ.get("CI") and not (shutil.which("gcc") and shutil.which("nasm")
                                    and shutil.which("qemu-system-i386")),
    reason="needs gcc -m32, nasm and qemu-system-i386")


def _build(tmp: Path, name: str, text: str) -> Path:
    src = tmp / name
    src.write_text(text)
    prog = tmp / src.stem
    if name.endswith(".c"):
        subprocess.run(["gcc", "-m32", "-static", "-O1", "-o", str(prog), str(src)],
                       check=True, timeout=120)
    else:
        obj = tmp / (src.stem + ".o")
        subprocess.run(["nasm", "-felf32", "-o", str(obj), str(src)], check=True, timeout=60)
        subprocess.run(["ld", "-m", "elf_i386", "-o", str(prog), str(obj)], check=True,
                       timeout=60)
    return prog


def _both(tmp: Path, name: str, text: str) -> tuple:
    """(native, pyvm) CompletedProcess of the program built from text."""
    prog = _build(tmp, name, text)
    native = subprocess.run([str(prog)], capture_output=True, timeout=60)
    env = dict(os.environ, PYVM_CODE_CACHE="0")
    pyvm = subprocess.run([sys.executable, "-m", "vm.linux", str(prog)], cwd=ROOT, env=env,
                          capture_output=True, timeout=300)
    return native, pyvm


def _same(tmp: Path, name: str, text: str) -> bytes:
    native, pyvm = _both(tmp, name, text)
    assert native.returncode == 0, native
    assert pyvm.returncode == 0, pyvm.stderr.decode()[-2000:]
    assert pyvm.stdout == native.stdout
    return native.stdout


TF_C = r"""
#define _GNU_SOURCE
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <ucontext.h>
#include <unistd.h>
extern char start_[], s1[], s2[], s3[], end_[];
static int n;
static void h(int sig, siginfo_t *si, void *uc_) {
    ucontext_t *uc = uc_;
    unsigned eip = uc->uc_mcontext.gregs[REG_EIP];
    unsigned fl = uc->uc_mcontext.gregs[REG_EFL];
    unsigned trapno = uc->uc_mcontext.gregs[REG_TRAPNO];
    unsigned err = uc->uc_mcontext.gregs[REG_ERR];
    printf("sig %d code %d addr %s eip %s tf %d trapno %u err %u\n", sig, si->si_code,
           si->si_addr == (void*)eip ? "=eip" : (si->si_addr==0?"0":"?"),
           eip == (unsigned)s1 ? "s1" : eip == (unsigned)s2 ? "s2" : eip == (unsigned)s3 ? "s3" : eip==(unsigned)end_?"end":"other",
           !!(fl & 0x100), trapno, err);
    if (++n >= 3) uc->uc_mcontext.gregs[REG_EFL] &= ~0x100;
}
int main(void) {
    struct sigaction sa; memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = h; sa.sa_flags = SA_SIGINFO;
    sigaction(SIGTRAP, &sa, 0);
    __asm__ volatile(
        "start_: pushf\n orl $0x100,(%%esp)\n popf\n"
        "s1: nop\n s2: mov $5,%%eax\n s3: nop\n nop\n end_: nop\n" ::: "eax", "memory");
    printf("n=%d\n", n);
    return 0;
}
"""


TF2_C = r"""
#define _GNU_SOURCE
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <ucontext.h>
extern char lab[][1];
extern char L0[], L1[], L2[], L3[], L4[], L5[], L6[], L7[];
static char *labs[] = {L0, L1, L2, L3, L4, L5, L6, L7};
static int n;
static void h(int sig, siginfo_t *si, void *uc_) {
    ucontext_t *uc = uc_;
    unsigned eip = uc->uc_mcontext.gregs[REG_EIP];
    int k = -1;
    for (int i = 0; i < 8; i++) if ((unsigned)labs[i] == eip) k = i;
    printf("sig %d code %d at L%d trapno %d\n", sig, si->si_code, k, (int)uc->uc_mcontext.gregs[REG_TRAPNO]);
    if (k == 7 || ++n > 20) uc->uc_mcontext.gregs[REG_EFL] &= ~0x100;
}
int main(void) {
    struct sigaction sa; memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = h; sa.sa_flags = SA_SIGINFO;
    sigaction(SIGTRAP, &sa, 0);
    __asm__ volatile(
        "pushf\n orl $0x100,(%%esp)\n popf\n"
        "L0: mov $20,%%eax\n L1: int $0x80\n L2: nop\n L3: int3\n L4: nop\n L5: jmp L6\n L6: nop\n L7: nop\n" ::: "eax", "memory");
    printf("n=%d\n", n);
    return 0;
}
"""


TF3_C = r"""
#define _GNU_SOURCE
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <ucontext.h>
extern char L0[], L1[], L2[], L3[], L4[], L5[], L6[], L7[];
static char *labs[] = {L0, L1, L2, L3, L4, L5, L6, L7};
static int n;
static char src[8] = "abcdefg", dst[8];
static void h(int sig, siginfo_t *si, void *uc_) {
    ucontext_t *uc = uc_;
    unsigned eip = uc->uc_mcontext.gregs[REG_EIP];
    int k = -1;
    for (int i = 0; i < 8; i++) if ((unsigned)labs[i] == eip) k = i;
    printf("sig %d code %d at L%d ecx %d\n", sig, si->si_code, k, (int)uc->uc_mcontext.gregs[REG_ECX]);
    if (k == 7 || ++n > 20) uc->uc_mcontext.gregs[REG_EFL] &= ~0x100;
}
int main(void) {
    struct sigaction sa; memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = h; sa.sa_flags = SA_SIGINFO;
    sigaction(SIGTRAP, &sa, 0);
    __asm__ volatile(
        "pushf\n orl $0x100,(%%esp)\n popf\n"
        "L0: mov $3,%%ecx\n L1: rep movsb\n L2: push %%cs\n push $L4\n pushf\n pop %%eax\n"
        "L3: xchg %%eax,4(%%esp)\n xchg %%eax,(%%esp)\n push %%eax\n iret\n"
        "L4: nop\n L5: pushf\n andl $~0x100,(%%esp)\n L6: popf\n L7: nop\n"
        :: "S"(src), "D"(dst) : "eax", "ecx", "memory");
    printf("n=%d %s\n", n, dst);
    return 0;
}
"""


GSW_C = r"""
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <asm/ldt.h>
#include <sys/syscall.h>
#include <unistd.h>
int var = 0x12345678, var2;
static int sta(struct user_desc *d, unsigned base) {
    memset(d, 0, sizeof *d);
    d->entry_number = -1; d->base_addr = base; d->limit = 0xFFFFF;
    d->seg_32bit = 1; d->limit_in_pages = 1; d->useable = 1;
    return syscall(SYS_set_thread_area, d) ? -errno : (int)d->entry_number;
}
int main(void) {
    struct user_desc d;
    int e = sta(&d, 0xFFFFF000);
    unsigned sel = e * 8 + 3, v;
    unsigned short old;
    __asm__ volatile("mov %%fs, %0" : "=r"(old));
    __asm__ volatile("mov %1, %%fs\n mov %%fs:0x1000(%2), %0\n movl $0x55aa, %%fs:0x1000(%3)\n"
                     "mov %4, %%fs"
                     : "=&r"(v) : "r"(sel), "r"(&var), "r"(&var2), "r"((unsigned)old) : "memory");
    printf("entry %d read %x wrote %x\n", e, v, var2);
    printf("then %d", sta(&d, 0x1000));
    printf(" %d\n", sta(&d, 0x2000));
    return 0;
}
"""


GSW2_ASM = r"""
bits 32
section .data
ud: dd 13, 0xFFFFF000, 0xFFFFF, 0x51
var: dd 0x12345678, 0x9abcdef0, 0, 0
out: times 16 dd 0
section .text
global _start
_start:
    mov eax, 243
    mov ebx, ud
    int 0x80
    test eax, eax
    jnz fail
    mov eax, 13*8+3
    mov fs, eax
    mov gs, eax
    mov eax, [gs:var+0x1000]          ; constant displacement
    mov [out], eax
    mov esi, var
    mov eax, [fs:esi+0x1000]
    mov [out+4], eax
    movzx eax, word [gs:var+0x1002]
    mov [out+8], eax
    fs lea esi, [var+0x1000]
    mov edi, out+12
    fs movsd                           ; string with a segment override
    mov esi, var+0x1004
    gs lodsd
    mov [out+16], eax
    fld dword [gs:var+0x1000]
    fstp dword [out+20]
    movdqu xmm0, [fs:var+0x1000]
    movdqu [out+24], xmm0
    push dword [gs:var+0x1000]
    pop dword [out+40]
    mov dword [gs:out+0x1000+44], 0x77
    add dword [gs:out+0x1000+44], 1
    mov eax, 5
    xchg eax, [gs:out+0x1000+48]
    mov eax, 1
    mov ecx, 9
    lock cmpxchg [gs:out+0x1000+48], ecx
    mov eax, 4
    mov ebx, 1
    mov ecx, out
    mov edx, 64
    int 0x80
    mov eax, 1
    xor ebx, ebx
    int 0x80
fail:
    mov ebx, eax
    neg ebx
    mov eax, 1
    int 0x80
"""


GSW3_ASM = r"""
bits 32
section .data
ud: dd 13, 0xFFFFF000, 0xFFFFF, 0x51
var: dd 0x12345678, 0x9abcdef0, 0x11112222, 0x33334444
tab: db 0,1,2,3,4,5,6,7,8,9
bd: dd 0, 100
align 16
fx: times 512 db 0
out: times 16 dd 0
section .text
global _start
_start:
    mov eax, 243
    mov ebx, ud
    int 0x80
    mov eax, 13*8+3
    mov fs, eax
    mov gs, eax
    fxsave [gs:fx+0x1000]
    fxrstor [fs:fx+0x1000]
    mov eax, [fx+24]                 ; mxcsr
    mov [out], eax
    fnstenv [gs:fx+0x1000]
    fldenv [gs:fx+0x1000]
    mov eax, [fx]
    mov [out+4], eax
    mov eax, 0x12345678
    mov edx, 0x9abcdef0
    mov ebx, 1
    mov ecx, 2
    cmpxchg8b [gs:var+0x1000]
    mov eax, [var]
    mov [out+8], eax
    mov ebx, tab+0x1000
    mov al, 7
    gs xlatb
    mov [out+12], eax
    mov eax, 50
    bound eax, [gs:bd+0x1000]
    lgs esi, [fs:var+0x1000]
    mov eax, 13*8+3
    mov gs, eax
    mov [out+16], esi
    cld
    mov esi, var+0x1000
    mov edi, out+20
    mov ecx, 8
    rep fs movsw
    mov esi, var+0x1000
    mov edi, var
    mov ecx, 16
    repe gs cmpsb
    mov [out+36], ecx
    mov eax, 4
    mov ebx, 1
    mov ecx, out
    mov edx, 64
    int 0x80
    mov eax, 1
    xor ebx, ebx
    int 0x80
"""


UMIP_ASM = r"""
bits 32
section .data
out: times 48 db 0xcc
section .text
global _start
_start:
    mov eax, 0xdeadbeef
    smsw eax
    mov [out], eax
    mov eax, 0xdeadbeef
    smsw ax
    mov [out+4], eax
    smsw [out+8]
    mov eax, 0xdeadbeef
    str eax
    mov [out+12], eax
    mov eax, 0xdeadbeef
    str ax
    mov [out+16], eax
    str [out+20]
    mov eax, 0xdeadbeef
    sldt eax
    mov [out+24], eax
    mov eax, 0xdeadbeef
    sldt ax
    mov [out+28], eax
    sldt [out+32]
    o16 sidt [out+36]
    mov eax, 4
    mov ebx, 1
    mov ecx, out
    mov edx, 48
    int 0x80
    mov eax, 1
    xor ebx, ebx
    int 0x80
"""


SGDT_ASM = r"""
bits 32
section .data
out: times 32 db 0xcc
section .text
global _start
_start:
    sgdt [out]
    sidt [out+8]
    o16 sgdt [out+16]
    str eax
    mov [out+24], eax
    sldt eax
    mov [out+28], eax
    smsw eax
    mov [out+30], ax
    mov eax, 4
    mov ebx, 1
    mov ecx, out
    mov edx, 32
    int 0x80
    mov eax, 1
    xor ebx, ebx
    int 0x80
"""


def test_tf_set_by_popf_traps_after_the_next_instruction(tmp_path):
    out = _same(tmp_path, "tf.c", TF_C)
    assert out.startswith(b"sig 5 code 2 addr =eip eip s2 tf 1 trapno 1 err 0\n")


def test_tf_not_after_int_and_again_after_sigreturn(tmp_path):
    out = _same(tmp_path, "tf2.c", TF2_C)
    assert b"code 2 at L1" in out and b"at L2" not in out and b"code 128 at L4" in out


def test_tf_rep_string_iterations_and_iret(tmp_path):
    out = _same(tmp_path, "tf3.c", TF3_C)
    assert b"at L1 ecx 2" in out and b"at L4" in out


def test_tf_without_a_handler_kills_with_sigtrap(tmp_path):
    text = TF_C.replace("sigaction(SIGTRAP, &sa, 0);", "")
    native, pyvm = _both(tmp_path, "tfk.c", text)
    assert native.returncode == -5
    assert pyvm.returncode == 128 + 5 and b"SIGTRAP" in pyvm.stderr


def test_set_thread_area_first_free_slot_and_base_wrap(tmp_path):
    out = _same(tmp_path, "gsw.c", GSW_C)
    assert out == b"entry 13 read 12345678 wrote 55aa\nthen 14 -3\n"


@pytest.mark.parametrize("name", ["gsw2.asm", "gsw3.asm"])
def test_fs_gs_base_wraps_at_4g(tmp_path, name):
    _same(tmp_path, name, {"gsw2.asm": GSW2_ASM, "gsw3.asm": GSW3_ASM}[name])


@pytest.mark.parametrize("name", ["umip.asm", "sgdt.asm"])
def test_user_mode_descriptor_stores_as_linux_umip(tmp_path, name):
    out = _same(tmp_path, name, {"umip.asm": UMIP_ASM, "sgdt.asm": SGDT_ASM}[name])
    # smsw eax: CR0_STATE; sgdt: limit 0, base 0xfffe0000
    assert out[:6] in (b"\x33\x00\x05\x80\x33\x00", b"\0\0\0\0\xfe\xff")


# real mode: TF's #DB through the IVT; a handler notes each return address, then the
# list goes out on QEMU's debug console (port 0xe9) and port 0xf4 ends QEMU
REAL_TF = r"""
bits 16
org 0x7c00
    xor ax, ax
    mov ds, ax
    mov es, ax
    mov ss, ax
    mov sp, 0x9000
    mov word [4], h
    mov word [6], 0
    mov word [0x600], 0
    mov di, 0x700
    pushf
    pop ax
    or ax, 0x100
    push ax
    popf
    mov cx, 3
    rep stosb
    pushf
    pop ax
    and ax, 0xfeff
    push ax
    popf
    nop
    mov si, 0x610
    mov cx, [0x600]
    mov dx, 0xe9
o:  lodsb
    out dx, al
    loop o
    mov al, 0
    out 0xf4, al
    cli
    hlt
h:  push bp
    mov bp, sp
    push ax
    push bx
    mov bx, [0x600]
    mov ax, [bp+2]
    mov [0x610+bx], ax
    add word [0x600], 2
    pop bx
    pop ax
    pop bp
    iret
times 510-($-$$) db 0
dw 0xaa55
"""


def test_real_mode_tf_traps_between_rep_iterations(tmp_path):
    import struct

    from vm.x86.machine import Machine
    src = tmp_path / "rm.asm"
    src.write_text(REAL_TF)
    img = tmp_path / "rm.bin"
    subprocess.run(["nasm", "-fbin", "-o", str(img), str(src)], check=True, timeout=60)
    con = tmp_path / "con.out"
    subprocess.run(["qemu-system-i386", "-display", "none", "-drive",
                    f"format=raw,file={img}", "-debugcon", f"file:{con}", "-global",
                    "isa-debugcon.iobase=0xe9", "-device",
                    "isa-debug-exit,iobase=0xf4,iosize=1", "-no-reboot"], timeout=120)
    qemu = con.read_bytes()
    m = Machine("real")
    m.load(0x7C00, img.read_bytes())
    m.set_segment("cs", 0)
    m.set_reg("eip", 0x7C00)
    assert m.run(10000).reason == "halt"
    n = struct.unpack("<H", m.read(0x600, 2))[0]
    assert m.read(0x610, n) == qemu
    # after MOV CX, after each of the 3 STOSB iterations (the first two: EIP on it), ...
    assert struct.unpack("<4H", qemu[:8]) == (0x7C2A, 0x7C2A, 0x7C2A, 0x7C2C)
