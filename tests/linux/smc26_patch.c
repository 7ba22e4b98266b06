/* Self-modifying code inside one straight-line run (tests/test_x86_smc26.py): each
   function below is copied to an RWX page and called many times (so an emulator
   translates it as a hot block); an instruction in it writes an instruction further
   down, with no jump between. The CPU runs the new instruction. Prints one line per
   kind: the sum of the results. */
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>

typedef unsigned (*fn_t)(void);

static unsigned char *page;

static void put32(unsigned char *p, unsigned v) { memcpy(p, &v, 4); }

/* mov eax, 1 / mov byte [patch + 1], 7 / patch: mov ebx, 5 / add eax, ebx / ret */
static unsigned store(unsigned i) {
    static const unsigned char t[] = {0xb8, 1, 0, 0, 0, 0xc6, 0x05, 0, 0, 0, 0, 7,
                                      0xbb, 5, 0, 0, 0, 0x01, 0xd8, 0xc3};
    memcpy(page, t, sizeof t);
    page[11] = (unsigned char)(i & 0x3f);
    put32(page + 7, (unsigned)(page + 13));
    return ((fn_t)page)();
}

/* mov eax, 1 / add byte [patch + 1], 3 / patch: mov ebx, 5 / add eax, ebx / ret */
static unsigned rmw(unsigned i) {
    static const unsigned char t[] = {0xb8, 1, 0, 0, 0, 0x80, 0x05, 0, 0, 0, 0, 3,
                                      0xbb, 5, 0, 0, 0, 0x01, 0xd8, 0xc3};
    memcpy(page, t, sizeof t);
    page[13] = (unsigned char)i;
    put32(page + 7, (unsigned)(page + 13));
    return ((fn_t)page)();
}

/* push edi / xor eax, eax / mov edi, patch / mov ecx, 5 or 0 / mov al, 0x90 / rep stosb /
   patch: mov eax, i / pop edi / ret: five NOPs over the mov leave eax = 0x90 */
static unsigned stos(unsigned i) {
    static const unsigned char t[] = {0x57, 0x31, 0xc0, 0xbf, 0, 0, 0, 0, 0xb9, 5, 0, 0, 0,
                                      0xb0, 0x90, 0xf3, 0xaa,
                                      0xb8, 0, 0, 0, 0, 0x5f, 0xc3};
    memcpy(page, t, sizeof t);
    put32(page + 4, (unsigned)(page + 17));
    page[9] = (unsigned char)(i & 1 ? 5 : 0);
    put32(page + 18, i);
    return ((fn_t)page)();
}

/* mov byte [patch], 0x40 / patch: nop / ret  (0x40: inc eax), eax = i on entry */
static unsigned nop(unsigned i) {
    static const unsigned char t[] = {0xc6, 0x05, 0, 0, 0, 0, 0x40, 0x90, 0x89, 0xc0, 0xc3};
    unsigned r;
    memcpy(page, t, sizeof t);
    put32(page + 2, (unsigned)(page + 7));
    __asm__ volatile("call *%1" : "=a"(r) : "r"(page), "0"(i) : "memory", "cc");
    return r;
}

/* loop 5 times: patch: add byte [patch + 6], imm8 (its own immediate: doubles it) /
   dec ecx / jnz patch; then eax = the byte */
static unsigned own(unsigned i) {
    static const unsigned char t[] = {0x51, 0xb9, 5, 0, 0, 0,
                                      0x80, 0x05, 0, 0, 0, 0, 1,
                                      0x49, 0x75, 0xf6,
                                      0x0f, 0xb6, 0x05, 0, 0, 0, 0, 0x59, 0xc3};
    memcpy(page, t, sizeof t);
    page[12] = (unsigned char)(1 + i % 3);
    put32(page + 8, (unsigned)(page + 12));
    put32(page + 19, (unsigned)(page + 12));
    return ((fn_t)page)();
}

int main(void) {
    page = mmap(0, 4096, PROT_READ | PROT_WRITE | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS,
                -1, 0);
    if (page == MAP_FAILED)
        return 1;
    static const struct { const char *name; unsigned (*f)(unsigned); } kinds[] = {
        {"store", store}, {"rmw", rmw}, {"stos", stos}, {"nop", nop}, {"own", own}};
    for (unsigned k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
        unsigned sum = 0, first = 0;
        for (unsigned i = 0; i < 400; i++) {
            unsigned r = kinds[k].f(i);
            sum = sum * 31 + r;
            if (i == 0)
                first = r;
        }
        printf("%s %u %08x\n", kinds[k].name, first, sum);
    }
    return 0;
}
