/* CMPS with both operands on unmapped pages: which one faults (the CPU reads ES:EDI
   first), and REPE CMPS stopping on a fault half-way (ESI/EDI/ECX there). Offsets from
   the mapping are printed, so the output does not depend on where mmap puts it. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <ucontext.h>

static sigjmp_buf back;
static char *base;
static unsigned long at, esi, edi, ecx;

static void on_segv(int sig, siginfo_t *si, void *ctx) {
    ucontext_t *uc = ctx;
    at = (char *)si->si_addr - base;
    esi = uc->uc_mcontext.gregs[REG_ESI] - (unsigned long)base;
    edi = uc->uc_mcontext.gregs[REG_EDI] - (unsigned long)base;
    ecx = uc->uc_mcontext.gregs[REG_ECX];
    siglongjmp(back, 1);
}

static void cmps(const char *what, long s, long d, long n) {
    if (sigsetjmp(back, 1) == 0) {
        const char *si = base + s, *di = base + d;
        __asm__ volatile("cld; repe cmpsb" : "+S"(si), "+D"(di), "+c"(n) : : "memory", "cc");
        printf("%s: no fault\n", what);
    } else {
        printf("%s: SIGSEGV at +%lu esi +%lu edi +%lu ecx %lu\n", what, at, esi, edi, ecx);
    }
}

int main(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_segv;
    sa.sa_flags = SA_SIGINFO | SA_NODEFER;
    sigaction(SIGSEGV, &sa, 0);
    base = mmap(0, 0x4000, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    mprotect(base, 0x1000, PROT_NONE);
    mprotect(base + 0x2000, 0x1000, PROT_NONE);
    cmps("both unmapped", 0x0, 0x2000, 4);
    cmps("source unmapped", 0x0, 0x1000, 4);
    cmps("destination unmapped", 0x1000, 0x2000, 4);
    /* equal (zero) bytes up to a page's end: the fault comes at the fifth element */
    cmps("destination runs out", 0x3000, 0x1ffc, 8);
    cmps("source runs out", 0x1ffc, 0x3000, 8);
    return 0;
}
