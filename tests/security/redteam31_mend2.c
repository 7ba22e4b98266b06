/* Mend of the last read of the Linux diff: b: SO_BINDTODEVICE read back into less than
   IFNAMSIZ bytes once bound; x: an O_PATH descriptor of /proc/self/exe is not read. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

static int R(long r) { return r < 0 ? -errno : (int)r; }

int main(int argc, char **argv) {
    char m = argc > 1 ? argv[1][0] : '?';
    if (m == 'b') {
        int s = socket(AF_UNIX, SOCK_DGRAM, 0);
        char buf[16];
        memset(buf, '-', sizeof buf);
        socklen_t l0 = 4;
        int g0 = R(getsockopt(s, SOL_SOCKET, SO_BINDTODEVICE, buf, &l0));
        int r = R(setsockopt(s, SOL_SOCKET, SO_BINDTODEVICE, "lo", 3));
        socklen_t l = 8, l2 = 15, l3 = 16;
        int g = R(getsockopt(s, SOL_SOCKET, SO_BINDTODEVICE, buf, &l));
        int g2 = R(getsockopt(s, SOL_SOCKET, SO_BINDTODEVICE, buf, &l2));
        int g3 = R(getsockopt(s, SOL_SOCKET, SO_BINDTODEVICE, buf, &l3));
        printf("b: unbound %d l=%d set %d short %d l=%d 15 %d l=%d 16 %d l=%d %s\n", g0,
               (int)l0, r, g, (int)l, g2, (int)l2, g3, (int)l3, buf);
    } else if (m == 'x') {
        int fd = open("/proc/self/exe", O_PATH);
        char b[4] = {0};
        struct stat st;
        int r = R(read(fd, b, 4)), z = R(read(fd, b, 0));
        int f = R(fstat(fd, &st));
        int fd2 = R(open("/proc/self/exe", O_PATH | O_WRONLY));
        int fl = R(fcntl(fd, F_GETFL));
        printf("x: read %d zero %d fstat %d reg %d path+wronly %s flags %o\n", r, z, f,
               S_ISREG(st.st_mode), fd2 >= 0 ? "ok" : "failed", fl & ~0100000);
    }
    return 0;
}
