/* Errnos in Linux's order: mknod's type, then the name (a trailing slash, an existing
 * path), then the privilege; readv/writev check the file's mode before the iovec;
 * mprotect with a growth bit over a range mapped only in part. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/uio.h>
#include <unistd.h>

static void show(const char *what, long r) {
    printf("%s %ld %d\n", what, r, r < 0 ? errno : 0);
    errno = 0;
}

int main(void) {
    setvbuf(stdout, 0, _IONBF, 0);
    unlink("nf");
    show("mknod-slash-new", mknod("nf/", S_IFREG | 0600, 0));
    show("stat-nf", access("nf", F_OK));
    close(open("old", O_CREAT | O_WRONLY, 0600));
    show("mknod-slash-old", mknod("old/", S_IFREG | 0600, 0));
    show("mknod-chr-old", mknod("old", S_IFCHR | 0600, makedev(1, 3)));
    show("mknod-fifo-old", mknod("old", S_IFIFO | 0600, 0));
    show("mknod-sock-old", mknod("old", S_IFSOCK | 0600, 0));
    show("mknod-dir-old", mknod("old", S_IFDIR | 0600, 0));
    show("mknod-bad-old", mknod("old", 0170000 | 0600, 0));
    unlink("old");

    int w = open("/dev/null", O_WRONLY), r = open("/dev/null", O_RDONLY);
    char a[4];
    struct iovec neg[1] = {{a, 0x80000000u}};
    show("readv-wronly-neg", readv(w, neg, 1));
    show("readv-wronly-none", readv(w, neg, 0));
    show("writev-rdonly-neg", writev(r, neg, 1));
    show("readv-rdonly-neg", readv(r, neg, 1));

    /* three pages, the middle one unmapped */
    char *p = mmap(0, 3 * 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    munmap(p + 4096, 4096);
    show("growsup-part", mprotect(p, 2 * 4096, PROT_READ | PROT_GROWSUP));
    show("growsup-hole-first", mprotect(p + 4096, 2 * 4096, PROT_READ | PROT_GROWSUP));
    show("growsdown-part", mprotect(p, 2 * 4096, PROT_READ | PROT_GROWSDOWN));
    show("growsdown-hole-first", mprotect(p + 4096, 2 * 4096, PROT_READ | PROT_GROWSDOWN));
    show("growsdown-hole", mprotect(p + 4096, 4096, PROT_READ | PROT_GROWSDOWN));
    show("growsup-hole", mprotect(p + 4096, 4096, PROT_READ | PROT_GROWSUP));
    int here;                           /* the stack's own page grows down */
    long page = (long)&here & ~4095L;
    show("growsdown-stack", mprotect((void *)page, 4096,
                                     PROT_READ | PROT_WRITE | PROT_GROWSDOWN));
    return 0;
}
