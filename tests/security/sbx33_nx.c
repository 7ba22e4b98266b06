/* sbx33: no-execute pages (test_sbx33_nx.py). Calls `mov eax, 42; ret` copied to the
   stack, an anonymous PROT_READ|PROT_WRITE page, .data and the heap, a page after
   mprotect adds and drops PROT_EXEC, code running into a non-executable page, an unmapped
   page and a PROT_NONE one; prints the signal, si_code, whether si_addr is the fetch
   address, and the sigcontext's trapno/err. "rie": personality(READ_IMPLIES_EXEC) then
   exec itself; "now": personality(READ_IMPLIES_EXEC) for the mappings after it; "bare":
   no handler. */
#define _GNU_SOURCE
#include <signal.h>
#include <setjmp.h>
#include <stdio.h>
#include <string.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>
#include <sys/personality.h>
#include <ucontext.h>
static volatile int got_err;

static sigjmp_buf jb;
static volatile int got_sig, got_code; static void *volatile got_addr;
static void h(int s, siginfo_t *si, void *uc) { got_sig = s; got_code = si->si_code; got_addr = si->si_addr; got_err = ((ucontext_t*)uc)->uc_mcontext.gregs[REG_ERR] | ((ucontext_t*)uc)->uc_mcontext.gregs[REG_TRAPNO] << 8; siglongjmp(jb, 1); }

static int call(void *p) {
    got_sig = 0; got_addr = 0; got_code = 0;
    if (sigsetjmp(jb, 1) == 0) { int r = ((int (*)(void))p)(); return r; }
    return -1;
}
static void report(const char *what, void *p) {
    int r = call(p);
    if (r == -1) printf("%s: sig %d code %d addr %s err %x\n", what, got_sig, got_code, got_addr == p ? "=fetch" : "other", got_err);
    else printf("%s: ran, %d\n", what, r);
}
static const unsigned char code[] = {0xb8, 42, 0, 0, 0, 0xc3};   /* mov eax,42; ret */

int main(int argc, char **argv) {
    if (argc > 1 && !strcmp(argv[1], "bare")) {      /* no handler: killed by SIGSEGV */
        unsigned char s2[16]; memcpy(s2, code, sizeof code);
        return ((int (*)(void))s2)();
    }
    struct sigaction sa; memset(&sa, 0, sizeof sa); sa.sa_sigaction = h; sa.sa_flags = SA_SIGINFO | SA_NODEFER;
    sigaction(SIGSEGV, &sa, 0); sigaction(SIGBUS, &sa, 0);
    if (argc > 1 && !strcmp(argv[1], "rie")) {       /* READ_IMPLIES_EXEC, then exec self */
        personality(0x0400000);
        execl("/proc/self/exe", argv[0], "after", (char *)0);
        return 99;
    }
    if (argc > 1 && !strcmp(argv[1], "now")) {       /* READ_IMPLIES_EXEC for later mmaps */
        printf("old %x\n", personality(0x0400000));
    }
    printf("personality %x\n", personality(0xffffffff));
    unsigned char stk[64]; memcpy(stk, code, sizeof code);
    report("stack", stk);
    unsigned char *rw = mmap(0, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    memcpy(rw, code, sizeof code);
    report("rw mmap", rw);
    mprotect(rw, 4096, PROT_READ | PROT_EXEC);
    report("rx after mprotect", rw);
    mprotect(rw, 4096, PROT_READ);
    report("r after dropping exec", rw);
    mprotect(rw, 4096, PROT_READ | PROT_WRITE | PROT_EXEC);
    report("rwx again", rw);
    static unsigned char data[64]; memcpy(data, code, sizeof code);
    report("data", data);
    unsigned char *h2 = malloc(64); memcpy(h2, code, sizeof code);
    report("heap", h2);
    /* code running into a non-exec page: last bytes of an exec page then fall through */
    unsigned char *two = mmap(0, 8192, PROT_READ | PROT_WRITE | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    memset(two, 0x90, 8192); memcpy(two + 4096, code, sizeof code);
    mprotect(two + 4096, 4096, PROT_READ | PROT_WRITE);
    got_sig = 0;
    if (sigsetjmp(jb, 1) == 0) { ((int (*)(void))(two + 4090))(); printf("straddle: ran\n"); }
    else printf("straddle: sig %d code %d addr %s\n", got_sig, got_code, got_addr == two + 4096 ? "=page" : "other");
    report("unmapped", (void*)0x1000);
    mprotect(rw, 4096, PROT_NONE);
    report("prot none", rw);
    return 0;
}
