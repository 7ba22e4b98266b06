/* Probes of the held cwd and /proc/self/maps (tests/security/test_redteam30_mend.py):
   each prints what it saw; the test compares a native run with pyvm's. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static char buf[8192];
static const char *tail(const char *p) { const char *s = strrchr(p, '/'); return s ? s : p; }
static const char *gc(void) { return getcwd(buf, sizeof buf) ? tail(buf) : strerror(errno); }
static int R(int r) { return r < 0 ? -errno : r; }
static char full[1 << 20], tmp[1 << 20];
static int slurp(int fd, char *b, int step) {
    int n = 0, r;
    while ((r = read(fd, b + n, step)) > 0) n += r;
    return n;
}

int main(int argc, char **argv) {
    char *w = argv[1];
    struct stat st;
    if (!strcmp(w, "forkloop")) {       /* chdir; fork; the child exits at once */
        int n = atoi(argv[2]);
        mkdir("p", 0755); mkdir("q", 0755);
        chdir("q");
        for (int i = 0; i < n; i++) {
            chdir(i & 1 ? "../q" : "../p");
            pid_t c = fork();
            if (!c) { chdir("."); _exit(0); }
            waitpid(c, 0, 0);
        }
        printf("forkloop: %s\n", gc());
    } else if (!strcmp(w, "del")) {     /* a directory whose name ends " (deleted)" */
        mkdir("x (deleted)", 0755);
        printf("del: chdir %d ", R(chdir("x (deleted)")));
        printf("getcwd %s ", gc());
        int fd = R(open("f", O_CREAT | O_WRONLY, 0644));
        printf("create %d ", fd > 0 ? 0 : fd);
        ssize_t k = readlink("/proc/self/cwd", buf, sizeof buf - 1);
        buf[k > 0 ? k : 0] = 0;
        printf("link %s\n", tail(buf));
    } else if (!strcmp(w, "rmdot")) {   /* a removed cwd: .., its /proc link */
        mkdir("a", 0755); mkdir("a/b", 0755);
        chdir("a/b"); rmdir("../b");
        ssize_t k = readlink("/proc/self/cwd", buf, sizeof buf - 1);
        buf[k > 0 ? k : 0] = 0;
        printf("rmdot: link %s ", tail(buf));
        printf("getcwd %s ", gc());
        printf("stat.. %d ", R(stat("..", &st)));
        int r = R(chdir(".."));
        printf("chdir.. %d getcwd %s\n", r, gc());
    } else if (!strcmp(w, "fchdirrm")) { /* fchdir into a removed directory, then .. */
        mkdir("a", 0755); mkdir("a/b", 0755);
        int fd = open("a/b", O_RDONLY | O_DIRECTORY);
        rmdir("a/b");
        printf("fchdirrm: %d ", R(fchdir(fd)));
        int r = R(chdir(".."));
        printf("chdir.. %d getcwd %s\n", r, gc());
    } else if (!strcmp(w, "maps")) {    /* maps read bytewise; changed between reads */
        int pages = 4000;
        char *m = mmap(0, pages * 4096L, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        for (int i = 0; i < pages; i += 2) mprotect(m + i * 4096L, 4096, PROT_READ);
        int fd = open("/proc/self/maps", O_RDONLY);
        int n = slurp(fd, full, 65536);
        close(fd);
        fd = open("/proc/self/maps", O_RDONLY);
        int n1 = slurp(fd, tmp, 1);
        close(fd);
        printf("maps: big %d bytewise-equal %d ", n > 65536, n1 == n && !memcmp(full, tmp, n));
        fd = open("/proc/self/maps", O_RDONLY);
        int r = read(fd, tmp, 10);
        munmap(m, pages * 4096L);
        int rest = slurp(fd, tmp + r, 4096);
        printf("after munmap: under 8 KiB %d\n", r + rest < 8192);
    }
    return 0;
}
