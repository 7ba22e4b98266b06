/* pthreads basics: create/join with disjoint slices, a mutex-protected counter incremented
 * by 8 threads, pthread_once, __thread variables, thread return values, distinct tids,
 * /proc/self/task, semaphores. Only deterministic results are printed. */
#define _GNU_SOURCE
#include <dirent.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#define NT 8
#define N 4000

static unsigned data[N];
static unsigned long long partial[NT];

static void *sum_slice(void *arg)
{
    int k = (int)(long)arg;
    unsigned long long s = 0;
    for (int i = k * (N / NT); i < (k + 1) * (N / NT); i++)
        s += (unsigned long long)data[i] * data[i];
    partial[k] = s;
    return (void *)(long)(k * 10 + 1);
}

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static long counter;

static void *count_up(void *arg)
{
    (void)arg;
    for (int i = 0; i < 3000; i++) {
        pthread_mutex_lock(&lock);
        counter++;
        pthread_mutex_unlock(&lock);
        if (i % 500 == 0)
            sched_yield();
    }
    return NULL;
}

static pthread_once_t once = PTHREAD_ONCE_INIT;
static int once_runs;
static void init_once(void) { once_runs++; }

static __thread int tls_value = 7;
static __thread char tls_name[16];
static int tls_seen[NT];
static pid_t tids[NT];

static void *tls_worker(void *arg)
{
    int k = (int)(long)arg;
    pthread_once(&once, init_once);
    tls_value += k * 3;
    snprintf(tls_name, sizeof tls_name, "t%d", k);
    sched_yield();
    tls_seen[k] = tls_value * 100 + (tls_name[1] - '0');
    tids[k] = (pid_t)syscall(SYS_gettid);
    return NULL;
}

static sem_t ping, pong;
static int rally[20];

static void *ponger(void *arg)
{
    (void)arg;
    for (int i = 0; i < 10; i++) {
        sem_wait(&ping);
        rally[2 * i + 1] = 2 * i + 1;
        sem_post(&pong);
    }
    return NULL;
}

static int count_tasks(void)
{
    DIR *d = opendir("/proc/self/task");
    if (!d)
        return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (e->d_name[0] != '.')
            n++;
    closedir(d);
    return n;
}

static pthread_barrier_t bar;
static void *waiter(void *arg)
{
    (void)arg;
    pthread_barrier_wait(&bar);   /* until main counted the tasks */
    return NULL;
}

int main(void)
{
    pthread_t th[NT];
    for (int i = 0; i < N; i++)
        data[i] = i * 2654435761u >> 7;
    for (long k = 0; k < NT; k++)
        if (pthread_create(&th[k], NULL, sum_slice, (void *)k)) {
            puts("pthread_create failed");
            return 1;
        }
    unsigned long long total = 0;
    long rets = 0;
    for (int k = 0; k < NT; k++) {
        void *ret;
        pthread_join(th[k], &ret);
        rets += (long)ret;
        total += partial[k];
    }
    unsigned long long check = 0;
    for (int i = 0; i < N; i++)
        check += (unsigned long long)data[i] * data[i];
    printf("sum %llu %s rets %ld\n", total, total == check ? "ok" : "WRONG", rets);

    for (int k = 0; k < NT; k++)
        pthread_create(&th[k], NULL, count_up, NULL);
    for (int k = 0; k < NT; k++)
        pthread_join(th[k], NULL);
    printf("counter %ld\n", counter);

    for (long k = 0; k < NT; k++)
        pthread_create(&th[k], NULL, tls_worker, (void *)k);
    for (int k = 0; k < NT; k++)
        pthread_join(th[k], NULL);
    printf("once %d main tls %d\n", once_runs, tls_value);
    for (int k = 0; k < NT; k++)
        printf("tls[%d] %d\n", k, tls_seen[k]);
    int distinct = 1;
    pid_t me = (pid_t)syscall(SYS_gettid);
    for (int a = 0; a < NT; a++) {
        if (tids[a] == me || tids[a] == getpid())
            distinct = 0;
        for (int b = 0; b < a; b++)
            if (tids[a] == tids[b])
                distinct = 0;
    }
    printf("tids distinct %d main tid is pid %d\n", distinct, me == getpid());

    sem_init(&ping, 0, 0);
    sem_init(&pong, 0, 0);
    pthread_t p;
    pthread_create(&p, NULL, ponger, NULL);
    for (int i = 0; i < 10; i++) {
        rally[2 * i] = 2 * i;
        sem_post(&ping);
        sem_wait(&pong);
    }
    pthread_join(p, NULL);
    int ok = 1;
    for (int i = 0; i < 20; i++)
        ok &= rally[i] == i;
    printf("semaphores %d trywait %d\n", ok, sem_trywait(&ping));

    pthread_barrier_init(&bar, NULL, 4);
    for (int k = 0; k < 3; k++)
        pthread_create(&th[k], NULL, waiter, NULL);
    printf("tasks %d\n", count_tasks());
    pthread_barrier_wait(&bar);
    for (int k = 0; k < 3; k++)
        pthread_join(th[k], NULL);
    int after = count_tasks();
    for (int i = 0; i < 2000 && after != 1; i++) {   /* a joined thread may linger briefly */
        usleep(1000);
        after = count_tasks();
    }
    printf("tasks after %d\n", after);
    return 0;
}
