/* malloc(SIZE MiB) (argument, default 1024), touch its first, middle and last bytes. */
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv) {
    size_t mib = argc > 1 ? strtoul(argv[1], NULL, 0) : 1024;
    size_t size = mib << 20;
    volatile char *p = malloc(size);
    if (!p) {
        printf("malloc(%zu MiB) returned NULL\n", mib);
        return 2;
    }
    p[0] = 1;
    p[size / 2] = 2;
    p[size - 1] = 3;
    printf("malloc(%zu MiB) OK: %d\n", mib, p[0] + p[size / 2] + p[size - 1]);
    free((void *)p);
    return 0;
}
