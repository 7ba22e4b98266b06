/* Red-team probes of session 28 (tests/security/test_redteam28.py). Each argument is
   OP[:ARGS] and prints one line, compared with the native run where Linux is the
   reference:
   e:KIB:N:EXTRA:NENV  RLIMIT_STACK's soft limit set to KIB KiB, then execve of this
                       program with N strings of 131071 bytes, one of EXTRA bytes and
                       NENV empty environment strings: "e: ok" from the new image, or
                       "e: ERRNO" (E2BIG past the kernel's bound);
   b:N:LEN             execve with N pointers to one LEN-byte string: "b: ERRNO";
   g:RESOURCE          getrlimit (old, 76) and ugetrlimit (191): "g: RC ERRNO CUR MAX" each;
   o                   pread64/pwrite64 at negative offsets, lseek/_llseek with whence
                       past SEEK_HOLE, on a file and on a closed descriptor: "o: RC..."
                       (negative errnos);
   s                   files made setuid/setgid by creat, open, chmod, fchmod, fchmodat
                       and mknod, a directory made setgid: "s: MODE..." (octal);
   c                   chown32, lchown32, fchown32, fchownat with ids 2^32-2 and 2^32-1
                       (unchanged), truncate64 to a negative length: "c: RC..." (negative
                       errnos);
   w                   munmap and mremap with lengths that wrap past 2^32 or are 0:
                       "w: RC..." (negative errnos), the process still running;
   a:N                 N signals, each on an alternate stack 64 bytes lower than the
                       last, whose handler longjmps out: "a: N";
   t                   time values: utimensat with huge, negative and invalid times,
                       sleeps with invalid times, clock_nanosleep on each clock 0-15
                       (TIMER_ABSTIME, 1 ns), invalid timeouts of ppoll, pselect6,
                       futex, rt_sigtimedwait, epoll_pwait2: "t: RC..." (negative errnos);
   z                   clock_nanosleep_time64 for 2^62 seconds: "z: RC";
   x:K:N:SIZE          this program copied to "bigK", made SIZE bytes long (a sparse
                       tail), run as "bigK x:K+1:N:SIZE", until K is N: "x: N";
   l:NAME:TARGET       NAME removed and made a symlink to TARGET: "l: RC RC";
   u                   names that are not UTF-8: a directory entered, getcwd, readlink
                       of /proc/self/cwd, of an open file's /proc/self/fd link and of a
                       symlink, then this program copied there and run: its
                       /proc/self/exe and /proc/self/maps read: "u: ..." lines. */
#define _GNU_SOURCE
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>

static long raw(long nr, long a, long b, long c, long d, long e) {
    long r = syscall(nr, a, b, c, d, e);
    return r < 0 ? -errno : r;
}

static char *repeat(int ch, int len) {
    char *s = malloc(len + 1);
    memset(s, ch, len);
    s[len] = 0;
    return s;
}

static void limits(int resource) {
    unsigned long v[2] = {1, 1}, w[2] = {1, 1};
    long r1 = raw(SYS_getrlimit, resource, (long)v, 0, 0, 0);
    long r2 = raw(SYS_ugetrlimit, resource, (long)w, 0, 0, 0);
    printf("g:%d: %ld %lx %lx %ld %lx %lx\n", resource, r1, v[0], v[1], r2, w[0], w[1]);
}

static void offsets(void) {
    int fd = open("data", O_RDWR | O_CREAT | O_TRUNC, 0600);
    char buf[8] = "abcdefg";
    long long res = 0;
    printf("o: %ld %ld %ld %ld %ld %ld %ld %ld %ld %ld %ld\n",
           raw(SYS_pwrite64, fd, (long)buf, 4, -1, -1),
           raw(SYS_pwrite64, fd, (long)buf, 4, 0, 0x80000000),
           raw(SYS_pread64, fd, (long)buf, 4, 0, 0xffffffff),
           raw(SYS_pread64, 99, (long)buf, 4, -8, -1),
           raw(SYS_pread64, fd, (long)buf, 4, 0, 0),
           raw(SYS_lseek, fd, 0, 5, 0, 0),
           raw(SYS_lseek, fd, 0, 0x80000000, 0, 0),
           raw(SYS_lseek, 99, 0, 0x80000000, 0, 0),
           raw(SYS__llseek, fd, 0, 0, (long)&res, -1),
           raw(SYS__llseek, fd, 0x7fffffff, 0, (long)&res, 0),
           raw(SYS__llseek, fd, 0, 2, (long)&res, 0x10000));
    close(fd);
}

static unsigned mode_of(const char *path) {
    struct stat st;
    return stat(path, &st) ? 0 : st.st_mode & 07777;
}

static void setids(void) {
    umask(0);
    close(creat("s1", 04755));
    close(open("s2", O_WRONLY | O_CREAT, 06755));
    close(creat("s3", 0644));
    chmod("s3", 04711);
    int fd = creat("s4", 0644);
    fchmod(fd, 02755);
    close(fd);
    close(creat("s5", 0644));
    fchmodat(AT_FDCWD, "s5", 06777, 0);
    mknod("s6", S_IFREG | 04755, 0);
    mkdir("d", 0755);
    chmod("d", 02755);
    printf("s: %o %o %o %o %o %o %o\n", mode_of("s1"), mode_of("s2"), mode_of("s3"),
           mode_of("s4"), mode_of("s5"), mode_of("s6"), mode_of("d"));
}

static void times_(void) {
    close(creat("f", 0644));
    long long big[4] = {1LL << 62, 0, 1LL << 62, 0}, neg[4] = {-(1LL << 62), 0, 0, 0};
    long long wrap[4] = {0, 5000000000LL, 0, 0}, bad64[2] = {0, -5};
    int t32[4] = {0x7fffffff, 999999999, -0x7fffffff, 0}, bad32[4] = {1, -1, 1, 0};
    int big_ns[2] = {0, 1000000000}, neg_s[2] = {-1, 0}, word = 0;
    printf("t: utimensat %ld %ld %ld %ld %ld\n",
           raw(SYS_utimensat_time64, AT_FDCWD, (long)"f", (long)big, 0, 0),
           raw(SYS_utimensat_time64, AT_FDCWD, (long)"f", (long)neg, 0, 0),
           raw(SYS_utimensat_time64, AT_FDCWD, (long)"f", (long)wrap, 0, 0),
           raw(SYS_utimensat, AT_FDCWD, (long)"f", (long)t32, 0, 0),
           raw(SYS_utimensat, AT_FDCWD, (long)"f", (long)bad32, 0, 0));
    printf("t: sleeps %ld %ld %ld\n", raw(SYS_clock_nanosleep_time64, 0, 0, (long)bad64, 0, 0),
           raw(SYS_nanosleep, (long)big_ns, 0, 0, 0, 0),
           raw(SYS_nanosleep, (long)neg_s, 0, 0, 0, 0));
    printf("t: clocks");
    for (int c = 0; c < 16; c++) {
        long long at[2] = {0, 1};
        printf(" %ld", raw(SYS_clock_nanosleep_time64, c, 1, (long)at, 0, 0));
    }
    printf("\nt: timeouts %ld %ld %ld %ld %ld\n",
           raw(SYS_ppoll_time64, 0, 0, (long)bad64, 0, 8),
           raw(SYS_pselect6_time64, 0, 0, 0, 0, (long)bad64),
           raw(SYS_futex_time64, (long)&word, 0, 0, (long)bad64, 0),
           raw(SYS_rt_sigtimedwait_time64, (long)t32, 0, (long)bad64, 8, 0),
           raw(SYS_rt_sigtimedwait, (long)t32, 0, (long)neg_s, 8, 0));
}

static sigjmp_buf jump;

static void leave(int sig) {
    (void)sig;
    siglongjmp(jump, 1);
}

static void longjmp_out(int n) {
    char *area = malloc((long)n * 64 + 65536);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = leave;
    sa.sa_flags = SA_ONSTACK | SA_NODEFER;
    sigaction(SIGUSR1, &sa, NULL);
    for (volatile int k = 0; k < n; k++) {
        stack_t ss = {area + (long)(n - k) * 64, 0, 65536};
        sigaltstack(&ss, NULL);
        if (!sigsetjmp(jump, 0))
            raise(SIGUSR1);
    }
    printf("a: %d\n", n);
}

static long link_length(const char *path) {
    char b[512];
    long n = readlink(path, b, sizeof b);
    return n < 0 ? -errno : n;
}

static void odd_names(void) {
    char b[512], fdlink[64];
    mkdir("d\x8d\xff", 0755);
    printf("u: chdir %d\n", chdir("d\x8d\xff"));
    printf("u: getcwd %ld\n", getcwd(b, sizeof b) ? (long)strlen(b) : -errno);
    printf("u: cwd %ld\n", link_length("/proc/self/cwd"));
    int fd = open("f\x8d", O_RDWR | O_CREAT, 0644);
    sprintf(fdlink, "/proc/self/fd/%d", fd);
    printf("u: fd %ld\n", link_length(fdlink));
    symlink("t\x8e", "l\x8e");
    printf("u: symlink %ld\n", link_length("l\x8e"));
    int s = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un a = {AF_UNIX, "s\x8f"};
    socklen_t len = sizeof a;
    printf("u: bind %d %d\n", bind(s, (struct sockaddr *)&a, sizeof a),
           getsockname(s, (struct sockaddr *)&a, &len));
    int in = open("/proc/self/exe", O_RDONLY), out = open("x\x90", O_WRONLY | O_CREAT, 0755);
    long n;
    while ((n = read(in, b, sizeof b)) > 0)
        write(out, b, n);
    close(out);
    execl("x\x90", "x\x90", "u-exe", (char *)NULL);
    printf("u: exec %d\n", errno);
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IONBF, 0);
    if (argc > 1 && !strcmp(argv[1], "child")) {
        printf("e: ok\n");
        return 0;
    }
    if (argc > 1 && !strcmp(argv[1], "u-exe")) {
        char b[4096];
        int fd = open("/proc/self/maps", O_RDONLY);
        printf("u: exe %ld\nu: maps %d\n", link_length("/proc/self/exe"), read(fd, b, sizeof b) > 0);
        return 0;
    }
    for (int i = 1; i < argc; i++) {
        char *op = argv[i], *arg = strchr(op, ':');
        if (arg)
            *arg++ = 0;
        if (!strcmp(op, "e")) {
            int kib, n, extra, nenv;
            sscanf(arg, "%d:%d:%d:%d", &kib, &n, &extra, &nenv);
            struct rlimit rl;
            getrlimit(RLIMIT_STACK, &rl);
            rl.rlim_cur = (rlim_t)kib << 10;
            setrlimit(RLIMIT_STACK, &rl);
            char *s = repeat('a', 131071), **v = calloc(n + 3, sizeof *v);
            char **e = calloc(nenv + 1, sizeof *e);
            v[0] = "child";
            v[1] = "child";
            for (int k = 0; k < n; k++)
                v[2 + k] = s;
            v[2 + n] = repeat('b', extra);
            for (int k = 0; k < nenv; k++)
                e[k] = "";
            execve("/proc/self/exe", v, e);
            printf("e: %d\n", errno);
        } else if (!strcmp(op, "b")) {
            int n, len;
            sscanf(arg, "%d:%d", &n, &len);
            char *s = repeat('a', len), **v = calloc(n + 1, sizeof *v);
            for (int k = 0; k < n; k++)
                v[k] = s;
            execve("/proc/self/exe", v, (char *[]){NULL});
            printf("b: %d\n", errno);
        } else if (!strcmp(op, "g")) {
            limits((int)strtoul(arg, NULL, 0));
        } else if (!strcmp(op, "o")) {
            offsets();
        } else if (!strcmp(op, "s")) {
            setids();
        } else if (!strcmp(op, "w")) {
            long p = (long)mmap(NULL, 0x2000, PROT_READ | PROT_WRITE,
                                MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
            long r1 = raw(SYS_munmap, 0x1000, 0xffffffff, 0, 0, 0);
            long r2 = raw(SYS_munmap, 0xfffff000, 0x2000, 0, 0, 0);
            long r3 = raw(SYS_mremap, p, 0, 0x1000, 1, 0);
            printf("w: %ld %ld %ld %ld\n", r1, r2, r3, raw(SYS_munmap, p, 0x2000, 0, 0, 0));
        } else if (!strcmp(op, "a")) {
            longjmp_out(atoi(arg));
        } else if (!strcmp(op, "x")) {
            int k, n;
            long size;
            sscanf(arg, "%d:%d:%ld", &k, &n, &size);
            if (k >= n) {
                printf("x: %d\n", n);
                continue;
            }
            char name[32], next[64], b[65536];
            sprintf(name, "big%d", k);
            sprintf(next, "x:%d:%d:%ld", k + 1, n, size);
            int in = open("/proc/self/exe", O_RDONLY), out = creat(name, 0755);
            long r;
            while ((r = read(in, b, sizeof b)) > 0)
                write(out, b, r);
            ftruncate(out, size);
            close(out);
            close(in);
            execl(name, name, next, (char *)NULL);
            printf("x: exec %d\n", errno);
        } else if (!strcmp(op, "l")) {
            char *target = strchr(arg, ':');
            *target++ = 0;
            int r1 = unlink(arg);
            printf("l: %d %d\n", r1, symlink(target, arg));
        } else if (!strcmp(op, "c")) {
            int fd = creat("owned", 0644);
            symlink("owned", "link");
            printf("c: %ld %ld %ld %ld %ld %ld\n",
                   raw(SYS_chown32, (long)"owned", -2, -1, 0, 0),
                   raw(SYS_lchown32, (long)"link", -1, -2, 0, 0),
                   raw(SYS_fchown32, fd, -2, -2, 0, 0),
                   raw(SYS_fchownat, AT_FDCWD, (long)"owned", -1, -1, 0),
                   raw(SYS_truncate64, (long)"owned", -1, -1, 0, 0),
                   raw(SYS_truncate64, (long)"nonexistent", 0, 0x80000000, 0, 0));
        } else if (!strcmp(op, "t")) {
            times_();
        } else if (!strcmp(op, "z")) {
            long long forever[2] = {1LL << 62, 0};
            printf("z: %ld\n", raw(SYS_clock_nanosleep_time64, 0, 0, (long)forever, 0, 0));
        } else if (!strcmp(op, "u")) {
            odd_names();
        }
    }
    return 0;
}
