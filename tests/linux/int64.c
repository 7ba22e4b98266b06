/* 64-bit integer arithmetic: libgcc's division helpers, shifts, mixed signedness. */
#include <stdio.h>
#include <stdint.h>

int main(void)
{
    uint64_t x = 0x123456789ABCDEF0ULL;
    int64_t s = -987654321012345678LL;
    uint64_t h = 1469598103934665603ULL;
    for (int i = 0; i < 1000; i++) {
        h ^= (uint64_t)i;
        h *= 1099511628211ULL;
    }
    printf("fnv %llu %llx\n", (unsigned long long)h, (unsigned long long)h);
    printf("div %llu %llu %lld %lld\n", (unsigned long long)(x / 12345),
           (unsigned long long)(x % 12345), (long long)(s / 777), (long long)(s % 777));
    printf("div64 %llu %lld\n", (unsigned long long)(x / 0x100000001ULL),
           (long long)(s / -0x12345678901LL));
    for (int k = 0; k < 64; k += 7)
        printf("shift %d: %llx %llx %llx\n", k, (unsigned long long)(x << k),
               (unsigned long long)(x >> k), (unsigned long long)(s >> k));
    int64_t fact = 1;
    for (int i = 1; i <= 20; i++)
        fact *= i;
    printf("20! = %lld\n", (long long)fact);
    uint64_t a = 0xFFFFFFFFFFFFFFFFULL, b = 3;
    printf("wrap %llu %llu %d %d\n", (unsigned long long)(a + b), (unsigned long long)(a * b),
           a > b, (int64_t)a < (int64_t)b);
    double d = (double)x;
    printf("conv %.1f %lld %llu\n", d, (long long)(double)s, (unsigned long long)1e19);
    uint64_t g1 = 1071772, g2 = 1029;
    while (g2) {
        uint64_t t = g1 % g2;
        g1 = g2;
        g2 = t;
    }
    printf("gcd %llu\n", (unsigned long long)g1);
    return 0;
}
