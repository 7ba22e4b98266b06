/* poll, ppoll, select, pselect, the old select, epoll, eventfd and pipe2 flags: what
 * each reports, that blocking waits wake when another process writes, timeouts, and the
 * signal mask of ppoll/pselect/epoll_pwait. Output is compared with the native run. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/select.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static volatile int got;
static void on_usr1(int s) { (void)s; got++; }

static void check(const char *what, long v) {
    printf("%s = %ld%s%s\n", what, v, v < 0 ? " " : "", v < 0 ? strerror(errno) : "");
}

static void test_pipe2(void) {
    int p[2];
    check("pipe2 bad flags", pipe2(p, 0x1));
    check("pipe2 nonblock|cloexec", pipe2(p, O_NONBLOCK | O_CLOEXEC));
    printf("fl nonblock %d, fd cloexec %d\n", !!(fcntl(p[0], F_GETFL) & O_NONBLOCK),
           fcntl(p[1], F_GETFD));
    char c;
    check("read empty nonblocking", read(p[0], &c, 1));
    close(p[0]);
    close(p[1]);
}

static void test_poll(void) {
    int p[2];
    pipe(p);
    close(99);
    struct pollfd f[3] = {{p[0], POLLIN, 0}, {p[1], POLLOUT, 0}, {99, POLLIN, 0}};
    check("poll", poll(f, 3, 0));
    printf("revents %x %x %x\n", f[0].revents, f[1].revents, f[2].revents);
    write(p[1], "x", 1);
    check("poll after write", poll(f, 2, 100));
    printf("revents %x %x\n", f[0].revents, f[1].revents);
    close(p[1]);
    f[0].events = POLLIN;
    check("poll after close", poll(f, 1, 0));
    printf("revents %x\n", f[0].revents);
    char buf[4];
    read(p[0], buf, 4);
    check("poll at eof", poll(f, 1, -1));
    printf("revents %x\n", f[0].revents);
    close(p[0]);
    struct timespec ts = {0, 20 * 1000 * 1000};
    check("ppoll timeout (nothing)", ppoll(NULL, 0, &ts, NULL));
    printf("ppoll left %ld.%09ld\n", (long)ts.tv_sec, ts.tv_nsec);
    ts.tv_nsec = 2000000000;
    check("ppoll bad timespec", ppoll(NULL, 0, &ts, NULL));
    check("poll bad pointer", poll((struct pollfd *)16, 1, 0));
}

static void test_select(void) {
    int p[2];
    pipe(p);
    fd_set r, w;
    FD_ZERO(&r);
    FD_ZERO(&w);
    FD_SET(p[0], &r);
    FD_SET(p[1], &w);
    struct timeval tv = {0, 10000};
    check("select", select(p[1] + 1, &r, &w, NULL, &tv));
    printf("r %d w %d\n", FD_ISSET(p[0], &r), FD_ISSET(p[1], &w));
    FD_ZERO(&r);
    FD_SET(p[0], &r);
    tv.tv_sec = 0;
    tv.tv_usec = 30000;
    check("select timeout", select(p[0] + 1, &r, NULL, NULL, &tv));
    printf("left %ld.%06ld r %d\n", (long)tv.tv_sec, (long)tv.tv_usec, FD_ISSET(p[0], &r));
    /* a closed descriptor below 64 (Linux ignores those past its descriptor table) */
    close(40);
    FD_ZERO(&r);
    FD_SET(40, &r);
    check("select bad fd", select(41, &r, NULL, NULL, NULL));
    /* the old i386 select: one pointer to five arguments */
    write(p[1], "y", 1);
    FD_ZERO(&r);
    FD_SET(p[0], &r);
    struct timeval tz = {0, 0};
    unsigned long args[5] = {p[0] + 1, (unsigned long)&r, 0, 0, (unsigned long)&tz};
    check("old select", syscall(82, args));
    FD_ZERO(&r);
    FD_SET(p[0], &r);
    struct timespec ts = {1, 0};
    check("pselect", pselect(p[0] + 1, &r, NULL, NULL, &ts, NULL));
    close(p[0]);
    close(p[1]);
}

/* a child writes after a pause; the parent's blocking wait must wake */
static void test_cross_process(void) {
    int p[2];
    pipe(p);
    int efd = eventfd(0, 0);
    pid_t pid = fork();
    if (pid == 0) {
        usleep(20000);
        write(p[1], "hello", 5);
        uint64_t v = 3;
        write(efd, &v, 8);
        _exit(0);
    }
    struct pollfd f = {p[0], POLLIN, 0};
    check("poll blocks until child writes", poll(&f, 1, -1));
    char buf[8] = {0};
    read(p[0], buf, sizeof buf - 1);
    printf("got %s\n", buf);
    uint64_t v = 0;
    check("eventfd read blocks", read(efd, &v, 8));
    printf("eventfd value %llu\n", (unsigned long long)v);
    int status;
    waitpid(pid, &status, 0);
    close(p[0]);
    close(p[1]);
    close(efd);
}

static void test_eventfd(void) {
    int e = eventfd(5, EFD_NONBLOCK | EFD_SEMAPHORE);
    uint64_t v;
    for (int i = 0; i < 2; i++) {
        check("sem read", read(e, &v, 8));
        printf("value %llu\n", (unsigned long long)v);
    }
    close(e);
    e = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    printf("cloexec %d\n", fcntl(e, F_GETFD));
    check("read empty", read(e, &v, 8));
    check("short read", read(e, &v, 4));
    v = 0xffffffffffffffffULL;
    check("write max", write(e, &v, 8));
    v = 0xfffffffffffffffeULL;
    check("write near max", write(e, &v, 8));
    v = 1;
    check("write overflow", write(e, &v, 8));
    struct pollfd f = {e, POLLIN | POLLOUT, 0};
    poll(&f, 1, 0);
    printf("full revents %x\n", f.revents);
    check("read", read(e, &v, 8));
    printf("value %llx\n", (unsigned long long)v);
    check("eventfd2 bad flags", eventfd(0, 0x10));
    check("raw eventfd", syscall(SYS_eventfd, 7));
}

static void test_epoll(void) {
    int ep = epoll_create1(EPOLL_CLOEXEC);
    printf("epoll cloexec %d\n", fcntl(ep, F_GETFD));
    check("epoll_create 0", epoll_create(0));
    int p[2], q[2];
    pipe(p);
    pipe(q);
    struct epoll_event ev = {.events = EPOLLIN, .data.u64 = 0x1122334455667788ULL};
    check("ctl add", epoll_ctl(ep, EPOLL_CTL_ADD, p[0], &ev));
    check("ctl add again", epoll_ctl(ep, EPOLL_CTL_ADD, p[0], &ev));
    ev.events = EPOLLOUT;
    ev.data.u32 = 7;
    check("ctl add write end", epoll_ctl(ep, EPOLL_CTL_ADD, q[1], &ev));
    check("ctl add self", epoll_ctl(ep, EPOLL_CTL_ADD, ep, &ev));
    check("ctl mod missing", epoll_ctl(ep, EPOLL_CTL_MOD, q[0], &ev));
    check("ctl bad fd", epoll_ctl(ep, EPOLL_CTL_ADD, 99, &ev));
    check("ctl bad op", epoll_ctl(ep, 9, q[0], &ev));
    int f = open("/proc/self/exe", O_RDONLY);
    check("ctl regular file", epoll_ctl(ep, EPOLL_CTL_ADD, f, &ev));
    close(f);
    struct epoll_event out[4];
    check("wait", epoll_wait(ep, out, 4, 0));
    printf("ev %x data %u\n", out[0].events, out[0].data.u32);
    write(p[1], "abc", 3);
    check("ctl del write end", epoll_ctl(ep, EPOLL_CTL_DEL, q[1], NULL));
    check("wait", epoll_wait(ep, out, 4, 100));
    printf("ev %x data %llx\n", out[0].events, (unsigned long long)out[0].data.u64);
    /* edge triggered: reported once until new data arrives */
    ev.events = EPOLLIN | EPOLLET;
    ev.data.u32 = 9;
    check("ctl mod ET", epoll_ctl(ep, EPOLL_CTL_MOD, p[0], &ev));
    check("ET wait 1", epoll_wait(ep, out, 4, 0));
    check("ET wait 2", epoll_wait(ep, out, 4, 0));
    char buf[8];
    read(p[0], buf, sizeof buf);
    write(p[1], "d", 1);
    check("ET wait after new data", epoll_wait(ep, out, 4, 0));
    /* one-shot */
    ev.events = EPOLLIN | EPOLLONESHOT;
    check("ctl mod oneshot", epoll_ctl(ep, EPOLL_CTL_MOD, p[0], &ev));
    check("oneshot 1", epoll_wait(ep, out, 4, 0));
    check("oneshot 2", epoll_wait(ep, out, 4, 0));
    check("rearm", epoll_ctl(ep, EPOLL_CTL_MOD, p[0], &ev));
    check("oneshot 3", epoll_wait(ep, out, 4, 0));
    read(p[0], buf, sizeof buf);
    check("timeout", epoll_wait(ep, out, 4, 30));
    check("maxevents 0", epoll_wait(ep, out, 0, 0));
    check("not epoll", epoll_wait(p[0], out, 1, 0));
    /* hang-up when the writer goes, and closing the watched fd removes the watch */
    ev.events = EPOLLIN;
    epoll_ctl(ep, EPOLL_CTL_MOD, p[0], &ev);
    close(p[1]);
    check("hup", epoll_wait(ep, out, 4, 0));
    printf("ev %x\n", out[0].events);
    close(p[0]);
    check("after close", epoll_wait(ep, out, 4, 0));
    /* a child writes: the parent's epoll_wait blocks until then */
    int r[2];
    pipe(r);
    ev.events = EPOLLIN;
    ev.data.u32 = 42;
    epoll_ctl(ep, EPOLL_CTL_ADD, r[0], &ev);
    int ep2 = epoll_create1(0);
    ev.data.u32 = 43;
    check("nested add", epoll_ctl(ep2, EPOLL_CTL_ADD, ep, &ev));
    check("loop", epoll_ctl(ep, EPOLL_CTL_ADD, ep2, &ev));
    pid_t pid = fork();
    if (pid == 0) {
        usleep(20000);
        write(r[1], "z", 1);
        _exit(0);
    }
    check("nested wait blocks", epoll_wait(ep2, out, 4, -1));
    printf("data %u\n", out[0].data.u32);
    check("wait", epoll_wait(ep, out, 4, -1));
    printf("data %u\n", out[0].data.u32);
    waitpid(pid, NULL, 0);
    close(ep2);
    close(ep);
    close(q[0]);
    close(q[1]);
    close(r[0]);
    close(r[1]);
}

/* ppoll/pselect/epoll_pwait unblock a signal only while they wait */
static void test_masks(void) {
    struct sigaction sa = {0};
    sa.sa_handler = on_usr1;
    sigaction(SIGUSR1, &sa, NULL);
    sigset_t block, empty;
    sigemptyset(&block);
    sigemptyset(&empty);
    sigaddset(&block, SIGUSR1);
    sigprocmask(SIG_BLOCK, &block, NULL);
    pid_t parent = getpid();
    for (int which = 0; which < 3; which++) {
        got = 0;
        pid_t pid = fork();
        if (pid == 0) {
            usleep(20000);
            kill(parent, SIGUSR1);
            _exit(0);
        }
        int p[2];
        pipe(p);
        long r;
        if (which == 0) {
            struct pollfd f = {p[0], POLLIN, 0};
            r = ppoll(&f, 1, NULL, &empty);
        } else if (which == 1) {
            fd_set rs;
            FD_ZERO(&rs);
            FD_SET(p[0], &rs);
            r = pselect(p[0] + 1, &rs, NULL, NULL, NULL, &empty);
        } else {
            int ep = epoll_create1(0);
            struct epoll_event ev = {.events = EPOLLIN}, out;
            epoll_ctl(ep, EPOLL_CTL_ADD, p[0], &ev);
            r = epoll_pwait(ep, &out, 1, -1, &empty);
            close(ep);
        }
        printf("wait %d = %ld (%s), handler ran %d\n", which, r,
               r < 0 ? strerror(errno) : "-", got);
        sigset_t now;
        sigprocmask(SIG_BLOCK, NULL, &now);
        printf("mask restored: %d\n", sigismember(&now, SIGUSR1));
        waitpid(pid, NULL, 0);
        close(p[0]);
        close(p[1]);
    }
    /* a signal blocked by the wait's own mask stays pending */
    struct pollfd none;
    struct timespec ts = {0, 1000000};
    raise(SIGUSR1);
    got = 0;
    check("ppoll keeps it blocked", ppoll(&none, 0, &ts, &block));
    printf("handler ran %d\n", got);
    sigprocmask(SIG_UNBLOCK, &block, NULL);
    printf("after unblock %d\n", got);
    /* poll is interrupted even with SA_RESTART (the child signals until the parent
     * says it is back from poll: a signal that came too early cannot hang the test) */
    sa.sa_flags = SA_RESTART;
    sigaction(SIGUSR1, &sa, NULL);
    int p[2], done[2];
    pipe(p);
    pipe2(done, O_NONBLOCK);
    pid_t pid = fork();
    if (pid == 0) {
        char c;
        while (read(done[0], &c, 1) != 1) {
            usleep(10000);
            kill(parent, SIGUSR1);
        }
        _exit(0);
    }
    struct pollfd f = {p[0], POLLIN, 0};
    check("poll with SA_RESTART", poll(&f, 1, -1));
    write(done[1], "x", 1);
    waitpid(pid, NULL, 0);
}

int main(void) {
    setvbuf(stdout, NULL, _IONBF, 0);
    test_pipe2();
    test_poll();
    test_select();
    test_cross_process();
    test_eventfd();
    test_epoll();
    test_masks();
    return 0;
}
