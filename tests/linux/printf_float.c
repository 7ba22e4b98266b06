/* Floating-point formatting: double and long double through the x87. */
#include <stdio.h>
#include <float.h>
#include <math.h>

int main(void)
{
    double d[] = {0.0, -0.0, 1.0, 0.1, 1.0 / 3.0, 2.0 / 3.0, 1e10, 1e-10, 123456.789,
                  DBL_MAX, DBL_MIN, 5e-324, M_PI, -M_E, 1e300 * 1e10, 0.0 / 0.0};
    for (unsigned i = 0; i < sizeof d / sizeof d[0]; i++)
        printf("%g|%f|%.17g|%e|%.3e|%a|%10.4f|%-12.2e|\n", d[i], d[i], d[i], d[i], d[i],
               d[i], d[i], d[i]);
    long double ld[] = {1.0L, 0.1L, 1.0L / 3.0L, 2.0L / 3.0L, 1e100L, 1e-100L, LDBL_MAX,
                        LDBL_MIN, 3.14159265358979323846264338327950288L, -2.5L};
    for (unsigned i = 0; i < sizeof ld / sizeof ld[0]; i++)
        printf("%.20Lg|%Le|%La|%.25Le\n", ld[i], ld[i], ld[i], ld[i]);
    printf("%.30Lf %.30Lf %Lf\n", 1.0L / 3.0L, 2.0L / 7.0L, 1e30L);
    long double x = 1.0L;
    for (int i = 1; i <= 25; i++) {
        x *= i;
        printf("%d! = %.20Lg\n", i, x);
    }
    float f = 1.0f / 7.0f;
    printf("%.10f %a %g\n", f, f, f);
    long double s = 0.0L;
    for (int i = 1; i <= 1000; i++)
        s += 1.0L / ((long double)i * i);
    printf("basel %.20Lg\n", s);
    printf("sqrt2 %.20Lg %.17g\n", sqrtl(2.0L), sqrt(2.0));
    return 0;
}
