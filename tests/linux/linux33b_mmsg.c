/* linux33b: recvmmsg waits for vlen datagrams unless MSG_WAITFORONE; its timeout is
   checked after each datagram and what is left of it written back (run natively: the
   oracle). Raw syscall 337 (the time32 recvmmsg), as i386 programs make it. */
#define _GNU_SOURCE
#include <stdio.h>
#include <string.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
static void on_alarm(int sig) { (void)sig; }
struct ts32 { long sec, nsec; };
static long recvmmsg32(int fd, struct mmsghdr *m, unsigned n, unsigned flags, struct ts32 *t) {
    long r;
    __asm__ volatile("int $0x80" : "=a"(r)
                     : "a"(337), "b"(fd), "c"(m), "d"(n), "S"(flags), "D"(t) : "memory");
    return r;
}
static char bufs[4][16];
static struct iovec iov[4];
static struct mmsghdr mm[4];
static void reset(void) {
    memset(bufs, 0, sizeof bufs);
    for (int i = 0; i < 4; i++) {
        iov[i].iov_base = bufs[i];
        iov[i].iov_len = sizeof bufs[i];
        memset(&mm[i], 0, sizeof mm[i]);
        mm[i].msg_hdr.msg_iov = &iov[i];
        mm[i].msg_hdr.msg_iovlen = 1;
    }
}
static void show(const char *what, long n) {
    printf("%s %ld:", what, n);
    for (int i = 0; i < n && i < 4; i++)
        printf(" %s/%u", bufs[i], mm[i].msg_len);
    printf("\n");
}
int main(void) {
    int sv[2], go[2];
    char c;
    setvbuf(stdout, 0, _IONBF, 0);
    socketpair(AF_UNIX, SOCK_DGRAM, 0, sv);
    pipe(go);
    pid_t pid = fork();
    if (pid == 0) {
        send(sv[1], "a", 1, 0);
        usleep(200000);                 /* the parent waits in recvmmsg meanwhile */
        send(sv[1], "bb", 2, 0);
        send(sv[1], "ccc", 3, 0);
        read(go[0], &c, 1);
        send(sv[1], "d", 1, 0);
        read(go[0], &c, 1);
        send(sv[1], "e", 1, 0);
        send(sv[1], "f", 1, 0);
        send(sv[1], "g", 1, 0);
        read(go[0], &c, 1);
        send(sv[1], "h", 1, 0);
        send(sv[1], "i", 1, 0);
        read(go[0], &c, 1);
        send(sv[1], "j", 1, 0);
        _exit(0);
    }
    reset();
    show("wait for 3", recvmmsg32(sv[0], mm, 3, 0, 0));
    write(go[1], "x", 1);
    reset();
    usleep(100000);
    show("waitforone", recvmmsg32(sv[0], mm, 3, MSG_WAITFORONE, 0));
    write(go[1], "x", 1);
    usleep(200000);                     /* e, f, g queued */
    struct ts32 zero = {0, 0};
    reset();
    show("zero timeout", recvmmsg32(sv[0], mm, 3, 0, &zero));
    printf("left %ld %ld\n", zero.sec, zero.nsec);
    struct ts32 ten = {10, 0};
    reset();
    show("ten seconds", recvmmsg32(sv[0], mm, 2, 0, &ten));
    printf("left below ten %d\n", ten.sec < 10 && ten.sec >= 0 && ten.nsec >= 0 &&
                                  ten.nsec < 1000000000);
    write(go[1], "x", 1);
    usleep(200000);
    reset();
    show("dontwait", recvmmsg32(sv[0], mm, 4, MSG_DONTWAIT, 0));   /* h, i, then EAGAIN */
    write(go[1], "x", 1);
    usleep(200000);
    struct sigaction sa;                /* a signal while waiting for a second one */
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_alarm;
    sigaction(SIGALRM, &sa, 0);
    struct itimerval it = {{0, 0}, {0, 300000}};
    setitimer(ITIMER_REAL, &it, 0);
    reset();
    show("signal", recvmmsg32(sv[0], mm, 3, 0, 0));
    int st;
    waitpid(pid, &st, 0);
    return 0;
}
