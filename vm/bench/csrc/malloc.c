/* malloc/free churn: a pool of live blocks of random sizes, replaced at random. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SLOTS 512

int main(int argc, char **argv)
{
    int n = argc > 1 ? atoi(argv[1]) : 60000;
    char *slot[SLOTS] = {0};
    size_t size[SLOTS] = {0};
    unsigned s = 1, sum = 0;
    for (int i = 0; i < n; i++) {
        s = s * 1664525u + 1013904223u;
        int k = (s >> 10) % SLOTS;
        if (slot[k]) {
            sum += (unsigned char)slot[k][size[k] - 1];
            free(slot[k]);
        }
        size_t sz = 1 + ((s >> 4) % ((s & 0x10000) ? 4096 : 64));
        slot[k] = malloc(sz);
        memset(slot[k], (int)(i & 0xff), sz);
        size[k] = sz;
        if ((i & 1023) == 0) {
            int j = (s >> 20) % SLOTS;
            if (slot[j]) {
                size_t nsz = size[j] * 2 + 1;
                slot[j] = realloc(slot[j], nsz);
                memset(slot[j], 7, nsz);
                size[j] = nsz;
            }
        }
    }
    for (int k = 0; k < SLOTS; k++)
        free(slot[k]);
    printf("malloc %d: checksum %u\n", n, sum);
    return 0;
}
