/* Session 30 red team probes (tests/security/test_redteam30.py), each an argument:
   c        a chain of epolls, each watching the next: which epoll_ctl calls Linux
            refuses (ELOOP past 5 nested instances, counted above and below)
   d        epolls nested on a pipe, one over the other, until ELOOP: "d: depth errno"
   w:W:L:N  W epolls on each of L levels, each watching every one of the level below
            (the bottom ones a pipe), then N epoll_wait(timeout 0) on a top one:
            "w: ready"
   r        the working directory removed, then a directory of its name made again: a
            relative name is not in the new one (ENOENT): "r: make make-again stat"
   m        the working directory renamed, its old name made a symlink to another
            directory: relative names follow the directory itself
            "m: make in-new-name in-link-target getcwd-tail"
   f        fchdir to a removed directory: 0, then getcwd ENOENT: "f: fchdir getcwd make"
   s:N      a chain of N #! scripts, the last naming this program: what execve does
   p:MB:N   MB MiB mapped with every other page read-only (a mapping a page), then
            /proc/self/maps opened N times and one byte read from each:
            "p: mprotect-errno opened first-byte"
   v:N      execve itself with a 5 MiB environment (RLIMIT_STACK raised to 64 MiB), then
            /proc/self/environ opened N times and one byte read from each:
            "v: opened first-byte"
   e        sizes that are negative as an int: readlink's bufsiz 0 and -1, getgroups -1:
            "e: errnos" */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

static struct epoll_event ev = {.events = EPOLLIN};

static int ctl(int ep, int fd) {
    return epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0 ? -errno : 0;
}

static void chain(void) {
    int e[8];
    for (int i = 0; i < 8; i++) e[i] = epoll_create1(0);
    printf("c:");
    for (int i = 0; i < 7; i++) printf(" %d", ctl(e[i], e[i + 1]));
    printf(" self %d", ctl(e[0], e[0]));
    printf(" loop %d\n", ctl(e[3], e[1]));
}

static void depth(void) {
    int p[2], prev, n, err = 0;
    if (pipe(p)) return;
    prev = p[0];
    for (n = 0; n < 20; n++) {
        int e = epoll_create1(0);
        if ((err = ctl(e, prev))) break;
        prev = e;
    }
    printf("d: %d %d\n", n, err);
}

static void lattice(const char *a) {
    int w = atoi(a), l = atoi(strchr(a, ':') + 1), n = atoi(strrchr(a, ':') + 1);
    int p[2], lv[8][64], ready = 0;
    struct epoll_event out[4];
    if (pipe(p) || w > 64 || l > 8) return;
    for (int i = 0; i < l; i++) for (int j = 0; j < w; j++) lv[i][j] = epoll_create1(0);
    for (int j = 0; j < w; j++) ctl(lv[l - 1][j], p[0]);
    for (int i = l - 2; i >= 0; i--)
        for (int j = 0; j < w; j++) for (int k = 0; k < w; k++) ctl(lv[i][j], lv[i + 1][k]);
    for (int k = 0; k < n; k++) ready += epoll_wait(lv[0][0], out, 4, 0);
    printf("w: %d\n", ready);
}

static int make(const char *name) {
    int fd = open(name, O_CREAT | O_WRONLY, 0644);
    if (fd >= 0) close(fd);
    return fd < 0 ? -errno : 0;
}

static void cwd_removed(void) {
    struct stat st;
    mkdir("ra", 0755);
    chdir("ra");
    rmdir("../ra");
    int f = make("f");
    mkdir("../ra", 0755);
    int g = make("g");
    printf("r: %d %d %d\n", f, g, stat("../ra/g", &st) < 0 ? -errno : 0);
}

static void cwd_moved(void) {
    char buf[512];
    struct stat st;
    mkdir("ma", 0755);
    mkdir("mo", 0755);
    chdir("ma");
    rename("../ma", "../mb");
    symlink("mo", "../ma");
    int f = make("f");
    int in_b = stat("../mb/f", &st) < 0 ? -errno : 0;
    int in_other = stat("../mo/f", &st) < 0 ? -errno : 0;
    printf("m: %d %d %d %s\n", f, in_b, in_other,
           getcwd(buf, sizeof buf) ? strrchr(buf, '/') : "?");
}

static void fchdir_removed(void) {
    char buf[512];
    mkdir("fd", 0755);
    int fd = open("fd", O_RDONLY | O_DIRECTORY);
    rmdir("fd");
    int r = fchdir(fd) < 0 ? -errno : 0;
    int cwd = getcwd(buf, sizeof buf) ? 0 : -errno;
    printf("f: %d %d %d\n", r, cwd, make("x"));
}

static void scripts(const char *a, char **envp) {
    int n = atoi(a);
    char self[256], name[32], line[300];
    ssize_t k = readlink("/proc/self/exe", self, sizeof self - 1);
    if (k < 0) return;
    self[k] = 0;
    for (int i = 1; i <= n; i++) {
        sprintf(name, "s%d", i);
        if (i < n) sprintf(line, "#!./s%d\n", i + 1);
        else sprintf(line, "#!%s\n", self);
        int fd = open(name, O_CREAT | O_WRONLY | O_TRUNC, 0755);
        write(fd, line, strlen(line));
        close(fd);
    }
    char *av[] = {"s1", "run", 0};
    execve("./s1", av, envp);
    printf("s: %d\n", -errno);
}

static void maps(const char *a) {
    size_t len = (size_t)atoi(a) << 20;
    int n = atoi(strchr(a, ':') + 1), bad = 0, opened = 0;
    char c = '?';
    char *p = mmap(0, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) return;
    for (size_t o = 0; o < len; o += 8192)
        if (mprotect(p + o, 4096, PROT_READ)) { bad = errno; break; }
    for (int i = 0; i < n; i++) {
        int fd = open("/proc/self/maps", O_RDONLY);
        if (fd < 0 || read(fd, &c, 1) != 1) break;
        opened++;
    }
    printf("p: %d %d %c\n", bad, opened, c);
}

static void environ_opens(const char *a, char **argv) {
    int n = atoi(a), opened = 0;
    char c = '?';
    if (!getenv("RT30")) {
        static char *env[64];
        struct rlimit r = {64 << 20, RLIM_INFINITY};
        int k = 0;
        setrlimit(RLIMIT_STACK, &r);
        env[k++] = "RT30=1";
        for (int i = 0; i < 40; i++) {
            char *s = malloc(128 * 1024);
            memset(s, 'a' + i % 26, 128 * 1024 - 1);
            s[128 * 1024 - 1] = 0;
            s[0] = 'X';
            s[1] = '=';
            env[k++] = s;
        }
        env[k] = 0;
        execve("/proc/self/exe", argv, env);
        printf("v: execve %d\n", -errno);
        return;
    }
    for (int i = 0; i < n; i++) {
        int fd = open("/proc/self/environ", O_RDONLY);
        if (fd < 0 || read(fd, &c, 1) != 1) break;
        opened++;
    }
    printf("v: %d %c\n", opened, c);
}

static void sizes(void) {
    char buf[64];
    gid_t groups[64];
    int r0 = readlink("/proc/self/exe", buf, 0) < 0 ? -errno : 0;
    int r1 = syscall(SYS_readlink, "/proc/self/exe", buf, -1) < 0 ? -errno : 0;
    int g = syscall(SYS_getgroups32, -1, groups) < 0 ? -errno : 0;
    printf("e: %d %d %d\n", r0, r1, g);
}

int main(int argc, char **argv, char **envp) {
    setvbuf(stdout, 0, _IONBF, 0);
    int start = open(".", O_RDONLY | O_DIRECTORY);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        fchdir(start);                      /* each probe from the start directory */
        if (!strcmp(a, "run")) {            /* the end of a #! chain */
            printf("s: ran %d\n", argc);
            return 0;
        }
        if (!strcmp(a, "c")) chain();
        else if (!strcmp(a, "d")) depth();
        else if (!strncmp(a, "w:", 2)) lattice(a + 2);
        else if (!strcmp(a, "r")) cwd_removed();
        else if (!strcmp(a, "m")) cwd_moved();
        else if (!strcmp(a, "f")) fchdir_removed();
        else if (!strncmp(a, "s:", 2)) scripts(a + 2, envp);
        else if (!strncmp(a, "p:", 2)) maps(a + 2);
        else if (!strcmp(a, "e")) sizes();
        else if (!strncmp(a, "v:", 2)) environ_opens(a + 2, argv);
    }
    return 0;
}
