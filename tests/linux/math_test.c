/* libm: elementary functions in double and long double precision. */
#include <stdio.h>
#include <math.h>

int main(void)
{
    double xs[] = {0.0, 0.5, 1.0, 2.0, 3.14159, 10.0, -1.5, 100.25, 1e-5};
    for (unsigned i = 0; i < sizeof xs / sizeof xs[0]; i++) {
        double x = xs[i];
        printf("x=%g sin=%.17g cos=%.17g tan=%.17g exp=%.17g\n", x, sin(x), cos(x), tan(x),
               exp(x));
        printf("  atan=%.17g sinh=%.17g tanh=%.17g cbrt=%.17g\n", atan(x), sinh(x), tanh(x),
               cbrt(x));
        if (x > 0)
            printf("  log=%.17g log10=%.17g log2=%.17g sqrt=%.17g\n", log(x), log10(x),
                   log2(x), sqrt(x));
        printf("  pow=%.17g fmod=%.17g atan2=%.17g hypot=%.17g\n", pow(x, 1.7),
               fmod(x * 7.3, 2.1), atan2(x, 1.3), hypot(x, 3.0));
        printf("  floor=%g ceil=%g round=%g trunc=%g rint=%g\n", floor(x * 3.3), ceil(x * 3.3),
               round(x * 3.3), trunc(x * 3.3), rint(x * 3.3));
    }
    long double lx = 0.7L;
    printf("sinl=%.20Lg cosl=%.20Lg expl=%.20Lg logl=%.20Lg sqrtl=%.20Lg powl=%.20Lg\n",
           sinl(lx), cosl(lx), expl(lx), logl(lx), sqrtl(lx), powl(lx, 2.5L));
    printf("asin=%.17g acos=%.17g frexp-ish=%.17g ldexp=%.17g\n", asin(0.3), acos(0.3),
           modf(12.375, &xs[0]), ldexp(0.75, 10));
    printf("fabs=%g copysign=%g nan=%d inf=%d finite=%d\n", fabs(-2.5), copysign(3.0, -0.0),
           isnan(NAN), isinf(-INFINITY), isfinite(1.0));
    printf("erf=%.17g lgamma=%.17g tgamma=%.17g\n", erf(0.5), lgamma(4.5), tgamma(4.5));
    int e;
    double m = frexp(1000.0, &e);
    printf("frexp %g %d\n", m, e);
    return 0;
}
