/* Session 28 sandbox fixes, one probe per mode, run natively and under pyvm (the
   outputs must match): tests/security/test_sbx28_hostfds.py.
   fds DIR:   four children fill their descriptor tables and wait; the parent then
              execs DIR/exec-copy (a second copy of this program): it must start.
   nonblock:  stdin is a pipe nobody writes: O_NONBLOCK reads get EAGAIN; a child
              blocked reading it does not stop its parent.
   fifo PATH: PATH is a FIFO: a child's blocking open for reading waits while the
              parent runs, then the parent opens it for writing and sends 100000 bytes.
   shmholes:  a MAP_SHARED mapping of 2000 pages gets 1000 holes (munmap), then the
              process opens a file and forks (each piece held a host descriptor).
   pipes:     pipe() until it fails (EMFILE at RLIMIT_NOFILE: pyvm had no limit for
              descriptors without a host one, each host memory), then dup and open.
   sendfile:  sendfile of a 200000-byte file into a pipe a child drains slowly (the
              bytes read while the pipe was full were lost).
   nbwrite:   stdout is a pipe nobody reads: O_NONBLOCK writes fill it, then EAGAIN
              (the total and the error on stderr).
   errno:     open() cases whose errno differed from Linux's.
   started:   what exec-copy prints. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static const char *full(int err) {
    return err == EMFILE || err == ENFILE ? "table full" : strerror(err);
}

static int fds(const char *dir) {
    int go[2], ready[2];
    char b, path[4096];
    if (pipe(go) || pipe(ready)) return 1;
    for (int c = 0; c < 4; c++) {
        if (fork() == 0) {
            close(go[1]);
            int err = 0;
            while (!err)
                if (open("/etc/passwd", O_RDONLY) < 0) err = errno;
            printf("child %d: %s\n", c, full(err));
            fflush(stdout);
            write(ready[1], "x", 1);
            read(go[0], &b, 1);                 /* holds its descriptors until EOF */
            _exit(0);
        }
    }
    for (int c = 0; c < 4; c++) read(ready[0], &b, 1);
    snprintf(path, sizeof path, "%s/exec-copy", dir);
    pid_t pid = fork();
    if (pid == 0) {
        execl(path, "exec-copy", "started", (char *)0);
        printf("exec failed: %s\n", full(errno));
        fflush(stdout);
        _exit(1);
    }
    int st;
    waitpid(pid, &st, 0);
    close(go[1]);
    while (wait(&st) > 0) {}
    printf("done\n");
    return 0;
}

static int nonblock(void) {
    char b[16];
    int fl = fcntl(0, F_GETFL);
    fcntl(0, F_SETFL, fl | O_NONBLOCK);
    ssize_t n = read(0, b, sizeof b);
    printf("nonblocking read: %zd %s\n", n, n < 0 ? strerrorname_np(errno) : "");
    fcntl(0, F_SETFL, fl);
    printf("O_NONBLOCK after F_SETFL back: %d\n", (fcntl(0, F_GETFL) & O_NONBLOCK) != 0);
    fflush(stdout);
    pid_t c = fork();
    if (c == 0) {
        n = read(0, b, sizeof b);
        printf("child read %zd\n", n);
        fflush(stdout);
        _exit(0);
    }
    usleep(100000);
    printf("parent runs while the child reads\n");
    fflush(stdout);
    kill(c, SIGKILL);
    int st;
    waitpid(c, &st, 0);
    printf("child killed by %d\n", WIFSIGNALED(st) ? WTERMSIG(st) : -1);
    return 0;
}

static int shmholes(void) {
    int fd = open("shm.dat", O_RDWR | O_CREAT | O_TRUNC, 0600);
    if (fd < 0 || ftruncate(fd, 4096 * 2000)) return 1;
    char *p = mmap(0, 4096 * 2000, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (p == MAP_FAILED) return 1;
    int holes = 0;
    for (int i = 1; i < 2000; i += 2) {
        p[4096 * (i - 1)] = 'a';
        if (munmap(p + 4096 * i, 4096) == 0) holes++;
    }
    printf("holes %d\n", holes);
    int f2 = open("/etc/passwd", O_RDONLY);
    printf("open after: %s\n", f2 < 0 ? full(errno) : "ok");
    fflush(stdout);
    pid_t c = fork();
    if (c == 0) _exit(0);         /* (its copy of the pieces is written back too) */
    int st;
    waitpid(c, &st, 0);
    munmap(p, 4096 * 2000);
    char b[2];
    pread(fd, b, 1, 0);
    pread(fd, b + 1, 1, 4096 * 1998);
    printf("fork: %s, file: %.2s\n", c > 0 ? "ok" : full(errno), b);
    return 0;
}

static int pipes(void) {
    int p[2];
    while (pipe(p) == 0) {}
    printf("pipe: %s\n", strerrorname_np(errno));
    int d = dup(0);
    printf("dup: %s\n", d < 0 ? strerrorname_np(errno) : "ok");
    int o = open("/etc/passwd", O_RDONLY);
    printf("open: %s\n", o < 0 ? strerrorname_np(errno) : "ok");
    return 0;
}

static int sendfile_pipe(void) {
    static char b[200000];
    int f = open("sf.dat", O_RDWR | O_CREAT | O_TRUNC, 0600), p[2];
    for (int i = 0; i < (int)sizeof b; i++) b[i] = i * 7;
    if (write(f, b, sizeof b) != sizeof b || lseek(f, 0, 0) || pipe(p)) return 1;
    if (fork() == 0) {
        long total = 0, sum = 0;
        ssize_t n;
        close(p[1]);
        usleep(100000);
        while ((n = read(p[0], b, 1000)) > 0)
            for (int i = 0; i < n; i++, total++) sum += (unsigned char)b[i] * (total % 97);
        printf("child got %ld, sum %ld\n", total, sum);
        fflush(stdout);
        _exit(0);
    }
    close(p[0]);
    long sent = 0;
    ssize_t n;
    while ((n = sendfile(p[1], f, 0, sizeof b - sent)) > 0) sent += n;
    close(p[1]);
    int st;
    wait(&st);
    printf("sent %ld\n", sent);
    return 0;
}

static int nbwrite(void) {
    static char buf[1 << 20];
    long total = 0;
    ssize_t n;
    fcntl(1, F_SETFL, fcntl(1, F_GETFL) | O_NONBLOCK);
    while ((n = write(1, buf, sizeof buf)) > 0) total += n;
    fprintf(stderr, "wrote %ld, then %s\n", total, strerrorname_np(errno));
    return 0;
}

static int fifo(const char *path) {
    int p[2];
    char b;
    int fd = open(path, O_WRONLY | O_NONBLOCK);
    printf("nonblocking writer, no reader: %s\n", fd < 0 ? strerrorname_np(errno) : "opened");
    fflush(stdout);
    if (pipe(p)) return 1;
    pid_t c = fork();
    if (c == 0) {
        close(p[0]);
        write(p[1], "s", 1);
        int r = open(path, O_RDONLY);
        long total = 0;
        char buf[4096];
        ssize_t n;
        while ((n = read(r, buf, sizeof buf)) > 0) total += n;
        printf("reader got %ld bytes\n", total);
        fflush(stdout);
        _exit(0);
    }
    close(p[1]);
    read(p[0], &b, 1);
    usleep(50000);
    printf("parent runs while the reader waits in open\n");
    fflush(stdout);
    int w = open(path, O_WRONLY);
    static char big[100000];
    memset(big, 'x', sizeof big);
    for (size_t done = 0; done < sizeof big;) {
        ssize_t n = write(w, big + done, sizeof big - done);
        if (n < 0) { printf("write: %s\n", strerrorname_np(errno)); break; }
        done += n;
    }
    close(w);
    int st;
    waitpid(c, &st, 0);
    int r = open(path, O_RDONLY | O_NONBLOCK);
    ssize_t n = read(r, &b, 1);
    printf("nonblocking reader, no writer: %zd\n", n);
    printf("done %d\n", WEXITSTATUS(st));
    return 0;
}

static void t(const char *what, int fd) {
    struct stat st;
    const char *kind = "";
    if (fd >= 0 && fstat(fd, &st) == 0)
        kind = S_ISLNK(st.st_mode) ? " link" : S_ISDIR(st.st_mode) ? " dir" : " other";
    printf("%-36s %s%s\n", what, fd >= 0 ? "ok" : strerrorname_np(errno), kind);
    if (fd >= 0) close(fd);
}

static int errnos(void) {
    mkdir("d", 0755);
    close(open("f", O_CREAT | O_WRONLY, 0600));
    symlink("f", "l");
    t("/proc O_WRONLY", open("/proc", O_WRONLY));
    t("/proc O_RDONLY|O_CREAT", open("/proc", O_RDONLY | O_CREAT, 0600));
    t("/proc/self/fd O_RDWR", open("/proc/self/fd", O_RDWR));
    t("d O_WRONLY", open("d", O_WRONLY));
    t("O_TMPFILE bit without O_DIRECTORY", open("d", (O_TMPFILE & ~O_DIRECTORY) | O_RDWR, 0600));
    t("O_TMPFILE|O_RDONLY", open("d", O_TMPFILE | O_RDONLY, 0600));
    t("O_TMPFILE|O_CREAT|O_RDWR", open("d", O_TMPFILE | O_CREAT | O_RDWR, 0600));
    t("O_TMPFILE|O_RDWR missing", open("nx", O_TMPFILE | O_RDWR, 0600));
    t("O_TMPFILE|O_RDWR on a file", open("f", O_TMPFILE | O_RDWR, 0600));
    t("/proc/self/fd/1 O_DIRECTORY", open("/proc/self/fd/1", O_RDONLY | O_DIRECTORY));
    t("/dev/stdin O_DIRECTORY", open("/dev/stdin", O_RDONLY | O_DIRECTORY));
    t("t/ O_CREAT", open("t/", O_CREAT | O_WRONLY, 0600));
    printf("t created: %d\n", access("t", F_OK) == 0);
    t("f/ O_CREAT", open("f/", O_CREAT | O_WRONLY, 0600));
    t("d/ O_CREAT", open("d/", O_CREAT | O_RDONLY, 0600));
    t("nx/t/ O_CREAT", open("nx/t/", O_CREAT | O_WRONLY, 0600));
    t("l O_PATH|O_NOFOLLOW", open("l", O_PATH | O_NOFOLLOW));
    t("l O_NOFOLLOW", open("l", O_RDONLY | O_NOFOLLOW));
    t("f O_PATH|O_WRONLY|O_TRUNC", open("f", O_PATH | O_WRONLY | O_TRUNC));
    t("/proc/self O_PATH|O_NOFOLLOW", open("/proc/self", O_PATH | O_NOFOLLOW));
    t("/proc/self/exe O_PATH|O_NOFOLLOW", open("/proc/self/exe", O_PATH | O_NOFOLLOW));
    t("/proc/self/cwd O_PATH|O_NOFOLLOW", open("/proc/self/cwd", O_PATH | O_NOFOLLOW));
    t("/proc/self/cwd O_NOFOLLOW", open("/proc/self/cwd", O_RDONLY | O_NOFOLLOW));
    int fd = open("/proc/self/exe", O_PATH | O_NOFOLLOW);
    char b;
    ssize_t n = read(fd, &b, 1);
    printf("read of an O_PATH fd: %zd %s\n", n, strerrorname_np(errno));
    return 0;
}

int main(int argc, char **argv) {
    if (argc < 2) return 2;
    if (!strcmp(argv[1], "started")) { printf("exec ok\n"); return 0; }
    if (!strcmp(argv[1], "fds")) return fds(argv[2]);
    if (!strcmp(argv[1], "nonblock")) return nonblock();
    if (!strcmp(argv[1], "nbwrite")) return nbwrite();
    if (!strcmp(argv[1], "shmholes")) return shmholes();
    if (!strcmp(argv[1], "pipes")) return pipes();
    if (!strcmp(argv[1], "sendfile")) return sendfile_pipe();
    if (!strcmp(argv[1], "fifo")) return fifo(argv[2]);
    if (!strcmp(argv[1], "errno")) return errnos();
    return 2;
}
