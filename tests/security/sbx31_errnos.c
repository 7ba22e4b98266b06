#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>
#include <sched.h>
#include <dirent.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>

int main(void) {
    /* getrandom with a huge count into a mapped buffer: a short read */
    char *buf = mmap(0, 1 << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    long r = syscall(SYS_getrandom, buf, 0x7fffffffUL, 0);
    printf("getrandom huge: %s\n", r > 0 ? "short" : strerror(errno));
    r = syscall(SYS_getrandom, buf + (1 << 20) - 16, 4096, 0);
    printf("getrandom over end: %ld %s\n", r, r < 0 ? strerror(errno) : "");
    /* sched_getaffinity's answer */
    unsigned char mask[128];
    r = syscall(SYS_sched_getaffinity, 0, 128, mask);
    printf("affinity size: %ld\n", r);
    /* O_PATH directory read */
    int d = open(".", O_PATH | O_DIRECTORY);
    char c[16];
    errno = 0;
    r = read(d, c, 16);
    printf("O_PATH dir read: %ld %s\n", r, strerror(errno));
    /* a /proc directory sought past its end stays there */
    char dbuf[4096];
    int pd = open("/proc/self/fd", O_RDONLY | O_DIRECTORY);
    r = lseek(pd, 1000, SEEK_SET);
    printf("procdir seek: %ld tell: %ld\n", r, (long)lseek(pd, 0, SEEK_CUR));
    int x = open("/dev/null", O_RDONLY);          /* an entry after the end */
    printf("getdents past end: %ld\n", (long)syscall(SYS_getdents64, pd, dbuf, sizeof dbuf));
    printf("tell after: %ld\n", (long)lseek(pd, 0, SEEK_CUR));
    close(x);
    return 0;
}
