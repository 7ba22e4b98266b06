/* printf/sprintf of numbers: integers, hex, padded fields, doubles. */
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv)
{
    int n = argc > 1 ? atoi(argv[1]) : 20000;
    char buf[128];
    unsigned long long total = 0, chk = 0;
    unsigned s = 99;
    for (int i = 0; i < n; i++) {
        s = s * 1103515245u + 12345u;
        int len = sprintf(buf, "%d %u %x %08X %-6d|%+.3f %lld", (int)s, s >> 3, s, s ^ 0xabcdef,
                          i, (double)(int)(s >> 12) / 1000.0, (long long)s * 1000003LL);
        total += len;
        for (int k = 0; k < len; k++)
            chk = chk * 131 + (unsigned char)buf[k];
        if (i % 2000 == 0)
            puts(buf);
    }
    printf("printf %d: %llu chars, checksum %llu\n", n, total, chk);
    return 0;
}
