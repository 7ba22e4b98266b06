/* alarm, setitimer, pause, sigsuspend and nanosleep: signals that arrive with time. */
#include <stdio.h>
#include <signal.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/time.h>

static volatile sig_atomic_t alarms;

static void on_alarm(int sig)
{
    (void)sig;
    alarms++;
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_alarm;
    sigaction(SIGALRM, &sa, NULL);

    double t0 = now();
    struct timespec nap = {0, 150 * 1000 * 1000};
    nanosleep(&nap, NULL);
    printf("nanosleep slept enough: %d\n", now() - t0 >= 0.15);

    alarm(1);
    pause();
    printf("pause returned after %d alarm(s), waited enough: %d\n", alarms, now() - t0 >= 1.1);

    struct itimerval it = {{0, 50000}, {0, 50000}};
    setitimer(ITIMER_REAL, &it, NULL);
    sigset_t block, old;
    sigemptyset(&block);
    sigaddset(&block, SIGALRM);
    sigprocmask(SIG_BLOCK, &block, &old);
    while (alarms < 4)
        sigsuspend(&old);
    struct itimerval off = {{0, 0}, {0, 0}};
    setitimer(ITIMER_REAL, &off, NULL);
    sigprocmask(SIG_SETMASK, &old, NULL);
    printf("interval timer fired until %d\n", alarms);

    volatile unsigned long spins = 0;
    struct itimerval once = {{0, 0}, {0, 200000}};
    setitimer(ITIMER_REAL, &once, NULL);
    while (alarms < 5)
        spins++;
    alarm(5);
    printf("busy loop interrupted: %d\n", spins > 0);
    printf("alarm left: %u\n", alarm(0));
    return 0;
}
