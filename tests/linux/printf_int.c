/* printf of integers: every conversion, width, precision and flag. */
#include <stdio.h>
#include <limits.h>
#include <stdint.h>
#include <inttypes.h>
#include <stddef.h>

int main(void)
{
    int vals[] = {0, 1, -1, 42, -42, 255, 65535, INT_MAX, INT_MIN, 123456789};
    for (unsigned i = 0; i < sizeof vals / sizeof vals[0]; i++) {
        int v = vals[i];
        printf("[%d] [%5d] [%-5d] [%05d] [%+d] [% d] [%.3d] [%u] [%x] [%X] [%#x] [%o] [%#o]\n",
               v, v, v, v, v, v, v, (unsigned)v, (unsigned)v, (unsigned)v, (unsigned)v,
               (unsigned)v, (unsigned)v);
    }
    long long big[] = {0LL, -1LL, LLONG_MAX, LLONG_MIN, 1234567890123456789LL};
    for (unsigned i = 0; i < sizeof big / sizeof big[0]; i++)
        printf("%lld %llu %llx %20lld|%-20lld|\n", big[i], (unsigned long long)big[i],
               (unsigned long long)big[i], big[i], big[i]);
    printf("%hhd %hd %ld %zu %td %jd\n", (signed char)200, (short)70000, 123456L,
           sizeof(long double), (ptrdiff_t)-3, (intmax_t)INT64_MIN);
    printf("%" PRIu64 " %" PRIx32 " %c%c%c %s|%10s|%-10s|%.2s\n", UINT64_MAX, 0xdeadbeefu,
           'a', 'b', 'c', "str", "right", "left", "truncate");
    printf("%*d|%-*d|%.*d\n", 6, 12, 6, 12, 4, 7);
    char buf[64];
    int n = snprintf(buf, sizeof buf, "%08.3f|%p", 3.14159, (void *)0x1234);
    printf("%s (%d)\n", buf, n);
    n = snprintf(buf, 8, "%s", "overflowing string");
    printf("%s (%d)\n", buf, n);
    return 0;
}
