/* Session 29 red team probes (tests/security/test_redteam29.py), each an argument:
   m:MB[s]  mmap a sparse file of MB MiB (MAP_PRIVATE, or MAP_SHARED with s): "m: 0" or
            "m: -errno" (under a memory limit ENOMEM, which pyvm answered only after
            reading the whole file into host memory)
   r:MB[t]  mremap of an anonymous mapping of MB MiB (touched with t) that must move:
            "r: 0 moved last-byte"
   g:DIR:N  open directory DIR N times and read one entry from each (getdents64 with a
            small buffer): "g: opened first-name-length"
   u:DIR    remove every entry of DIR as it is listed (a small buffer, as rm -r does),
            after a getdents64 into a bad buffer: "u: removed rmdir-result first-name"
   c:N      open N descriptors, then close every one /proc/self/fd lists as it is read
            (a small buffer, as closefrom does): "c: closed still-open"
   d        file mappings with holes, data and a partial last page: what a MAP_PRIVATE
            mapping reads, what MAP_SHARED stores write back (checksums) */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static unsigned sum(const unsigned char *p, size_t n) {
    unsigned s = 0;
    for (size_t i = 0; i < n; i++) s = s * 31 + p[i];
    return s;
}

static void sparse_map(const char *a) {
    unsigned mb = strtoul(a, 0, 0);
    int shared = strchr(a, 's') != 0;
    size_t len = (size_t)mb << 20;
    int fd = open("sparse", O_RDWR | O_CREAT | O_TRUNC, 0644);
    if (fd < 0 || ftruncate(fd, len)) { printf("m: setup %d\n", errno); return; }
    void *p = mmap(0, len, PROT_READ | (shared ? PROT_WRITE : 0),
                   shared ? MAP_SHARED : MAP_PRIVATE, fd, 0);
    printf("m: %d\n", p == MAP_FAILED ? -errno : 0);
    if (p != MAP_FAILED) munmap(p, len);
    close(fd);
    unlink("sparse");
}

static void remap(const char *a) {
    size_t len = (size_t)strtoul(a, 0, 0) << 20;
    char *p = mmap(0, len + 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    mprotect(p + len, 4096, PROT_NONE);             /* in the way: the mapping moves */
    if (strchr(a, 't'))
        for (size_t i = 0; i < len; i += 4096) p[i] = 1;
    char *q = mremap(p, len, len + (16 << 20), MREMAP_MAYMOVE);
    if (q == MAP_FAILED) { printf("r: %d\n", -errno); return; }
    printf("r: 0 %d %d\n", q != p, q[len - 4096]);
    munmap(q, len + (16 << 20));
}

static void dirs(const char *a) {
    char dir[256];
    const char *colon = strchr(a, ':');
    snprintf(dir, sizeof dir, "%.*s", (int)(colon - a), a);
    int n = atoi(colon + 1), opened = 0, len = 0;
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);                  /* as many as the hard limit allows */
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
    for (int i = 0; i < n; i++) {
        char buf[64];
        int fd = open(dir, O_RDONLY | O_DIRECTORY);
        if (fd < 0) break;
        opened++;
        long got = syscall(SYS_getdents64, fd, buf, sizeof buf);
        if (got > 0) len = got;
    }
    printf("g: %d %d\n", opened, len);
}

static void unlink_all(const char *dir) {
    char buf[512], path[512], first[256] = "";
    int fd = open(dir, O_RDONLY | O_DIRECTORY), removed = 0;
    long bad = syscall(SYS_getdents64, fd, (void *)16, 4096);   /* EFAULT: nothing lost */
    for (;;) {
        long got = syscall(SYS_getdents64, fd, buf, sizeof buf);
        if (got <= 0) break;
        for (long pos = 0; pos < got;) {
            unsigned short reclen = *(unsigned short *)(buf + pos + 16);
            const char *name = buf + pos + 19;
            if (strcmp(name, ".") && strcmp(name, "..")) {
                if (!first[0] && !strncmp(name, "a", 1)) snprintf(first, sizeof first, "%s", name);
                snprintf(path, sizeof path, "%s/%s", dir, name);
                removed += unlink(path) == 0;
            }
            pos += reclen;
        }
    }
    close(fd);
    printf("u: %ld %d %d %s\n", bad, removed, rmdir(dir) ? -errno : 0, first[0] ? "a" : "-");
}

static void close_listed(const char *a) {
    int n = atoi(a), closed = 0, left = 0;
    for (int i = 0; i < n; i++) open("/dev/null", O_RDONLY);
    int dir = open("/proc/self/fd", O_RDONLY | O_DIRECTORY);
    char buf[512];
    for (;;) {
        long got = syscall(SYS_getdents64, dir, buf, sizeof buf);
        if (got <= 0) break;
        for (long pos = 0; pos < got; pos += *(unsigned short *)(buf + pos + 16)) {
            int fd = atoi(buf + pos + 19);
            if (fd > 2 && fd != dir) closed += close(fd) == 0;
        }
    }
    close(dir);
    for (int fd = 3; fd < n + 16; fd++) left += fcntl(fd, F_GETFD) >= 0;
    printf("c: %d %d\n", closed, left);
}

#define PG 4096
static void data_maps(void) {
    size_t size = 768 * PG + 100, len = 1024 * PG;
    int fd = open("data", O_RDWR | O_CREAT | O_TRUNC, 0644);
    char page[PG];
    for (int i = 0; i < PG; i++) page[i] = (char)(i * 7 + 1);
    pwrite(fd, page, PG, 0);
    pwrite(fd, page + 5, 300, 300 * PG + 11);      /* data amid holes */
    pwrite(fd, page, 100, 768 * PG);               /* a partial last page */
    ftruncate(fd, size);
    unsigned char *p = mmap(0, len, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
    printf("d: private %u %u %u\n", sum(p, PG), sum(p + 300 * PG, PG), sum(p + 768 * PG, PG));
    p[5] = 1;                                       /* private: the file keeps its byte */
    munmap(p, len);
    unsigned char *q = mmap(0, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    printf("d: shared %u %u\n", sum(q, PG), q[5]);
    q[PG + 3] = 9;                                  /* a hole written */
    memset(q + 500 * PG, 0x5a, PG);
    q[300 * PG + 20] = 0;                           /* a data page changed */
    q[768 * PG + 50] = 3;                           /* within the last page */
    q[768 * PG + 200] = 4;                          /* past the end: not written back */
    msync(q, len, MS_SYNC);
    pid_t child = fork();
    if (child == 0) {                               /* a child's own changes reach it */
        q[2 * PG] = 8;
        memset(q + 600 * PG, 0, PG);
        _exit(0);
    }
    waitpid(child, 0, 0);
    memset(q + 700 * PG, 0x33, 100);
    munmap(q, len);
    struct stat st;
    fstat(fd, &st);
    unsigned char *all = calloc(1, size);
    for (size_t got = 0, n; got < size; got += n)   /* (reads may be short) */
        if ((n = pread(fd, all + got, size - got, got)) <= 0) break;
    printf("d: file %lld %u %u %u %u\n", (long long)st.st_size, sum(all, size), all[PG + 3],
           all[2 * PG], all[700 * PG + 99]);
    close(fd);
    unlink("data");
}

int main(int argc, char **argv) {
    setvbuf(stdout, 0, _IONBF, 0);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (a[0] == 'm' && a[1] == ':') sparse_map(a + 2);
        else if (a[0] == 'r' && a[1] == ':') remap(a + 2);
        else if (a[0] == 'g' && a[1] == ':') dirs(a + 2);
        else if (a[0] == 'u' && a[1] == ':') unlink_all(a + 2);
        else if (a[0] == 'c' && a[1] == ':') close_listed(a + 2);
        else if (a[0] == 'd') data_maps();
    }
    return 0;
}
