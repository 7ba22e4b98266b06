/* A hostile guest calling system calls at random (tests/security/test_redteam28.py):
   SEED N [SKIP,...] makes N calls, each a number below 450 (one in 16 any 32-bit
   value) with six arguments drawn from values that break careless handlers: 0, -1,
   2^31, page and space boundaries, pointers into a buffer of random bytes and near its
   end, paths of /proc and /dev, small descriptors, AT_FDCWD. A timer interrupts calls
   that block, and a fault in the guest is caught and the run goes on. pyvm must end
   every run with the guest's own status: never an internal error. */
#define _GNU_SOURCE
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>
#include <setjmp.h>
static sigjmp_buf jb;
static void segv(int s) { (void)s; siglongjmp(jb, 1); }

static unsigned long long st;
static unsigned rnd(void) { st = st * 6364136223846793005ULL + 1442695040888963407ULL; return st >> 33; }
static char buf[1 << 16] __attribute__((aligned(4096)));
static const char *paths[] = {"/proc/self/fd/0", "/tmp", ".", "/proc/self/root", "", "/proc/self/maps",
    "x", "/proc/self/fd/", "/proc/thread-self", "/proc/self/cwd", "/proc/1/fd/3", "/dev/fd/1",
    "/proc/self/environ", "/proc", "/proc/self/task", "..", "/", "/proc/self/exe", "y/z", "/dev/zero"};
static long raw(long nr, long a, long b, long c, long d, long e, long f) {
    long r;
    __asm__ volatile("push %%ebp\n\tmov %7, %%ebp\n\tint $0x80\n\tpop %%ebp"
        : "=a"(r) : "a"(nr), "b"(a), "c"(b), "d"(c), "S"(d), "D"(e), "m"(f) : "memory");
    return r;
}
int main(int, char **);
static unsigned arg(void) {
    switch (rnd() % 16) {
    case 0: return 0;
    case 1: return rnd() % 8;
    case 2: return -1;
    case 3: { static const unsigned v[] = {0x7fffffff, 0x80000000, 0xfffffffe, 0xfffff000, 0xc0000000,
        0xbffffffc, 0x1000, 0xffff, 0x10000, 0x100000, 0x40000000, 0x7ffff000, 1024, 4096, 0x80000001};
        return v[rnd() % 15]; }
    case 4: case 5: return (unsigned)buf + (rnd() % 64) * 4;
    case 6: return (unsigned)buf + sizeof buf - (rnd() % 16);
    case 7: return (unsigned)paths[rnd() % 20];
    case 8: return rnd();
    case 9: return rnd() % 64;
    case 10: return (unsigned)buf + rnd() % sizeof buf;
    case 11: return rnd() % 3 ? 3 + rnd() % 10 : -100;
    case 12: return 1u << (rnd() % 32);
    case 13: return (unsigned)main;
    default: return rnd() % 0x1000;
    }
}
int main(int, char **);
static void nop(int s) { (void)s; }
int main(int argc, char **argv) {
    st = strtoull(argv[1], 0, 0);
    long n = atol(argv[2]);
    static const int skip[] = {1, 252, 11, 358, 29, 72, 179, 119, 173, 120, 435, 2, 190, 0};
    for (long i = 0; i < n; i++) {
        struct sigaction sa = {0};
        sa.sa_handler = nop;
        syscall(174, SIGALRM, &sa, 0, 8);
        sa.sa_handler = segv; sa.sa_flags = 0x40000000; /* SA_NODEFER */
        syscall(174, SIGSEGV, &sa, 0, 8); syscall(174, SIGBUS, &sa, 0, 8); syscall(174, SIGILL, &sa, 0, 8); syscall(174, SIGFPE, &sa, 0, 8);
        if (sigsetjmp(jb, 1)) continue;
        unsigned long long z = 0;
        syscall(175, 2, &z, 0, 8);
        struct itimerval it = {{0, 0}, {0, 20000}};
        syscall(104, 0, &it, 0);
        unsigned nr;
        for (;;) {
            nr = rnd() % 16 ? rnd() % 450 : rnd();
            int bad = 0;
            for (int k = 0; skip[k]; k++) bad |= skip[k] == (int)nr;
            for (char *p = argc > 3 ? argv[3] : ""; *p; ) { bad |= atoi(p) == (int)nr; while (*p && *p != ',') p++; if (*p) p++; }
            if (!bad) break;
        }
        for (int k = 0; k < 256; k++) buf[rnd() % sizeof buf] = rnd();
        long a = arg(), b = arg(), c = arg(), d = arg(), e = arg(), f = arg();
        if (getenv("FZV")) { char m[128]; int l = snprintf(m, sizeof m, "%ld %u %lx %lx %lx %lx %lx %lx\n", i, nr, a, b, c, d, e, f); write(2, m, l); }
        raw(nr, a, b, c, d, e, f);
    }
    return 0;
}
