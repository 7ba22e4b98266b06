/* mend-sbx33 (review of 1c9136d), test_sbx33_mend.py: argv[1] picks a case.
   gp: far jmp/call/ret to a bad selector: #GP(selector & 0xfffc), SIGSEGV's err.
   threads: RLIMIT_NPROC counts threads (as a user without CAP_SYS_RESOURCE).
   mremap: a MAP_PRIVATE file mapping grown by mremap past the file's end: SIGBUS.
   shrink: a file cut below a private mapping's pages (ftruncate, truncate, O_TRUNC):
     SIGBUS there even for a written page, in a forked child too; the bytes written
     when it grows again are read, also after mremap moved the mapping.
   code: a function in a private file mapping, called, then its file cut: SIGBUS.
   stack, stackthread: RLIMIT_STACK lowered below the stack already grown (by the main
     thread or another thread): the grown pages stay, only further growth is refused. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <ucontext.h>
#include <unistd.h>

static sigjmp_buf jb;
static volatile long gs, ge, gt;
static char *volatile ga;
static char *m;

static void h(int s, siginfo_t *si, void *uc) {
    gs = s; ga = si->si_addr;
    ge = ((ucontext_t *)uc)->uc_mcontext.gregs[REG_ERR];
    gt = ((ucontext_t *)uc)->uc_mcontext.gregs[REG_TRAPNO];
    siglongjmp(jb, 1);
}

static void catch_all(void) {
    static char alt[65536];
    stack_t ss = {alt, 0, sizeof alt}; sigaltstack(&ss, 0);
    struct sigaction sa; memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = h; sa.sa_flags = SA_SIGINFO | SA_NODEFER | SA_ONSTACK;
    sigaction(SIGSEGV, &sa, 0); sigaction(SIGBUS, &sa, 0);
}

#define T(name, code) \
    if (!sigsetjmp(jb, 1)) { code; printf("%s: ok\n", name); } \
    else printf("%s: sig %ld trap %ld err %lx\n", name, gs, gt, ge);

static void rd(const char *w, char *p) {
    gs = 0;
    if (!sigsetjmp(jb, 1)) printf("%s: read %d\n", w, *(volatile char *)p);
    else printf("%s: sig %ld at +%ld\n", w, gs, (long)(ga - m));
}

static void wr(const char *w, char *p) {
    gs = 0;
    if (!sigsetjmp(jb, 1)) { *(volatile char *)p = 'Z'; printf("%s: wrote\n", w); }
    else printf("%s: sig %ld at +%ld\n", w, gs, (long)(ga - m));
}

static void gp(void) {
    T("ljmp 0x1234", __asm__ volatile("ljmp $0x1234,$0"))
    T("lcall 0x1234", __asm__ volatile("lcall $0x1234,$0"))
    T("ljmp 0x0", __asm__ volatile("ljmp $0x0,$0"))
    T("lcall 0x2b (data)", __asm__ volatile("lcall $0x2b,$0"))
    T("lret 0x1237", __asm__ volatile("push $0x1237; push $0; lret"))
}

static int p[2];
static void *waiter(void *a) { char c; read(p[0], &c, 1); return 0; }

static void threads(void) {
    setgid(65534); setuid(65534);   /* (root's CAP_SYS_RESOURCE is not the guest's) */
    struct rlimit r = {4, 4}; setrlimit(RLIMIT_NPROC, &r);
    pipe(p);
    int made = 0, err = 0; pthread_t th[10];
    for (int i = 0; i < 10; i++) {
        int e = pthread_create(&th[i], 0, waiter, 0);
        if (e) { err = e; break; }
        made++;
    }
    printf("threads %d then %s\n", made, strerror(err));
    char buf[10] = {0}; write(p[1], buf, made);
    for (int i = 0; i < made; i++) pthread_join(th[i], 0);
    pid_t pid = fork();             /* the threads are gone: a process may be made */
    if (!pid) _exit(0);
    printf("fork after join: %s\n", pid > 0 ? "ok" : strerror(errno));
    if (pid > 0) waitpid(pid, 0, 0);
}

static int datafile(const char *fn, int n) {
    int fd = open(fn, O_RDWR | O_CREAT | O_TRUNC, 0644);
    char buf[4096]; memset(buf, 'a', sizeof buf);
    write(fd, buf, n);
    return fd;
}

static void mremap_case(void) {
    int fd = datafile("mend.dat", 100);
    m = mmap(0, 4096, PROT_READ, MAP_PRIVATE, fd, 0);
    m = mremap(m, 4096, 3 * 4096, MREMAP_MAYMOVE);
    rd("grown page 0", m + 10); rd("grown page 1", m + 4096); rd("grown page 2", m + 8192);
    m = mremap(m, 3 * 4096, 64 * 4096, MREMAP_MAYMOVE);     /* (moves, likely) */
    rd("moved page 1", m + 4096); rd("moved page 40", m + 40 * 4096);
    char buf[4096]; memset(buf, 'b', sizeof buf); pwrite(fd, buf, 4096, 4096);
    rd("page 1 after grow", m + 4096); rd("page 2 after grow", m + 8192);
    unlink("mend.dat");
}

static void shrink_case(void) {
    int fd = datafile("mend.dat", 100);
    char buf[4096]; memset(buf, 'b', sizeof buf);
    pwrite(fd, buf, 4096, 4096); pwrite(fd, buf, 4096, 8192);
    m = mmap(0, 4 * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
    char *s = mmap(0, 3 * 4096, PROT_READ, MAP_PRIVATE, fd, 0);
    rd("p1", m + 4096); wr("p1 write", m + 4097); rd("p2", m + 8192);
    ftruncate(fd, 100);
    rd("written p1 after shrink", m + 4097); rd("p2 after shrink", m + 8192);
    rd("p0 after shrink", m + 50);
    char *keep = m; m = s; rd("other mapping p1", s + 4096); m = keep;
    pid_t pid = fork();
    if (!pid) { rd("child p1", m + 4096); fflush(stdout); _exit(0); }
    waitpid(pid, 0, 0);
    memset(buf, 'c', sizeof buf); pwrite(fd, buf, 4096, 4096);
    rd("p1 regrown", m + 4097); rd("p2 still past", m + 8192);
    ftruncate(fd, 3 * 4096);
    rd("p2 regrown by ftruncate", m + 8192);
    ftruncate(fd, 100);
    pwrite(fd, "d", 1, 2 * 4096 + 5);
    m = mremap(m, 4 * 4096, 64 * 4096, MREMAP_MAYMOVE);
    rd("moved p1", m + 4096); rd("moved p2", m + 2 * 4096 + 5); rd("moved p3", m + 3 * 4096);
    truncate("mend.dat", 100);
    rd("p1 after truncate(2)", m + 4096);
    pwrite(fd, buf, 4096, 4096);
    rd("p1 after pwrite", m + 4096);
    close(open("mend.dat", O_RDWR | O_TRUNC));
    rd("p0 after O_TRUNC", m + 10); rd("p1 after O_TRUNC", m + 4096);
    unlink("mend.dat");
}

static void code_case(void) {       /* code in a private file mapping, then cut */
    int fd = datafile("mend.dat", 100);
    static const unsigned char f[] = {0xb8, 0x2a, 0, 0, 0, 0xc3};  /* mov eax,42; ret */
    pwrite(fd, f, sizeof f, 4096);
    m = mmap(0, 2 * 4096, PROT_READ | PROT_EXEC, MAP_PRIVATE, fd, 0);
    int (*fn)(void) = (int (*)(void))(m + 4096);
    int sum = 0;
    for (int i = 0; i < 300; i++) sum += fn();
    printf("calls: %d\n", sum);
    ftruncate(fd, 100);
    gs = 0;
    if (!sigsetjmp(jb, 1)) printf("call after shrink: %d\n", fn());
    else printf("call after shrink: sig %ld at +%ld\n", gs, (long)(ga - m));
    unlink("mend.dat");
}

static volatile char *deep;
__attribute__((noinline)) static int rec(int n) {
    volatile char b[1024]; b[0] = n;
    if (n == 0) { deep = b; return 0; }
    return rec(n - 1) + b[0];
}

static volatile int go, done;
static void *lower(void *a) {
    while (!go) sched_yield();
    struct rlimit r = {256 * 1024, RLIM_INFINITY}; setrlimit(RLIMIT_STACK, &r);
    done = 1; return 0;
}
__attribute__((noinline)) static int rec_wait(int n) {
    volatile char b[1024]; b[0] = n;
    if (n == 0) { go = 1; while (!done) sched_yield(); b[0] = 5; return b[0]; }
    return rec_wait(n - 1) + b[0];
}

static void stack_case(void) {
    printf("first %d\n", rec(2000));        /* ~2 MiB deep */
    struct rlimit r = {256 * 1024, RLIM_INFINITY}; setrlimit(RLIMIT_STACK, &r);
    if (!sigsetjmp(jb, 1)) { deep[0] = 1; printf("deep write ok\n"); }
    else printf("deep write: sig %ld\n", gs);
    if (!sigsetjmp(jb, 1)) printf("again %d\n", rec(2000));
    else printf("again: sig %ld\n", gs);
    if (!sigsetjmp(jb, 1)) printf("deeper %d\n", rec(4000));
    else printf("deeper: sig %ld\n", gs);
}

static void stackthread_case(void) {
    pthread_t th; pthread_create(&th, 0, lower, 0);
    printf("rec %d\n", rec_wait(1000));
    pthread_join(th, 0);
}

int main(int argc, char **argv) {
    setvbuf(stdout, 0, _IONBF, 0);
    const char *c = argc > 1 ? argv[1] : "";
    if (strcmp(c, "stackthread"))   /* (there a SIGSEGV ends the run) */
        catch_all();
    if (!strcmp(c, "gp")) gp();
    else if (!strcmp(c, "threads")) threads();
    else if (!strcmp(c, "mremap")) mremap_case();
    else if (!strcmp(c, "shrink")) shrink_case();
    else if (!strcmp(c, "code")) code_case();
    else if (!strcmp(c, "stack")) stack_case();
    else if (!strcmp(c, "stackthread")) stackthread_case();
    else return 2;
    return 0;
}
