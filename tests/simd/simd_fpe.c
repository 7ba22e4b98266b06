/* Unmasked SSE exceptions: SIGFPE with the kernel's si_code, the MXCSR flags saved in the
 * signal frame, and the destination left unchanged. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <ucontext.h>
#include <xmmintrin.h>
#include <emmintrin.h>

static sigjmp_buf jb;
static volatile int code;
static volatile unsigned frame_csr;

static void on_fpe(int sig, siginfo_t *si, void *ctx) {
    ucontext_t *uc = ctx;
    (void)sig;
    code = si->si_code;
    memcpy((void *)&frame_csr, (char *)uc->uc_mcontext.fpregs + 136, 4);
    siglongjmp(jb, 1);
}

static volatile double d1 = 1.0, d0 = 0.0, big = 1e308, tiny = 1e-308, third = 3.0,
                       den = 4.9e-324;

static void try(const char *name, unsigned csr, int op) {
    volatile double r = -7.0;
    code = -1;
    frame_csr = 0;
    if (sigsetjmp(jb, 1) == 0) {
        _mm_setcsr(csr);
        switch (op) {
        case 0: r = d1 / d0; break;
        case 1: r = d0 / d0; break;
        case 2: r = big * big; break;
        case 3: r = tiny * tiny; break;
        case 4: r = d1 / third; break;
        case 5: r = den + d1; break;
        case 6: r = _mm_cvtsd_si32(_mm_set_sd(big)); break;
        }
        printf("%-10s no signal r=%a csr %04x\n", name, r, _mm_getcsr());
    } else {
        printf("%-10s SIGFPE si_code %d frame csr %04x r=%a\n", name, code, frame_csr, r);
    }
    _mm_setcsr(0x1f80);
}

int main(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_fpe;
    sa.sa_flags = SA_SIGINFO | SA_NODEFER;
    sigaction(SIGFPE, &sa, 0);
    try("divzero", 0x1f80 & ~0x200, 0);
    try("invalid", 0x1f80 & ~0x080, 1);
    try("overflow", 0x1f80 & ~0x400, 2);
    try("underflow", 0x1f80 & ~0x800, 3);
    try("inexact", 0x1f80 & ~0x1000, 4);
    try("denormal", 0x1f80 & ~0x100, 5);
    try("cvt-inv", 0x1f80 & ~0x080, 6);
    try("masked", 0x1f80, 0);
    try("stale", (0x1f80 & ~0x1000) | 0x20, 0);    /* a stale flag: divide still masked */
    return 0;
}
