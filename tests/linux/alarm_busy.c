/* A CPU-bound loop that ends after 5 ticks of a 2 ms interval timer: the ticks must
 * arrive while it runs (not after millions of instructions). Its bound is far beyond
 * any run: natively the loop ends only through the timer, and under pyvm --max-steps
 * stops a run whose ticks come late. */
#include <signal.h>
#include <stdio.h>
#include <sys/time.h>
static volatile int ticks;
static void h(int s) { (void)s; ticks++; }
int main(void) {
    signal(SIGALRM, h);
    struct itimerval it = {{0, 2000}, {0, 2000}};
    setitimer(ITIMER_REAL, &it, 0);
    volatile double x = 0;
    for (long i = 0; i < 2000000000 && ticks < 5; i++) x += 1.0;
    printf("ticks>=5: %d\n", ticks >= 5);
    return 0;
}
