/* sigaltstack with SA_ONSTACK: a handler runs on the alternate stack and sees
 * SS_ONSTACK, the stack cannot be changed while on it, handlers without SA_ONSTACK stay
 * on the normal stack, SS_DISABLE, the errors, and a stack overflow caught on the
 * alternate stack. Output is compared with the native run. */
#define _GNU_SOURCE
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

static char altstack[64 * 1024];
static volatile int on_alt, flags_seen, change_err, nested_on_alt;
static sigjmp_buf env;

static int within(void *p) {
    return (char *)p >= altstack && (char *)p < altstack + sizeof altstack;
}

static void nested(int s) {
    (void)s;
    int local;
    nested_on_alt = within(&local);
}

static void handler(int s) {
    (void)s;
    int local;
    on_alt = within(&local);
    stack_t cur;
    sigaltstack(NULL, &cur);
    flags_seen = cur.ss_flags;
    stack_t other = {.ss_sp = malloc(65536), .ss_size = 65536, .ss_flags = 0};
    change_err = sigaltstack(&other, NULL) < 0 ? errno : 0;
    raise(SIGUSR2);                /* SA_ONSTACK too: stays on the alternate stack */
}

static void plain(int s) {
    (void)s;
    int local;
    on_alt = within(&local);
}

static void on_segv(int s, siginfo_t *si, void *uc) {
    (void)s;
    (void)si;
    int local;
    on_alt = within(&local);
    ucontext_t *u = uc;
    flags_seen = u->uc_stack.ss_flags;
    siglongjmp(env, 1);
}

static int recurse(int n) {
    volatile char pad[1024];
    pad[0] = (char)n;
    return recurse(n + 1) + pad[0];
}

static void check(const char *what, long v) {
    printf("%s = %ld%s%s\n", what, v, v < 0 ? " " : "", v < 0 ? strerror(errno) : "");
}

int main(void) {
    stack_t ss = {0}, old;
    check("query before", sigaltstack(NULL, &old));
    printf("old flags %d size %u\n", old.ss_flags, (unsigned)old.ss_size);
    ss.ss_sp = altstack;
    ss.ss_size = 1024;
    check("too small", sigaltstack(&ss, NULL));
    ss.ss_size = sizeof altstack;
    ss.ss_flags = 77;
    check("bad flags", sigaltstack(&ss, NULL));
    ss.ss_flags = 0;
    check("install", sigaltstack(&ss, NULL));
    check("query", sigaltstack(NULL, &old));
    printf("sp ok %d flags %d size %u\n", old.ss_sp == altstack, old.ss_flags,
           (unsigned)old.ss_size);
    check("bad pointer", sigaltstack((stack_t *)16, NULL));

    struct sigaction sa = {0};
    sa.sa_handler = handler;
    sa.sa_flags = SA_ONSTACK;
    sigaction(SIGUSR1, &sa, NULL);
    sa.sa_handler = nested;
    sigaction(SIGUSR2, &sa, NULL);
    raise(SIGUSR1);
    printf("SA_ONSTACK handler on alt %d flags %d change %s nested on alt %d\n", on_alt,
           flags_seen, strerror(change_err), nested_on_alt);
    check("query after", sigaltstack(NULL, &old));
    printf("flags %d\n", old.ss_flags);

    sa.sa_handler = plain;
    sa.sa_flags = 0;
    sigaction(SIGUSR1, &sa, NULL);
    raise(SIGUSR1);
    printf("plain handler on alt %d\n", on_alt);

    /* a stack overflow: only an alternate stack can run the handler */
    struct rlimit rl = {1 << 20, 1 << 20};
    setrlimit(RLIMIT_STACK, &rl);
    struct sigaction sv = {0};
    sv.sa_sigaction = on_segv;
    sv.sa_flags = SA_ONSTACK | SA_SIGINFO;
    sigaction(SIGSEGV, &sv, NULL);
    on_alt = flags_seen = -1;
    if (sigsetjmp(env, 1) == 0) {
        recurse(0);
        printf("no overflow?\n");
    }
    printf("overflow handler on alt %d uc_stack flags %d\n", on_alt, flags_seen);

    ss.ss_flags = SS_DISABLE;
    check("disable", sigaltstack(&ss, NULL));
    check("query disabled", sigaltstack(NULL, &old));
    printf("flags %d\n", old.ss_flags);
    sa.sa_handler = plain;
    sa.sa_flags = SA_ONSTACK;
    sigaction(SIGUSR1, &sa, NULL);
    raise(SIGUSR1);
    printf("SA_ONSTACK without a stack on alt %d\n", on_alt);
    return 0;
}
