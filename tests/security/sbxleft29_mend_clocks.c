/* The monotonic clocks, sysinfo's and /proc's uptime: one time base, as on Linux
 * (no suspend), and absolute monotonic deadlines reached, not cut short. Each line
 * prints 1 when the relation holds. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <sys/sysinfo.h>
#include <time.h>

static double now(clockid_t c) {
    struct timespec t;
    clock_gettime(c, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}

static int near(double a, double b) { return a - b <= 1.0 && b - a <= 1.0; }

int main(void) {
    double boot = now(CLOCK_BOOTTIME), mono = now(CLOCK_MONOTONIC);
    double raw = now(CLOCK_MONOTONIC_RAW), coarse = now(CLOCK_MONOTONIC_COARSE);
    struct sysinfo si;
    sysinfo(&si);
    double up = -1;
    FILE *f = fopen("/proc/uptime", "r");
    if (f) { if (fscanf(f, "%lf", &up) != 1) up = -1; fclose(f); }
    printf("boottime ~ sysinfo.uptime %d\n", near(boot, (double)si.uptime));
    printf("boottime ~ /proc/uptime %d\n", near(boot, up));
    printf("monotonic ~ boottime %d\n", near(mono, boot));
    printf("monotonic_raw ~ monotonic %d\n", near(raw, mono));
    printf("monotonic_coarse ~ monotonic %d\n", near(coarse, mono));
    printf("monotonic goes on %d\n", now(CLOCK_MONOTONIC) >= mono);

    struct timespec until;              /* an absolute sleep 50 ms ahead */
    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_nsec += 50000000;
    if (until.tv_nsec >= 1000000000) { until.tv_sec++; until.tv_nsec -= 1000000000; }
    int r = clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &until, 0);
    double target = until.tv_sec + until.tv_nsec / 1e9;
    printf("abstime sleep %d reached %d\n", r, now(CLOCK_MONOTONIC) >= target);

    pthread_condattr_t ca;              /* a condition wait to a monotonic deadline */
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_t cv;
    pthread_cond_init(&cv, &ca);
    pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_nsec += 50000000;
    if (until.tv_nsec >= 1000000000) { until.tv_sec++; until.tv_nsec -= 1000000000; }
    pthread_mutex_lock(&mu);
    int w;
    do w = pthread_cond_timedwait(&cv, &mu, &until); while (w == 0);
    pthread_mutex_unlock(&mu);
    target = until.tv_sec + until.tv_nsec / 1e9;
    printf("cond timedwait %s reached %d\n", w == ETIMEDOUT ? "ETIMEDOUT" : "other",
           now(CLOCK_MONOTONIC) >= target);
    return 0;
}
