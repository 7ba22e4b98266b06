/* setjmp/longjmp across frames, and nested jumps. */
#include <stdio.h>
#include <setjmp.h>

static jmp_buf env;
static int depth;

static void dive(int n)
{
    volatile char pad[64];
    pad[0] = (char)n;
    depth = n;
    if (n == 0)
        longjmp(env, 42);
    dive(n - 1);
    printf("not reached %d\n", pad[0]);
}

static int tries(void)
{
    jmp_buf inner;
    volatile int count = 0;
    if (setjmp(inner) < 5) {
        count++;
        longjmp(inner, count);
    }
    return count;
}

int main(void)
{
    volatile int local = 1;
    int r = setjmp(env);
    if (r == 0) {
        local = 2;
        dive(50);
    }
    printf("setjmp returned %d, depth %d, local %d\n", r, depth, local);
    printf("inner loop ran %d times\n", tries());
    return 0;
}
