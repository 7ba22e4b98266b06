/* Probes for tests/security/test_sbxmend28b.py, run natively and under pyvm:
   sbxmend28b fifo-open-close FIFO   a reader opens FIFO and closes it; the writer's
                                     write after that gets SIGPIPE (exit 141)
   sbxmend28b fifo-handshake DIR     two processes meet over DIR/f1 and DIR/f2, each
                                     opening its reader before the other writes
   sbxmend28b map-fail FILE          a MAP_SHARED mapping that fails leaves nothing mapped
   sbxmend28b std REPORT             what descriptors 0-2 are, written to REPORT */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static int fifo_open_close(const char *path) {
    if (fork() == 0) {
        int r = open(path, O_RDONLY);
        close(r);
        _exit(0);
    }
    int w = open(path, O_WRONLY);
    printf("writer open %s\n", w >= 0 ? "ok" : strerror(errno));
    fflush(stdout);
    wait(0);
    int n = write(w, "x", 1);           /* no reader: SIGPIPE ends the process */
    printf("write %d errno %d\n", n, errno);
    return 0;
}

static int fifo_handshake(const char *dir) {
    char a[512], b[512];
    snprintf(a, sizeof a, "%s/f1", dir);
    snprintf(b, sizeof b, "%s/f2", dir);
    if (fork() == 0) {
        int w = open(a, O_WRONLY), r = open(b, O_RDONLY);
        char x = 0;
        int n = read(r, &x, 1);
        printf("child read %d %c\n", n, x);
        fflush(stdout);
        n = write(w, "k", 1);
        _exit(n == 1 ? 0 : 1);
    }
    int r = open(a, O_RDONLY), w = open(b, O_WRONLY);
    int n = write(w, "p", 1);
    char x = 0;
    int m = read(r, &x, 1);
    int status;
    wait(&status);
    printf("parent write %d read %d %c, child status %d\n", n, m, x, status);
    return 0;
}

static sigjmp_buf fault;
static void on_segv(int sig) { (void)sig; siglongjmp(fault, 1); }

/* Whether page ``p`` is mapped: msync's ENOMEM and a read's SIGSEGV say it is not. */
static const char *mapped(volatile char *p) {
    int sync = msync((void *)p, 4096, MS_SYNC);
    int err = errno;
    if (sigsetjmp(fault, 1))
        return sync == 0 ? "msync ok, read faults" : "unmapped";
    (void)p[0];
    return sync == 0 ? "mapped" : (err == ENOMEM ? "msync ENOMEM, readable" : "msync fails");
}

#define AT ((char *)0x50000000)
#define MIB (1 << 20)

static int map_fail(const char *path) {
    signal(SIGSEGV, on_segv);
    int fd = open(path, O_RDWR | O_CREAT, 0600);
    if (fd < 0 || ftruncate(fd, MIB))
        return 1;
    int opened = 0;
    while (open(path, O_RDONLY) >= 0)   /* every descriptor the run grants */
        opened++;
    int ok = 0, failed = 0, wrong = 0;
    for (int i = 0; i < 300; i++) {     /* each a mapping, or none at all */
        munmap(AT, MIB);
        void *p = mmap(AT, MIB, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, fd, 0);
        if (p == MAP_FAILED) {
            failed++;
            wrong += strcmp(mapped(AT), "unmapped") != 0;
        } else {
            ok++;
            wrong += strcmp(mapped(AT), "mapped") != 0;
        }
        p = mmap(0, MIB, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        if (p != MAP_FAILED)
            munmap(p, MIB);
    }
    munmap(AT, MIB);
    printf("opened some: %d, maps: %s, wrong: %d\n", opened > 10, ok + failed == 300 ? "300" : "?",
           wrong);
    char *big = malloc(200 * MIB);      /* the failed maps took no memory */
    printf("malloc 200M: %s\n", big ? "ok" : "failed");
    return 0;
}

static int std_fds(const char *report) {
    char line[3][64], buf[16];
    for (int fd = 0; fd < 3; fd++) {    /* before anything is opened */
        struct stat st;
        int r = fstat(fd, &st);
        snprintf(line[fd], sizeof line[fd], "fd %d: %s", fd, r == 0 ? "open" : strerror(errno));
    }
    int n = read(0, buf, sizeof buf), rerr = errno;
    int w1 = write(1, "", 0), e1 = errno;
    int w2 = write(2, "", 0), e2 = errno;
    FILE *out = fopen(report, "w");
    if (!out)
        return 1;
    for (int fd = 0; fd < 3; fd++)
        fprintf(out, "%s\n", line[fd]);
    fprintf(out, "read(0) %d %s\n", n, n < 0 ? strerror(rerr) : "");
    fprintf(out, "write(1) %d %s\n", w1, w1 < 0 ? strerror(e1) : "");
    fprintf(out, "write(2) %d %s\n", w2, w2 < 0 ? strerror(e2) : "");
    return fclose(out) != 0;
}

int main(int argc, char **argv) {
    if (argc > 2 && !strcmp(argv[1], "fifo-open-close"))
        return fifo_open_close(argv[2]);
    if (argc > 2 && !strcmp(argv[1], "fifo-handshake"))
        return fifo_handshake(argv[2]);
    if (argc > 2 && !strcmp(argv[1], "map-fail"))
        return map_fail(argv[2]);
    if (argc > 2 && !strcmp(argv[1], "std"))
        return std_fds(argv[2]);
    return 2;
}
