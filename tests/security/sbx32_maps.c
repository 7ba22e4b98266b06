/* Sandbox round 32: a file's mapped pages and its other views are one object.
   Modes (argv[1]): roshared, many, regrow, trunc, append. */
#define _GNU_SOURCE
#include <stdio.h>
#include <string.h>
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <setjmp.h>
#include <signal.h>

static int fresh(const char *name, const char *text, int size) {
    int fd = open(name, O_RDWR | O_CREAT | O_TRUNC, 0600);
    if (size)
        ftruncate(fd, size);
    pwrite(fd, text, strlen(text), 0);
    return fd;
}

/* MAP_SHARED of a read-only descriptor shows later writes by this process and another */
static void roshared(void) {
    int w = fresh("ro.bin", "hello world", 0);
    int r = open("ro.bin", O_RDONLY);
    char *p = mmap(0, 4096, PROT_READ, MAP_SHARED, r, 0);
    char *q = mmap(0, 4096, PROT_READ, MAP_SHARED, r, 0);
    printf("first: %.11s\n", p);
    pwrite(w, "J", 1, 0);
    printf("after pwrite: %.11s / %.11s\n", p, q);
    lseek(w, 6, SEEK_SET);
    write(w, "W", 1);
    printf("after write: %.11s\n", p);
    if (fork() == 0) {
        int c = open("ro.bin", O_WRONLY);
        pwrite(c, "Y", 1, 10);
        _exit(0);
    }
    wait(0);
    printf("after child's pwrite: %.11s\n", p);
    printf("mprotect write: %s\n", mprotect(p, 4096, PROT_READ | PROT_WRITE) ? strerror(errno) : "ok");
    unlink("ro.bin");
}

/* many MAP_SHARED mappings of one writable file under a low descriptor limit */
static void many(void) {
    int fd = fresh("many.bin", "abc", 4096);
    int ok = 0, err = 0;
    for (int i = 0; i < 300; i++) {
        char *p = mmap(0, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        if (p == MAP_FAILED) {
            err = errno;
            break;
        }
        p[3 + i % 100] = 'x';
        ok++;
    }
    printf("mapped %d (%s)\n", ok, err ? strerror(err) : "no error");
    int more = open("many.bin", O_RDONLY);
    printf("open after: %s\n", more >= 0 ? "ok" : strerror(errno));
    unlink("many.bin");
}

/* mremap growing a private mapping after the file's name went to another file */
static void regrow(void) {
    int fd = fresh("old.bin", "", 8192);
    pwrite(fd, "OLD-1", 5, 0);
    pwrite(fd, "OLD-2", 5, 4096);
    char *p = mmap(0, 4096, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    int n = fresh("new.bin", "", 8192);
    pwrite(n, "NEW-1", 5, 0);
    pwrite(n, "NEW-2", 5, 4096);
    close(n);
    rename("new.bin", "old.bin");
    char *g = mremap(p, 4096, 8192, MREMAP_MAYMOVE);
    printf("grown: %.5s %.5s\n", g, g + 4096);
    unlink("old.bin");
}

/* ftruncate reaches the mapped pages: what is cut reads zero when the file grows back */
static void cut(void) {
    int fd = fresh("trunc.bin", "", 8192);
    char *p = mmap(0, 8192, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    memset(p, 'a', 8192);
    ftruncate(fd, 100);
    ftruncate(fd, 8192);
    int z = 0;
    for (int i = 100; i < 8192; i++)
        z += p[i] == 0;
    printf("after cut and regrow: %c%c, %d zero bytes\n", p[0], p[99], z);
    char buf[8] = {0};
    pread(fd, buf, 4, 4096);
    printf("file at 4096: %d %d\n", buf[0], buf[3]);
    unlink("trunc.bin");
}

/* an O_APPEND descriptor's pwrite appends: a mapping of the end shows it */
static void append(void) {
    int fd = fresh("app.bin", "", 5000);
    char *p = mmap(0, 8192, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    int a = open("app.bin", O_WRONLY | O_APPEND);
    pwrite(a, "XY", 2, 0);
    printf("after append: [%c%c] [%d]\n", p[5000], p[5001], p[0]);
    p[5002] = 'Z';
    char buf[4] = {0};
    pread(fd, buf, 3, 5000);
    printf("file end: %.3s\n", buf);
    unlink("app.bin");
}

/* one file page mapped twice in one process: a store through one shows in the other */
static void alias(void) {
    int fd = fresh("alias.bin", "", 8192);
    char *a = mmap(0, 8192, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    char *b = mmap(0, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 4096);
    a[4096] = 'x';
    b[1] = 'y';
    printf("b sees a: %c, a sees b: %c\n", b[0], a[4097]);
    int src = fresh("src.txt", "RDX", 0);
    read(src, b + 2, 3);
    printf("read into b, a shows: %.3s\n", a + 4098);
    memcpy(a + 4100, "MEMCPY", 6);
    printf("b after memcpy: %.6s\n", b + 4);
    if (fork() == 0) {
        a[4096 + 20] = 'c';
        printf("child's b: %c\n", b[20]);
        _exit(0);
    }
    wait(0);
    printf("parent's a and b: %c %c\n", a[4096 + 20], b[20]);
    char *m = mremap(b, 4096, 8192, MREMAP_MAYMOVE);
    a[4096 + 30] = 'm';
    printf("moved b: %c\n", m[30]);
    munmap(a, 8192);
    m[40] = 'u';
    char buf[4] = {0};
    pread(fd, buf, 1, 4096 + 40);
    printf("after munmap of a: %c\n", buf[0]);
    unlink("alias.bin");
    unlink("src.txt");
}

/* 20000 MAP_SHARED mappings of one file page: each store shows in all of them */
static void crowd(void) {
    int fd = fresh("crowd.bin", "", 4096);
    static char *p[20000];
    for (int i = 0; i < 20000; i++)
        p[i] = mmap(0, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    p[0][0] = 'A';
    p[19999][1] = 'Z';
    printf("%c%c %c%c\n", p[19999][0], p[19999][1], p[0][0], p[0][1]);
    unlink("crowd.bin");
}

static int map_lines(void) {
    static char buf[1 << 16];
    int fd = open("/proc/self/maps", O_RDONLY), n = 0;
    long got;
    while ((got = read(fd, buf, sizeof buf)) > 0)
        for (long i = 0; i < got; i++)
            n += buf[i] == '\n';
    close(fd);
    return n;
}

/* vm.max_map_count's edges: where mmap stops, and a split at exactly the limit */
static void edge(void) {
    char *three = mmap(0, 3 * 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    int made = 0;
    for (;; made++) {
        int prot = made & 1 ? PROT_READ : PROT_READ | PROT_WRITE;
        if (mmap(0, 4096, prot, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0) == MAP_FAILED)
            break;
    }
    int lines = map_lines();
    printf("mmap stops with %d VMAs: %s\n", lines, strerror(errno));
    /* one more through a split of the middle page (a munmap hole: +1) */
    printf("munmap middle: %s\n", munmap(three + 4096, 4096) ? strerror(errno) : "ok");
    printf("mprotect middle: %s\n", mprotect(three + 4096, 4096, PROT_NONE) ? strerror(errno) : "ok");
    printf("mprotect end: %s\n", mprotect(three + 8192, 4096, PROT_NONE) ? strerror(errno) : "ok");
    printf("munmap end: %s\n", munmap(three + 8192, 4096) ? strerror(errno) : "ok");
    printf("VMAs then: %d\n", map_lines() - lines);
}

static sigjmp_buf back;
static volatile int caught_sig, caught_code;

static void on_fault(int sig, siginfo_t *si, void *ctx) {
    (void)ctx;
    caught_sig = sig;
    caught_code = si->si_code;
    siglongjmp(back, 1);
}

static void probe(const char *what, volatile char *at, int store) {
    caught_sig = 0;
    if (!sigsetjmp(back, 1)) {
        if (store)
            *at = 'S';
        else
            (void)*at;
        printf("%s: ok\n", what);
    } else {
        printf("%s: signal %d code %d\n", what, caught_sig, caught_code);
    }
}

/* a MAP_SHARED page wholly past the file's end: SIGBUS, until the file grows over it */
static void bus(void) {
    struct sigaction sa = {0};
    sa.sa_sigaction = on_fault;
    sa.sa_flags = SA_SIGINFO;
    sigaction(SIGBUS, &sa, 0);
    sigaction(SIGSEGV, &sa, 0);
    int fd = fresh("bus.bin", "", 5000);
    char *p = mmap(0, 3 * 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    probe("load in the last page", p + 6000, 0);
    probe("load past the end", p + 8192, 0);
    probe("store past the end", p + 8200, 1);
    ftruncate(fd, 3 * 4096);
    probe("load after growth", p + 8192, 0);
    ftruncate(fd, 100);
    probe("load after the cut", p + 4096, 0);
    pwrite(fd, "w", 1, 9000);
    probe("load after a write past the end", p + 4096, 0);
    ftruncate(fd, 100);
    mprotect(p, 3 * 4096, PROT_READ);
    probe("load after mprotect", p + 8192, 0);
    if (fork() == 0) {
        probe("child's load", p + 8192, 0);
        _exit(0);
    }
    wait(0);
    char *q = mremap(p, 3 * 4096, 4 * 4096, MREMAP_MAYMOVE);
    probe("load after mremap", q + 8192, 0);
    probe("load of the first page", q, 0);
    unlink("bus.bin");
}

int main(int argc, char **argv) {
    setvbuf(stdout, 0, _IONBF, 0);
    const char *m = argc > 1 ? argv[1] : "";
    if (!strcmp(m, "roshared")) roshared();
    else if (!strcmp(m, "many")) many();
    else if (!strcmp(m, "regrow")) regrow();
    else if (!strcmp(m, "trunc")) cut();
    else if (!strcmp(m, "append")) append();
    else if (!strcmp(m, "alias")) alias();
    else if (!strcmp(m, "crowd")) crowd();
    else if (!strcmp(m, "edge")) edge();
    else if (!strcmp(m, "bus")) bus();
    else return 2;
    return 0;
}
