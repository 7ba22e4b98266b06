/* The sandbox's view of time: sysinfo's uptime is /proc/uptime's (not the host's, in
   pyvm), and the CPU-time clocks count the caller's own CPU time: a parent waiting for
   a busy child spends next to none, and times() gives it the child's once reaped. */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/sysinfo.h>
#include <sys/times.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double cpu(clockid_t id) {
    struct timespec ts;
    clock_gettime(id, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static volatile unsigned sink;

static void spin(clockid_t id, double seconds) {    /* until the clock shows this much */
    double end = cpu(id) + seconds;
    while (cpu(id) < end)
        for (int i = 0; i < 1000; i++)
            sink += i;
}

static void *worker(void *arg) {
    spin(CLOCK_THREAD_CPUTIME_ID, 0.3);
    return arg;
}

int main(void) {
    struct sysinfo si;
    sysinfo(&si);
    double up = 0;
    FILE *f = fopen("/proc/uptime", "r");
    if (!f || fscanf(f, "%lf", &up) != 1)
        return 1;
    printf("uptime agrees: %d\n", labs(si.uptime - (long)up) <= 1);

    double before = cpu(CLOCK_PROCESS_CPUTIME_ID);
    pid_t pid = fork();
    if (pid == 0) {
        spin(CLOCK_PROCESS_CPUTIME_ID, 0.3);
        _exit(0);
    }
    clockid_t child;
    printf("child clock: %d\n", clock_getcpuclockid(pid, &child) == 0);
    int status;
    waitpid(pid, &status, 0);
    double waited = cpu(CLOCK_PROCESS_CPUTIME_ID) - before;
    printf("parent spent under a third of the child's time: %d\n", waited < 0.1);
    struct tms t;
    times(&t);
    long hz = sysconf(_SC_CLK_TCK);
    printf("times() has the child's: %d\n", t.tms_cutime + t.tms_cstime >= hz * 3 / 10 - 2);

    double mine = cpu(CLOCK_THREAD_CPUTIME_ID);
    pthread_t th;
    pthread_create(&th, 0, worker, 0);
    pthread_join(th, 0);
    printf("main thread spent under a third of the worker's: %d\n",
           cpu(CLOCK_THREAD_CPUTIME_ID) - mine < 0.1);
    printf("process clock has the worker's: %d\n",
           cpu(CLOCK_PROCESS_CPUTIME_ID) - before >= 0.29);
    return 0;
}
