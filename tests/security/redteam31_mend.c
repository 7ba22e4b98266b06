/* Mend of the session 31 red team (tests/security/test_redteam31_mend.py), each an
   argument:
   p   every SOL_SOCKET name 0..80 on fresh AF_UNIX stream and datagram sockets: got
       with 16 and 4 bytes, set to 1 with 4 bytes and with 8 ({1, 1}) and read back:
       "kind name: g16=rc,len:hex g4=... s4=rc g16=... s8=rc g16=..." (SO_COOKIE and
       SO_NETNS_COOKIE, host counters, give rc and length only)
   o   options by hand: SO_LINGER on and off, SO_REUSEPORT 0 and 1, SO_BINDTODEVICE,
       buffer sizes, SO_RCVLOWAT 0, a 1-usec SO_RCVTIMEO, a 2-byte or unreadable value,
       SO_PEERNAME of a socketpair: "o: ..."
   n   a datagram from a bound socket with a pipe's write end (SCM_RIGHTS), received
       with an unwritable msg_name: "n: recvmsg-rc new-fds pipe-read"
   r   dgram and stream socketpairs: a message received into two vectors, the second
       unmapped; peeked across a page's end; its 3 descriptors into a control buffer
       running into an unmapped page: "r kind: rc bytes-stored ... " */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

static int e(int r) { return r < 0 ? -errno : r; }

static void get(int s, int n, int cap) {
    unsigned char b[16];
    memset(b, 0xee, 16);
    socklen_t l = cap;
    int r = e(getsockopt(s, SOL_SOCKET, n, b, &l));
    printf(" g%d=%d", cap, r);
    if (r >= 0) {
        printf(",%d:", (int)l);
        if (n != 57 && n != 71)
            for (int i = 0; i < (int)l && i < 16; i++) printf("%02x", b[i]);
    }
}

static void table(void) {
    int kinds[2] = {SOCK_STREAM, SOCK_DGRAM};
    for (int k = 0; k < 2; k++)
        for (int n = 0; n <= 80; n++) {
            int s = socket(AF_UNIX, kinds[k], 0), v4 = 1, v8[2] = {1, 1};
            printf("%d %d:", k, n);
            get(s, n, 16);
            get(s, n, 4);
            printf(" s4=%d", e(setsockopt(s, SOL_SOCKET, n, &v4, 4)));
            get(s, n, 16);
            close(s);
            s = socket(AF_UNIX, kinds[k], 0);
            printf(" s8=%d", e(setsockopt(s, SOL_SOCKET, n, v8, 8)));
            get(s, n, 16);
            printf("\n");
            close(s);
        }
}

static void by_hand(void) {
    int s = socket(AF_UNIX, SOCK_STREAM, 0), v, lg[2];
    socklen_t l;
    printf("o:");
    lg[0] = 1; lg[1] = 7;
    printf(" linger %d", e(setsockopt(s, SOL_SOCKET, SO_LINGER, lg, 8)));
    lg[0] = 0; lg[1] = 9;
    printf(" %d", e(setsockopt(s, SOL_SOCKET, SO_LINGER, lg, 8)));
    l = 8; getsockopt(s, SOL_SOCKET, SO_LINGER, lg, &l);
    printf(" %d,%d,%d", lg[0], lg[1], (int)l);
    printf(" short %d", e(setsockopt(s, SOL_SOCKET, SO_LINGER, lg, 4)));
    v = 0; printf(" reuseport %d", e(setsockopt(s, SOL_SOCKET, SO_REUSEPORT, &v, 4)));
    v = 1; printf(" %d", e(setsockopt(s, SOL_SOCKET, SO_REUSEPORT, &v, 4)));
    printf(" dev %d", e(setsockopt(s, SOL_SOCKET, SO_BINDTODEVICE, "", 0)));
    printf(" %d", e(setsockopt(s, SOL_SOCKET, SO_BINDTODEVICE, "nodev9", 7)));
    char dev[16] = {0};
    printf(" %d", e(setsockopt(s, SOL_SOCKET, SO_BINDTODEVICE, "lo", 3)));
    l = 16; v = e(getsockopt(s, SOL_SOCKET, SO_BINDTODEVICE, dev, &l));
    printf(" %d=%s,%d", v, dev, (int)l);
    v = 5; setsockopt(s, SOL_SOCKET, SO_SNDBUF, &v, 4);
    l = 4; getsockopt(s, SOL_SOCKET, SO_SNDBUF, &v, &l); printf(" sndbuf %d", v);
    v = 5; setsockopt(s, SOL_SOCKET, SO_RCVBUF, &v, 4);
    l = 4; getsockopt(s, SOL_SOCKET, SO_RCVBUF, &v, &l); printf(" rcvbuf %d", v);
    v = 0; setsockopt(s, SOL_SOCKET, SO_RCVLOWAT, &v, 4);
    l = 4; getsockopt(s, SOL_SOCKET, SO_RCVLOWAT, &v, &l); printf(" lowat %d", v);
    struct timeval tv = {1, 1};
    setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    l = sizeof tv; getsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, &l);
    printf(" rcvtimeo %ld.%06ld", (long)tv.tv_sec, (long)tv.tv_usec);
    printf(" short-unknown %d", e(setsockopt(s, SOL_SOCKET, 99, &v, 2)));
    printf(" unreadable %d", e(setsockopt(s, SOL_SOCKET, 99, (void *)16, 4)));
    int sv[2];
    socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
    unsigned char nb[64];
    l = 64; printf(" peername %d", e(getsockopt(sv[0], SOL_SOCKET, SO_PEERNAME, nb, &l)));
    l = 2; v = e(getsockopt(sv[0], SOL_SOCKET, SO_PEERNAME, nb, &l));
    printf(" %d,%d\n", v, (int)l);
}

static int openfds(void) {
    int n = 0;
    for (int i = 0; i < 1024; i++) n += fcntl(i, F_GETFD) >= 0;
    return n;
}

static int send_fds(int s, const char *d, int *fds, int n) {
    struct iovec iov = {(void *)d, strlen(d)};
    char c[CMSG_SPACE(4 * 3)];
    struct msghdr m = {0};
    m.msg_iov = &iov; m.msg_iovlen = 1;
    m.msg_control = c; m.msg_controllen = CMSG_SPACE(4 * n);
    struct cmsghdr *h = CMSG_FIRSTHDR(&m);
    h->cmsg_level = SOL_SOCKET; h->cmsg_type = SCM_RIGHTS; h->cmsg_len = CMSG_LEN(4 * n);
    memcpy(CMSG_DATA(h), fds, 4 * n);
    return e(sendmsg(s, &m, 0));
}

static void bad_name(void) {
    int sv[2], p[2];
    socketpair(AF_UNIX, SOCK_DGRAM, 0, sv);
    struct sockaddr un = {AF_UNIX};
    bind(sv[0], &un, sizeof(sa_family_t));    /* autobind: the sender has an address */
    pipe2(p, O_NONBLOCK);
    send_fds(sv[0], "hi", &p[1], 1);
    close(p[1]);
    int base = openfds();
    char buf[16], c[64];
    struct iovec iov = {buf, 16};
    struct msghdr m = {0};
    m.msg_name = (void *)16; m.msg_namelen = 110;
    m.msg_iov = &iov; m.msg_iovlen = 1; m.msg_control = c; m.msg_controllen = sizeof c;
    int r = e(recvmsg(sv[1], &m, MSG_DONTWAIT)), got = openfds() - base;
    for (int i = 3; i < 1024; i++)
        if (i != p[0] && i != sv[0] && i != sv[1]) close(i);
    char ch;
    printf("n: %d %d %d\n", r, got, e(read(p[0], &ch, 1)));
}

static void faults(void) {
    char *page = mmap(0, 8192, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    mprotect(page + 4096, 4096, PROT_NONE);
    int kinds[2] = {SOCK_DGRAM, SOCK_STREAM};
    for (int k = 0; k < 2; k++) {
        int sv[2], p[2];
        socketpair(AF_UNIX, kinds[k], 0, sv);
        pipe(p);
        int three[3] = {p[0], p[1], p[1]};
        printf("r %d:", k);
        /* two vectors, the second unmapped: the first is stored */
        send_fds(sv[0], "hello", &p[1], 1);
        memset(page, '-', 8);
        struct iovec two[2] = {{page, 4}, {page + 4096, 16}};
        struct msghdr m = {0};
        m.msg_iov = two; m.msg_iovlen = 2;
        printf(" %d %.8s", e(recvmsg(sv[1], &m, MSG_DONTWAIT)), page);
        char b[32];
        printf(" %d", e(recv(sv[1], b, 32, MSG_DONTWAIT)));
        /* a peek across the end of the page: what fits is stored */
        send(sv[0], "peekaboo", 8, 0);
        memset(page + 4088, '-', 8);
        printf(" %d %.8s", e(recv(sv[1], page + 4090, 16, MSG_DONTWAIT | MSG_PEEK)),
               page + 4088);
        printf(" %d", e(recv(sv[1], b, 32, MSG_DONTWAIT)));
        /* 3 descriptors into a control buffer 20 bytes short of an unmapped page */
        send_fds(sv[0], "sc", three, 3);
        int base = openfds();
        struct iovec one = {b, 32};
        struct msghdr c = {0};
        c.msg_iov = &one; c.msg_iovlen = 1;
        c.msg_control = page + 4096 - 20; c.msg_controllen = 64;
        int r = e(recvmsg(sv[1], &c, MSG_DONTWAIT));
        printf(" %d flags=%x clen=%d fds=%d\n", r, c.msg_flags, (int)c.msg_controllen,
               openfds() - base);
    }
}

int main(int argc, char **argv) {
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "p")) table();
        else if (!strcmp(argv[i], "o")) by_hand();
        else if (!strcmp(argv[i], "n")) bad_name();
        else if (!strcmp(argv[i], "r")) faults();
        fflush(stdout);
    }
    return 0;
}
