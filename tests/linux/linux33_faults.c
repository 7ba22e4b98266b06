/* mend-linux33: reads and writes whose buffer faults, as Linux answers them: the mode
   first (EBADF), nothing copied from /dev/null, a directory (EISDIR), an empty pipe or
   socket at EOF, a regular file at its end; a write to a regular file up to the first
   unreadable byte (a PROT_NONE guard page as an unmapped one), /dev/null unread. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>
static long raw(long nr, long a, long b, long c) {
    long r;
    __asm__ volatile("int $0x80" : "=a"(r) : "a"(nr), "b"(a), "c"(b), "d"(c) : "memory");
    return r;
}
static void run(int guard) {
    char *pg = mmap(0, 3 * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (guard) mprotect(pg + 4096, 4096, PROT_NONE);   /* a guard page: mapped, unreadable */
    else munmap(pg + 4096, 4096);
    printf("-- %s\n", guard ? "PROT_NONE page" : "unmapped page");
    char buf[64];
    int t = open("wv.tmp", O_RDWR | O_CREAT | O_TRUNC, 0600);
    memcpy(pg + 4094, "xy", 2);
    struct iovec a[2] = {{"ab", 2}, {pg + 4094, 10}};
    long n = raw(146, t, (long)a, 2);
    long g = pread(t, buf, 64, 0);
    printf("A hole writev %ld file %ld '%.*s'\n", n, g, (int)(g > 0 ? g : 0), buf);
    ftruncate(t, 0); lseek(t, 0, 0);
    struct iovec b[1] = {{pg + 4094, 10}};
    n = raw(4, t, (long)(pg + 4094), 10);
    g = pread(t, buf, 64, 0);
    printf("B write() across hole %ld file %ld\n", n, g);
    ftruncate(t, 0); lseek(t, 0, 0);
    int nul = open("/dev/null", O_WRONLY);
    printf("C writev null bad %ld write null bad %ld\n", raw(146, nul, (long)b, 1), raw(4, nul, (long)(pg + 4096), 10));
    int p[2]; pipe(p); close(p[1]);
    printf("D read eof pipe bad buf %ld\n", raw(3, p[0], (long)(pg + 4096), 10));
    int sv[2]; socketpair(AF_UNIX, SOCK_STREAM, 0, sv); close(sv[1]);
    printf("E read eof socket bad buf %ld\n", raw(3, sv[0], (long)(pg + 4096), 10));
    int rn = open("/dev/null", O_RDONLY);
    printf("F read null unmapped huge count %ld\n", raw(3, rn, (long)0xfff00000, 0x200000));
    printf("G read null kernel-ish count %ld\n", raw(3, rn, (long)(pg + 4096), 0x7fffffff));
    int d = open(".", O_RDONLY | O_DIRECTORY);
    printf("H read dir bad buf %ld\n", raw(3, d, (long)(pg + 4096), 10));
    write(t, "abc", 3);
    printf("I read regular at EOF bad buf %ld\n", raw(3, t, (long)(pg + 4096), 10));
    lseek(t, 1, 0);
    printf("J read regular mid bad buf %ld\n", raw(3, t, (long)(pg + 4096), 10));
    int w = open("wv.tmp", O_WRONLY);
    lseek(w, 100, 0);
    printf("K read on O_WRONLY fd bad buf %ld\n", raw(3, w, (long)(pg + 4096), 10));
    printf("L read null count 0 bad buf %ld\n", raw(3, rn, (long)(pg + 4096), 0));
    int e = open("/dev/zero", O_RDONLY);
    printf("M read zero bad buf %ld\n", raw(3, e, (long)(pg + 4096), 10));
    /* writev: 3 iovecs, first fine, second length 0 bad ptr, third fine */
    ftruncate(t, 0); lseek(t, 0, 0);
    struct iovec c[3] = {{"ab", 2}, {pg + 4096, 0}, {"cd", 2}};
    n = raw(146, t, (long)c, 3);
    printf("N writev zero-length bad iov %ld\n", n);
    struct iovec c2[3] = {{"ab", 2}, {"cd", 2}, {pg + 4096, 3}};
    ftruncate(t, 0); lseek(t, 0, 0);
    n = raw(146, t, (long)c2, 3);
    g = pread(t, buf, 64, 0);
    printf("O writev third bad %ld file '%.*s'\n", n, (int)(g > 0 ? g : 0), buf);
    int ap = open("wv.tmp", O_WRONLY | O_APPEND);
    n = raw(146, ap, (long)c2, 3);
    g = pread(t, buf, 64, 0);
    printf("P writev append third bad %ld file '%.*s'\n", n, (int)(g > 0 ? g : 0), buf);
    unlink("wv.tmp");
    int o = open("wv.tmp", O_WRONLY | O_CREAT, 0600);
    printf("Q read stdin-like O_WRONLY bad buf %ld write O_RDONLY bad buf %ld\n",
           raw(3, o, (long)(pg + 4096), 10), raw(4, rn, (long)(pg + 4096), 10));
    printf("R read stdout (write-only) bad buf %ld\n", raw(3, 1, (long)(pg + 4096), 10));
    const char *dev[] = {"/dev/zero", "/dev/full", "/dev/urandom"};
    for (int i = 0; i < 3; i++) {
        int fd = open(dev[i], O_WRONLY);
        printf("S %s write bad buf %ld writev %ld\n", dev[i], raw(4, fd, (long)(pg + 4096), 10),
               raw(146, fd, (long)b, 1));
        close(fd);
    }
    unlink("wv.tmp");
}
int main(void) {
    run(1);
    run(0);
    return 0;
}
