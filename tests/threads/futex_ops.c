/* The futex operations through raw system calls (futex and futex_time64): WAIT/WAKE,
 * WAIT_BITSET/WAKE_BITSET, REQUEUE, CMP_REQUEUE, WAKE_OP, private flags, EAGAIN and
 * ETIMEDOUT, tkill; robust mutexes (EOWNERDEAD after the owner thread exits) and
 * get_robust_list. The main thread waits until the waiters sleep (see asleep()). */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/futex.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#ifndef SYS_futex_time64
#define SYS_futex_time64 422
#endif

static long fx(int nr, uint32_t *a, int op, uint32_t v, long t, uint32_t *a2, uint32_t v3)
{
    long r = syscall(nr, a, op, v, t, a2, v3);
    return r < 0 ? -errno : r;
}

static uint32_t word1, word2;
static volatile int woke[8];
static volatile int started;

struct waitarg { int k; uint32_t *addr; uint32_t bitset; int nr; };

static void *waiter(void *p)
{
    struct waitarg *w = p;
    __atomic_add_fetch(&started, 1, __ATOMIC_SEQ_CST);
    long r;
    if (w->bitset)
        r = fx(w->nr, w->addr, FUTEX_WAIT_BITSET | FUTEX_PRIVATE_FLAG, 0, 0, NULL, w->bitset);
    else
        r = fx(w->nr, w->addr, FUTEX_WAIT, 0, 0, NULL, 0);
    woke[w->k] = r == 0 ? 1 : (int)r;
    return NULL;
}

static uint32_t scratch;

/* How many threads sleep on addr: requeue them all to a scratch word and back (each
 * call returns the number it moved). Exact natively and under pyvm. */
static long asleep(uint32_t *addr, int private)
{
    int flag = private ? FUTEX_PRIVATE_FLAG : 0;
    long n = fx(SYS_futex, addr, FUTEX_REQUEUE | flag, 0, 0x7fffffff, &scratch, 0);
    fx(SYS_futex, &scratch, FUTEX_REQUEUE | flag, 0, 0x7fffffff, addr, 0);
    return n;
}

static void settle(uint32_t *addr, int private, int n)
{
    while (asleep(addr, private) < n)
        usleep(1000);
}

static pthread_t th[8];
static struct waitarg args[8];

static void spawn(int n, uint32_t *addr, const uint32_t *bitsets, int nr)
{
    started = 0;
    for (int k = 0; k < n; k++) {
        woke[k] = 0;
        args[k] = (struct waitarg){k, addr, bitsets ? bitsets[k] : 0, nr};
        pthread_create(&th[k], NULL, waiter, &args[k]);
    }
    settle(addr, bitsets != NULL, n);
}

static void join(int n)
{
    for (int k = 0; k < n; k++)
        pthread_join(th[k], NULL);
}

static int count_woken(int n)
{
    int c = 0;
    for (int k = 0; k < n; k++)
        c += woke[k] == 1;
    return c;
}

static pthread_mutex_t robust;
static void *owner_dies(void *p)
{
    (void)p;
    pthread_mutex_lock(&robust);
    return NULL;                          /* exits holding it */
}

int main(void)
{
    struct timespec ts = {0, 20 * 1000000};
    word1 = 5;
    printf("wait on changed value: %s\n",
           fx(SYS_futex, &word1, FUTEX_WAIT, 4, 0, NULL, 0) == -EAGAIN ? "EAGAIN" : "?");
    printf("wait with timeout: %s\n",
           fx(SYS_futex, &word1, FUTEX_WAIT_PRIVATE, 5, (long)&ts, NULL, 0) == -ETIMEDOUT
           ? "ETIMEDOUT" : "?");
    struct { long long s; long long ns; } ts64 = {0, 20 * 1000000};
    printf("futex_time64 timeout: %s\n",
           fx(SYS_futex_time64, &word1, FUTEX_WAIT_PRIVATE, 5, (long)&ts64, NULL, 0)
           == -ETIMEDOUT ? "ETIMEDOUT" : "?");
    struct timespec abs;
    clock_gettime(CLOCK_MONOTONIC, &abs);
    abs.tv_nsec += 20 * 1000000;
    if (abs.tv_nsec >= 1000000000) { abs.tv_sec++; abs.tv_nsec -= 1000000000; }
    printf("wait_bitset absolute: %s\n",
           fx(SYS_futex, &word1, FUTEX_WAIT_BITSET, 5, (long)&abs, NULL, ~0u) == -ETIMEDOUT
           ? "ETIMEDOUT" : "?");
    printf("wake nobody: %ld\n", fx(SYS_futex, &word1, FUTEX_WAKE, 1, 0, NULL, 0));

    word1 = 0;
    spawn(3, &word1, NULL, SYS_futex);
    long r = fx(SYS_futex, &word1, FUTEX_WAKE, 2, 0, NULL, 0);
    while (count_woken(3) < r)
        sched_yield();
    printf("wake 2 of 3: %ld woken %d\n", r, count_woken(3));
    printf("private wake of shared waiters: %ld\n",
           fx(SYS_futex, &word1, FUTEX_WAKE_PRIVATE, 10, 0, NULL, 0));
    r = fx(SYS_futex, &word1, FUTEX_WAKE, 10, 0, NULL, 0);
    join(3);
    printf("wake rest: %ld woken %d\n", r, count_woken(3));

    uint32_t bits[4] = {1, 2, 4, 6};
    spawn(4, &word1, bits, SYS_futex_time64);
    r = fx(SYS_futex, &word1, FUTEX_WAKE_BITSET | FUTEX_PRIVATE_FLAG, 10, 0, NULL, 2);
    while (count_woken(4) < r)
        sched_yield();
    printf("wake_bitset 2: %ld woken %d%d%d%d\n", r, woke[0] == 1, woke[1] == 1, woke[2] == 1,
           woke[3] == 1);
    r = fx(SYS_futex, &word1, FUTEX_WAKE_BITSET | FUTEX_PRIVATE_FLAG, 10, 0, NULL, ~0u);
    join(4);
    printf("wake_bitset all: %ld\n", r);

    word1 = 0;
    word2 = 0;
    spawn(4, &word1, NULL, SYS_futex);
    r = fx(SYS_futex, &word1, FUTEX_REQUEUE, 1, 2, &word2, 0);
    while (count_woken(4) < 1)
        sched_yield();
    printf("requeue 1+2: %ld woken %d\n", r, count_woken(4));
    printf("wake old address: %ld\n", fx(SYS_futex, &word1, FUTEX_WAKE, 10, 0, NULL, 0));
    printf("wake new address: %ld\n", fx(SYS_futex, &word2, FUTEX_WAKE, 10, 0, NULL, 0));
    join(4);

    word1 = 7;
    printf("cmp_requeue mismatch: %s\n",
           fx(SYS_futex, &word1, FUTEX_CMP_REQUEUE, 1, 1, &word2, 8) == -EAGAIN ? "EAGAIN" : "?");
    word1 = 0;
    spawn(3, &word1, NULL, SYS_futex);
    r = fx(SYS_futex, &word1, FUTEX_CMP_REQUEUE, 0, 10, &word2, 0);
    printf("cmp_requeue 0+all: %ld\n", r);
    printf("wake new address: %ld\n", fx(SYS_futex, &word2, FUTEX_WAKE, 10, 0, NULL, 0));
    join(3);

    /* WAKE_OP: word2 += 1 (old 0), wake 1 on word1, and on word2 if old == 0 */
    word1 = word2 = 0;
    started = 0;
    woke[0] = woke[1] = 0;
    args[0] = (struct waitarg){0, &word1, 0, SYS_futex};
    args[1] = (struct waitarg){1, &word2, 0, SYS_futex};
    pthread_create(&th[0], NULL, waiter, &args[0]);
    pthread_create(&th[1], NULL, waiter, &args[1]);
    settle(&word1, 0, 1);
    settle(&word2, 0, 1);
    uint32_t op = FUTEX_OP(FUTEX_OP_ADD, 1, FUTEX_OP_CMP_EQ, 0);
    r = fx(SYS_futex, &word1, FUTEX_WAKE_OP, 1, 1, &word2, op);
    join(2);
    printf("wake_op: %ld word2 %u\n", r, word2);
    op = FUTEX_OP(FUTEX_OP_OR, 8, FUTEX_OP_CMP_GT, 100);
    r = fx(SYS_futex, &word1, FUTEX_WAKE_OP, 1, 1, &word2, op);
    printf("wake_op no cmp: %ld word2 %u\n", r, word2);

    pthread_mutexattr_t ma;
    pthread_mutexattr_init(&ma);
    pthread_mutexattr_setrobust(&ma, PTHREAD_MUTEX_ROBUST);
    pthread_mutex_init(&robust, &ma);
    pthread_t o;
    pthread_create(&o, NULL, owner_dies, NULL);
    pthread_join(o, NULL);
    int e = pthread_mutex_lock(&robust);
    printf("robust: %s\n", e == EOWNERDEAD ? "EOWNERDEAD" : strerror(e));
    printf("consistent: %d\n", pthread_mutex_consistent(&robust));
    pthread_mutex_unlock(&robust);
    void *head;
    size_t len;
    r = syscall(SYS_get_robust_list, 0, &head, &len);
    printf("get_robust_list: %ld len %zu head set %d\n", r, len, head != NULL);
    printf("tkill self 0: %ld\n", syscall(SYS_tkill, syscall(SYS_gettid), 0));
    printf("tgkill bad: %s\n", syscall(SYS_tgkill, getpid(), 999999999, 0) == -1 &&
           errno == ESRCH ? "ESRCH" : "?");
    return 0;
}
