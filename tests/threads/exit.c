/* How threads end: pthread_exit with a value, a detached thread, the main thread calling
 * pthread_exit while others run on (the process ends with the last one, status 0), or
 * (argument "exit") a thread calling exit(3) while main waits in pthread_join: the whole
 * process ends with status 3, and atexit handlers run once. Also fork in a thread. */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static void *returns(void *arg)
{
    pthread_exit((void *)((long)arg * 7));
    return NULL;
}

static volatile int detached_done;
static void *detached(void *arg)
{
    (void)arg;
    detached_done = 1;
    return NULL;
}

static void *exiter(void *arg)
{
    (void)arg;
    printf("thread calls exit(3)\n");
    fflush(stdout);
    exit(3);
}

static void bye(void) { printf("atexit handler\n"); }

static void *last(void *arg)
{
    for (volatile int i = 0; i < 200000; i++)
        ;
    printf("last thread %ld done\n", (long)arg);
    return NULL;
}

static void *forker(void *arg)
{
    (void)arg;
    pid_t p = fork();
    if (p == 0) {
        printf("child of a thread\n");
        fflush(stdout);
        _exit(9);
    }
    int st;
    waitpid(p, &st, 0);
    return (void *)(long)WEXITSTATUS(st);
}

int main(int argc, char **argv)
{
    pthread_t t;
    void *ret;
    pthread_create(&t, NULL, returns, (void *)6);
    pthread_join(t, &ret);
    printf("pthread_exit value %ld\n", (long)ret);

    pthread_attr_t a;
    pthread_attr_init(&a);
    pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
    pthread_create(&t, &a, detached, NULL);
    while (!detached_done)
        sched_yield();
    printf("detached ran\n");

    pthread_create(&t, NULL, forker, NULL);
    pthread_join(t, &ret);
    printf("fork in a thread: child status %ld\n", (long)ret);

    if (argc > 1 && !strcmp(argv[1], "exit")) {
        atexit(bye);
        pthread_create(&t, NULL, exiter, NULL);
        pthread_join(t, NULL);
        printf("not reached\n");
        return 0;
    }
    fflush(stdout);
    pthread_create(&t, NULL, last, (void *)1);
    pthread_exit(NULL);
}
