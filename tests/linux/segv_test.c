/* A write through a NULL pointer: SIGSEGV (status 139 from a shell). */
#include <stdio.h>

int main(int argc, char **argv)
{
    volatile int *p = (int *)(argc - 1);
    printf("before the fault\n");
    fflush(stdout);
    *p = 42;
    printf("not reached\n");
    return 0;
}
