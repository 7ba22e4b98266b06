/* mprotect over a range with a hole or a mapping it may not change, and the si_code of
   a memory fault (SEGV_ACCERR on a mapped page, SEGV_MAPERR on an unmapped one). Linux
   changes the range VMA by VMA: the pages before the hole (ENOMEM) or the read-only
   shared file mapping (EACCES) are changed, those after are not. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define PG 4096
static sigjmp_buf jb;
static volatile int sig, code;
static volatile unsigned long addr;
static unsigned char *base;
static int base_pages;

static void on_fault(int s, siginfo_t *si, void *uc) {
    (void)uc;
    sig = s; code = si->si_code; addr = (unsigned long)si->si_addr;
    siglongjmp(jb, 1);
}

static void report(const char *what, int faulted) {
    if (!faulted)
        printf("%s: no fault\n", what);
    else if (addr - (unsigned long)base < (unsigned long)base_pages * PG)
        printf("%s: sig %d code %d off %ld\n", what, sig, code,
               (long)(addr - (unsigned long)base));
    else
        printf("%s: sig %d code %d elsewhere\n", what, sig, code);
    fflush(stdout);
}

static void poke(const char *what, unsigned char *p) {
    sig = code = 0;
    if (!sigsetjmp(jb, 1)) { *(volatile unsigned *)p = 5; report(what, 0); }
    else report(what, 1);
}

static void peek(const char *what, unsigned char *p) {
    sig = code = 0;
    if (!sigsetjmp(jb, 1)) { (void)*(volatile unsigned *)p; report(what, 0); }
    else report(what, 1);
}

static void jump(const char *what, unsigned char *p) {
    sig = code = 0;
    if (!sigsetjmp(jb, 1)) { ((void (*)(void))p)(); report(what, 0); }
    else report(what, 1);
}

static void result(const char *what, int r) {
    printf("%s: %d %s\n", what, r, r ? strerror(errno) : "ok");
}

static unsigned char *fresh(int pages) {
    if (base)
        munmap(base, base_pages * PG);
    base_pages = pages;
    base = mmap(0, pages * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    memset(base, 1, pages * PG);
    return base;
}

int main(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_fault;
    sa.sa_flags = SA_SIGINFO | SA_NODEFER;
    sigaction(SIGSEGV, &sa, 0);
    sigaction(SIGBUS, &sa, 0);

    /* a hole in the middle: pages before it become read-only, those after do not */
    unsigned char *m = fresh(64);
    munmap(m + 40 * PG, PG);
    result("mprotect over a hole", mprotect(m, 64 * PG, PROT_READ));
    poke("write page 0", m + 8);
    poke("write page 39", m + 39 * PG + 4);
    poke("write page 40 (hole)", m + 40 * PG);
    poke("write page 41", m + 41 * PG + 12);
    poke("write page 63", m + 63 * PG);

    /* the first page unmapped: nothing changes */
    m = fresh(8);
    munmap(m, PG);
    result("mprotect from a hole", mprotect(m, 8 * PG, PROT_READ));
    poke("write page 1", m + PG);
    poke("write page 7", m + 7 * PG);

    /* a hole at the end: all the mapped pages change */
    m = fresh(8);
    munmap(m + 6 * PG, 2 * PG);
    result("mprotect into a hole", mprotect(m, 8 * PG, PROT_NONE));
    peek("read page 0", m);
    peek("read page 5", m + 5 * PG + 100);

    /* several VMAs before the hole (different protections), all changed */
    m = fresh(8);
    mprotect(m + 2 * PG, PG, PROT_READ);
    mprotect(m + 3 * PG, PG, PROT_NONE);
    munmap(m + 5 * PG, PG);
    result("mprotect over VMAs and a hole", mprotect(m, 8 * PG, PROT_READ | PROT_WRITE));
    poke("write page 2", m + 2 * PG);
    poke("write page 3", m + 3 * PG);
    poke("write page 4", m + 4 * PG);

    /* a read-only MAP_SHARED file page in the middle: EACCES after the pages before */
    int fd = open("mprotect32.data", O_RDWR | O_CREAT | O_TRUNC, 0600);
    if (fd < 0 || write(fd, base, PG) != PG) { perror("data file"); return 1; }
    close(fd);
    fd = open("mprotect32.data", O_RDONLY);
    m = fresh(8);
    mprotect(m, 8 * PG, PROT_READ);
    if (mmap(m + 3 * PG, PG, PROT_READ, MAP_SHARED | MAP_FIXED, fd, 0) == MAP_FAILED)
        perror("mmap shared");
    result("mprotect over a read-only shared file", mprotect(m, 8 * PG, PROT_READ | PROT_WRITE));
    poke("write page 0", m);
    poke("write page 2", m + 2 * PG + 8);
    poke("write page 3 (file)", m + 3 * PG);
    poke("write page 4", m + 4 * PG + 16);
    result("mprotect from the read-only shared file",
           mprotect(m + 3 * PG, 2 * PG, PROT_READ | PROT_WRITE));
    poke("write page 4 again", m + 4 * PG + 16);
    close(fd);
    unlink("mprotect32.data");

    /* si_code of a fault: SEGV_ACCERR on a mapped page, SEGV_MAPERR on an unmapped one */
    m = fresh(6);
    m[5 * PG] = 0xc3;                                       /* ret */
    mprotect(m, PG, PROT_READ);
    mprotect(m + PG, PG, PROT_NONE);
    munmap(m + 2 * PG, PG);
    mprotect(m + 4 * PG, PG, PROT_READ);
    mprotect(m + 5 * PG, PG, PROT_READ | PROT_EXEC);
    poke("write read-only", m + 8);
    peek("read PROT_NONE", m + PG + 12);
    poke("write PROT_NONE", m + PG + 16);
    peek("read unmapped", m + 2 * PG + 20);
    poke("write unmapped", m + 2 * PG + 24);
    poke("write across into read-only", m + 4 * PG - 2);
    jump("call PROT_NONE", m + PG);
    jump("call unmapped", m + 2 * PG);
    jump("call PROT_EXEC", m + 5 * PG);
    poke("write text", (unsigned char *)(void *)&poke);
    return 0;
}
