/* Session 28, imgmend: program images, execve's strings, clock_nanosleep's clocks.
   Each mode prints what it saw; the test compares it with the native run.
     w            print the word below (a copy of this file may carry another one)
     t N          N times: set ./T's times to a new value, fork, exec ./T w
     r A B        copy A over ./prog in place, times reset; run it; the same with B
     e            execve ./nop with argc 0 and 1 and strings at the kernel's bound
     f            execve with 300000 argv pointers and envp (char **)4
     c            clock_nanosleep on negative (CPU, fd, invalid) clock ids */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static const char word[] = "WORD:one";

static int run(const char *path, char *const argv[], char *const envp[]) {
    pid_t p = fork();
    if (!p) {
        long r = syscall(SYS_execve, path, argv, envp);
        _exit(r == -1 ? (errno == E2BIG ? 7 : errno == EFAULT ? 14 : 8) : 9);
    }
    int st;
    waitpid(p, &st, 0);
    return WEXITSTATUS(st);
}


static char buf[2000000];

static void put(const char *src) {
    int s = open(src, O_RDONLY);
    int n = read(s, buf, sizeof buf);
    close(s);
    int d = open("prog", O_WRONLY | O_CREAT, 0755);
    write(d, buf, n);
    struct timespec ts[2] = {{1000000000, 0}, {1000000000, 0}};
    futimens(d, ts);
    close(d);
}

static void execs(int n) {
    for (int i = 0; i < n; i++) {
        struct timespec ts[2] = {{1000000000 + i, 0}, {1000000000 + i, 0}};
        utimensat(AT_FDCWD, "T", ts, 0);
        char *a[] = {"./T", "w", 0};
        int rc = run(a[0], a, 0);
        if (rc) printf("rc %d\n", rc);
    }
    printf("execs %d\n", n);
}

/* argc 0 (the kernel adds "" as argv[0]) or 1 (""), envp 15 strings of 131071 bytes and
   one of L: at L 130928 and 130929 the bound of an 8 MiB stack limit is passed */
static void edges(void) {
    static char *envp[20];
    char *big = malloc(131072);
    memset(big, 'A', 131071);
    big[131071] = 0;
    for (int argc = 0; argc < 2; argc++)
        for (long L = 130927; L <= 130929; L++) {
            int n = 0;
            for (int i = 0; i < 15; i++) envp[n++] = big;
            envp[n++] = big + (131071 - L);
            envp[n] = 0;
            char *argv[] = {0, "", 0};
            printf("argc %d L %ld: %d\n", argc, L, run("./nop", argc ? argv + 1 : argv, envp));
        }
}

static void fault(void) {
    static char *argv[300001];
    argv[0] = "./nop";
    for (int i = 1; i < 300000; i++) argv[i] = "";
    char **volatile envp = (char **)4;
    printf("f: %d\n", run("./nop", argv, envp));
}

static void clocks(void) {
    int pid = getpid();
    int ids[] = {-1, -2, -3, -5, -6, -7, -8, -13, (int)0x80000000, 10, 12,
                 (~pid << 3) | 0, (~pid << 3) | 1, (~pid << 3) | 2, (~pid << 3) | 3,
                 (~pid << 3) | 4, (~pid << 3) | 6, (~pid << 3) | 7,
                 (~(pid + 7) << 3) | 1, (~(pid + 7) << 3) | 2, (~0 << 3) | 5};
    struct timespec t = {0, 0};
    for (unsigned i = 0; i < sizeof ids / sizeof *ids; i++)
        for (int f = 0; f < 2; f++) {
            long r = syscall(SYS_clock_nanosleep, ids[i], f, &t, 0);
            printf("%u/%d:%ld ", i, f, r == -1 ? -errno : r);
        }
    printf("\n");
}

int main(int argc, char **argv) {
    setvbuf(stdout, 0, _IONBF, 0);
    if (argc < 2) return 0;
    switch (argv[1][0]) {
    case 'w': printf("%s\n", word + 5); break;
    case 't': execs(atoi(argv[2])); break;
    case 'r': {
        char *a[] = {"./prog", "w", 0};
        put(argv[2]);
        run(a[0], a, 0);
        put(argv[3]);
        run(a[0], a, 0);
        break;
    }
    case 'e': edges(); break;
    case 'f': fault(); break;
    case 'c': clocks(); break;
    }
    return 0;
}
