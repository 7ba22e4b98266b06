/* linux33b: RLIMIT_STACK above 8 MiB (or unlimited) set before an exec lets the new
   program's stack grow that far (run natively: the oracle).
   argv[1]: the limit in MiB (0: unlimited), argv[2]: MiB of stack to use after the
   exec. */
#include <alloca.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>
static int deep(int left) {
    volatile char *p = alloca(1 << 20);         /* 1 MiB a level, every page touched */
    for (int i = 0; i < (1 << 20); i += 4096)
        p[i] = (char)left;
    return left ? deep(left - 1) + 1 + p[0] - (char)left : 0;
}
int main(int argc, char **argv) {
    setvbuf(stdout, 0, _IONBF, 0);
    if (argc == 3) {
        struct rlimit r;
        long mib = atol(argv[1]);
        r.rlim_cur = mib ? (rlim_t)mib << 20 : RLIM_INFINITY;
        r.rlim_max = RLIM_INFINITY;
        printf("setrlimit %d\n", setrlimit(RLIMIT_STACK, &r));
        execl("/proc/self/exe", argv[0], argv[2], (char *)0);
        return 2;
    }
    struct rlimit r;
    getrlimit(RLIMIT_STACK, &r);
    printf("limit %ld MiB\n", r.rlim_cur == RLIM_INFINITY ? -1L : (long)(r.rlim_cur >> 20));
    int n = atoi(argv[1]);
    printf("used %d MiB: %d\n", n, deep(n - 1));
    return 0;
}
