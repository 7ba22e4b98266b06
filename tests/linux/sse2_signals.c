/* A signal (SIGTRAP from int3) interrupts SSE arithmetic whose values live in XMM
 * registers across the int3; the handler clobbers every XMM register. The kernel saves
 * and restores the SSE state around a handler, so the result is as without signals. */
#include <signal.h>
#include <stdio.h>

static volatile int ticks;

static void handler(int sig)
{
    (void)sig;
    __asm__ volatile("xorps %%xmm0, %%xmm0\n\txorps %%xmm1, %%xmm1\n\t"
                     "xorps %%xmm2, %%xmm2\n\txorps %%xmm3, %%xmm3\n\t"
                     "xorps %%xmm4, %%xmm4\n\txorps %%xmm5, %%xmm5\n\t"
                     "xorps %%xmm6, %%xmm6\n\txorps %%xmm7, %%xmm7" ::: "xmm0", "xmm1",
                     "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7");
    ticks++;
}

int main(void)
{
    struct sigaction sa = {0};
    sa.sa_handler = handler;
    sigaction(SIGTRAP, &sa, 0);
    double a = 1.0, b = 0.5, c = 0.0;
    for (int i = 0; i < 300000; i++) {
        a = a * 1.0000001 + b;
        b = b * 0.9999999 - 1e-9;
        c += a * b;
        if ((i & 4095) == 0)
            __asm__ volatile("int3");   /* a, b, c stay in XMM registers across it */
    }
    printf("%.17g %.17g %.17g\n", a, b, c);
    printf("signals: %d\n", ticks);
    return 0;
}
