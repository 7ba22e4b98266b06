/* Session 27 mend (tests/security/test_sbxmend27.py): the sandbox budget for unix
   sockets and pipes, against the same program run natively.
   refused          RLIMIT_NOFILE 4 (soft), then 10000 sendmsg of a descriptor and 4000 bytes on one datagram
                    socketpair: "sent OK TOOMANY OTHER"; then a 1 MiB mmap and a
                    nonblocking 8192-byte pipe write still succeed
   cycle            100 times: a socketpair sends one end into that end's own queue and
                    both descriptors close; then a fresh pair sends a descriptor
   cyclebig         the same 4000 times with 4000 bytes each (33 MB of kernel buffers
                    unless each closed pair is collected at once), under the host's
                    RLIMIT_NOFILE
   fill             maps until mmap fails, fills 400 pipes (the run's budget used up),
                    then an EMPTY pipe and an EMPTY socket queue each still take a
                    write, and it reads back */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

static int sendfd(int s, int fd, int size) {
    static char buf[4000];
    struct iovec io = {buf, size};
    char c[CMSG_SPACE(sizeof(int))];
    struct msghdr m = {0};
    m.msg_iov = &io; m.msg_iovlen = 1; m.msg_control = c; m.msg_controllen = sizeof c;
    struct cmsghdr *h = CMSG_FIRSTHDR(&m);
    h->cmsg_level = SOL_SOCKET; h->cmsg_type = SCM_RIGHTS; h->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(h), &fd, sizeof fd);
    return sendmsg(s, &m, MSG_DONTWAIT);
}

/* Linux collects closed cycles in a work queue, after close returns: a send refused with
   ETOOMANYREFS meanwhile is tried again (up to 1 s), so the native run shows the state
   once collected whatever the host's load (pyvm collects at close). */
static int sendfd_collected(int s, int fd, int size) {
    int rc = -1;
    for (int tries = 0; tries < 1000; tries++) {
        errno = 0;
        rc = sendfd(s, fd, size);
        if (rc >= 0 || errno != ETOOMANYREFS) break;
        usleep(1000);
    }
    return rc;
}

static void after(void) {
    void *p = mmap(0, 1 << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    printf("mmap %s\n", p == MAP_FAILED ? strerror(errno) : "ok");
    int fd[2];
    static char big[8192];
    pipe2(fd, O_NONBLOCK);
    errno = 0;
    printf("pipe write %d %d\n", (int)write(fd[1], big, sizeof big), errno);
}

int main(int argc, char **argv) {
    int sv[2];
    if (!strcmp(argv[1], "refused")) {
        struct rlimit r = {4, 64};
        int ok = 0, many = 0, other = 0;
        socketpair(AF_UNIX, SOCK_DGRAM, 0, sv);
        setrlimit(RLIMIT_NOFILE, &r);
        for (int i = 0; i < 10000; i++) {
            if (sendfd(sv[0], sv[0], 4000) >= 0) ok++;
            else if (errno == ETOOMANYREFS) many++;
            else other++;
        }
        printf("sent %d %d %d\n", ok, many, other);
        r.rlim_cur = 64;                /* room for the pipe */
        setrlimit(RLIMIT_NOFILE, &r);
        after();
    } else if (!strcmp(argv[1], "cycle")) {
        struct rlimit r = {64, 64};
        setrlimit(RLIMIT_NOFILE, &r);
        int ok = 0;
        for (int i = 0; i < 100; i++) {
            socketpair(AF_UNIX, SOCK_DGRAM, 0, sv);
            ok += sendfd_collected(sv[0], sv[1], 1) == 1;
            close(sv[0]);
            close(sv[1]);
        }
        socketpair(AF_UNIX, SOCK_DGRAM, 0, sv);
        int rc = sendfd_collected(sv[0], 0, 1);
        printf("cycles %d, fresh pair %d %d\n", ok, rc, errno);
        after();
    } else if (!strcmp(argv[1], "cyclebig")) {
        int ok = 0;
        for (int i = 0; i < 4000; i++) {
            socketpair(AF_UNIX, SOCK_DGRAM, 0, sv);
            ok += sendfd_collected(sv[0], sv[1], 4000) == 4000;
            close(sv[0]);
            close(sv[1]);
        }
        printf("cycles %d\n", ok);
        after();
    } else if (!strcmp(argv[1], "fill")) {
        int pf[2], many[400][2];
        static char page[65536], back[4096];
        memset(page, 'p', sizeof page);
        pipe2(pf, O_NONBLOCK);
        socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
        struct rlimit r;
        getrlimit(RLIMIT_NOFILE, &r);
        r.rlim_cur = r.rlim_max;
        setrlimit(RLIMIT_NOFILE, &r);
        for (long n = 0; n < 100000; n++)           /* the process's own memory */
            if (mmap(0, 1 << 20, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0) == MAP_FAILED)
                break;
        for (int i = 0; i < 400 && pipe2(many[i], O_NONBLOCK) == 0; i++)   /* then pipes */
            while (write(many[i][1], page, sizeof page) > 0)
                ;
        int w = write(pf[1], page, 4096), rd = read(pf[0], back, sizeof back);
        printf("pipe %d %d %d\n", w, rd, !memcmp(page, back, sizeof back));
        w = send(sv[0], page, 1000, MSG_DONTWAIT);
        rd = recv(sv[1], back, sizeof back, MSG_DONTWAIT);
        printf("socket %d %d %d\n", w, rd, !memcmp(page, back, 1000));
    }
    return 0;
}
