/* qsort of N ints (default 100000) with a comparison callback; prints a checksum. */
#include <stdio.h>
#include <stdlib.h>

static int cmp(const void *a, const void *b)
{
    int x = *(const int *)a, y = *(const int *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
    int n = argc > 1 ? atoi(argv[1]) : 100000;
    int *v = malloc(n * sizeof *v);
    unsigned s = 12345;
    for (int i = 0; i < n; i++) {
        s = s * 1103515245u + 12345u;
        v[i] = (int)(s >> 1) % 1000000;
    }
    qsort(v, n, sizeof *v, cmp);
    unsigned long long sum = 0;
    for (int i = 0; i < n; i++) {
        if (i && v[i - 1] > v[i]) {
            puts("not sorted");
            return 1;
        }
        sum = sum * 31 + (unsigned)v[i];
    }
    printf("qsort %d: min %d max %d sum %llu\n", n, v[0], v[n - 1], sum);
    free(v);
    return 0;
}
