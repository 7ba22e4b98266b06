/* Signals and threads: pthread_kill to a thread with a handler (the handler runs in that
 * thread), per-thread signal masks (a process-directed signal goes to the thread that
 * does not block it), tgkill to a thread blocked in a futex wait, raise() in a thread,
 * sigwait in a thread, pthread_sigmask inheritance. */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

static volatile pid_t handler_tid;
static volatile int handler_sig, handled;
static __thread int which = 0;
static volatile int handler_which;

static void handler(int sig)
{
    handler_tid = (pid_t)syscall(SYS_gettid);
    handler_sig = sig;
    handler_which = which;
    handled++;
}

static sem_t ready, done;
static volatile int stop;
static pid_t worker_tid;

static void *worker(void *arg)
{
    which = (int)(long)arg;
    worker_tid = (pid_t)syscall(SYS_gettid);
    sem_post(&ready);
    while (!stop)
        sem_wait(&done);   /* blocked in a futex: the signal interrupts, sem_wait resumes */
    return NULL;
}

static void *blocker(void *arg)
{
    /* blocks SIGUSR2: a process-directed SIGUSR2 must go to another thread */
    sigset_t s;
    sigemptyset(&s);
    sigaddset(&s, SIGUSR2);
    pthread_sigmask(SIG_BLOCK, &s, NULL);
    which = (int)(long)arg;
    sem_post(&ready);
    while (!stop)
        sem_wait(&done);
    return NULL;
}

static void *raiser(void *arg)
{
    which = (int)(long)arg;
    raise(SIGUSR1);
    return NULL;
}

static void *sigwaiter(void *arg)
{
    sigset_t s;
    int sig = 0;
    (void)arg;
    sigemptyset(&s);
    sigaddset(&s, SIGTERM);
    sem_post(&ready);
    sigwait(&s, &sig);
    return (void *)(long)sig;
}

static void *mask_reporter(void *arg)
{
    sigset_t s;
    (void)arg;
    pthread_sigmask(SIG_BLOCK, NULL, &s);
    return (void *)(long)(sigismember(&s, SIGHUP) * 10 + sigismember(&s, SIGUSR1));
}

int main(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = handler;
    sa.sa_flags = SA_RESTART;
    sigaction(SIGUSR1, &sa, NULL);
    sigaction(SIGUSR2, &sa, NULL);
    sem_init(&ready, 0, 0);
    sem_init(&done, 0, 0);

    pthread_t w;
    pthread_create(&w, NULL, worker, (void *)1);
    sem_wait(&ready);
    usleep(20000);              /* let it block in sem_wait */
    pthread_kill(w, SIGUSR1);
    while (!handled)
        sched_yield();
    printf("pthread_kill: handled in worker %d (which %d) sig %d\n",
           handler_tid == worker_tid, handler_which, handler_sig);
    stop = 1;
    sem_post(&done);
    pthread_join(w, NULL);

    /* a process-directed signal with main blocking it: the unblocked thread takes it */
    stop = 0;
    handled = 0;
    sigset_t s, old;
    pthread_t b1, b2;
    pthread_create(&b1, NULL, blocker, (void *)2);
    pthread_create(&b2, NULL, worker, (void *)3);
    sem_wait(&ready);
    sem_wait(&ready);
    sigemptyset(&s);
    sigaddset(&s, SIGUSR2);
    pthread_sigmask(SIG_BLOCK, &s, &old);
    usleep(20000);
    kill(getpid(), SIGUSR2);
    while (!handled)
        sched_yield();
    printf("kill: handled by thread %d sig %d\n", handler_which, handler_sig);
    stop = 1;
    sem_post(&done);
    sem_post(&done);
    pthread_join(b1, NULL);
    pthread_join(b2, NULL);
    pthread_sigmask(SIG_SETMASK, &old, NULL);

    handled = 0;
    pthread_t r;
    pthread_create(&r, NULL, raiser, (void *)4);
    pthread_join(r, NULL);
    printf("raise in thread: handled %d by %d\n", handled, handler_which);

    /* sigwait: the thread that waits takes SIGTERM; every thread blocks it */
    sigemptyset(&s);
    sigaddset(&s, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &s, NULL);
    pthread_t sw;
    void *ret;
    pthread_create(&sw, NULL, sigwaiter, NULL);
    sem_wait(&ready);
    usleep(20000);
    pthread_kill(sw, SIGTERM);
    pthread_join(sw, &ret);
    printf("sigwait got %ld\n", (long)ret);

    sigemptyset(&s);
    sigaddset(&s, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &s, NULL);
    pthread_t mr;
    pthread_create(&mr, NULL, mask_reporter, NULL);
    pthread_join(mr, &ret);
    printf("inherited mask %ld\n", (long)ret);
    return 0;
}
