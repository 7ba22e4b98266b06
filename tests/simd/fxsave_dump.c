/* FXSAVE images of known states, as hex lines ("case N" then 32 lines of 16 bytes): the
 * buffer is filled with 0xAB first, so bytes FXSAVE leaves alone show as ab. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

static uint8_t area[512 + 16] __attribute__((aligned(16)));
const uint32_t xin[32] = {
    0x3f800000, 0x40490fdb, 0x00000001, 0x7fc00000, 0x12345678, 0x9abcdef0, 0x0fedcba9,
    0x87654321, 0xffffffff, 0x00000000, 0x80000000, 0x7f800000, 0xdeadbeef, 0xcafebabe,
    0x01020304, 0x05060708, 0x11111111, 0x22222222, 0x33333333, 0x44444444, 0x55555555,
    0x66666666, 0x77777777, 0x88888888, 0x99999999, 0xaaaaaaaa, 0xbbbbbbbb, 0xcccccccc,
    0x3ff00000, 0x00000000, 0x400921fb, 0x54442d18};

static void dump(int n) {
    printf("case %d\n", n);
    for (int k = 0; k < 512; k += 16) {
        for (int j = 0; j < 16; j++) printf("%02x", area[k + j]);
        putchar('\n');
    }
}

/* XMM0-7 from xin: used inside each asm block, right before its fxsave */
#define LOAD_XMM "movdqu xin, %%xmm0\n\tmovdqu xin+16, %%xmm1\n\tmovdqu xin+32, %%xmm2\n\t" \
    "movdqu xin+48, %%xmm3\n\tmovdqu xin+64, %%xmm4\n\tmovdqu xin+80, %%xmm5\n\t" \
    "movdqu xin+96, %%xmm6\n\tmovdqu xin+112, %%xmm7\n\t"

int main(void) {
    uint32_t csr;
    volatile double half = 0.5, tiny = 1e-310;
    /* 1: x87 stack of four values, MXCSR with flags, DAZ and round-up */
    memset(area, 0xab, sizeof area);
    csr = 0x5fe5;
    __asm__ volatile(LOAD_XMM "fninit\n\tfld1\n\tfldpi\n\tfldz\n\tfldl %1\n\tfldl %2\n\t"
                     "ldmxcsr %3\n\tfxsave %0\n\tfninit"
                     : "=m"(area) : "m"(half), "m"(tiny), "m"(csr));
    dump(1);
    /* 2: MMX state (no EMMS): every register valid, mm3 written */
    memset(area, 0xab, sizeof area);
    csr = 0x1f80;
    uint64_t q = 0x0123456789abcdefULL;
    __asm__ volatile(LOAD_XMM "fninit\n\tmovq %1, %%mm3\n\tpaddw %%mm3, %%mm3\n\t"
                     "ldmxcsr %2\n\tfxsave %0\n\temms" : "=m"(area) : "m"(q), "m"(csr));
    dump(2);
    /* 3: after EMMS, one value pushed, a custom control word */
    memset(area, 0xab, sizeof area);
    uint16_t cw = 0x0e7f;
    __asm__ volatile("fninit\n\tfldcw %1\n\tfld1\n\tfxsave %0\n\tfninit"
                     : "=m"(area) : "m"(cw));
    dump(3);
    return 0;
}
