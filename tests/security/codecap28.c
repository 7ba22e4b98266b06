/* Session 28: a guest that makes code without end (tests/security/test_codecap28.py).
 *   a N     N blocks `mov eax, imm32; jmp next` written in an RWX mapping, each run once
 *           (the red team's reproducer: every block is new code to translate)
 *   s N     N blocks `shl dword [buf + 4*i], 3; jmp next`, run once: one displacement
 *           per instruction (the first tier's templates keep some constants)
 *   x N R   N functions `fild dword [src + 4*i]; fimul dword [k]; fistp dword [dst + 4*i];
 *           add eax, i; ret`, each called R times (hot: real blocks, x87 instructions)
 * Each prints what the code computed. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

static unsigned char *code(size_t size) {
    unsigned char *m = mmap(0, size, PROT_READ | PROT_WRITE | PROT_EXEC,
                            MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED) { perror("mmap"); exit(1); }
    return m;
}

static unsigned char *put32(unsigned char *p, unsigned v) { memcpy(p, &v, 4); return p + 4; }

static void straight(int n, int shifts) {
    static unsigned buf[1 << 20];
    unsigned char *m = code((size_t)n * 12 + 16), *p = m;
    for (int i = 0; i < n; i++) {
        unsigned char *start = p;
        if (shifts) {           /* shl dword [buf + 4*(i % 2^20)], 3 */
            buf[i & 0xFFFFF] = i;
            *p++ = 0xC1; *p++ = 0x25; p = put32(p, (unsigned)(size_t)&buf[i & 0xFFFFF]); *p++ = 3;
        } else {                /* mov eax, imm32 */
            *p++ = 0xB8; p = put32(p, i * 2654435761u);
        }
        *p++ = 0xE9; p = put32(p, 0);   /* jmp next */
        p = start + (shifts ? 12 : 10);
    }
    *p = 0xC3;
    unsigned eax = ((unsigned (*)(void))m)();
    unsigned sum = 0;
    for (int i = 0; i < (n < (1 << 20) ? n : 1 << 20); i++) sum = sum * 31 + buf[i];
    if (shifts)
        printf("s %d: %08x\n", n, sum);
    else
        printf("a %d: %08x\n", n, eax);
}

static void x87(int n, int reps) {
    static int src[1 << 16], dst[1 << 16], k = 3;
    unsigned char *m = code((size_t)n * 32), *p = m;
    for (int i = 0; i < n; i++) {
        int j = i & 0xFFFF;
        src[j] = i;
        p = m + (size_t)i * 32;
        *p++ = 0xDB; *p++ = 0x05; p = put32(p, (unsigned)(size_t)&src[j]);   /* fild  */
        *p++ = 0xDA; *p++ = 0x0D; p = put32(p, (unsigned)(size_t)&k);        /* fimul */
        *p++ = 0xDB; *p++ = 0x1D; p = put32(p, (unsigned)(size_t)&dst[j]);   /* fistp */
        *p++ = 0x05; p = put32(p, i);                                       /* add eax */
        *p++ = 0xC3;
    }
    unsigned sum = 0;
    for (int r = 0; r < reps; r++)
        for (int i = 0; i < n; i++) {
            sum += ((unsigned (*)(void))(m + (size_t)i * 32))();
            src[i & 0xFFFF] += dst[i & 0xFFFF] & 7;
        }
    for (int i = 0; i < (n < (1 << 16) ? n : 1 << 16); i++) sum = sum * 31 + dst[i];
    printf("x %d %d: %08x\n", n, reps, sum);
}

int main(int argc, char **argv) {
    for (int i = 1; i + 1 < argc; i += 2) {
        int n = atoi(argv[i + 1]);
        if (argv[i][0] == 'x') { x87(n, atoi(argv[i + 2])); i++; }
        else straight(n, argv[i][0] == 's');
    }
    return 0;
}
