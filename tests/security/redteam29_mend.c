/* Probes for the mend of the session 29 red team (test_redteam29_mend.py), run natively
   and under pyvm:
   e          mremap growing a range across two mappings (an anonymous one and a shared
              file page in front): EFAULT; the same within one anonymous mapping moves
   s:MIB      a MAP_SHARED file mapping of MIB MiB, every page written, moved and grown
              by mremap (a page in the way), written again at its new place and in the
              grown part, unmapped: the file holds the stores (it is still mapped)
   g:DIR      getdents64 into a buffer running into an unmapped page: the entries that
              fit are given, then the rest of the directory
   t          telldir after the 4th of 12 entries, read on, seekdir back: the 8 after it
              again (sorted), and lseek(dirfd, 0, SEEK_CUR) where the listing is
   f:N:SIZE   N descriptors open, /proc/self/fd read SIZE bytes at a time: calls, entries */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

static void across(void) {
    size_t len = 4 << 20;
    for (int shared = 1; shared >= 0; shared--) {
        char *p = mmap(0, len + 8192, PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0);
        mprotect(p + len + 4096, 4096, PROT_NONE);              /* in the way */
        if (shared) {
            int fd = open("one", O_RDWR|O_CREAT|O_TRUNC, 0644);
            ftruncate(fd, 4096);
            mmap(p, 4096, PROT_READ|PROT_WRITE, MAP_SHARED|MAP_FIXED, fd, 0);
            close(fd);
        }
        for (size_t i = 0; i < len + 4096; i += 4096) p[i] = 1;
        char *q = mremap(p, len + 4096, len + (8 << 20), MREMAP_MAYMOVE);
        printf("e: %s %d\n", q == MAP_FAILED ? "failed" : q == p ? "same" : "moved",
               q == MAP_FAILED ? errno : q[len]);
    }
}

static void shared_move(size_t mib) {
    size_t len = mib << 20;
    int fd = open("big", O_RDWR|O_CREAT|O_TRUNC, 0644);
    ftruncate(fd, len + (1 << 20));
    char *p = mmap(0, len + 4096, PROT_READ|PROT_WRITE, MAP_SHARED, fd, 0);
    munmap(p + len, 4096);
    mmap(p + len, 4096, PROT_NONE, MAP_PRIVATE|MAP_ANONYMOUS|MAP_FIXED, -1, 0);
    for (size_t i = 0; i < len; i += 4096) p[i] = 'a';
    char *q = mremap(p, len, len + (1 << 20), MREMAP_MAYMOVE);
    if (q == MAP_FAILED) { printf("s: mremap %d\n", errno); return; }
    for (size_t i = 1; i < len; i += 4096) q[i] = 'b';
    q[len + 5] = 'c';                                   /* the grown part maps the file too */
    munmap(q, len + (1 << 20));
    char got[4] = {0}, last[3] = {0}, grown = 0;
    pread(fd, got, 3, 0);
    pread(fd, last, 2, len - 4096);
    pread(fd, &grown, 1, len + 5);
    printf("s: %s %s %c %d\n", got, last, grown ? grown : '0', q != p);
}

static void straddle(const char *dir) {
    char *m = mmap(0, 8192, PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0);
    munmap(m + 4096, 4096);
    int d = open(dir, O_RDONLY|O_DIRECTORY);
    long g = syscall(SYS_getdents64, d, m + 4096 - 100, 4096);
    long first = 0;
    for (long p = 0; p < g; p += *(unsigned short *)(m + 4096 - 100 + p + 16)) first++;
    char buf[65536]; long total = 0;
    while ((g = syscall(SYS_getdents64, d, buf, sizeof buf)) > 0)
        for (long p = 0; p < g; p += *(unsigned short *)(buf + p + 16)) total++;
    printf("g: %ld %s, then %ld\n", first, g < 0 ? "error" : "ok", total);
    long h = syscall(SYS_getdents64, d, m + 4096 - 10, 4096);     /* not even one fits */
    lseek(d, 0, SEEK_SET);
    h = syscall(SYS_getdents64, d, m + 4096 - 10, 4096);
    printf("g: %ld %d\n", h, h < 0 ? errno : 0);
}

static int cmp(const void *a, const void *b) { return strcmp(*(char **)a, *(char **)b); }

static void seeking(void) {
    mkdir("sd", 0755);
    for (int i = 0; i < 10; i++) { char p[64]; snprintf(p, sizeof p, "sd/e%03d", i);
        close(open(p, O_CREAT|O_WRONLY, 0644)); }
    DIR *d = opendir("sd"); struct dirent *e; long pos = -1; int i = 0, n = 0;
    char *seen[64];
    while ((e = readdir(d))) if (++i == 4) pos = telldir(d);
    seekdir(d, pos);
    while ((e = readdir(d))) seen[n++] = strdup(e->d_name);
    qsort(seen, n, sizeof *seen, cmp);
    printf("t: %d", n);
    for (int k = 0; k < n; k++) printf(" %s", seen[k] + (seen[k][0] == 'e'));
    seekdir(d, pos);
    errno = 0;
    printf(", %s %d\n", lseek(dirfd(d), 0, SEEK_CUR) == pos ? "at" : "not at", errno);
    closedir(d);
}

static void fds(int n, int size) {
    for (int i = 0; i < n; i++) open("/dev/null", O_RDONLY);
    int d = open("/proc/self/fd", O_RDONLY | O_DIRECTORY);
    char buf[65536]; long g, calls = 0, ents = 0;
    while ((g = syscall(SYS_getdents64, d, buf, size)) > 0) {
        calls++;
        for (long p = 0; p < g; p += *(unsigned short *)(buf + p + 16)) ents++;
    }
    printf("f: %ld %ld %ld\n", calls, ents, g);
}

int main(int argc, char **argv) {
    for (int i = 1; i < argc; i++) {
        char *a = argv[i];
        if (a[0] == 'e') across();
        else if (a[0] == 's') shared_move(strtoul(a + 2, 0, 10));
        else if (a[0] == 'g') { mkdir("pd", 0755);
            for (int k = 0; k < 50; k++) { char p[64]; snprintf(p, sizeof p, "pd/n%02d", k);
                close(open(p, O_CREAT|O_WRONLY, 0644)); }
            straddle(a + 2); }
        else if (a[0] == 't') seeking();
        else if (a[0] == 'f') { char *c = strchr(a + 2, ':'); fds(atoi(a + 2), atoi(c + 1)); }
        fflush(stdout);
    }
    return 0;
}
