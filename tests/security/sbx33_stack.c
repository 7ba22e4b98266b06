/* sbx33: RLIMIT_STACK (test_sbx33_limits.py): argv[1] KiB as the soft limit, then
   recursion in 4000-byte frames until SIGSEGV (caught on an alternate stack): the depth
   reached. With argv[2], the limit is set before execve of itself (inherited). */
#define _GNU_SOURCE
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>
static volatile int depth;
static void h(int s, siginfo_t *si, void *uc) {
    printf("fault at depth %d KiB: sig %d code %d\n", depth * 4, s, si->si_code);
    fflush(stdout); _exit(0);
}
static int rec(int n) { volatile char pad[4000]; pad[0] = n; depth = n; if (n > 100000) return 0; return rec(n + 1) + pad[0]; }
int main(int argc, char **argv) {
    static char alt[65536];
    stack_t ss = {alt, 0, sizeof alt}; sigaltstack(&ss, 0);
    struct sigaction sa; memset(&sa, 0, sizeof sa); sa.sa_sigaction = h; sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
    sigaction(SIGSEGV, &sa, 0);
    if (argc > 1) { struct rlimit r = {atoi(argv[1]) << 10, RLIM_INFINITY}; setrlimit(RLIMIT_STACK, &r); }
    if (argc > 2) { execl("/proc/self/exe", argv[0], (char *)0); return 9; }
    rec(0);
    return 0;
}
