/* Edge-case errnos: mprotect with unknown prot bits, mlock at the top of memory,
   readv/writev whose total length overflows, mknod of a regular file (a device is left
   out: its answer depends on the caller's privileges). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

static void show(const char *what, long r) {
    printf("%s %ld %d\n", what, r, r < 0 ? errno : 0);
    errno = 0;
}

int main(void) {
    setvbuf(stdout, 0, _IONBF, 0);
    char *p = mmap(0, 8192, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    show("mprotect-0x10", mprotect(p, 4096, PROT_READ | 0x10));
    show("mprotect-0x80", mprotect(p, 4096, PROT_READ | 0x80));
    show("mprotect-sem", mprotect(p, 4096, PROT_READ | 0x8));
    show("mprotect-both-grows", mprotect(p, 4096, PROT_READ | PROT_GROWSDOWN | PROT_GROWSUP));
    show("mprotect-growsdown", mprotect(p, 4096, PROT_READ | PROT_GROWSDOWN));
    show("mlock-top", syscall(SYS_mlock, 0xfffff000UL, 0x2000UL));
    show("mlock-unmapped", syscall(SYS_mlock, 0x1000UL, 0x1000UL));
    show("mlock-ok", mlock(p, 4096));
    show("munlock-top", syscall(SYS_munlock, 0xfffff000UL, 0x2000UL));
    int fds[2];
    pipe2(fds, O_NONBLOCK);
    int nul = open("/dev/null", O_WRONLY);
    write(fds[1], "abcd", 4);
    char a[4], b[4];
    struct iovec big[2] = {{a, 0x7fffffff}, {b, 0x7fffffff}};
    show("readv-overflow", readv(fds[0], big, 2));
    struct iovec neg[1] = {{a, 0x80000000u}};
    show("readv-neg", readv(fds[0], neg, 1));
    struct iovec wbig[2] = {{"xy", 2}, {b, 0xffffffffu}};
    show("writev-overflow", writev(nul, wbig, 2));
    unlink("sbxl-reg");
    show("mknod-reg", mknod("sbxl-reg", S_IFREG | 0640, 0));
    struct stat st;
    show("stat-reg", stat("sbxl-reg", &st));
    printf("mode %o size %ld\n", st.st_mode, (long)st.st_size);
    show("mknod-reg-again", mknod("sbxl-reg", S_IFREG | 0640, 0));
    unlink("sbxl-reg");
    show("mknod-0type", mknod("sbxl-reg", 0640, 0));
    unlink("sbxl-reg");
    show("mknodat-reg", mknodat(AT_FDCWD, "sbxl-reg", S_IFREG | 0600, 0));
    unlink("sbxl-reg");
    show("mknod-badtype", mknod("sbxl-bad", 0170000 | 0600, 0));
    show("mknod-dir", mknod("sbxl-dir", S_IFDIR | 0600, 0));
    show("mknod-noent", mknod("nodir/x", S_IFREG | 0600, 0));
    return 0;
}
