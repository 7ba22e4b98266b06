/* A position-independent program (gcc -m32 -pie): pyvm --debug places it at its own
   load bias; breakpoints by name, backtraces and `info symbol` use it, as gdb does. */
#include <stdio.h>

int square(int x) {
    return x * x;
}

int main(void) {
    printf("%d\n", square(7));
    return 0;
}
