/* SSE3 intrinsics, fisttp, the four MXCSR rounding modes, DAZ/FTZ and the sticky flags. */
#include <pmmintrin.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

static void ps(const char *n, __m128 v) {
    float f[4];
    _mm_storeu_ps(f, v);
    uint32_t u[4];
    memcpy(u, f, 16);
    printf("%-9s %08x %08x %08x %08x\n", n, u[0], u[1], u[2], u[3]);
}

static void pd(const char *n, __m128d v) {
    uint64_t u[2];
    _mm_storeu_pd((double *)u, v);
    printf("%-9s %016llx %016llx\n", n, (unsigned long long)u[0], (unsigned long long)u[1]);
}

static volatile double dv[8] = {1.0, 3.0, 1e308, 1e-310, -2.5, 7.0, 0.1, -0.0};
static volatile float fv[8] = {1.0f, 3.0f, 3e38f, 1e-40f, -2.5f, 7.0f, 0.1f, 1e-38f};

int main(void) {
    __m128 a = _mm_set_ps(fv[0], fv[1], fv[6], fv[5]);
    __m128 b = _mm_set_ps(fv[4], fv[2], fv[3], fv[6]);
    __m128d c = _mm_set_pd(dv[0], dv[6]), d = _mm_set_pd(dv[5], dv[1]);
    ps("addsub", _mm_addsub_ps(a, b));
    ps("hadd", _mm_hadd_ps(a, b));
    ps("hsub", _mm_hsub_ps(a, b));
    ps("movehdup", _mm_movehdup_ps(a));
    ps("moveldup", _mm_moveldup_ps(b));
    pd("addsubpd", _mm_addsub_pd(c, d));
    pd("haddpd", _mm_hadd_pd(c, d));
    pd("hsubpd", _mm_hsub_pd(c, d));
    pd("movedup", _mm_movedup_pd(d));
    static const char bytes[40] = "0123456789abcdefghijklmnopqrstuvwxyzABC";
    __m128i u = _mm_lddqu_si128((const __m128i *)(bytes + 3));
    char out[17] = {0};
    _mm_storeu_si128((__m128i *)out, u);
    printf("lddqu %s\n", out);
    volatile long double ld[4] = {2.7L, -2.7L, 1e10L, -0.5L};
    for (int k = 0; k < 4; k++)        /* (int) of a long double: fisttp with -msse3 */
        printf("fisttp %d %lld\n", (int)ld[k], (long long)ld[k]);
    static const char *modes[4] = {"nearest", "down", "up", "zero"};
    unsigned rm[4] = {_MM_ROUND_NEAREST, _MM_ROUND_DOWN, _MM_ROUND_UP, _MM_ROUND_TOWARD_ZERO};
    for (int m = 0; m < 4; m++) {
        _mm_setcsr(0x1f80 | rm[m]);
        volatile double x = dv[0] / dv[1], y = dv[4] / dv[1], z = dv[2] * 10.0;
        volatile float fx = fv[0] / fv[1], fy = fv[3] * 0.5f, fz = fv[2] + fv[2];
        volatile int i1 = _mm_cvtsd_si32(_mm_set_sd(y * 3.0 + 0.2));
        volatile double sq = __builtin_sqrt(dv[6]);
        unsigned csr = _mm_getcsr();
        uint64_t bx, by, bz, bs;
        uint32_t fbx, fby, fbz;
        memcpy(&bx, (const void *)&x, 8); memcpy(&by, (const void *)&y, 8);
        memcpy(&bz, (const void *)&z, 8); memcpy(&bs, (const void *)&sq, 8);
        memcpy(&fbx, (const void *)&fx, 4); memcpy(&fby, (const void *)&fy, 4);
        memcpy(&fbz, (const void *)&fz, 4);
        printf("%-8s %016llx %016llx %016llx %016llx %08x %08x %08x %d csr %04x\n", modes[m],
               (unsigned long long)bx, (unsigned long long)by, (unsigned long long)bz,
               (unsigned long long)bs, fbx, fby, fbz, i1, csr);
    }
    for (int flags = 0; flags < 4; flags++) {   /* DAZ, FTZ */
        _mm_setcsr(0x1f80 | (flags & 1 ? 0x40 : 0) | (flags & 2 ? 0x8000 : 0));
        volatile double t = dv[3] * 1.0, t2 = 1e-300 * 1e-10, t3 = dv[3] + 0.0;
        volatile float f1 = fv[3] * 2.0f, f2 = fv[7] * 0.25f;
        uint64_t bt, bt2, bt3;
        uint32_t b1, b2;
        memcpy(&bt, (const void *)&t, 8); memcpy(&bt2, (const void *)&t2, 8);
        memcpy(&bt3, (const void *)&t3, 8);
        memcpy(&b1, (const void *)&f1, 4); memcpy(&b2, (const void *)&f2, 4);
        printf("daz/ftz %d: %016llx %016llx %016llx %08x %08x csr %04x\n", flags,
               (unsigned long long)bt, (unsigned long long)bt2, (unsigned long long)bt3, b1,
               b2, _mm_getcsr());
    }
    _mm_setcsr(0x1f80);
    /* auto-vectorised loops */
    static float xs[256], ys[256];
    static double xd[128];
    for (int k = 0; k < 256; k++) {
        xs[k] = (float)k * 0.37f - 20.0f;
        ys[k] = 1.0f / ((float)k + 0.5f);
    }
    for (int k = 0; k < 128; k++)
        xd[k] = (double)k * 1.1 - 3.0;
    float s = 0.0f;
    for (int k = 0; k < 256; k++)
        s += xs[k] * ys[k];
    double sd = 0.0;
    for (int k = 0; k < 128; k++)
        sd += xd[k] * xd[k];
    uint32_t sb;
    memcpy(&sb, &s, 4);
    printf("dot %08x %.17g csr %04x\n", sb, sd, _mm_getcsr());
    return 0;
}
