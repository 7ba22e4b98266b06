/* Review of c3b0405 (sandbox leftovers): append modes and the hole charge, a rename's
   name given back, 0-byte reads/writes. argv[1] picks the case. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>
#include <sys/stat.h>
#include <sys/eventfd.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <signal.h>
#include <setjmp.h>
#include <pthread.h>

static long long size_of(int fd) { struct stat st; fstat(fd, &st); return st.st_size; }

static sigjmp_buf jb;
static void segv(int s) { if (s == SIGSEGV) siglongjmp(jb, 1); }
static int writable(char *p) {
    if (sigsetjmp(jb, 1)) return 0;
    *(volatile char *)p = 1;
    return 1;
}

#define T(name, call) do { errno = 0; long r = call; \
    printf("%s %ld %d\n", name, r, r < 0 ? errno : 0); } while (0)

static void *open_writer(void *path) { open((char *)path, O_WRONLY); return 0; }

int main(int argc, char **argv) {
    const char *m = argv[1];
    if (!strcmp(m, "append")) {
        /* F_SETFL O_APPEND, a seek 1 GiB away and a write: it lands at the end */
        int fd = open("a.out", O_WRONLY | O_CREAT | O_TRUNC, 0644);
        int r = fcntl(fd, F_SETFL, O_APPEND);
        lseek(fd, 1 << 30, SEEK_SET);
        errno = 0;
        long n = write(fd, "x", 1);
        printf("setfl %d write %ld errno %d size %lld\n", r, n, errno, size_of(fd));
        /* pwrite on an O_APPEND descriptor appends (Linux) */
        int b = open("b.out", O_WRONLY | O_CREAT | O_TRUNC | O_APPEND, 0644);
        errno = 0;
        n = pwrite(b, "x", 1, 1 << 30);
        printf("pwrite %ld errno %d size %lld\n", n, errno, size_of(b));
        /* F_SETFL 0 on an O_APPEND open: writes at the position again */
        int c = open("c.out", O_RDWR | O_CREAT | O_TRUNC | O_APPEND, 0644);
        write(c, "abc", 3);
        fcntl(c, F_SETFL, 0);
        lseek(c, 0, SEEK_SET);
        n = write(c, "X", 1);
        char buf[8] = {0};
        pread(c, buf, 7, 0);
        printf("cleared %ld size %lld content %s\n", n, size_of(c), buf);
    } else if (!strcmp(m, "saves")) {     /* an atomic save, n times */
        int n = atoi(argv[2]);
        for (int i = 0; i < n; i++) {
            int fd = open("final.tmp", O_WRONLY | O_CREAT | O_TRUNC, 0644);
            if (fd < 0) { printf("save %d: open errno %d\n", i, errno); return 1; }
            write(fd, "data\n", 5);
            close(fd);
            if (rename("final.tmp", "final") < 0) {
                printf("save %d: rename errno %d\n", i, errno); return 1;
            }
        }
        printf("saved %d times\n", n);
    } else if (!strcmp(m, "growsdown")) {
        /* an mprotect of the upper half splits a MAP_GROWSDOWN mapping: PROT_GROWSDOWN
           then reaches the upper part's start, not the lower part */
        signal(SIGSEGV, segv);
        long P = 4096;
        char *a = mmap(0, 4 * P, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_GROWSDOWN, -1, 0);
        int r1 = mprotect(a + 2 * P, 2 * P, PROT_READ);
        int r2 = mprotect(a + 3 * P, P, PROT_READ | PROT_GROWSDOWN);
        printf("split %d %d writable %d %d %d\n", r1, r2, writable(a), writable(a + P),
               writable(a + 2 * P));
    } else if (!strcmp(m, "fifointr")) {
        /* a writer's open of FIFO argv[2], interrupted by an alarm (no SA_RESTART) */
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = segv;
        sigaction(SIGALRM, &sa, 0);
        alarm(2);
        int fd = open(argv[2], O_WRONLY);
        printf("open %d errno %d\n", fd, errno);
    } else if (!strcmp(m, "fifoexec")) {
        /* a thread waits in a writer's open of FIFO argv[2] while main execs */
        pthread_t t;
        pthread_create(&t, 0, open_writer, argv[2]);
        usleep(300000);
        execl("/proc/self/exe", argv[0], "fifoafter", argv[2], (char *)0);
        printf("exec errno %d\n", errno);
    } else if (!strcmp(m, "fifoafter")) {
        /* no writer is left: a reader sees the end of file (at once natively) */
        int fd = open(argv[2], O_RDONLY | O_NONBLOCK);
        char c;
        long r = -1;
        for (int i = 0; i < 500 && (r = read(fd, &c, 1)) != 0; i++)
            usleep(10000);
        printf("after exec: read %ld\n", r);
    } else if (!strcmp(m, "zero")) {
        char b[8];
        int d = open(".", O_RDONLY | O_DIRECTORY), e = eventfd(0, 0);
        int p = open(".", O_PATH), ep = epoll_create1(0);
        T("read-dir-0", read(d, b, 0));
        T("read-eventfd-0", read(e, b, 0));
        T("write-eventfd-0", write(e, b, 0));
        T("read-opath-0", read(p, b, 0));
        T("write-opath-0", write(p, b, 0));
        T("read-epoll-0", read(ep, b, 0));
        T("write-epoll-0", write(ep, b, 0));
        T("write-dir-0", write(d, b, 0));
    }
    return 0;
}
