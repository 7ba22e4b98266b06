/* From the review of the "mapped file pages one object" change (sbx32): the signal of
   an access past a shared mapping's file end that the page's protection refuses, many
   read-only MAP_SHARED / MAP_PRIVATE mappings under a low descriptor limit, writes to a
   file with many mappings past its end, ioctl on an O_PATH descriptor, mprotect's
   EACCES order. Run natively and under pyvm; the outputs are compared. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#define PG 4096
static sigjmp_buf jb;
static volatile int got, code;

static void on_fault(int s, siginfo_t *si, void *uc) {
    (void)uc;
    got = s; code = si->si_code;
    siglongjmp(jb, 1);
}

static void catch_faults(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_fault;
    sa.sa_flags = SA_SIGINFO | SA_NODEFER;
    sigaction(SIGBUS, &sa, 0);
    sigaction(SIGSEGV, &sa, 0);
}

static void poke(const char *what, volatile char *p) {
    got = code = 0;
    if (!sigsetjmp(jb, 1)) *p = 1;
    printf("%s: signal %d code %d\n", what, got, code);
}

static void peek(const char *what, volatile char *p) {
    got = code = 0;
    if (!sigsetjmp(jb, 1)) (void)*p;
    printf("%s: signal %d code %d\n", what, got, code);
}

/* the page's protection is checked before the file's end: SIGSEGV, then SIGBUS */
static void past_end(void) {
    catch_faults();
    int fd = open("f", O_RDWR | O_CREAT | O_TRUNC, 0644);
    write(fd, "x", 1);
    char *a = mmap(0, 2 * PG, PROT_READ, MAP_SHARED, fd, 0);
    poke("store to PROT_READ page past EOF", a + PG);
    peek("load from PROT_READ page past EOF", a + PG);
    mprotect(a, 2 * PG, PROT_NONE);
    peek("load from PROT_NONE page past EOF", a + PG);
    poke("store to PROT_NONE page past EOF", a + PG);
    mprotect(a, 2 * PG, PROT_READ | PROT_WRITE);
    poke("store to PROT_WRITE page past EOF", a + PG);
}

/* n files mapped (read-only MAP_SHARED, or MAP_PRIVATE) and closed, then open() */
static void many_files(int shared, int n) {
    char name[32], *first = 0, *last = 0;
    int i, k = 0;
    for (i = 0; i < n; i++) {
        sprintf(name, "m%d", i);
        int fd = open(name, O_RDWR | O_CREAT | O_TRUNC, 0644);
        ftruncate(fd, PG);
        close(fd);
        fd = open(name, O_RDONLY);
        char *p = mmap(0, PG, PROT_READ, shared ? MAP_SHARED : MAP_PRIVATE, fd, 0);
        if (p == MAP_FAILED) {
            printf("mmap %d: %s\n", i, strerror(errno));
            return;
        }
        close(fd);
        if (!first) first = p;
        last = p;
    }
    printf("mapped %d\n", n);
    printf("mprotect first: %s\n", mprotect(first, PG, PROT_READ | PROT_WRITE) ? strerror(errno) : "ok");
    printf("mprotect last: %s\n", mprotect(last, PG, PROT_READ | PROT_WRITE) ? strerror(errno) : "ok");
    for (;;) {
        sprintf(name, "o%d", k);
        if (open(name, O_RDWR | O_CREAT, 0644) < 0) break;
        k++;
    }
    fprintf(stderr, "opened %d\n", k);
}

/* n mappings of a one-page file's second page (all past its end), k writes inside the
   file, then one growing it over them */
static void writes(int n, int k) {
    catch_faults();
    int fd = open("f", O_RDWR | O_CREAT | O_TRUNC, 0644), i;
    char **m = malloc(n * sizeof *m);
    ftruncate(fd, PG);
    for (i = 0; i < n; i++)
        m[i] = mmap(0, PG, PROT_READ, MAP_SHARED, fd, PG);
    for (i = 0; i < k; i++)
        pwrite(fd, "y", 1, i % 100);
    peek("before growing", m[n - 1]);
    pwrite(fd, "z", 1, 2 * PG - 1);
    printf("after growing: %d %d\n", m[0][PG - 1], m[n - 1][PG - 1]);
}

static void result(const char *what, int r) {
    printf("%s: %d %s\n", what, r, r < 0 ? strerror(errno) : "");
    errno = 0;
}

static void o_path(void) {
    int fd = open(".", O_PATH), on = 1, n;
    result("FIONBIO", ioctl(fd, FIONBIO, &on));
    result("FIOCLEX", ioctl(fd, FIOCLEX));
    result("FIONCLEX", ioctl(fd, FIONCLEX));
    result("FIONREAD", ioctl(fd, FIONREAD, &n));
    result("O_NONBLOCK", !!(fcntl(fd, F_GETFL) & O_NONBLOCK));
    result("FD_CLOEXEC", fcntl(fd, F_GETFD));
    int f = open("f", O_RDWR | O_CREAT, 0644);
    result("file FIONBIO", ioctl(f, FIONBIO, &on));
    result("file O_NONBLOCK", !!(fcntl(f, F_GETFL) & O_NONBLOCK));
}

/* mprotect PROT_WRITE over [anonymous read-only page, read-only MAP_SHARED page] */
static void protect(void) {
    catch_faults();
    int fd = open("f", O_RDWR | O_CREAT | O_TRUNC, 0644);
    ftruncate(fd, PG);
    close(fd);
    fd = open("f", O_RDONLY);
    char *base = mmap(0, 3 * PG, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    munmap(base, 3 * PG);
    char *a = mmap(base, PG, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
    mmap(base + PG, PG, PROT_READ, MAP_SHARED | MAP_FIXED, fd, 0);
    int x = mprotect(a, 2 * PG, PROT_READ | PROT_WRITE);
    printf("anonymous + read-only shared: %d %s\n", x, x ? strerror(errno) : "");
    poke("store to the first page", a);
    poke("store to the shared page", a + PG);
    munmap(a, PG);
    x = mprotect(a, 2 * PG, PROT_READ | PROT_WRITE);
    printf("hole + read-only shared: %d %s\n", x, x ? strerror(errno) : "");
}

int main(int argc, char **argv) {
    setvbuf(stdout, 0, _IONBF, 0);
    const char *t = argc > 1 ? argv[1] : "";
    if (!strcmp(t, "pastend")) past_end();
    else if (!strcmp(t, "roshared")) many_files(1, atoi(argv[2]));
    else if (!strcmp(t, "private")) many_files(0, atoi(argv[2]));
    else if (!strcmp(t, "writes")) writes(atoi(argv[2]), atoi(argv[3]));
    else if (!strcmp(t, "opath")) o_path();
    else if (!strcmp(t, "protect")) protect();
    else return 2;
    return 0;
}
