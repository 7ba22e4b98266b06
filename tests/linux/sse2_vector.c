/* Loops gcc vectorises with SSE2 (packed double/float/int arithmetic, shuffles,
   conversions) and the string/math functions glibc picks for an SSE2 CPU. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define N 203
static double a[N], b[N], c[N];
static float fa[N], fb[N];
static int ia[N], ib[N];
static short sa[N];
static unsigned char ua[N], ub[N];

int main(void) {
    for (int i = 0; i < N; i++) {
        a[i] = i * 0.25 - 7;
        b[i] = 1.0 / (i + 1);
        fa[i] = (float)i / 3.0f;
        ia[i] = i * 7919 - 50000;
        sa[i] = (short)(i * 331);
        ua[i] = (unsigned char)(i * 37);
        ub[i] = (unsigned char)(i * 11 + 3);
    }
    for (int i = 0; i < N; i++) c[i] = a[i] * b[i] + a[i];
    for (int i = 0; i < N; i++) fb[i] = fa[i] * fa[i] - 2.0f * fa[i];
    for (int i = 0; i < N; i++) ib[i] = ia[i] * 3 + (ia[i] >> 2) - (ia[i] & 255);
    for (int i = 0; i < N; i++) c[i] += (double)ia[i];
    for (int i = 0; i < N; i++) fb[i] += (float)ib[i];
    for (int i = 0; i < N; i++) ua[i] = ua[i] > ub[i] ? ua[i] : ub[i];
    for (int i = 0; i < N; i++) sa[i] = (short)(sa[i] * 3 + 1);
    double s = 0, m = -1e300;
    float fs = 0;
    long long is = 0;
    unsigned us = 0;
    for (int i = 0; i < N; i++) {
        s += c[i];
        m = fmax(m, c[i]);
        fs += fb[i];
        is += ib[i];
        us += ua[i] + sa[i];
    }
    printf("%.17g %.17g %.9g %lld %u\n", s, m, (double)fs, is, us);
    for (int i = 0; i < N; i += 29)
        printf("%d %.17g %.9g %d %d %d\n", i, c[i], (double)fb[i], ib[i], ua[i], sa[i]);

    char buf[300], dst[300];
    for (int i = 0; i < 299; i++) buf[i] = (char)('a' + i % 26);
    buf[299] = 0;
    for (int n = 0; n < 299; n += 13) {
        memcpy(dst, buf + n, 299 - n + 1);
        printf("%zu %zu %d %d ", strlen(dst), strlen(buf + n), strcmp(dst, buf + n),
               memcmp(dst, buf, 10));
        char *p = strchr(dst, 'q');
        char *r = strrchr(dst, 'z');
        void *z = memchr(dst, 'k', strlen(dst));
        printf("%td %td %td\n", p ? p - dst : -1, r ? r - dst : -1,
               z ? (char *)z - dst : -1);
    }
    memset(dst, 'x', 257);
    dst[257] = 0;
    printf("%zu %s\n", strlen(dst), strstr(buf, "xyzab") ? "found" : "none");
    char *dup = strdup(buf + 17);
    printf("%zu %d\n", strlen(dup), strncmp(dup, buf + 17, 100));
    free(dup);
    double xs[] = {0.5, 1.0, 2.0, 3.14159, -1.25, 10.0, 1e-5};
    for (int i = 0; i < 7; i++)
        printf("%.17g %.17g %.17g %.17g %.9g %.9g\n", sin(xs[i]), exp(xs[i]), log(fabs(xs[i])),
               atan2(xs[i], 0.7), (double)sinf((float)xs[i]), (double)expf((float)xs[i]));
    return 0;
}
