/* A small threaded program whose every detail depends on the scheduler: unlocked
 * read-modify-write (lost updates), a mutex and a condition variable handing a token
 * round, sched_yield, thread ids, /proc/self/task, a timed wait that is always woken
 * before its timeout. Under pyvm two runs must give the same --trace, registers
 * included. Natively the output varies. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define NT 3
#define ITER 3000

static volatile unsigned counter;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t turn_changed = PTHREAD_COND_INITIALIZER;
static int turn, rounds;
static char order[64];
static int order_len;
static int tids[NT];

static void *worker(void *arg)
{
    int id = (int)(long)arg;
    tids[id] = (int)syscall(SYS_gettid);
    for (int i = 0; i < ITER; i++) {
        unsigned c = counter;
        counter = c + 1;
        if (i % 1000 == 999)
            sched_yield();
    }
    for (int r = 0; r < 4; r++) {
        pthread_mutex_lock(&lock);
        while (turn != id) {
            /* a timed wait (futex with a timeout) that is always woken first; the
             * deadline is a constant, not read from a clock, so the registers of two
             * runs are the same too */
            struct timespec until = {1 << 30, 0};
            pthread_cond_clockwait(&turn_changed, &lock, CLOCK_MONOTONIC, &until);
        }
        order[order_len++] = (char)('a' + id);
        turn = (turn + 1) % NT;
        rounds++;
        pthread_cond_broadcast(&turn_changed);
        pthread_mutex_unlock(&lock);
    }
    return NULL;
}

int main(void)
{
    /* a buffer of its own: glibc would otherwise fstat() stdout, whose times are the
     * host's and change whenever anyone writes to it (/dev/null too) */
    static char out[4096];
    setvbuf(stdout, out, _IOFBF, sizeof out);
    pthread_t t[NT];
    for (long k = 0; k < NT; k++)
        pthread_create(&t[k], NULL, worker, (void *)k);
    /* getdents64 itself: opendir would fstat the directory, whose times are the host's */
    int tasks = 0, fd = open("/proc/self/task", O_RDONLY | O_DIRECTORY);
    char buf[1024];
    long n;
    while (fd >= 0 && (n = syscall(SYS_getdents64, fd, buf, sizeof buf)) > 0)
        for (long at = 0; at < n; at += *(unsigned short *)(buf + at + 16))
            tasks += buf[at + 19] != '.';
    if (fd >= 0)
        close(fd);
    for (int k = 0; k < NT; k++)
        pthread_join(t[k], NULL);
    printf("pid %d tids %d %d %d tasks %d\n", getpid(), tids[0], tids[1], tids[2], tasks);
    printf("counter %u of %u, order %s, rounds %d\n", counter, NT * ITER, order, rounds);
    return 0;
}
