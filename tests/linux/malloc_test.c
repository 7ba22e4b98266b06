/* malloc, calloc, realloc and free: small blocks, brk growth and mmap'ed big blocks. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static unsigned long checksum(const unsigned char *p, size_t n)
{
    unsigned long h = 5381;
    for (size_t i = 0; i < n; i++)
        h = h * 33 + p[i];
    return h;
}

int main(void)
{
    enum { N = 600 };
    static char *blocks[N];
    static size_t sizes[N];
    unsigned seed = 12345;
    unsigned long total = 0;
    for (int round = 0; round < 3; round++) {
        for (int i = 0; i < N; i++) {
            seed = seed * 1103515245 + 12345;
            size_t n = (seed >> 16) % 2000 + 1;
            if (blocks[i] && (seed & 1)) {
                blocks[i] = realloc(blocks[i], n);
            } else {
                free(blocks[i]);
                blocks[i] = malloc(n);
            }
            if (!blocks[i]) {
                printf("allocation failed\n");
                return 1;
            }
            memset(blocks[i], i & 0xFF, n);
            sizes[i] = n;
        }
        for (int i = 0; i < N; i++)
            total += checksum((unsigned char *)blocks[i], sizes[i]);
        printf("round %d: %lu\n", round, total);
    }
    for (int i = 0; i < N; i++)
        free(blocks[i]);
    /* big blocks go through mmap */
    for (int k = 1; k <= 8; k++) {
        size_t n = (size_t)k << 20;
        unsigned char *p = calloc(n, 1);
        if (!p) {
            printf("big calloc failed\n");
            return 1;
        }
        for (size_t i = 0; i < n; i += 4096)
            p[i] = (unsigned char)(i >> 12);
        p = realloc(p, n * 2);
        p[n * 2 - 1] = 7;
        unsigned long sum = 0;
        for (size_t i = 0; i < n * 2; i += 512)
            sum = sum * 31 + p[i];
        printf("big %d: %lu %d\n", k, sum, p[n * 2 - 1]);
        free(p);
    }
    int *arr = calloc(1000, sizeof *arr);
    long s = 0;
    for (int i = 0; i < 1000; i++)
        s += arr[i];
    printf("calloc zero sum %ld\n", s);
    free(arr);
    return 0;
}
