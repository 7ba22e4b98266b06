/* Scalar single precision (addss, mulss, divss, sqrtss, cvtss2sd, cvtsd2ss, ucomiss...). */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

static volatile float vals[] = {
    0.0f, -0.0f, 1.0f, -1.0f, 0.1f, 3.0f, 1e38f, -3.4e38f, 1.4e-45f, 1.17549435e-38f,
    16777216.0f, 16777217.0f, 0.33333334f, 2.5f, -2.5f, 2147483520.0f, 2147483648.0f,
    INFINITY, -INFINITY, NAN,
};
#define N (sizeof vals / sizeof vals[0])

static uint32_t bits(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }
static void show(const char *what, float f) {
    printf("%s %.9g %08x\n", what, (double)f, (unsigned)bits(f));
}

__attribute__((noinline)) static float add(float a, float b) { return a + b; }
__attribute__((noinline)) static float sub(float a, float b) { return a - b; }
__attribute__((noinline)) static float mul(float a, float b) { return a * b; }
__attribute__((noinline)) static float dvd(float a, float b) { return a / b; }
__attribute__((noinline)) static float fma_ish(float a, float b, float c) { return a * b + c; }

int main(void) {
    for (unsigned i = 0; i < N; i++) {
        float a = vals[i];
        show("sqrt", sqrtf(a));
        show("neg", -a);
        show("abs", fabsf(a));
        double d = a;
        printf("todouble %.17g\n", d);
        if (a == a && a > -2147483648.0f && a < 2147483648.0f)
            printf("toint %d\n", (int)a);
        printf("lrintf %ld\n", lrintf(a));
        for (unsigned j = 0; j < N; j++) {
            float b = vals[j];
            show("add", add(a, b));
            show("sub", sub(a, b));
            show("mul", mul(a, b));
            show("div", dvd(a, b));
            show("fma", fma_ish(a, b, 0.1f));
            printf("cmp %d %d %d %d\n", a < b, a <= b, a == b, a != b);
        }
    }
    float s = 0;
    for (int k = 1; k <= 2000; k++)
        s += 1.0f / (float)k;
    show("harmonic", s);
    double big[4] = {1e39, -1e39, 3.4028235677973366e38, 1e-50};
    for (int k = 0; k < 4; k++)
        show("narrow", (float)big[k]);
    for (int k = -5; k < 5; k++)
        show("fromint", (float)(k * 16777217));
    return 0;
}
