/* linux33: writev up to a faulting iovec, a read of nothing into an unmapped buffer,
   socketcall's recvmmsg/sendmmsg on a non-socket (run natively: the oracle). */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>
#include <fcntl.h>
static long raw(long nr, long a, long b, long c) {
    long r;
    __asm__ volatile("int $0x80" : "=a"(r) : "a"(nr), "b"(a), "c"(b), "d"(c) : "memory");
    return r;
}
int main(void) {
    char *pg = mmap(0, 8192, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    munmap(pg + 4096, 4096);
    int p[2];
    pipe2(p, O_NONBLOCK);
    setvbuf(stdout, 0, _IONBF, 0);
    char buf[64] = {0};
    struct iovec iv[3] = {{"abc", 3}, {pg + 4096, 4}, {"def", 3}};
    int t = open("linux33.tmp", O_RDWR | O_CREAT | O_TRUNC, 0600);
    unlink("linux33.tmp");
    long n = raw(146, p[1], (long)iv, 3);              /* second iovec faults */
    long got = read(p[0], buf, sizeof buf);
    printf("pipe: writev bad second %ld read %ld\n", n, got);
    n = raw(146, t, (long)iv, 3);
    got = pread(t, buf, sizeof buf, 0);
    printf("writev bad second %ld read %ld '%.*s'\n", n, got, (int)(got > 0 ? got : 0), buf);
    memcpy(pg + 4094, "xy", 2);
    struct iovec iw[2] = {{"ab", 2}, {pg + 4094, 10}};  /* runs into the hole */
    n = raw(146, t, (long)iw, 2);
    got = pread(t, buf, sizeof buf, 0);
    printf("writev into hole %ld read %ld '%.*s'\n", n, got, (int)(got > 0 ? got : 0), buf);
    struct iovec ix[1] = {{pg + 4096, 4}};
    printf("writev all bad %ld\n", raw(146, p[1], (long)ix, 1));
    int nul = open("/dev/null", O_RDONLY);
    printf("read null to unmapped %ld\n", raw(3, nul, (long)(pg + 4096), 10));
    printf("read null to kernel %ld\n", raw(3, nul, 0xc0000000, 10));
    printf("read pipe to unmapped %ld\n", (write(p[1], "zz", 2), raw(3, p[0], (long)(pg + 4096), 10)));
    printf("pipe keeps %ld\n", read(p[0], buf, sizeof buf));
    long args[5] = {nul, (long)pg, 1, 0, 0};
    printf("socketcall recvmmsg %ld\n", raw(102, 19, (long)args, 0));
    printf("socketcall sendmmsg %ld\n", raw(102, 20, (long)args, 0));
    args[0] = 999;
    printf("socketcall recvmmsg badfd %ld\n", raw(102, 19, (long)args, 0));
    printf("socketcall sendmmsg badfd %ld\n", raw(102, 20, (long)args, 0));
    printf("sendmmsg %ld\n", raw(345, nul, (long)pg, 1));
    int sv[2];
    socketpair(AF_UNIX, SOCK_DGRAM, 0, sv);
    struct iovec m1 = {"one", 3}, m2 = {"three", 5};
    struct mmsghdr out[2] = {{{0, 0, &m1, 1, 0, 0, 0}, 0}, {{0, 0, &m2, 1, 0, 0, 0}, 0}};
    long s = sendmmsg(sv[0], out, 2, 0);
    printf("sendmmsg pair %ld lens %u %u\n", s, out[0].msg_len, out[1].msg_len);
    char r1[8] = {0}, r2[8] = {0}, r3[8] = {0};
    struct iovec i1 = {r1, 8}, i2 = {r2, 8}, i3 = {r3, 8};
    struct mmsghdr in[3] = {{{0, 0, &i1, 1, 0, 0, 0}, 0}, {{0, 0, &i2, 1, 0, 0, 0}, 0},
                            {{0, 0, &i3, 1, 0, 0, 0}, 0}};
    long r = recvmmsg(sv[1], in, 3, MSG_WAITFORONE, 0);
    printf("recvmmsg pair %ld lens %u %u '%s' '%s'\n", r, in[0].msg_len, in[1].msg_len, r1, r2);
    return 0;
}
