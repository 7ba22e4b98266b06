/* pthread cancellation: a thread blocked in a cancellation point (read on a pipe),
   one in a condition wait, one polling pthread_testcancel, cleanup handlers, and a thread
   that disables cancellation until it is done. */
#include <pthread.h>
#include <stdio.h>
#include <unistd.h>

static int fds[2];
static pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t c = PTHREAD_COND_INITIALIZER;
static volatile int cleaned[4], started;

static void cleanup(void *arg) { cleaned[(long)arg] = 1; }

static void *reader(void *arg) {
    char b;
    pthread_cleanup_push(cleanup, (void *)0);
    __atomic_add_fetch(&started, 1, __ATOMIC_SEQ_CST);
    read(fds[0], &b, 1);                 /* blocks until cancelled */
    pthread_cleanup_pop(0);
    return arg;
}

static void *waiter(void *arg) {
    pthread_mutex_lock(&m);
    pthread_cleanup_push(cleanup, (void *)1);
    pthread_cleanup_push((void (*)(void *))pthread_mutex_unlock, &m);
    __atomic_add_fetch(&started, 1, __ATOMIC_SEQ_CST);
    for (;;) pthread_cond_wait(&c, &m);
    pthread_cleanup_pop(0);
    pthread_cleanup_pop(0);
    return arg;
}

static void *poller(void *arg) {
    pthread_cleanup_push(cleanup, (void *)2);
    __atomic_add_fetch(&started, 1, __ATOMIC_SEQ_CST);
    for (volatile unsigned long i = 0;; i++) if ((i & 1023) == 0) pthread_testcancel();
    pthread_cleanup_pop(0);
    return arg;
}

static void *stubborn(void *arg) {
    int old;
    pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &old);
    __atomic_add_fetch(&started, 1, __ATOMIC_SEQ_CST);
    usleep(20000);                       /* not a cancellation point while disabled */
    cleaned[3] = 1;
    return (void *)42;
}

int main(void) {
    pthread_t t[4];
    void *(*fn[4])(void *) = {reader, waiter, poller, stubborn};
    void *res;
    pipe(fds);
    for (int i = 0; i < 4; i++) pthread_create(&t[i], NULL, fn[i], NULL);
    while (__atomic_load_n(&started, __ATOMIC_SEQ_CST) < 4) sched_yield();
    for (int i = 0; i < 4; i++) pthread_cancel(t[i]);
    for (int i = 0; i < 4; i++) {
        pthread_join(t[i], &res);
        printf("thread %d: %s, cleanup %d\n", i,
               res == PTHREAD_CANCELED ? "cancelled" : "returned", cleaned[i]);
    }
    pthread_mutex_lock(&m);              /* the waiter's cleanup released it */
    puts("mutex free");
    return 0;
}
