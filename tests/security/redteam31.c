/* Session 31 red team probes (tests/security/test_redteam31.py), each an argument:
   o         SOL_SOCKET options by name, set then read back, one at a time: names Linux
             does not know are ENOPROTOOPT (pyvm recorded any): "o: set/get ..."
   q, Q      a datagram (q) or stream (Q) socketpair: "hi" sent with a pipe's write end
             (SCM_RIGHTS), the sender's copy closed; recvmsg into an unmapped buffer, then
             into a good one, then a read of the pipe (non-blocking):
             "q: first second data fd-received pipe-read"
   x:N:PROG  N copies of PROG made here, each fork-exec'd in turn, then a file opened:
             "x: done N" (or where it failed)
   e:N       N distinct files that are no program (ENOEXEC) exec'd, each once, and a file
             opened after each: "e: done N errno"
   t         sockets of one type addressing a socket of another (a listening stream
             socket by an abstract name, a datagram one by a path), and a stream
             socket's sendto with an address: "t: errnos"
   f:N       a thread waits on N futexes in turn (each a new address), each wait ended
             by a signal from the main thread: "f: N interrupted" */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

static int e(int r) { return r < 0 ? -errno : r; }

static void options(void) {
    static const int names[] = {SO_REUSEADDR, SO_KEEPALIVE, SO_SNDBUF, SO_PASSCRED,
                                SO_SNDLOWAT, 100, 1000, 12345, -5};
    int s = socket(AF_UNIX, SOCK_STREAM, 0);
    printf("o:");
    for (unsigned i = 0; i < sizeof names / sizeof *names; i++) {
        int v = 1, g = -1, set, get;
        socklen_t l = 4;
        set = e(setsockopt(s, SOL_SOCKET, names[i], &v, 4));
        get = e(getsockopt(s, SOL_SOCKET, names[i], &g, &l));
        printf(" %d/%d", set, get);
    }
    printf("\n");
}

static void sendfd(int s, int fd) {
    struct iovec iov = {"hi", 2};
    char c[CMSG_SPACE(4)];
    struct msghdr m = {0};
    m.msg_iov = &iov; m.msg_iovlen = 1; m.msg_control = c; m.msg_controllen = sizeof c;
    struct cmsghdr *h = CMSG_FIRSTHDR(&m);
    h->cmsg_level = SOL_SOCKET; h->cmsg_type = SCM_RIGHTS; h->cmsg_len = CMSG_LEN(4);
    memcpy(CMSG_DATA(h), &fd, 4);
    sendmsg(s, &m, 0);
}

static int recvfd(int s, void *buf, int *fd) {
    struct iovec iov = {buf, 16};
    char c[CMSG_SPACE(4)] = {0};
    struct msghdr m = {0};
    m.msg_iov = &iov; m.msg_iovlen = 1; m.msg_control = c; m.msg_controllen = sizeof c;
    int r = e(recvmsg(s, &m, MSG_DONTWAIT));
    struct cmsghdr *h = CMSG_FIRSTHDR(&m);
    *fd = -1;
    if (r >= 0 && h && h->cmsg_type == SCM_RIGHTS) memcpy(fd, CMSG_DATA(h), 4);
    return r;
}

static void faulting_recv(const char *a) {
    int sv[2], p[2], fd, first, second, last;
    char buf[16] = {0}, c[CMSG_SPACE(4)];
    socketpair(AF_UNIX, a[0] == 'q' ? SOCK_DGRAM : SOCK_STREAM, 0, sv);
    pipe2(p, O_NONBLOCK);
    sendfd(sv[0], p[1]);
    close(p[1]);
    struct iovec iov = {(void *)16, 16};
    struct msghdr m = {0};
    m.msg_iov = &iov; m.msg_iovlen = 1; m.msg_control = c; m.msg_controllen = sizeof c;
    first = e(recvmsg(sv[1], &m, MSG_DONTWAIT));
    second = recvfd(sv[1], buf, &fd);
    last = e(read(p[0], buf + 8, 1));
    printf("%s: %d %d %s %d %d\n", a, first, second, buf, fd >= 0, last);
}

static void execs(int n, const char *prog) {
    char buf[4096];
    int src = open(prog, O_RDONLY), len = read(src, buf, sizeof buf);
    close(src);
    for (int i = 0; i < n; i++) {
        char name[32];
        sprintf(name, "t%d", i);
        int fd = open(name, O_WRONLY | O_CREAT | O_TRUNC, 0755);
        write(fd, buf, len);
        close(fd);
    }
    for (int i = 0; i < n; i++) {
        char name[32];
        sprintf(name, "./t%d", i);
        pid_t c = fork();
        if (c == 0) {
            execl(name, name, (char *)0);
            _exit(100 + errno);
        }
        int st, fd;
        waitpid(c, &st, 0);
        if (st) { printf("x: exec %d status %d\n", i, WEXITSTATUS(st)); return; }
        if ((fd = open(prog, O_RDONLY)) < 0) { printf("x: open %d: %d\n", i, errno); return; }
        close(fd);
    }
    printf("x: done %d\n", n);
}

static void bad_execs(int n) {
    int err = 0, i;
    for (i = 0; i < n; i++) {
        char name[32];
        sprintf(name, "n%d", i);
        int fd = open(name, O_WRONLY | O_CREAT | O_TRUNC, 0755);
        write(fd, "\x7f" "ELX not a program\n", 19);
        close(fd);
        execl(name, name, (char *)0);
        err = errno;
        if ((fd = open(name, O_RDONLY)) < 0) { printf("e: open %d: %d\n", i, errno); return; }
        close(fd);
    }
    printf("e: done %d %d\n", i, err);
}

static void other_types(void) {
    struct sockaddr_un ab = {AF_UNIX}, path = {AF_UNIX};
    socklen_t alen = 2 + 12, plen = sizeof path;
    memcpy(ab.sun_path, "\0rt31-stream", 12);
    strcpy(path.sun_path, "rt31-dgram.sock");
    int ls = socket(AF_UNIX, SOCK_STREAM, 0), ds = socket(AF_UNIX, SOCK_DGRAM, 0);
    int d = socket(AF_UNIX, SOCK_DGRAM, 0), q = socket(AF_UNIX, SOCK_SEQPACKET, 0);
    int st = socket(AF_UNIX, SOCK_STREAM, 0), sv[2];
    printf("t: %d", e(bind(ls, (void *)&ab, alen)));
    printf(" %d", e(listen(ls, 5)));
    printf(" %d", e(bind(ds, (void *)&path, plen)));
    printf(" %d", e(sendto(d, "x", 1, 0, (void *)&ab, alen)));
    printf(" %d", e(connect(d, (void *)&ab, alen)));
    printf(" %d", e(sendto(q, "x", 1, 0, (void *)&ab, alen)));
    printf(" %d", e(connect(st, (void *)&path, plen)));
    printf(" %d", e(connect(q, (void *)&path, plen)));
    socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
    printf(" %d", e(sendto(sv[0], "x", 1, 0, (void *)&ab, alen)));
    printf(" %d", e(sendto(st, "x", 1, 0, (void *)&ab, alen)));
    printf("\n");
}

static volatile int state = -1, waiter_tid, interrupted;
static int *words, nwords;

static void on_usr1(int sig) { (void)sig; }

static void *futex_waiter(void *arg) {
    waiter_tid = syscall(SYS_gettid);
    for (int i = 0; i < nwords; i++) {
        state = i;
        if (syscall(SYS_futex, &words[i], FUTEX_WAIT_PRIVATE, 0, 0, 0, 0) < 0 &&
                errno == EINTR)
            interrupted++;
    }
    state = -2;
    return arg;
}

static void interrupted_futexes(int n) {
    struct sigaction sa;
    pthread_t t;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_usr1;                 /* no SA_RESTART: the wait ends, EINTR */
    sigaction(SIGUSR1, &sa, 0);
    nwords = n;
    words = mmap(0, n * 4 + 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
                 -1, 0);
    pthread_create(&t, 0, futex_waiter, 0);
    for (int i = 0; i < n; i++) {
        while (state < i && state != -2) sched_yield();
        while (state == i) {
            syscall(SYS_tgkill, getpid(), waiter_tid, SIGUSR1);
            sched_yield();
        }
    }
    pthread_join(t, 0);
    printf("f: %d %d\n", n, interrupted);
}

int main(int argc, char **argv) {
    for (int i = 1; i < argc; i++) {
        char *a = argv[i];
        if (!strcmp(a, "o")) options();
        else if (!strcmp(a, "q") || !strcmp(a, "Q")) faulting_recv(a);
        else if (a[0] == 'x') {
            char *prog = strchr(a + 2, ':');
            *prog++ = 0;
            execs(atoi(a + 2), prog);
        } else if (a[0] == 'e') bad_execs(atoi(a + 2));
        else if (a[0] == 'f') interrupted_futexes(atoi(a + 2));
        else if (!strcmp(a, "t")) other_types();
        fflush(stdout);
    }
    return 0;
}
