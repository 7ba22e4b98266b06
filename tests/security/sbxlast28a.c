/* A thread sharing the descriptor table (pthread: CLONE_FILES) exits, then the process
   makes pipes: RLIMIT_NOFILE must still bound them (test_sbxlast28a.py). */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <sys/resource.h>
#include <unistd.h>

static void *run(void *arg) { return arg; }

int main(void) {
    struct rlimit r = {32, 32};
    setrlimit(RLIMIT_NOFILE, &r);
    pthread_t t;
    pthread_create(&t, 0, run, 0);
    pthread_join(t, 0);
    usleep(1000);                       /* the thread has exited and been reaped */
    int n = 0, p[2];
    errno = 0;
    while (n < 200 && pipe(p) == 0)
        n++;
    printf("pipes %d errno %d\n", n, errno);
    return 0;
}
