/* Faults around the SIMD state: LDMXCSR and FXRSTOR of a reserved MXCSR bit (#GP:
 * SIGSEGV), an MMX instruction with an unmasked x87 exception pending (#MF: SIGFPE). */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

static uint8_t area[512] __attribute__((aligned(16)));

int main(int argc, char **argv) {
    const char *what = argc > 1 ? argv[1] : "";
    printf("%s\n", what);
    fflush(stdout);
    if (!strcmp(what, "ldmxcsr")) {
        uint32_t v = 0x11f80;
        __asm__ volatile("ldmxcsr %0" : : "m"(v));
    } else if (!strcmp(what, "fxrstor")) {
        __asm__ volatile("fxsave %0" : "=m"(area));
        uint32_t v = 0x41f80;
        memcpy(area + 24, &v, 4);
        __asm__ volatile("fxrstor %0" : : "m"(area));
    } else if (!strcmp(what, "mmx")) {
        uint16_t cw = 0x037b;                   /* divide by zero unmasked */
        volatile float zero = 0.0f;
        __asm__ volatile("fldcw %0\n\tfld1\n\tfdivs %1\n\t"    /* pending, not raised */
                         "movq %%mm1, %%mm0\n\temms" : : "m"(cw), "m"(zero));
    }
    printf("survived\n");
    return 0;
}
