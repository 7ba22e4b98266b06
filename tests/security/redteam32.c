/* Session 32 red team probes (tests/security/test_redteam32.py), each an argument:
   a   RLIMIT_AS soft 4 MiB: a 1 MiB mmap (fits: the stack counts as far as it is
       used); then lowered to 64 MiB (soft and hard): a 128 MiB mmap, an 8 MiB one, a 128 MiB sbrk, a
       100 MiB malloc, then the same 128 MiB mmap in a forked child (limits are
       inherited): "a: errnos"
   d   RLIMIT_DATA lowered to 16 MiB (soft; hard unlimited): sbrk of 64 MiB and of 1 MiB,
       a private writable 64 MiB mmap, a read-only one (not data), mprotect of that one
       to writable, mremap growing a 1 MiB private writable mapping to 64 MiB, then the
       soft limit raised again and the 64 MiB mapping tried anew: "d: errnos"
   c   RLIMIT_CPU soft 1 s, hard 10 s, then a busy loop: the first SIGXCPU's handler
       says "xcpu" and puts the default action back, the next SIGXCPU (a second later)
       ends the process (status 152)
   f   RLIMIT_FSIZE 1000 with SIGXFSZ counted by a handler: write, pwrite, writev,
       ftruncate, truncate, copy_file_range and an O_APPEND write of a regular file, a
       pipe's write (no limit): "f: results signals size"
   F   the same limit with SIGXFSZ's default action: a write past it ends the process
       (status 153)
   o PATH  open PATH for reading: "o: 0" or "o: -errno" */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <fcntl.h>
#include <sys/resource.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#define MB (1 << 20)

static int mm(size_t n, int prot) {
    void *p = mmap(0, n, prot, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    return p == MAP_FAILED ? -errno : 0;
}

static int br(long n) { return sbrk(n) == (void *)-1 ? -errno : 0; }

static void xcpu(int sig) {
    write(1, "xcpu\n", 5);
    signal(sig, SIG_DFL);
}

static volatile int xfsz;
static void count(int sig) { xfsz++; }
static int r(long v) { return v < 0 ? -errno : (int)v; }

static int lim(int res, rlim_t cur, rlim_t max) {
    struct rlimit r = {cur, max};
    return setrlimit(res, &r) ? -errno : 0;
}

int main(int argc, char **argv) {
    if (argc < 2)
        return 2;
    if (argv[1][0] == 'a') {
        /* a small soft limit first: the stack counts as far as it is used */
        printf("a: %d", lim(RLIMIT_AS, 4 * MB, RLIM_INFINITY));
        printf(" %d", mm(MB, PROT_READ | PROT_WRITE));
        printf(" %d", lim(RLIMIT_AS, 64 * MB, 64 * MB));
        printf(" %d %d %d", mm(128 * MB, PROT_READ | PROT_WRITE), mm(8 * MB, PROT_READ),
               br(128 * MB));
        printf(" %d", malloc(100 * MB) == NULL);
        fflush(stdout);
        pid_t pid = fork();
        if (!pid)
            _exit(-mm(128 * MB, PROT_READ));
        int st;
        waitpid(pid, &st, 0);
        printf(" %d\n", WEXITSTATUS(st));
        return 0;
    }
    if (argv[1][0] == 'd') {
        printf("d: %d", lim(RLIMIT_DATA, 16 * MB, RLIM_INFINITY));
        printf(" %d %d", br(64 * MB), br(MB));
        printf(" %d", mm(64 * MB, PROT_READ | PROT_WRITE));
        void *ro = mmap(0, 64 * MB, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        printf(" %d", ro == MAP_FAILED ? -errno : 0);
        printf(" %d", mprotect(ro, 64 * MB, PROT_READ | PROT_WRITE) ? -errno : 0);
        void *small = mmap(0, MB, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        void *big = mremap(small, MB, 64 * MB, MREMAP_MAYMOVE);
        printf(" %d", big == MAP_FAILED ? -errno : 0);
        printf(" %d", lim(RLIMIT_DATA, RLIM_INFINITY, RLIM_INFINITY));
        printf(" %d\n", mm(64 * MB, PROT_READ | PROT_WRITE));
        return 0;
    }
    if (argv[1][0] == 'c') {
        signal(SIGXCPU, xcpu);
        if (lim(RLIMIT_CPU, 1, 10))
            return 1;
        for (volatile unsigned i = 0;; i++)
            ;
    }
    if (argv[1][0] == 'f') {
        static char buf[3000];
        signal(SIGXFSZ, count);
        int src = open("src", O_RDWR | O_CREAT | O_TRUNC, 0600);
        write(src, buf, 3000);
        if (lim(RLIMIT_FSIZE, 1000, RLIM_INFINITY))
            return 1;
        int fd = open("out", O_RDWR | O_CREAT | O_TRUNC, 0600);
        printf("f: %d", r(write(fd, buf, 2000)));
        printf(" %d", r(write(fd, buf, 10)));
        printf(" %d %d", r(pwrite(fd, buf, 1000, 600)), r(pwrite(fd, buf, 10, 1000)));
        struct iovec iov[2] = {{buf, 300}, {buf, 300}};
        lseek(fd, 500, SEEK_SET);
        printf(" %d", r(writev(fd, iov, 2)));
        printf(" %d %d", r(ftruncate(fd, 5000)), r(ftruncate(fd, 100)));
        printf(" %d %d", r(truncate("out", 1001)), r(truncate("out", 1000)));
        loff_t in = 0, at = 900;
        printf(" %d", r(copy_file_range(src, &in, fd, &at, 500, 0)));
        int app = open("out", O_WRONLY | O_APPEND);
        printf(" %d", r(write(app, buf, 1)));
        int p[2];
        pipe(p);
        printf(" %d", r(write(p[1], buf, 2000)));
        printf(" %d %ld\n", xfsz, (long)lseek(fd, 0, SEEK_END));
        return 0;
    }
    if (argv[1][0] == 'o' && argc > 2) {
        int fd = open(argv[2], O_RDONLY);
        printf("o: %d\n", fd < 0 ? -errno : 0);
        return 0;
    }
    if (argv[1][0] == 'F') {
        static char buf[2000];
        if (lim(RLIMIT_FSIZE, 1000, RLIM_INFINITY))
            return 1;
        int fd = open("out", O_RDWR | O_CREAT | O_TRUNC, 0600);
        printf("F: %d\n", r(write(fd, buf, 2000)));
        fflush(stdout);
        write(fd, buf, 1);
        printf("F: not stopped\n");
        return 0;
    }
    return 2;
}
