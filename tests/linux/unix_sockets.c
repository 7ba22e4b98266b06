/* AF_UNIX sockets between processes: socketpair (stream, datagram, seqpacket), a server
 * bound to a path and one to an abstract name, accept/connect across fork, SCM_RIGHTS,
 * shutdown, MSG_PEEK/MSG_DONTWAIT/MSG_TRUNC, names, SO_PEERCRED, socketcall(102) and the
 * direct call numbers, and the errors. Output is compared with the native run. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

static void check(const char *what, long v) {
    printf("%s = %ld%s%s\n", what, v, v < 0 ? " " : "", v < 0 ? strerror(errno) : "");
}

static void test_pairs(void) {
    int sv[2];
    check("socketpair stream", socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
    check("send", send(sv[0], "hello ", 6, 0));
    check("write", write(sv[0], "world", 5));
    char buf[64] = {0};
    check("peek", recv(sv[1], buf, 3, MSG_PEEK));
    printf("peeked %.3s\n", buf);
    check("read (stream joins writes)", read(sv[1], buf, sizeof buf));
    printf("got %s\n", buf);
    check("dontwait empty", recv(sv[1], buf, sizeof buf, MSG_DONTWAIT));
    int type = 0;
    socklen_t len = sizeof type;
    check("SO_TYPE", getsockopt(sv[0], SOL_SOCKET, SO_TYPE, &type, &len));
    printf("type %d len %d\n", type, (int)len);
    struct ucred cred;
    len = sizeof cred;
    check("SO_PEERCRED", getsockopt(sv[0], SOL_SOCKET, SO_PEERCRED, &cred, &len));
    printf("peer is me %d uid ok %d\n", cred.pid == getpid(), cred.uid == getuid());
    check("shutdown wr", shutdown(sv[0], SHUT_WR));
    check("read eof", read(sv[1], buf, sizeof buf));
    signal(SIGPIPE, SIG_IGN);
    check("send after shutdown", send(sv[0], "x", 1, 0));
    check("reverse direction still works", write(sv[1], "back", 4));
    check("read it", read(sv[0], buf, sizeof buf));
    struct pollfd pf = {sv[1], POLLIN | POLLOUT | POLLRDHUP, 0};
    poll(&pf, 1, 0);
    printf("revents %x\n", pf.revents);
    close(sv[0]);
    poll(&pf, 1, 0);
    printf("revents after close %x\n", pf.revents);
    check("write to closed peer", write(sv[1], "x", 1));
    check("send MSG_NOSIGNAL", send(sv[1], "x", 1, MSG_NOSIGNAL));
    close(sv[1]);

    check("socketpair dgram", socketpair(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK, 0, sv));
    send(sv[0], "one", 3, 0);
    send(sv[0], "second", 6, 0);
    memset(buf, 0, sizeof buf);
    check("recv keeps boundaries", recv(sv[1], buf, sizeof buf, 0));
    printf("got %s\n", buf);
    check("short buffer truncates", recv(sv[1], buf, 2, 0));
    send(sv[0], "third", 5, 0);
    check("MSG_TRUNC gives the real size", recv(sv[1], buf, 2, MSG_TRUNC));
    check("empty nonblocking", recv(sv[1], buf, 2, 0));
    struct msghdr mh = {0};
    struct iovec iov = {buf, 3};
    mh.msg_iov = &iov;
    mh.msg_iovlen = 1;
    send(sv[0], "fourth", 6, 0);
    check("recvmsg", recvmsg(sv[1], &mh, 0));
    printf("flags trunc %d\n", !!(mh.msg_flags & MSG_TRUNC));
    check("zero-length datagram", send(sv[0], "", 0, 0));
    check("recv it", recv(sv[1], buf, sizeof buf, 0));
    close(sv[0]);
    close(sv[1]);

    check("socketpair seqpacket", socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv));
    printf("cloexec %d\n", fcntl(sv[0], F_GETFD));
    send(sv[0], "ab", 2, 0);
    send(sv[0], "cde", 3, 0);
    check("seqpacket 1", recv(sv[1], buf, sizeof buf, 0));
    check("seqpacket 2", recv(sv[1], buf, sizeof buf, 0));
    close(sv[0]);
    check("seqpacket eof", recv(sv[1], buf, sizeof buf, 0));
    close(sv[1]);

    check("bad type", socket(AF_UNIX, 77, 0));
    check("not a socket", send(1, "x", 1, 0));
    check("bad fd", send(99, "x", 1, 0));
}

static void test_rights(void) {
    int sv[2], p[2];
    socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
    pipe(p);
    char c = 'F';
    struct iovec iov = {&c, 1};
    union {
        char buf[CMSG_SPACE(sizeof(int))];
        struct cmsghdr align;
    } u;
    struct msghdr mh = {0};
    mh.msg_iov = &iov;
    mh.msg_iovlen = 1;
    mh.msg_control = u.buf;
    mh.msg_controllen = sizeof u.buf;
    struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
    cm->cmsg_level = SOL_SOCKET;
    cm->cmsg_type = SCM_RIGHTS;
    cm->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(cm), &p[1], sizeof(int));
    pid_t pid = fork();
    if (pid == 0) {
        close(sv[1]);
        sendmsg(sv[0], &mh, 0);
        close(p[1]);        /* the write end lives on only in the message */
        close(p[0]);
        _exit(0);
    }
    close(p[1]);
    close(sv[0]);
    struct msghdr rm = {0};
    char r;
    struct iovec riov = {&r, 1};
    union {
        char buf[CMSG_SPACE(sizeof(int))];
        struct cmsghdr align;
    } ru;
    rm.msg_iov = &riov;
    rm.msg_iovlen = 1;
    rm.msg_control = ru.buf;
    rm.msg_controllen = sizeof ru.buf;
    check("recvmsg with SCM_RIGHTS", recvmsg(sv[1], &rm, MSG_CMSG_CLOEXEC));
    struct cmsghdr *got = CMSG_FIRSTHDR(&rm);
    int fd = -1;
    if (got && got->cmsg_type == SCM_RIGHTS)
        memcpy(&fd, CMSG_DATA(got), sizeof fd);
    printf("byte %c level %d type %d len %d controllen %d cloexec %d\n", r,
           got ? got->cmsg_level : -1, got ? got->cmsg_type : -1,
           got ? (int)got->cmsg_len : -1, (int)rm.msg_controllen, fcntl(fd, F_GETFD));
    check("write through the passed pipe end", write(fd, "via fd", 6));
    close(fd);
    char buf[16] = {0};
    check("read it from our end", read(p[0], buf, sizeof buf));
    printf("got %s\n", buf);
    check("and then eof", read(p[0], buf, sizeof buf));
    waitpid(pid, NULL, 0);
    close(p[0]);
    close(sv[1]);
}

static void server_client(const char *name, socklen_t len, struct sockaddr_un *addr) {
    int srv = socket(AF_UNIX, SOCK_STREAM, 0);
    check("bind", bind(srv, (struct sockaddr *)addr, len));
    check("bind again", bind(srv, (struct sockaddr *)addr, len));
    int other = socket(AF_UNIX, SOCK_STREAM, 0);
    check("bind in use", bind(other, (struct sockaddr *)addr, len));
    close(other);
    check("listen", listen(srv, 4));
    struct sockaddr_un got;
    socklen_t glen = sizeof got;
    check("getsockname", getsockname(srv, (struct sockaddr *)&got, &glen));
    printf("%s name len %d match %d\n", name, (int)glen, memcmp(&got, addr, len) == 0);
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid == 0) {
        for (int i = 0; i < 2; i++) {
            int c = socket(AF_UNIX, SOCK_STREAM, 0);
            if (connect(c, (struct sockaddr *)addr, len) < 0) {
                printf("child connect failed %s\n", strerror(errno));
                _exit(1);
            }
            struct ucred cred;
            socklen_t cl = sizeof cred;
            getsockopt(c, SOL_SOCKET, SO_PEERCRED, &cred, &cl);
            char msg[32];
            int n = snprintf(msg, sizeof msg, "client %d%s", i, cred.pid == parent ? "" : "?");
            write(c, msg, n);
            char reply[32] = {0};
            read(c, reply, sizeof reply - 1);
            printf("child got reply '%s'\n", reply);
            close(c);
        }
        _exit(0);
    }
    for (int i = 0; i < 2; i++) {
        struct sockaddr_un peer;
        socklen_t plen = sizeof peer;
        int c = accept4(srv, (struct sockaddr *)&peer, &plen, SOCK_CLOEXEC);
        printf("accepted: fd>0 %d peer len %d cloexec %d\n", c > 0, (int)plen,
               fcntl(c, F_GETFD));
        struct ucred cred;
        socklen_t cl = sizeof cred;
        getsockopt(c, SOL_SOCKET, SO_PEERCRED, &cred, &cl);
        printf("peer is the child %d\n", cred.pid == pid);
        char buf[32] = {0};
        read(c, buf, sizeof buf - 1);
        printf("server got '%s'\n", buf);
        write(c, "ack", 3);
        char tail[4];
        check("read until the client closes", read(c, tail, sizeof tail));
        close(c);
    }
    int status;
    waitpid(pid, &status, 0);
    printf("child status %d\n", WEXITSTATUS(status));
    close(srv);
    int c = socket(AF_UNIX, SOCK_STREAM, 0);
    check("connect after the server closed", connect(c, (struct sockaddr *)addr, len));
    close(c);
}

static void test_servers(void) {
    struct sockaddr_un a = {0};
    a.sun_family = AF_UNIX;
    strcpy(a.sun_path, "sock.path");
    unlink(a.sun_path);
    server_client("path", offsetof(struct sockaddr_un, sun_path) + strlen(a.sun_path) + 1, &a);
    struct stat st;
    check("stat the socket node", stat("sock.path", &st));
    printf("is socket %d\n", S_ISSOCK(st.st_mode));
    check("unlink", unlink("sock.path"));
    int c = socket(AF_UNIX, SOCK_STREAM, 0);
    check("connect to nothing", connect(c, (struct sockaddr *)&a, sizeof a));
    int f = open("plain", O_CREAT | O_WRONLY, 0644);
    close(f);
    strcpy(a.sun_path, "plain");
    check("connect to a plain file", connect(c, (struct sockaddr *)&a, sizeof a));
    unlink("plain");
    close(c);

    struct sockaddr_un b = {0};
    b.sun_family = AF_UNIX;
    /* abstract names are host-wide natively: unique per process, of a fixed length */
    snprintf(b.sun_path + 1, sizeof b.sun_path - 1, "pyvm-abs-%010d", (int)getpid());
    server_client("abstract", offsetof(struct sockaddr_un, sun_path) + 20, &b);

    /* datagrams to a bound name, with the sender's name */
    int s = socket(AF_UNIX, SOCK_DGRAM, 0);
    struct sockaddr_un d = {0};
    d.sun_family = AF_UNIX;
    snprintf(d.sun_path + 1, sizeof d.sun_path - 1, "pyvm-dg-%010d", (int)getpid());
    socklen_t dlen = offsetof(struct sockaddr_un, sun_path) + 19;
    bind(s, (struct sockaddr *)&d, dlen);
    int t = socket(AF_UNIX, SOCK_DGRAM, 0);
    check("sendto", sendto(t, "dg", 2, 0, (struct sockaddr *)&d, dlen));
    check("send unconnected", send(t, "dg", 2, 0));
    char buf[8] = {0};
    struct sockaddr_un from;
    socklen_t flen = sizeof from;
    check("recvfrom", recvfrom(s, buf, sizeof buf, 0, (struct sockaddr *)&from, &flen));
    printf("got %s from len %d\n", buf, (int)flen);
    check("connect dgram", connect(t, (struct sockaddr *)&d, dlen));
    check("send connected", send(t, "dg2", 3, 0));
    check("getpeername", getpeername(t, (struct sockaddr *)&from, &flen));
    printf("peer len %d\n", (int)flen);
    check("recv", recv(s, buf, sizeof buf, 0));
    close(s);
    check("send to closed", send(t, "x", 1, 0));
    close(t);
}

static void test_raw_calls(void) {
    /* socketcall(102) and the direct number, as different libcs use them */
    int sv[2];
    unsigned long args[4] = {AF_UNIX, SOCK_STREAM, 0, (unsigned long)sv};
    check("socketcall(SOCKETPAIR)", syscall(102, 8, args));
    unsigned long sargs[4] = {sv[0], (unsigned long)"raw", 3, 0};
    check("socketcall(SEND)", syscall(102, 9, sargs));
    char buf[4] = {0};
    check("direct recvfrom", syscall(371, sv[1], buf, 3, 0, 0, 0));
    printf("got %s\n", buf);
    check("socketcall bad call", syscall(102, 99, args));
    check("socketcall bad pointer", syscall(102, 1, (void *)16));
    check("direct socket", syscall(359, AF_UNIX, SOCK_DGRAM, 0));
    check("socketpair bad pointer", socketpair(AF_UNIX, SOCK_STREAM, 0, (int *)16));
    close(sv[0]);
    close(sv[1]);
}

static void test_waitall_autobind(void) {
    int sv[2];
    socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
    /* SIGCHLD blocked: under strace (ptrace) an ignored SIGCHLD still interrupts the
     * MSG_WAITALL recv when the child exits before the parent reads "cd" (returns 2) */
    sigset_t chld, old;
    sigemptyset(&chld);
    sigaddset(&chld, SIGCHLD);
    sigprocmask(SIG_BLOCK, &chld, &old);
    pid_t pid = fork();
    if (pid == 0) {
        write(sv[1], "ab", 2);
        usleep(20000);
        write(sv[1], "cd", 2);
        _exit(0);
    }
    char buf[8] = {0};
    check("recv MSG_WAITALL", recv(sv[0], buf, 4, MSG_WAITALL));
    printf("got %s\n", buf);
    waitpid(pid, NULL, 0);
    sigprocmask(SIG_SETMASK, &old, NULL);
    close(sv[0]);
    close(sv[1]);
    int s = socket(AF_UNIX, SOCK_DGRAM, 0);
    struct sockaddr_un a = {AF_UNIX};
    check("autobind", bind(s, (struct sockaddr *)&a, sizeof(sa_family_t)));
    socklen_t len = sizeof a;
    getsockname(s, (struct sockaddr *)&a, &len);
    printf("autobound name len %d abstract %d\n", (int)len, a.sun_path[0] == 0);
    close(s);
}

int main(void) {
    setvbuf(stdout, NULL, _IONBF, 0);
    close(99);                 /* the "bad descriptor": whatever the caller left open */
    test_pairs();
    test_rights();
    test_servers();
    test_raw_calls();
    test_waitall_autobind();
    return 0;
}
