/* Condition variables: producer/consumer over a bounded queue (2 producers, 3 consumers),
 * pthread_cond_timedwait timing out (ETIMEDOUT) on CLOCK_REALTIME and CLOCK_MONOTONIC,
 * sem_timedwait, a barrier, a read-write lock, a broadcast to many waiters,
 * trylock/timedlock on a held mutex. */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#define QSIZE 4
#define ITEMS 200

static int queue[QSIZE], head, count;
static pthread_mutex_t qlock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t not_full = PTHREAD_COND_INITIALIZER;
static pthread_cond_t not_empty = PTHREAD_COND_INITIALIZER;
static int max_seen;
static long long consumed_sum[3];
static int consumed_n[3];

static void put(int v)
{
    pthread_mutex_lock(&qlock);
    while (count == QSIZE)
        pthread_cond_wait(&not_full, &qlock);
    queue[(head + count) % QSIZE] = v;
    count++;
    if (count > max_seen)
        max_seen = count;
    pthread_cond_signal(&not_empty);
    pthread_mutex_unlock(&qlock);
}

static int get(void)
{
    pthread_mutex_lock(&qlock);
    while (count == 0)
        pthread_cond_wait(&not_empty, &qlock);
    int v = queue[head];
    head = (head + 1) % QSIZE;
    count--;
    pthread_cond_signal(&not_full);
    pthread_mutex_unlock(&qlock);
    return v;
}

static void *producer(void *arg)
{
    int base = (int)(long)arg;
    for (int i = 1; i <= ITEMS; i++)
        put(base + i);
    return NULL;
}

static void *consumer(void *arg)
{
    int k = (int)(long)arg;
    for (;;) {
        int v = get();
        if (v < 0)
            break;
        consumed_sum[k] += v;
        consumed_n[k]++;
    }
    return NULL;
}

static pthread_barrier_t barrier;
static int before[4], after_ok = 1;
static void *barrier_worker(void *arg)
{
    int k = (int)(long)arg;
    for (int round = 0; round < 5; round++) {
        __atomic_add_fetch(&before[round % 4], 1, __ATOMIC_SEQ_CST);
        pthread_barrier_wait(&barrier);
        if (__atomic_load_n(&before[round % 4], __ATOMIC_SEQ_CST) < 4 * (round / 4 + 1))
            after_ok = 0;
        pthread_barrier_wait(&barrier);
    }
    (void)k;
    return NULL;
}

static pthread_rwlock_t rw = PTHREAD_RWLOCK_INITIALIZER;
static int shared_value;
static void *rw_worker(void *arg)
{
    int k = (int)(long)arg;
    for (int i = 0; i < 200; i++) {
        if (k == 0) {
            pthread_rwlock_wrlock(&rw);
            shared_value += 2;
            pthread_rwlock_unlock(&rw);
        } else {
            pthread_rwlock_rdlock(&rw);
            if (shared_value & 1)
                shared_value = -1000000;
            pthread_rwlock_unlock(&rw);
        }
    }
    return NULL;
}

static pthread_mutex_t gate = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t go = PTHREAD_COND_INITIALIZER;
static int go_flag, waiting, released;
static void *bcast_waiter(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&gate);
    waiting++;
    while (!go_flag)
        pthread_cond_wait(&go, &gate);
    released++;
    pthread_mutex_unlock(&gate);
    return NULL;
}

static void deadline(struct timespec *ts, clockid_t clk, long ms)
{
    clock_gettime(clk, ts);
    ts->tv_nsec += ms * 1000000L;
    ts->tv_sec += ts->tv_nsec / 1000000000L;
    ts->tv_nsec %= 1000000000L;
}

static double elapsed(struct timespec *a)
{
    struct timespec b;
    clock_gettime(CLOCK_MONOTONIC, &b);
    return (b.tv_sec - a->tv_sec) + (b.tv_nsec - a->tv_nsec) / 1e9;
}

static pthread_mutex_t held = PTHREAD_MUTEX_INITIALIZER;
static void *try_holder(void *arg)
{
    (void)arg;
    struct timespec ts;
    int r1 = pthread_mutex_trylock(&held);
    deadline(&ts, CLOCK_REALTIME, 50);
    int r2 = pthread_mutex_timedlock(&held, &ts);
    printf("trylock %s timedlock %s\n", r1 == EBUSY ? "EBUSY" : "?",
           r2 == ETIMEDOUT ? "ETIMEDOUT" : "?");
    return NULL;
}

int main(void)
{
    pthread_t p[2], c[3], t[6];
    for (long k = 0; k < 3; k++)
        pthread_create(&c[k], NULL, consumer, (void *)k);
    for (long k = 0; k < 2; k++)
        pthread_create(&p[k], NULL, producer, (void *)(k * 1000));
    for (int k = 0; k < 2; k++)
        pthread_join(p[k], NULL);
    for (int k = 0; k < 3; k++)
        put(-1);
    for (int k = 0; k < 3; k++)
        pthread_join(c[k], NULL);
    long long total = 0;
    int n = 0;
    for (int k = 0; k < 3; k++) {
        total += consumed_sum[k];
        n += consumed_n[k];
    }
    printf("consumed %d items sum %lld max queue ok %d\n", n, total, max_seen <= QSIZE);

    pthread_barrier_init(&barrier, NULL, 4);
    for (long k = 0; k < 4; k++)
        pthread_create(&t[k], NULL, barrier_worker, (void *)k);
    for (int k = 0; k < 4; k++)
        pthread_join(t[k], NULL);
    printf("barrier ok %d\n", after_ok);

    for (long k = 0; k < 4; k++)
        pthread_create(&t[k], NULL, rw_worker, (void *)k);
    for (int k = 0; k < 4; k++)
        pthread_join(t[k], NULL);
    printf("rwlock value %d\n", shared_value);

    for (long k = 0; k < 6; k++)
        pthread_create(&t[k], NULL, bcast_waiter, NULL);
    for (;;) {
        pthread_mutex_lock(&gate);
        int w = waiting;
        pthread_mutex_unlock(&gate);
        if (w == 6)
            break;
        sched_yield();
    }
    pthread_mutex_lock(&gate);
    go_flag = 1;
    pthread_cond_broadcast(&go);
    pthread_mutex_unlock(&gate);
    for (int k = 0; k < 6; k++)
        pthread_join(t[k], NULL);
    printf("broadcast released %d\n", released);

    pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
    pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
    struct timespec ts, start;
    clock_gettime(CLOCK_MONOTONIC, &start);
    deadline(&ts, CLOCK_REALTIME, 100);
    pthread_mutex_lock(&m);
    int r = pthread_cond_timedwait(&cv, &m, &ts);
    pthread_mutex_unlock(&m);
    double e = elapsed(&start);
    printf("timedwait realtime %s waited enough %d\n", r == ETIMEDOUT ? "ETIMEDOUT" : strerror(r),
           e >= 0.095 && e < 5);

    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_t cv2;
    pthread_cond_init(&cv2, &ca);
    clock_gettime(CLOCK_MONOTONIC, &start);
    deadline(&ts, CLOCK_MONOTONIC, 80);
    pthread_mutex_lock(&m);
    r = pthread_cond_timedwait(&cv2, &m, &ts);
    pthread_mutex_unlock(&m);
    e = elapsed(&start);
    printf("timedwait monotonic %s waited enough %d\n", r == ETIMEDOUT ? "ETIMEDOUT" : strerror(r),
           e >= 0.075 && e < 5);

    sem_t s;
    sem_init(&s, 0, 0);
    deadline(&ts, CLOCK_REALTIME, 30);
    r = sem_timedwait(&s, &ts);
    printf("sem_timedwait %d %s\n", r, r ? (errno == ETIMEDOUT ? "ETIMEDOUT" : "?") : "");

    pthread_mutex_lock(&held);
    pthread_create(&t[0], NULL, try_holder, NULL);
    pthread_join(t[0], NULL);
    pthread_mutex_unlock(&held);
    return 0;
}
