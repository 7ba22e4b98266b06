/* Sandbox round 32: a stream recv faulting in a later message, SO_ATTACH_FILTER's
   checks, FIONBIO/FIOCLEX on any descriptor. */
#define _GNU_SOURCE
#include <stdio.h>
#include <string.h>
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <linux/filter.h>

static void say(const char *what, long r) {
    printf("%s: %ld %s\n", what, r, r < 0 ? strerror(errno) : "");
}

static void recv_fault(void) {
    int sv[2];
    socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
    char *buf = mmap(0, 8192, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    munmap(buf + 4096, 4096);
    char *edge = buf + 4096 - 6;
    send(sv[0], "aaaa", 4, 0);
    send(sv[0], "bbbbbbbb", 8, 0);
    send(sv[0], "cc", 2, 0);
    say("recv across the edge", recv(sv[1], edge, 100, 0));
    printf("got %.4s\n", edge);
    char ok[32] = {0};
    say("recv after", recv(sv[1], ok, 5, 0));
    printf("then %.5s\n", ok);
    say("recv faulting first", recv(sv[1], buf + 4096 - 2, 100, 0));
    struct iovec v[2] = {{ok, 2}, {buf + 4096, 10}};
    struct msghdr m = {0};
    m.msg_iov = v;
    m.msg_iovlen = 2;
    say("recvmsg 2nd iovec unmapped", recvmsg(sv[1], &m, 0));
    send(sv[0], "dd", 2, 0);
    v[0].iov_len = 3;
    say("recvmsg whole first", recvmsg(sv[1], &m, 0));
    printf("left %.5s\n", ok);
}

static void attach(const char *what, int s, struct sock_filter *f, int n) {
    struct sock_fprog p = {n, f};
    say(what, setsockopt(s, SOL_SOCKET, SO_ATTACH_FILTER, &p, sizeof p));
}

static void filters(void) {
    int sv[2];
    socketpair(AF_UNIX, SOCK_DGRAM, 0, sv);
    struct sock_filter ok[] = {BPF_STMT(BPF_RET | BPF_K, 0xffff)};
    struct sock_filter badop[] = {{0xffff, 0, 0, 0}, BPF_STMT(BPF_RET | BPF_K, 0)};
    struct sock_filter div0[] = {BPF_STMT(BPF_ALU | BPF_DIV | BPF_K, 0),
                                 BPF_STMT(BPF_RET | BPF_K, 0)};
    struct sock_filter shift[] = {BPF_STMT(BPF_ALU | BPF_LSH | BPF_K, 32),
                                  BPF_STMT(BPF_RET | BPF_K, 0)};
    struct sock_filter jump[] = {BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 1, 0, 5),
                                 BPF_STMT(BPF_RET | BPF_K, 0)};
    struct sock_filter ja[] = {BPF_STMT(BPF_JMP | BPF_JA, 1), BPF_STMT(BPF_RET | BPF_K, 0)};
    struct sock_filter noret[] = {BPF_STMT(BPF_LD | BPF_IMM, 1)};
    struct sock_filter mem[] = {BPF_STMT(BPF_LD | BPF_MEM, 3), BPF_STMT(BPF_RET | BPF_A, 0)};
    struct sock_filter memok[] = {BPF_STMT(BPF_ST, 3), BPF_STMT(BPF_LD | BPF_MEM, 3),
                                  BPF_STMT(BPF_RET | BPF_A, 0)};
    struct sock_filter memword[] = {BPF_STMT(BPF_ST, 16), BPF_STMT(BPF_RET | BPF_A, 0)};
    struct sock_filter path[] = {BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 1, 0, 1),
                                 BPF_STMT(BPF_ST, 2), BPF_STMT(BPF_LDX | BPF_MEM, 2),
                                 BPF_STMT(BPF_RET | BPF_K, 0)};
    struct sock_filter anc[] = {BPF_STMT(BPF_LD | BPF_W | BPF_ABS, SKF_AD_OFF + SKF_AD_PROTOCOL),
                                BPF_STMT(BPF_RET | BPF_A, 0)};
    struct sock_filter badanc[] = {BPF_STMT(BPF_LD | BPF_W | BPF_ABS, SKF_AD_OFF + 200),
                                   BPF_STMT(BPF_RET | BPF_A, 0)};
    struct sock_filter net[] = {BPF_STMT(BPF_LD | BPF_B | BPF_ABS, SKF_NET_OFF + 9),
                                BPF_STMT(BPF_RET | BPF_A, 0)};
    attach("ok", sv[0], ok, 1);
    attach("bad opcode", sv[0], badop, 2);
    attach("divide by 0", sv[0], div0, 2);
    attach("shift 32", sv[0], shift, 2);
    attach("jump out", sv[0], jump, 2);
    attach("ja out", sv[0], ja, 2);
    attach("no ret", sv[0], noret, 1);
    attach("load unset word", sv[0], mem, 2);
    attach("load set word", sv[0], memok, 3);
    attach("word 16", sv[0], memword, 2);
    attach("stored on one path", sv[0], path, 4);
    attach("ancillary", sv[0], anc, 2);
    attach("unknown ancillary", sv[0], badanc, 2);
    attach("net offset", sv[0], net, 2);
    struct sock_filter *end = mmap(0, 8192, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    munmap((char *)end + 4096, 4096);
    end[511] = ok[0];
    attach("runs off the page", sv[0], end + 511, 2);
}

static void nbio(void) {
    int p[2], one = 1, zero = 0;
    pipe(p);
    say("FIONBIO pipe", ioctl(p[0], FIONBIO, &one));
    char c;
    say("read empty", read(p[0], &c, 1));
    printf("flags nonblock: %d\n", !!(fcntl(p[0], F_GETFL) & O_NONBLOCK));
    say("FIONBIO off", ioctl(p[0], FIONBIO, &zero));
    printf("flags nonblock: %d\n", !!(fcntl(p[0], F_GETFL) & O_NONBLOCK));
    int f = open("nb.txt", O_RDWR | O_CREAT, 0600);
    say("FIONBIO file", ioctl(f, FIONBIO, &one));
    printf("file nonblock: %d\n", !!(fcntl(f, F_GETFL) & O_NONBLOCK));
    say("FIOCLEX", ioctl(f, FIOCLEX));
    printf("cloexec: %d\n", fcntl(f, F_GETFD));
    say("FIONCLEX", ioctl(f, FIONCLEX));
    printf("cloexec: %d\n", fcntl(f, F_GETFD));
    say("FIONBIO bad pointer", ioctl(f, FIONBIO, (int *)16));
    unlink("nb.txt");
}

int main(int argc, char **argv) {
    setvbuf(stdout, 0, _IONBF, 0);
    const char *m = argc > 1 ? argv[1] : "";
    if (!strcmp(m, "recv")) recv_fault();
    else if (!strcmp(m, "bpf")) filters();
    else if (!strcmp(m, "nbio")) nbio();
    else return 2;
    return 0;
}
