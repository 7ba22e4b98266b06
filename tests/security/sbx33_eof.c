/* sbx33: MAP_PRIVATE pages wholly past the file's end (test_sbx33_eof.py): a load or
   store there is SIGBUS (BUS_ADRERR at the address), a system call given a buffer there
   is EFAULT, mprotect keeps them so, and once the file grows over a page (pwrite) the
   page reads the file's new bytes. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static sigjmp_buf jb;
static volatile int got_sig, got_code;
static void *volatile got_addr;
static void h(int s, siginfo_t *si, void *uc) {
    got_sig = s; got_code = si->si_code; got_addr = si->si_addr; siglongjmp(jb, 1);
}

static void load(const char *what, volatile char *p) {
    got_sig = 0;
    if (sigsetjmp(jb, 1) == 0) { char c = *p; printf("%s: read %d\n", what, c); }
    else printf("%s: sig %d code %d at %s\n", what, got_sig, got_code,
                got_addr == (void *)p ? "addr" : "other");
}

static void store(const char *what, volatile char *p) {
    got_sig = 0;
    if (sigsetjmp(jb, 1) == 0) { *p = 1; printf("%s: stored\n", what); }
    else printf("%s: sig %d code %d at %s\n", what, got_sig, got_code,
                got_addr == (void *)p ? "addr" : "other");
}

int main(void) {
    struct sigaction sa; memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = h; sa.sa_flags = SA_SIGINFO | SA_NODEFER;
    sigaction(SIGSEGV, &sa, 0); sigaction(SIGBUS, &sa, 0);
    int fd = open("eof.dat", O_RDWR | O_CREAT | O_TRUNC, 0644);
    char buf[100]; memset(buf, 'a', sizeof buf);
    write(fd, buf, sizeof buf);
    char *p = mmap(0, 3 * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
    load("in file", p);
    load("page past end", p + 4096);
    store("store past end", p + 8192 + 5);
    int pp[2]; pipe(pp);
    int w = write(pp[1], p + 4096, 10);
    printf("write from it: %d %s\n", w, w < 0 ? strerror(errno) : "");
    int r = read(fd, p + 4096, 10);
    printf("read into it: %d %s\n", r, r < 0 ? strerror(errno) : "");
    mprotect(p, 3 * 4096, PROT_READ);
    load("after mprotect", p + 4096);
    mprotect(p, 3 * 4096, PROT_READ | PROT_WRITE);
    pwrite(fd, "XY", 2, 4096 + 7);
    load("grown over", p + 4096 + 7);
    load("still past", p + 8192);
    char *q = mmap(0, 2 * 4096, PROT_READ, MAP_PRIVATE, fd, 4096);  /* offset: page 1 */
    load("offset map", q + 7);
    load("offset map past", q + 4096);
    return 0;
}
