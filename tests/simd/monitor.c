/* MONITOR (no argument) or MWAIT (an argument) at CPL 3: #UD, SIGILL, as Linux leaves them. */
#include <stdio.h>
int main(int argc, char **argv) {
    (void)argv;
    printf("before\n");
    fflush(stdout);
    if (argc > 1)
        __asm__ volatile(".byte 0x0f,0x01,0xc9" : : "a"(0), "c"(0));   /* mwait */
    else
        __asm__ volatile(".byte 0x0f,0x01,0xc8" : : "a"(&argc), "c"(0), "d"(0));   /* monitor */
    printf("after\n");
    return 0;
}
