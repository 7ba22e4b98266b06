/* x87 memory operands on page edges: loads and stores of 2, 4, 8 and 10 bytes (and the
 * 14/28-byte environment) that straddle from one readable page into the next, into a
 * PROT_NONE page, and stores into or out of a read-only page. Each attempt prints the
 * bytes it read or wrote, or the SIGSEGV address (as an offset into the mapping) and the
 * stack's TOP afterwards (a faulting store must not pop). */
#define _GNU_SOURCE
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static sigjmp_buf jb;
static char *volatile fault_addr;
static char *m;
static long page;
static unsigned char out[32];
static const unsigned char seed[10] = {0x35, 0xc2, 0x68, 0x21, 0xa2, 0xda, 0x0f, 0xc9,
                                       0x00, 0x40};        /* pi, 80-bit */

static void on_segv(int sig, siginfo_t *si, void *uc)
{
    (void)sig; (void)uc;
    fault_addr = si->si_addr;
    siglongjmp(jb, 1);
}

#define LOAD(name, insn) \
    static void name(char *p) { __asm__ volatile(insn "\n\tfstpt %1" :: "r"(p), "m"(out) : "memory"); }
#define STORE(name, insn) \
    static void name(char *p) { __asm__ volatile("fldt %1\n\t" insn :: "r"(p), "m"(seed) : "memory"); }

LOAD(ld16, "filds (%0)")
LOAD(ld32, "flds (%0)")
LOAD(ld64, "fldl (%0)")
LOAD(ld80, "fldt (%0)")
LOAD(ldi32, "fildl (%0)")
LOAD(ldi64, "fildll (%0)")
LOAD(ldbcd, "fbld (%0)")
STORE(st16, "fists (%0)")
STORE(st32, "fsts (%0)")
STORE(st64, "fstpl (%0)")
STORE(st80, "fstpt (%0)")
STORE(sti32, "fistpl (%0)")
STORE(sti64, "fistpll (%0)")
STORE(stbcd, "fbstp (%0)")

static void ldcw(char *p) { __asm__ volatile("fldcw (%0)\n\tfnstcw %1" :: "r"(p), "m"(out) : "memory"); }
static void stcw(char *p) { __asm__ volatile("fnstcw (%0)" :: "r"(p) : "memory"); }
static void stsw(char *p) { __asm__ volatile("fldt %1\n\tfnstsw (%0)" :: "r"(p), "m"(seed) : "memory"); }
static void stenv(char *p) { __asm__ volatile("fnstenv (%0)" :: "r"(p) : "memory"); }
static void ldenv(char *p) { __asm__ volatile("fldenv (%0)\n\tfnstcw %1" :: "r"(p), "m"(out) : "memory"); }

struct op { const char *name; void (*fn)(char *); int n; int store; };

static const struct op ops[] = {
    {"fild16", ld16, 2, 0}, {"fld32", ld32, 4, 0}, {"fld64", ld64, 8, 0},
    {"fld80", ld80, 10, 0}, {"fild32", ldi32, 4, 0}, {"fild64", ldi64, 8, 0},
    {"fbld", ldbcd, 10, 0}, {"fldcw", ldcw, 2, 0}, {"fldenv", ldenv, 28, 0},
    {"fist16", st16, 2, 1}, {"fst32", st32, 4, 1}, {"fstp64", st64, 8, 1},
    {"fstp80", st80, 10, 1}, {"fistp32", sti32, 4, 1}, {"fistp64", sti64, 8, 1},
    {"fbstp", stbcd, 10, 1}, {"fnstcw", stcw, 2, 1}, {"fnstsw", stsw, 2, 1},
    {"fnstenv", stenv, 28, 1},
};

static void attempt(const struct op *o, long off)
{
    unsigned short sw;
    char *p = m + off;
    fault_addr = 0;
    memset(out, 0xee, sizeof out);
    __asm__ volatile("fninit");
    printf("%-8s %+6ld: ", o->name, off - page);
    if (sigsetjmp(jb, 1) == 0) {
        o->fn(p);
        __asm__ volatile("fnstsw %0" : "=m"(sw));
        const unsigned char *src = o->store ? (const unsigned char *)p : out;
        int n = o->store ? o->n : (o->fn == ldcw || o->fn == ldenv ? 2 : 10);
        for (int i = 0; i < n; i++)
            printf("%02x", src[i]);
        printf(" top=%d\n", (sw >> 11) & 7);
    } else {
        __asm__ volatile("fnstsw %0" : "=m"(sw));
        printf("SIGSEGV at %+ld top=%d\n", (long)(fault_addr - m) - page, (sw >> 11) & 7);
    }
    __asm__ volatile("fninit");
}

int main(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_segv;
    sa.sa_flags = SA_SIGINFO | SA_NODEFER;
    sigaction(SIGSEGV, &sa, NULL);
    page = sysconf(_SC_PAGESIZE);
    /* pages: 0, 1 read-write, 2 PROT_NONE, 3 read-only, 4 read-write */
    m = mmap(NULL, 5 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    /* valid BCD digits everywhere: finite numbers, loadable control words */
    for (long i = 0; i < 5 * page; i++)
        m[i] = (char)((i * 7 + (i >> 9)) % 10 << 4 | (i * 3 + (i >> 7)) % 10);
    mprotect(m + 2 * page, page, PROT_NONE);
    mprotect(m + 3 * page, page, PROT_READ);
    for (unsigned i = 0; i < sizeof ops / sizeof ops[0]; i++) {
        const struct op *o = &ops[i];
        long n = o->n;
        long offs[] = {page - n, page - n + 1, page - 1,          /* page 0 -> 1 */
                       2 * page - n, 2 * page - n + 1, 2 * page - 1, 2 * page,
                       3 * page - 1, 3 * page,                    /* -> 3 */
                       4 * page - n, 4 * page - n + 1, 4 * page - 1}; /* 3 -> 4 */
        for (unsigned k = 0; k < sizeof offs / sizeof offs[0]; k++)
            attempt(o, offs[k]);
    }
    return 0;
}
