/* Calls refused with EMFILE (RLIMIT_NOFILE reached) must change nothing, as Linux's,
   which takes its descriptor numbers before it creates, dequeues or truncates anything;
   recvmsg installs the passed descriptors that fit and drops the rest (MSG_CTRUNC).
   Run by tests/security/test_sbxmend28a.py natively and under pyvm: outputs compared.
   Usage: sbxmend28a recvmsg|drop|leak|socketpair|pipe|accept|open|dupfd */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#define LIMIT 16

static void limit(void) {
    struct rlimit r = {LIMIT, LIMIT};
    setrlimit(RLIMIT_NOFILE, &r);
}

/* every number from 3 up to the limit in use but `spare` (left free when >= 0) */
static void fill(int spare) {
    for (int i = 3; i < LIMIT; i++)
        if (i != spare && fcntl(i, F_GETFD) == -1)
            dup2(0, i);
    if (spare >= 0)
        close(spare);
}

static int is_open(int fd) { return fcntl(fd, F_GETFD) != -1; }

static void send_fds(int sock, const int *fds, int n) {
    char cb[CMSG_SPACE(8 * sizeof(int))];
    struct iovec io = {"hi", 2};
    struct msghdr m = {0};
    m.msg_iov = &io; m.msg_iovlen = 1;
    m.msg_control = cb; m.msg_controllen = CMSG_SPACE(n * sizeof(int));
    struct cmsghdr *c = CMSG_FIRSTHDR(&m);
    c->cmsg_level = SOL_SOCKET; c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(n * sizeof(int));
    memcpy(CMSG_DATA(c), fds, n * sizeof(int));
    printf("sendmsg %zd\n", sendmsg(sock, &m, 0));
}

/* recvmsg with a buffer for 2 descriptors; prints what came, returns the first fd */
static int recv_fds(int sock) {
    char buf[8] = {0}, cb[CMSG_SPACE(2 * sizeof(int))];
    struct iovec io = {buf, sizeof buf};
    struct msghdr m = {0};
    m.msg_iov = &io; m.msg_iovlen = 1;
    m.msg_control = cb; m.msg_controllen = sizeof cb;
    errno = 0;
    ssize_t n = recvmsg(sock, &m, MSG_DONTWAIT);
    int got = 0, first = -1;
    struct cmsghdr *c = n >= 0 && m.msg_controllen ? CMSG_FIRSTHDR(&m) : NULL;
    if (c && c->cmsg_type == SCM_RIGHTS) {
        got = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        memcpy(&first, CMSG_DATA(c), sizeof(int));
    }
    printf("recvmsg %zd errno %d data '%.*s' flags %#x fds %d first %d\n", n, errno,
           n > 0 ? (int)n : 0, buf, n >= 0 ? m.msg_flags : 0, got, first);
    return first;
}

/* two descriptors passed, room for one under the limit */
static void t_recvmsg(void) {
    int sv[2];
    socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
    limit();
    int a = open("/dev/null", O_RDONLY);
    int two[2] = {a, a};
    send_fds(sv[0], two, 2);
    close(a);
    fill(15);
    int first = recv_fds(sv[1]);
    printf("fd15 open %d first==15 %d\n", is_open(15), first == 15);
    recv_fds(sv[1]);                        /* nothing left: the message was consumed */
}

/* a pipe's write end passed to a full table: dropped, so the reader sees end of file */
static void t_drop(void) {
    int sv[2], p[2];
    socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
    pipe(p);
    fcntl(p[0], F_SETFL, O_NONBLOCK);
    limit();
    send_fds(sv[0], &p[1], 1);
    close(p[1]);
    fill(-1);
    recv_fds(sv[1]);
    char c;
    errno = 0;
    ssize_t n = read(p[0], &c, 1);
    printf("read %zd errno %d\n", n, errno);
}

/* 300 host files passed to a full table and dropped: each must be closed (pyvm runs
   with few host descriptors, so leaked ones make the later opens fail) */
static void t_leak(void) {
    int sv[2];
    socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
    close(open("f", O_WRONLY | O_CREAT, 0600));
    limit();
    fill(-1);
    int failed = 0, truncated = 0;
    for (int i = 0; i < 300; i++) {
        close(15);
        int a = open("f", O_RDONLY);
        if (a < 0) {
            failed++;
            dup2(0, 15);
            continue;
        }
        char cb[CMSG_SPACE(sizeof(int))];
        struct iovec io = {"hi", 2};
        struct msghdr m = {0};
        m.msg_iov = &io; m.msg_iovlen = 1;
        m.msg_control = cb; m.msg_controllen = sizeof cb;
        struct cmsghdr *c = CMSG_FIRSTHDR(&m);
        c->cmsg_level = SOL_SOCKET; c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int));
        memcpy(CMSG_DATA(c), &a, sizeof(int));
        sendmsg(sv[0], &m, 0);
        close(a);
        dup2(0, 15);
        char buf[4], cb2[CMSG_SPACE(sizeof(int))];
        struct iovec io2 = {buf, sizeof buf};
        struct msghdr m2 = {0};
        m2.msg_iov = &io2; m2.msg_iovlen = 1;
        m2.msg_control = cb2; m2.msg_controllen = sizeof cb2;
        if (recvmsg(sv[1], &m2, MSG_DONTWAIT) == 2 && m2.msg_flags & MSG_CTRUNC)
            truncated++;
    }
    printf("opens failed %d, truncated %d\n", failed, truncated);
}

static void t_socketpair(void) {
    limit();
    fill(15);
    int sv[2] = {-1, -1};
    errno = 0;
    int rc = socketpair(AF_UNIX, SOCK_STREAM, 0, sv), e = errno;
    printf("socketpair %d errno %d fd15 open %d\n", rc, e, is_open(15));
}

static void t_pipe(void) {
    limit();
    fill(15);
    int p[2] = {-1, -1};
    errno = 0;
    int rc = pipe(p), e = errno;
    printf("pipe %d errno %d fd15 open %d\n", rc, e, is_open(15));
}

static void t_accept(void) {
    struct sockaddr_un a = {AF_UNIX};
    snprintf(a.sun_path + 1, 64, "sbxmend28a-%d", (int)getpid());     /* abstract */
    socklen_t len = sizeof(sa_family_t) + 1 + strlen(a.sun_path + 1);
    int s = socket(AF_UNIX, SOCK_STREAM, 0);
    bind(s, (void *)&a, len);
    listen(s, 4);
    int k = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0);
    printf("connect %d\n", connect(k, (void *)&a, len));
    limit();
    fill(-1);
    errno = 0;
    int x = accept4(s, 0, 0, SOCK_NONBLOCK);
    printf("accept at the limit %d errno %d\n", x, errno);
    close(15);
    errno = 0;
    x = accept4(s, 0, 0, SOCK_NONBLOCK);
    printf("accept after a close %d errno %d\n", x, errno);
    if (x >= 0) {
        write(x, "ok", 2);
        char b[4] = {0};
        printf("client read %zd '%s'\n", read(k, b, 3), b);
    }
}

static void t_open(void) {
    int t = open("tr", O_WRONLY | O_CREAT | O_TRUNC, 0600);
    write(t, "12345", 5);
    close(t);
    unlink("newf");
    limit();
    fill(-1);
    struct stat st;
    errno = 0;
    int rc = open("tr", O_WRONLY | O_TRUNC), e = errno;
    stat("tr", &st);
    printf("open O_TRUNC %d errno %d size %ld\n", rc, e, (long)st.st_size);
    errno = 0;
    rc = open("newf", O_WRONLY | O_CREAT, 0600);
    e = errno;
    printf("open O_CREAT %d errno %d exists %d\n", rc, e, access("newf", F_OK) == 0);
    errno = 0;
    rc = open("missing", O_RDONLY);
    printf("open missing %d errno %d\n", rc, errno);
}

static void t_dupfd(void) {
    limit();
    int ok = 0, x = 0;
    for (int i = 0; i < 50 && x >= 0; i++) {
        errno = 0;
        x = fcntl(0, i & 1 ? F_DUPFD_CLOEXEC : F_DUPFD, 15);
        printf("F_DUPFD %d errno %d\n", x, errno);
        ok += x >= 0;
    }
    errno = 0;
    x = fcntl(0, F_DUPFD, LIMIT);
    printf("F_DUPFD from 16: %d errno %d\n", x, errno);
    errno = 0;
    x = dup2(0, LIMIT);
    printf("dup2 to 16: %d errno %d\n", x, errno);
    errno = 0;
    x = dup3(0, LIMIT, 0);
    printf("dup3 to 16: %d errno %d\n", x, errno);
    errno = 0;
    x = dup2(0, LIMIT - 1);
    printf("dup2 to 15: %d errno %d\n", x, errno);
}

int main(int argc, char **argv) {
    const char *t = argc > 1 ? argv[1] : "";
    setvbuf(stdout, NULL, _IONBF, 0);
    if (!strcmp(t, "recvmsg")) t_recvmsg();
    else if (!strcmp(t, "drop")) t_drop();
    else if (!strcmp(t, "leak")) t_leak();
    else if (!strcmp(t, "socketpair")) t_socketpair();
    else if (!strcmp(t, "pipe")) t_pipe();
    else if (!strcmp(t, "accept")) t_accept();
    else if (!strcmp(t, "open")) t_open();
    else if (!strcmp(t, "dupfd")) t_dupfd();
    else return 2;
    return 0;
}
