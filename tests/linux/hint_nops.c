/* The reserved-NOP space 0F 18-1F runs as NOPs on P6 and later, register and memory
   forms alike (emulators such as QEMU raise #UD for 0F 18 with a register operand);
   F3 0F 1E /1 is CET's rdsspd, a NOP without CET, as glibc's unwinder relies on. */
#include <stdio.h>

int main(void) {
    int slot = 7, out = 0;
    __asm__ volatile(
        ".byte 0x0f,0x18,0xc6\n\t"          /* hint_nop0 esi */
        ".byte 0x0f,0x18,0xcb\n\t"          /* hint_nop1 ebx */
        ".byte 0x0f,0x18,0xe0\n\t"          /* hint_nop4 eax */
        ".byte 0x0f,0x19,0xc0\n\t"          /* hint_nop8 eax */
        ".byte 0x0f,0x1c,0x00\n\t"          /* hint_nop32 [eax]: no access */
        ".byte 0x0f,0x1d,0xc1\n\t"          /* hint_nop41 ecx */
        ".byte 0xf3,0x0f,0x1e,0xc8\n\t"     /* rdsspd eax: a NOP without CET */
        "movl %1, %0\n\t"
        : "=r"(out) : "m"(slot), "a"(0) : "memory");
    printf("hint nops ran, out=%d\n", out);
    return 0;
}
