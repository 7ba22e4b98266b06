/* Red-team probes of session 27 (tests/security/test_redteam27.py). Each argument is
   OP[:ARGS] and prints one line, compared with the native run:
   q:TYPE:SIZE:NFD   nonblocking sendmsg of SIZE-byte messages, each carrying NFD copies
                     of fd 0 (SCM_RIGHTS), on a socketpair of TYPE until it fails:
                     "q: COUNT ERRNO" (how many messages a queue takes);
   f:ROUNDS          ROUNDS socketpairs, each sent 253-descriptor messages until the
                     send fails, the sending end closed (the queue keeps its files in
                     flight): "f: TOTAL ERRNO" of the first round, then of the others;
   s:NFDS            select(NFDS) of fd 1 for writing, no wait: "s: RC ERRNO";
   p:DELTA           poll of RLIMIT_NOFILE+DELTA entries (fd -1), no wait: "p: RC ERRNO";
   b:LEN             bind a unix socket to a LEN-byte relative name, connect to it:
                     "b: BIND-RC ERRNO CONNECT-RC ERRNO";
   l                 a write lock on a new file, then F_GETLK and F_GETLK64 asking about a
                     write lock (its own locks are no conflict): "l: TYPE TYPE64";
   r                 RLIMIT_NOFILE changes: the hard limit raised, soft above hard,
                     2^21 by prlimit64, the same values, both lowered, hard raised
                     again: "r: ERRNO..." (0 for success);
   m:MAX             up to MAX pipes and MAX socketpairs, each filled (nonblocking) until
                     a write fails: "m: MIB" buffered in all, in MiB;
   k                 link("kept", "kept2") of a new file: "k: RC ERRNO NLINK". */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>

static long fill(int fd, int size, int nfd) {
    static char data[70000];
    char cbuf[CMSG_SPACE(253 * sizeof(int))];
    long n = 0;
    for (;;) {
        struct iovec iov = {data, size};
        struct msghdr m = {0};
        m.msg_iov = &iov;
        m.msg_iovlen = 1;
        if (nfd) {
            m.msg_control = cbuf;
            m.msg_controllen = CMSG_SPACE(nfd * sizeof(int));
            struct cmsghdr *h = CMSG_FIRSTHDR(&m);
            h->cmsg_level = SOL_SOCKET;
            h->cmsg_type = SCM_RIGHTS;
            h->cmsg_len = CMSG_LEN(nfd * sizeof(int));
            for (int i = 0; i < nfd; i++)
                ((int *)CMSG_DATA(h))[i] = 0;
        }
        if (sendmsg(fd, &m, MSG_DONTWAIT) < 0)
            return n;
        n++;
    }
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IONBF, 0);
    for (int i = 1; i < argc; i++) {
        char *op = argv[i], *arg = strchr(op, ':');
        if (arg)
            *arg++ = 0;
        errno = 0;
        if (!strcmp(op, "q")) {
            int type = atoi(arg), size = atoi(strchr(arg, ':') + 1);
            int nfd = atoi(strrchr(arg, ':') + 1), sv[2];
            socketpair(AF_UNIX, type, 0, sv);
            long n = fill(sv[0], size, nfd);
            printf("q:%s: %ld %d\n", arg, n, errno);
            close(sv[0]);
            close(sv[1]);
        } else if (!strcmp(op, "f")) {
            long first = 0, rest = 0;
            int err = 0;
            for (int k = 0; k < atoi(arg); k++) {
                int sv[2];
                if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv))
                    break;
                long n = fill(sv[0], 1, 253);
                err = errno;
                if (k == 0)
                    printf("f first: %ld %d\n", n, err);
                else
                    rest += n;
                close(sv[0]);          /* sv[1] keeps the queue, and its files */
            }
            printf("f rest: %ld %d\n", rest, err);
            (void)first;
        } else if (!strcmp(op, "s")) {
            fd_set w;
            FD_ZERO(&w);
            FD_SET(1, &w);
            struct timeval tv = {0, 0};
            long rc = syscall(SYS__newselect, atoi(arg), NULL, &w, NULL, &tv);
            printf("s:%s: %ld %d\n", arg, rc, rc < 0 ? errno : 0);
        } else if (!strcmp(op, "p")) {
            struct rlimit rl;
            getrlimit(RLIMIT_NOFILE, &rl);
            long n = (long)rl.rlim_cur + atoi(arg);
            struct pollfd *p = calloc(n, sizeof *p);
            for (long k = 0; k < n; k++)
                p[k].fd = -1;
            long rc = poll(p, n, 0);
            printf("p:%s: %ld %d\n", arg, rc, rc < 0 ? errno : 0);
            free(p);
        } else if (!strcmp(op, "l")) {
            int fd = open("locked", O_RDWR | O_CREAT, 0600);
            struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_len = 10};
            syscall(SYS_fcntl64, fd, F_SETLK, &fl);
            struct flock q = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_len = 10};
            struct { short type, whence; long long start, len; int pid; } q64 =
                {F_WRLCK, SEEK_SET, 0, 10, 0};
            long r1 = syscall(SYS_fcntl64, fd, F_GETLK, &q);
            long r2 = syscall(SYS_fcntl64, fd, 12, &q64);            /* F_GETLK64 */
            printf("l: %ld %d %ld %d\n", r1, q.l_type, r2, q64.type);
            close(fd);
        } else if (!strcmp(op, "r")) {
            struct rlimit rl, t;
            getrlimit(RLIMIT_NOFILE, &rl);
            unsigned long long big[2] = {2ull << 20, 2ull << 20};
            long e[6];
            t = (struct rlimit){rl.rlim_max, rl.rlim_max + 1};
            e[0] = syscall(SYS_setrlimit, RLIMIT_NOFILE, &t) ? errno : 0;
            t = (struct rlimit){rl.rlim_max + 1, rl.rlim_max};
            e[1] = syscall(SYS_setrlimit, RLIMIT_NOFILE, &t) ? errno : 0;
            e[2] = syscall(SYS_prlimit64, 0, RLIMIT_NOFILE, big, NULL) ? errno : 0;
            e[3] = syscall(SYS_setrlimit, RLIMIT_NOFILE, &rl) ? errno : 0;
            t = (struct rlimit){64, 64};
            e[4] = syscall(SYS_setrlimit, RLIMIT_NOFILE, &t) ? errno : 0;
            t = (struct rlimit){64, 128};
            e[5] = syscall(SYS_setrlimit, RLIMIT_NOFILE, &t) ? errno : 0;
            getrlimit(RLIMIT_NOFILE, &t);
            printf("r: %ld %ld %ld %ld %ld %ld %lu %lu\n", e[0], e[1], e[2], e[3], e[4], e[5],
                   (unsigned long)t.rlim_cur, (unsigned long)t.rlim_max);
        } else if (!strcmp(op, "m")) {
            static char chunk[65536];
            long long total = 0;
            for (int k = 0; k < atoi(arg); k++) {
                int p[2], sv[2];
                if (pipe2(p, O_NONBLOCK) == 0) {
                    long n;
                    while ((n = write(p[1], chunk, sizeof chunk)) > 0)
                        total += n;
                }
                if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0) {
                    long n;
                    while ((n = send(sv[0], chunk, sizeof chunk, MSG_DONTWAIT)) > 0)
                        total += n;
                }
            }
            printf("m: %lld\n", total >> 20);
        } else if (!strcmp(op, "k")) {
            close(open("kept", O_WRONLY | O_CREAT, 0600));
            int rc = link("kept", "kept2"), e = rc ? errno : 0;
            struct stat st;
            stat("kept", &st);
            printf("k: %d %d %d\n", rc, e, (int)st.st_nlink);
        } else if (!strcmp(op, "b")) {
            struct sockaddr_un a = {AF_UNIX};
            int len = atoi(arg);
            memset(a.sun_path, 'n', len);
            int s = socket(AF_UNIX, SOCK_STREAM, 0), c = socket(AF_UNIX, SOCK_STREAM, 0);
            int rb = bind(s, (struct sockaddr *)&a, sizeof a), eb = rb ? errno : 0;
            listen(s, 1);
            int rc = connect(c, (struct sockaddr *)&a, sizeof a), ec = rc ? errno : 0;
            printf("b:%s: %d %d %d %d\n", arg, rb, eb, rc, ec);
            close(s);
            close(c);
        }
    }
    return 0;
}
