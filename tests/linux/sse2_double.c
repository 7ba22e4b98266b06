/* Scalar double arithmetic, conversions and comparisons as gcc -msse2 -mfpmath=sse
   compiles them (addsd, mulsd, divsd, sqrtsd, cvttsd2si, ucomisd, ...). Every value is
   printed with %.17g and as bits, so NaN signs and payloads are compared too. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

static volatile double vals[] = {
    0.0, -0.0, 1.0, -1.0, 0.1, -2.5, 3.0, 1e308, -1e308, 4.9e-324, 2.2250738585072014e-308,
    1.5, 2.5, -2.5, 2147483647.0, 2147483648.0, -2147483648.0, -2147483649.0, 1e10,
    0.49999999999999994, 123456.789, INFINITY, -INFINITY, NAN, -NAN,
};
#define N (sizeof vals / sizeof vals[0])

static uint64_t bits(double d) { uint64_t u; memcpy(&u, &d, 8); return u; }
static void show(const char *what, double d) {
    printf("%s %.17g %016llx\n", what, d, (unsigned long long)bits(d));
}

__attribute__((noinline)) static double add(double a, double b) { return a + b; }
__attribute__((noinline)) static double sub(double a, double b) { return a - b; }
__attribute__((noinline)) static double mul(double a, double b) { return a * b; }
__attribute__((noinline)) static double dvd(double a, double b) { return a / b; }
__attribute__((noinline)) static double mn(double a, double b) { return a < b ? a : b; }
__attribute__((noinline)) static double mx(double a, double b) { return a > b ? a : b; }

int main(void) {
    for (unsigned i = 0; i < N; i++) {
        double a = vals[i];
        show("sqrt", sqrt(a));
        show("neg", -a);
        show("abs", fabs(a));
        float f = (float)a;
        printf("tofloat %.9g\n", (double)f);
        if (a == a && a > -2147483649.0 && a < 2147483648.0)
            printf("toint %d\n", (int)a);
        printf("lrint %ld\n", lrint(a));
        printf("cvtt %d\n", __builtin_ia32_cvttsd2si((__attribute__((vector_size(16))) double){a, 0}));
        printf("cvt %d\n", __builtin_ia32_cvtsd2si((__attribute__((vector_size(16))) double){a, 0}));
        for (unsigned j = 0; j < N; j++) {
            double b = vals[j];
            show("add", add(a, b));
            show("sub", sub(a, b));
            show("mul", mul(a, b));
            show("div", dvd(a, b));
            show("min", mn(a, b));
            show("max", mx(a, b));
            printf("cmp %d %d %d %d %d %d\n", a < b, a <= b, a == b, a != b, a > b, a >= b);
        }
    }
    double s = 0;
    for (int k = 1; k <= 1000; k++)
        s += 1.0 / k / k;
    show("basel", s);
    int iv[8] = {1, -2, 3, -4, 5, 2147483647, -2147483647 - 1, 0};
    for (int k = 0; k < 8; k++)
        show("fromint", (double)iv[k] * 0.5);
    unsigned uv[4] = {0, 1, 0x80000000u, 0xffffffffu};
    for (int k = 0; k < 4; k++)
        show("fromuint", (double)uv[k]);
    long long lv[3] = {1LL << 53, -(1LL << 60) + 1, 123456789012345LL};
    for (int k = 0; k < 3; k++)
        show("fromll", (double)lv[k]);
    return 0;
}
