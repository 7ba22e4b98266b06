/* Signal handlers: raise() with plain and SA_SIGINFO handlers, masks, a SIGSEGV handler
 * that leaves with siglongjmp, SIGPIPE ignored, kill() of itself. */
#include <stdio.h>
#include <signal.h>
#include <setjmp.h>
#include <string.h>
#include <unistd.h>
#include <errno.h>

static volatile sig_atomic_t got;
static sigjmp_buf jb;

static void plain(int sig) { got = sig; }

static void with_info(int sig, siginfo_t *si, void *uc)
{
    (void)uc;
    got = sig * 100 + (si->si_signo == sig);
}

static void on_segv(int sig)
{
    (void)sig;
    siglongjmp(jb, 1);
}

int main(void)
{
    signal(SIGUSR1, plain);
    raise(SIGUSR1);
    printf("plain handler got %d\n", got);

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = with_info;
    sa.sa_flags = SA_SIGINFO;
    sigaction(SIGUSR2, &sa, NULL);
    kill(getpid(), SIGUSR2);
    printf("siginfo handler got %d\n", got);

    sigset_t set, old;
    sigemptyset(&set);
    sigaddset(&set, SIGUSR1);
    sigprocmask(SIG_BLOCK, &set, &old);
    got = 0;
    raise(SIGUSR1);
    printf("blocked: got %d\n", got);
    sigset_t pend;
    sigpending(&pend);
    sigprocmask(SIG_SETMASK, &old, NULL);
    printf("after unblock: got %d\n", got);

    signal(SIGSEGV, on_segv);
    if (sigsetjmp(jb, 1) == 0) {
        volatile int *p = 0;
        *p = 1;
        printf("not reached\n");
    } else {
        printf("recovered from SIGSEGV\n");
    }

    signal(SIGPIPE, SIG_IGN);
    int fds[2];
    pipe(fds);
    close(fds[0]);
    ssize_t w = write(fds[1], "x", 1);
    printf("write to closed pipe: %zd %s\n", w, errno == EPIPE ? "EPIPE" : "?");

    double x = 1.5;
    signal(SIGUSR1, plain);
    raise(SIGUSR1);
    printf("fpu survives handler: %g\n", x * 2);
    return 0;
}
