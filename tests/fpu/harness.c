/* x87 oracle: runs generated x87 snippets on the real CPU and dumps the FPU state.
 *
 * Usage: harness CODE.bin < cases > results
 * CODE.bin is a flat 32-bit binary (nasm -f bin) holding the case functions.
 * Output header: four little-endian u32 addresses: code, state_in, buf, out.
 * Each case on stdin: u32 entry offset, 112-byte input (frstor image + EFLAGS), BUF bytes.
 * Each result: u32 fault (SIGFPE raised), 116-byte output (fnsave image, EFLAGS, EAX),
 * then the BUF bytes after the snippet ran.
 * `harness --cpuid7` prints CPUID.(EAX=7,ECX=0):EBX, which says which x87 pointers the
 * part records.
 */
#include <cpuid.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#define BUF 1024
typedef void (*case_fn)(const void *state_in, void *buf, void *out);

static unsigned char buf[BUF] __attribute__((aligned(64)));
static unsigned char state_in[112] __attribute__((aligned(16)));
static unsigned char out[116] __attribute__((aligned(16)));
static sigjmp_buf jb;

static void on_fpe(int sig) { (void)sig; siglongjmp(jb, 1); }

int main(int argc, char **argv) {
    if (argc != 2) return 2;
    if (strcmp(argv[1], "--cpuid7") == 0) {
        unsigned a = 0, b = 0, c = 0, d = 0;
        if (__get_cpuid_max(0, 0) >= 7) __cpuid_count(7, 0, a, b, c, d);
        printf("%u\n", b);
        return 0;
    }
    FILE *f = fopen(argv[1], "rb");
    if (!f) return 2;
    static unsigned char blob[1 << 22];
    size_t n = fread(blob, 1, sizeof blob, f);
    fclose(f);
    unsigned char *code = mmap(NULL, n + 4096, PROT_READ | PROT_WRITE | PROT_EXEC,
                               MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (code == MAP_FAILED) return 3;
    memcpy(code, blob, n);
    signal(SIGFPE, on_fpe);
    uint32_t hdr[4] = {(uint32_t)(uintptr_t)code, (uint32_t)(uintptr_t)state_in,
                       (uint32_t)(uintptr_t)buf, (uint32_t)(uintptr_t)out};
    fwrite(hdr, 4, 4, stdout);
    uint32_t entry;
    while (fread(&entry, 4, 1, stdin) == 1) {
        if (fread(state_in, 1, 112, stdin) != 112 || fread(buf, 1, BUF, stdin) != BUF) return 4;
        memset(out, 0, sizeof out);
        volatile uint32_t fault = 0;
        if (sigsetjmp(jb, 1) == 0) {
            ((case_fn)(code + entry))(state_in, buf, out);
        } else {
            fault = 1;
            __asm__ volatile("fninit");
        }
        uint32_t fl = fault;
        fwrite(&fl, 4, 1, stdout);
        fwrite(out, 1, 116, stdout);
        fwrite(buf, 1, BUF, stdout);
    }
    return 0;
}
