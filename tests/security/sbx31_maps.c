#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>
#include <sys/mman.h>

int main(int argc, char **argv) {
    long page = 4096;
    if (argc > 1 && !strcmp(argv[1], "split")) {
        /* alternating munmaps of a 64 MiB shared file mapping */
        int fd = open("split31.bin", O_RDWR | O_CREAT | O_TRUNC, 0600);
        long size = 64L << 20;
        ftruncate(fd, size);
        char *p = mmap(0, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        for (long a = 0; a < size; a += page) p[a] = (char)(a >> 12) | 1;
        for (long a = page; a < size; a += 2 * page)
            if (munmap(p + a, page)) { perror("munmap"); return 1; }
        long sum = 0;
        for (long a = 0; a < size; a += 2 * page) sum += (unsigned char)p[a];
        close(fd);
        unlink("split31.bin");
        printf("sum %ld\n", sum);
        return 0;
    }
    /* vm.max_map_count: one-page mappings of alternating protection until refused */
    char *base = mmap(0, 200000 * page, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (base == MAP_FAILED) { perror("mmap"); return 1; }
    munmap(base, 200000 * page);
    long n = 0;
    for (; n < 200000; n++) {
        void *q = mmap(base + n * page, page, (n & 1) ? PROT_READ : PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
        if (q == MAP_FAILED) break;
    }
    int e = errno;
    printf("mmap stopped: %s, in range: %d\n", n < 200000 ? strerror(e) : "never",
           n > 65000 && n <= 65531);
    /* splitting a big mapping by mprotect is refused the same way */
    munmap(base, 200000 * page);
    char *big = mmap(0, 140000 * page, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    long k = 0;
    for (; k < 70000; k++)
        if (mprotect(big + 2 * k * page, page, PROT_READ | PROT_WRITE)) break;
    e = errno;
    printf("mprotect stopped: %s, in range: %d\n", k < 70000 ? strerror(e) : "never",
           2 * k > 65000 && 2 * k <= 65532);
    /* munmap holes too */
    munmap(big, 140000 * page);
    big = mmap(0, 140000 * page, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    for (k = 0; k < 70000; k++)
        if (munmap(big + (2 * k + 1) * page, page)) break;
    e = errno;
    printf("munmap stopped: %s, in range: %d\n", k < 70000 ? strerror(e) : "never",
           k > 65000 && k <= 65531);
    return 0;
}
