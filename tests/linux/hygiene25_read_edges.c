/* Reads that straddle from a mapped page into an unmapped one (issue: one "may this be
 * read" test, Memory.readable). Each attempt prints what it read, or the SIGSEGV address
 * and the registers at the fault (EIP, or ESI, EDI and ECX of a string instruction; as
 * offsets into the mapping and the destination):
 *   - instruction fetches: `add eax, 0` (05 00 00 00 00) whose first byte is the last of a
 *     mapped page, run once while the next page is mapped and again after it is unmapped;
 *     and the same bytes run first elsewhere, then on the edge of an unmapped page;
 *   - string instructions: REP MOVSB/MOVSD, MOVSD, LODSD whose source runs into the
 *     unmapped page, REP MOVSB that stops just before it.
 * argv[1] "setup" runs the edge instruction with the next page mapped and exits (a first
 * run that leaves pyvm's code cache a record of it); "edge" unmaps that page first, then
 * runs it (at a fixed address, so the two runs' code is the same). */
#define _GNU_SOURCE
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <ucontext.h>
#include <unistd.h>

#define PAGE 4096
#define BASE ((char *)0x5a000000)

static sigjmp_buf jb;
static volatile int in_string;
static char *m;
static unsigned char dst[64];
static const unsigned char add0_ret[] = {0x05, 0, 0, 0, 0, 0xc3};   /* add eax, 0; ret */

static void on_segv(int sig, siginfo_t *si, void *ctx)
{
    (void)sig;
    greg_t *g = ((ucontext_t *)ctx)->uc_mcontext.gregs;
    if (in_string)
        printf("  SIGSEGV at %+ld ecx %ld esi %+ld edi %+ld\n", (long)((char *)si->si_addr - m),
               (long)g[REG_ECX], (long)((char *)g[REG_ESI] - m),
               (long)((char *)g[REG_EDI] - (char *)dst));
    else
        printf("  SIGSEGV at %+ld eip %+ld\n", (long)((char *)si->si_addr - m),
               (long)((char *)g[REG_EIP] - m));
    fflush(stdout);
    siglongjmp(jb, 1);
}

static int call_at(char *p)
{
    int r;
    __asm__ volatile("call *%1" : "=a"(r) : "r"(p), "0"(41) : "memory", "cc");
    return r;
}

static void fetch(const char *what, char *p)
{
    printf("%s\n", what);
    fflush(stdout);
    if (sigsetjmp(jb, 1) == 0)
        printf("  returned %d\n", call_at(p));
}

static void show_dst(void)
{
    printf("  dst");
    for (int i = 0; i < 40; i++)
        printf(" %02x", dst[i]);
    printf("\n");
}

/* source, count: ESI, ECX; EDI = dst */
#define STRING(name, insn) \
    static void name(char *s, long n) \
    { \
        long a = 0; \
        __asm__ volatile("cld\n\t" insn : "+S"(s), "+c"(n), "+a"(a) : "D"(dst) : "memory"); \
        printf("  done ecx %ld esi %+ld eax %#lx\n", n, (long)(s - m), a); \
    }
STRING(rep_movsb, "rep movsb")
STRING(rep_movsd, "rep movsl")
STRING(movsd, "movsl")
STRING(lodsd, "lodsl")

static void string(const char *what, void (*fn)(char *, long), long off, long n)
{
    printf("%s (source %+ld, count %ld)\n", what, off, n);
    fflush(stdout);
    memset(dst, 0xee, sizeof dst);
    in_string = 1;
    if (sigsetjmp(jb, 1) == 0)
        fn(m + off, n);
    in_string = 0;
    show_dst();
}

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "all";
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_segv;
    sa.sa_flags = SA_SIGINFO | SA_NODEFER;
    sigaction(SIGSEGV, &sa, NULL);

    m = mmap(BASE, 3 * PAGE, PROT_READ | PROT_WRITE | PROT_EXEC,
             MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
    if (m != BASE)
        return 2;
    memcpy(m + PAGE - 1, add0_ret, sizeof add0_ret);
    if (!strcmp(mode, "setup")) {
        fetch("edge, next page mapped", m + PAGE - 1);
        return 0;
    }
    if (!strcmp(mode, "edge")) {
        munmap(m + PAGE, PAGE);
        fetch("edge, next page unmapped", m + PAGE - 1);
        return 0;
    }

    /* the edge instruction run whole, then again with its tail's page gone */
    fetch("edge, next page mapped", m + PAGE - 1);
    munmap(m + PAGE, PAGE);
    fetch("edge, next page unmapped", m + PAGE - 1);
    fetch("edge, again", m + PAGE - 1);

    /* the same bytes run at another start first, then on the edge of the hole at 2 pages */
    memcpy(m + 2 * PAGE + 64, add0_ret, sizeof add0_ret);
    fetch("elsewhere", m + 2 * PAGE + 64);
    munmap(m + 3 * PAGE, PAGE);         /* (already unmapped: nothing follows the mapping) */
    m[3 * PAGE - 1] = 0x05;
    fetch("elsewhere's bytes on the edge", m + 3 * PAGE - 1);

    memset(m, 0x5a, PAGE);
    for (int i = 0; i < 64; i++)
        m[PAGE - 64 + i] = (char)i;
    string("rep movsb into the hole", rep_movsb, PAGE - 16, 32);
    string("rep movsb up to the hole", rep_movsb, PAGE - 16, 16);
    string("rep movsb one byte in", rep_movsb, PAGE - 16, 17);
    string("rep movsd straddling", rep_movsd, PAGE - 6, 4);
    string("rep movsd up to the hole", rep_movsd, PAGE - 32, 8);
    string("rep movsb from the hole", rep_movsb, PAGE, 8);
    string("movsd straddling", movsd, PAGE - 3, 1);
    string("lodsd straddling", lodsd, PAGE - 1, 1);
    string("lodsd before the hole", lodsd, PAGE - 4, 1);
    return 0;
}
