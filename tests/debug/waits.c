/* main waits in a system call while the worker, after a sleep, stops at work(): argv[1]
   "epoll" (epoll_wait on a pipe the worker then writes: Linux ends it with EINTR at a
   stop), else clock_nanosleep to an absolute time (-ERESTARTNOHAND while it waits). */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

int p[2];
volatile int counter;

int work(int id) {
    counter += id;
    return id;
}

void *worker(void *arg) {
    usleep(300000);
    work(1);
    write(p[1], "x", 1);
    return 0;
}

int main(int argc, char **argv) {
    pthread_t t;
    pipe(p);
    pthread_create(&t, 0, worker, 0);
    if (argc > 1 && !strcmp(argv[1], "epoll")) {
        int e = epoll_create1(0);
        struct epoll_event ev = {.events = EPOLLIN, .data.fd = p[0]}, out;
        epoll_ctl(e, EPOLL_CTL_ADD, p[0], &ev);
        int n = epoll_wait(e, &out, 1, -1);
        printf("epoll_wait=%d errno=%d\n", n, n < 0 ? errno : 0);
    } else {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        ts.tv_sec += 3;
        printf("clock_nanosleep=%d\n", clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME,
                                                       &ts, 0));
    }
    pthread_join(t, 0);
    return 0;
}
