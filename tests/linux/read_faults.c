/* Reads the kernel refuses: NULL, an unmapped page, a PROT_NONE guard page, a call
 * through a NULL function pointer. Each is caught by a SIGSEGV handler (siglongjmp back),
 * then an uncaught NULL read ends the program with SIGSEGV (status 139 from a shell). */
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static sigjmp_buf jb;
static volatile void *fault_addr;

static void on_segv(int sig, siginfo_t *si, void *uc)
{
    (void)sig; (void)uc;
    fault_addr = si->si_addr;
    siglongjmp(jb, 1);
}

static void attempt(const char *what, int (*fn)(void *), void *arg)
{
    fault_addr = (void *)-1;
    if (sigsetjmp(jb, 1) == 0) {
        int v = fn(arg);
        printf("%s: read %d\n", what, v);
    } else {
        printf("%s: SIGSEGV at offset %ld\n", what, (long)((char *)fault_addr - (char *)arg));
    }
}

static int read_int(void *p) { return *(volatile int *)p; }
static int read_byte(void *p) { return *(volatile unsigned char *)p; }
static int call_it(void *p) { return ((int (*)(void))p)(); }

int main(int argc, char **argv)
{
    (void)argv;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_segv;
    sa.sa_flags = SA_SIGINFO | SA_NODEFER;
    sigaction(SIGSEGV, &sa, NULL);
    long page = sysconf(_SC_PAGESIZE);

    attempt("null", read_int, (void *)(long)(argc - 1));
    attempt("low", read_byte, (void *)0x1000);

    char *m = mmap(NULL, 3 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    m[0] = 7;
    m[2 * page] = 9;
    munmap(m + page, page);
    attempt("mapped", read_byte, m);
    attempt("unmapped", read_byte, m + page + 5);
    attempt("after", read_byte, m + 2 * page);
    mprotect(m, page, PROT_NONE);
    attempt("prot_none", read_byte, m + 100);
    mprotect(m, page, PROT_READ);
    attempt("prot_read", read_byte, m);
    attempt("straddle", read_int, m + page - 2);
    attempt("call_null", call_it, (void *)(long)(argc - 1));
    fflush(stdout);

    signal(SIGSEGV, SIG_DFL);
    printf("%d\n", *(volatile int *)(long)(argc - 1));
    return 0;
}
