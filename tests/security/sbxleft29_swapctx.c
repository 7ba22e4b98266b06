/* A signal handler that leaves by swapcontext (as user-level thread libraries do) and
   never returns: the context it switches to was saved with the signal unblocked, so the
   next signal is delivered again. */
#include <signal.h>
#include <stdio.h>
#include <ucontext.h>
#include <unistd.h>

static ucontext_t back, left;
static volatile int hits;

static void handler(int sig) {
    hits++;
    swapcontext(&left, &back);          /* out of the handler for good */
}

int main(void) {
    setvbuf(stdout, 0, _IONBF, 0);
    signal(SIGUSR1, handler);
    for (int i = 0; i < 3; i++) {
        volatile int done = 0;
        getcontext(&back);
        if (!done) {
            done = 1;
            raise(SIGUSR1);
            puts("raise returned");
        }
        sigset_t now;
        sigprocmask(SIG_BLOCK, 0, &now);
        printf("round %d: hits %d, SIGUSR1 blocked %d\n", i, hits, sigismember(&now, SIGUSR1));
    }
    alarm(1);                           /* a different signal after all that */
    signal(SIGALRM, handler);
    volatile int done = 0;
    getcontext(&back);
    if (!done) {
        done = 1;
        pause();
    }
    printf("alarm: hits %d\n", hits);
    return 0;
}
