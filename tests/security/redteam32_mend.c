/* Probes for the review of the guest rlimits (tests/security/test_redteam32_mend.py):
   each mode prints one line, compared with the native run. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/sendfile.h>
#include <unistd.h>

#define MB (1 << 20)
char initialised[2 * MB] = {1};         /* the data segment: end_data - start_data */
static volatile int xfsz;
static void count(int sig) { (void)sig; xfsz++; }
static long r(long v) { return v < 0 ? -errno : v; }
static long mm(void *p) { return p == MAP_FAILED ? -errno : 0; }

static void limit(int res, rlim_t cur, rlim_t max) {
    struct rlimit rl = {cur, max};
    setrlimit(res, &rl);
}

/* RLIMIT_FSIZE: truncation that shrinks or keeps the size is fine; sendfile failing
   moves nothing; sendfile cut at the limit sends SIGXFSZ */
static void fsize(void) {
    static char buf[5000];
    signal(SIGXFSZ, count);
    int fd = open("big", O_RDWR | O_CREAT | O_TRUNC, 0600);
    write(fd, buf, 5000);
    int src = open("src", O_RDWR | O_CREAT | O_TRUNC, 0600);
    write(src, buf, 3000);
    lseek(src, 0, SEEK_SET);
    limit(RLIMIT_FSIZE, 1000, RLIM_INFINITY);
    long a = r(ftruncate(fd, 5000)), b = r(ftruncate(fd, 3000));
    long c = r(truncate("big", 2000)), d = r(ftruncate(fd, 2500)), x0 = xfsz;
    int out = open("out", O_RDWR | O_CREAT | O_TRUNC, 0600);
    lseek(out, 1000, SEEK_SET);
    long e = r(sendfile(out, src, NULL, 100));
    long p1 = lseek(src, 0, SEEK_CUR), x1 = xfsz;
    lseek(out, 950, SEEK_SET);
    long f = r(sendfile(out, src, NULL, 100));
    long p2 = lseek(src, 0, SEEK_CUR);
    printf("t: %ld %ld %ld %ld %ld %ld %ld %ld %ld %ld %d\n", a, b, c, d, x0, e, p1, x1,
           f, p2, xfsz);
}

/* RLIMIT_DATA soft 0: the hard limit counts (Linux's valgrind workaround) */
static void data_zero(void) {
    limit(RLIMIT_DATA, 0, RLIM_INFINITY);
    void *p = mmap(0, MB, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    long a = mm(p);
    long b = mm(mremap(p, MB, 2 * MB, MREMAP_MAYMOVE));
    long c = sbrk(4096) == (void *)-1 ? -errno : 0;     /* brk: the soft one */
    limit(RLIMIT_DATA, 0, 8 * MB);
    long d = mm(mmap(0, 16 * MB, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
    printf("0: %ld %ld %ld %ld\n", a, b, c, d);
}

/* the most pages one more mapping may have */
static long most(void) {
    long lo = 0, hi = 1 << 18;
    while (lo < hi) {
        long mid = (lo + hi + 1) / 2;
        void *p = mmap(0, mid * 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED)
            hi = mid - 1;
        else {
            munmap(p, mid * 4096);
            lo = mid;
        }
    }
    return lo;
}

/* MAP_FIXED over mapped pages: only the pages not mapped now are charged */
static void fixed(void) {
    char *ro = mmap(0, 8 * MB, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    limit(RLIMIT_DATA, 4 * MB, RLIM_INFINITY);
    long a = mm(mmap(ro, 8 * MB, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0));
    char *q = mmap(0, 4 * MB, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    limit(RLIMIT_AS, 256 * MB, RLIM_INFINITY);
    limit(RLIMIT_AS, 256 * MB - (most() - 16) * 4096, RLIM_INFINITY);   /* 16 pages of room */
    long b = mm(mmap(q, 4 * MB, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0));
    /* (below q nothing is mapped: mmap hands out addresses top-down) */
    long c = mm(mmap(q - 17 * 4096, 4 * MB + 17 * 4096, PROT_READ,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0));
    long d = mm(mmap(q - 16 * 4096, 4 * MB + 16 * 4096, PROT_READ,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0));
    printf("x: %ld %ld %ld %ld\n", a, b, c, d);
}

/* brk under RLIMIT_DATA counts the data segment too: the most pages it grows by */
static void brk_data(void) {
    initialised[5] = 2;
    limit(RLIMIT_DATA, 8 * MB, RLIM_INFINITY);
    long lo = 0, hi = 4096;
    char *base = sbrk(0);
    while (lo < hi) {
        long mid = (lo + hi + 1) / 2;
        if (brk(base + mid * 4096))
            hi = mid - 1;
        else {
            brk(base);
            lo = mid;
        }
    }
    /* (1.5 MiB of break is short of the 6 MiB an unlimited data segment leaves) */
    printf("b: %d\n", lo < 1536);
}

/* mprotect to writable: RLIMIT_AS already passed does not refuse it (nor RLIMIT_DATA
   then: the AS test fails before and after alike); RLIMIT_DATA alone does */
static void protect(void) {
    char *p = mmap(0, MB, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    limit(RLIMIT_DATA, 0, RLIM_INFINITY);
    limit(RLIMIT_AS, 4096, RLIM_INFINITY);
    long a = r(mprotect(p, 4096, PROT_READ | PROT_WRITE));
    limit(RLIMIT_DATA, 4096, RLIM_INFINITY);
    long b = r(mprotect(p + 4096, 4096, PROT_READ | PROT_WRITE));
    limit(RLIMIT_AS, RLIM_INFINITY, RLIM_INFINITY);
    long c = r(mprotect(p + 8192, 4096, PROT_READ | PROT_WRITE));
    printf("p: %ld %ld %ld\n", a, b, c);
}

/* RLIMIT_FSIZE on an inherited standard output that is a regular file */
static void stdout_file(void) {
    static char buf[3000];
    signal(SIGXFSZ, SIG_IGN);
    limit(RLIMIT_FSIZE, 1000, RLIM_INFINITY);
    long a = write(1, buf, 3000), b = r(write(1, buf, 10));
    fprintf(stderr, "o: %ld %ld\n", a, b);
}

int main(int argc, char **argv) {
    switch (argc > 1 ? argv[1][0] : 0) {
    case 't': fsize(); break;
    case '0': data_zero(); break;
    case 'x': fixed(); break;
    case 'b': brk_data(); break;
    case 'p': protect(); break;
    case 'o': stdout_file(); break;
    default: return 2;
    }
    return 0;
}
