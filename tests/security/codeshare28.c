/* Session 28: a guest that maps ever new read-only code (tests/security/test_codeshare28.py).
 *   N P R [S]  N times: write a file of P pages of code (page k, at 16: `add eax, imm; jmp`
 *           to page k+1, the last `ret`; every imm new), fork; child i maps the file
 *           read-only + exec at its own fixed address, calls it R times, prints the sum
 *           and exits (odd ones unmap it first). Every child's code is new, in read-only
 *           mapped pages whose translations and bytes pyvm keeps for the run's next
 *           processes (vm/linux/codeshare.py).
 * Then the parent prints a total of what the children should have computed. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#define AT ((void *)0x50000000)

static unsigned char page[4096];

static void put32(unsigned char *p, unsigned v) { memcpy(p, &v, 4); }

static unsigned seed;         /* (a 4th argument: other code for the same i, k) */

static unsigned imm(int i, int k) { return ((unsigned)(i * 64 + k) + seed * 1000003u) * 2654435761u; }

static void write_code(const char *path, int i, int pages) {
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0) { perror("open"); exit(1); }
    for (int k = 0; k < pages; k++) {
        memset(page, 0x90 + (i & 7), sizeof page);     /* nops, varying with i */
        page[16] = 0x05; put32(page + 17, imm(i, k));   /* add eax, imm32 */
        if (k + 1 < pages) {
            page[21] = 0xE9; put32(page + 22, 4096 - 10); /* jmp next page */
        } else {
            page[21] = 0xC3;                            /* ret */
        }
        if (write(fd, page, sizeof page) != sizeof page) { perror("write"); exit(1); }
    }
    close(fd);
}

static unsigned expected(int i, int pages, int reps) {
    unsigned sum = 0;
    for (int r = 0; r < reps; r++) {
        unsigned eax = r;
        for (int k = 0; k < pages; k++) eax += imm(i, k);
        sum += eax;
    }
    return sum;
}

static void child(const char *path, int i, int pages, int reps) {
    int fd = open(path, O_RDONLY);
    void *m = mmap((char *)AT + (size_t)i * pages * 4096, (size_t)pages * 4096, PROT_READ | PROT_EXEC, MAP_PRIVATE | MAP_FIXED,
                   fd, 0);
    if (m == MAP_FAILED) { perror("mmap"); _exit(1); }
    close(fd);
    unsigned sum = 0;
    for (int r = 0; r < reps; r++) {
        unsigned eax;
        __asm__ volatile("call *%1" : "=a"(eax) : "r"((char *)m + 16), "0"(r) : "memory", "cc");
        sum += eax;
    }
    printf("%d: %08x%s\n", i, sum, sum == expected(i, pages, reps) ? "" : " WRONG");
    fflush(stdout);
    if (i & 1)                  /* (odd children exit with it mapped: kept at exit) */
        munmap(m, (size_t)pages * 4096);
    _exit(0);
}

int main(int argc, char **argv) {
    int n = argc > 1 ? atoi(argv[1]) : 10, pages = argc > 2 ? atoi(argv[2]) : 4;
    int reps = argc > 3 ? atoi(argv[3]) : 100;
    seed = argc > 4 ? (unsigned)atoi(argv[4]) : 0;
    const char *path = "code.bin";
    unsigned total = 0;
    for (int i = 0; i < n; i++) {
        write_code(path, i, pages);
        pid_t pid = fork();
        if (pid < 0) { perror("fork"); return 1; }
        if (pid == 0) child(path, i, pages, reps);
        int status;
        if (waitpid(pid, &status, 0) != pid || status != 0) { printf("child %d: %x\n", i, status); return 1; }
        total = total * 31 + expected(i, pages, reps);
    }
    unlink(path);
    printf("total %08x\n", total);
    return 0;
}
