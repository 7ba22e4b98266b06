/* Mend of sandbox round 31 (memory mappings): modes
   fork  - a forked child's copy of a dirty MAP_SHARED page is not newer than the file
   both  - parent and child store to one MAP_SHARED page: both stores reach the file
   fds   - MAP_PRIVATE mappings of closed files hold no descriptor; mremap still grows
           one over its file after the close
   vmas N MODE - VMA count: 's' shared pieces cut by munmap holes, 'f' one-page file
           mappings side by side (Linux merges neither)
   cfr   - copy_file_range from a file with a stored, unsynced MAP_SHARED page */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

static void wait_for(int fd) { char c; if (read(fd, &c, 1) != 1) _exit(3); }
static void go(int fd) { if (write(fd, "g", 1) != 1) _exit(3); }

static int fork_mode(void) {
    int fd = open("fk.dat", O_RDWR | O_CREAT | O_TRUNC, 0644);
    char page[8192];
    memset(page, '.', sizeof page);
    memcpy(page, "hello world\n", 12);
    memcpy(page + 4096, "second page\n", 12);
    write(fd, page, sizeof page);
    char *p = mmap(0, 8192, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    int to_child[2], to_parent[2];
    pipe(to_child); pipe(to_parent);
    p[1] = 'E';                         /* stored, not synced, at the fork */
    pid_t c = fork();
    if (c == 0) {
        char buf[16] = {0};
        p[4096] = 'S';                  /* the child's own store, another page */
        wait_for(to_child[0]);          /* the parent has stored and msync'ed */
        pread(fd, buf, 12, 0);
        printf("child pread: %.12s", buf);
        printf("child mapping: %.12s", p);
        fflush(stdout);
        go(to_parent[1]);
        _exit(0);
    }
    p[2] = 'L';
    msync(p, 8192, MS_SYNC);
    go(to_child[1]);
    wait_for(to_parent[0]);
    waitpid(c, 0, 0);
    char buf[16] = {0};
    pread(fd, buf, 12, 0);
    printf("parent pread: %.12s", buf);
    pread(fd, buf, 12, 4096);
    printf("parent pread 2: %.12s", buf);
    printf("parent mapping: %.12s", p);
    munmap(p, 8192);
    close(fd);
    return 0;
}

static int both_mode(void) {
    int fd = open("both.dat", O_RDWR | O_CREAT | O_TRUNC, 0644);
    write(fd, "hello world\n", 12);
    char *p = mmap(0, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    int to_child[2], to_parent[2];
    pipe(to_child); pipe(to_parent);
    p[1] = 'E';
    pid_t c = fork();
    if (c == 0) {
        char buf[16] = {0};
        p[3] = 'C';                     /* the same page as the parent's next store */
        go(to_parent[1]);
        wait_for(to_child[0]);          /* the parent has stored and msync'ed */
        msync(p, 4096, MS_SYNC);
        pread(fd, buf, 12, 0);
        printf("child pread: %.12s", buf);
        fflush(stdout);
        go(to_parent[1]);
        _exit(0);
    }
    wait_for(to_parent[0]);
    p[2] = 'P';
    msync(p, 4096, MS_SYNC);
    go(to_child[1]);
    wait_for(to_parent[0]);
    waitpid(c, 0, 0);
    char buf[16] = {0};
    pread(fd, buf, 12, 0);
    printf("parent pread: %.12s", buf);
    printf("parent mapping: %.12s", p);
    return 0;
}

static int fds_mode(void) {
    int fd = open("fd.dat", O_RDWR | O_CREAT | O_TRUNC, 0644);
    char page[4096];
    memset(page, 'a', sizeof page); write(fd, page, sizeof page);
    memset(page, 'b', sizeof page); write(fd, page, sizeof page);
    close(fd);
    char *first = 0;
    for (int i = 0; i < 200; i++) {
        fd = open("fd.dat", O_RDONLY);
        if (fd < 0) { printf("open %d: %s\n", i, strerror(errno)); return 0; }
        char *p = mmap(0, 4096, PROT_READ, MAP_PRIVATE, fd, 0);
        if (p == MAP_FAILED) { printf("mmap %d: %s\n", i, strerror(errno)); return 0; }
        if (!first) first = p;
        close(fd);
    }
    printf("200 mapped\n");
    char *q = mremap(first, 4096, 8192, MREMAP_MAYMOVE);    /* its file is closed */
    printf("grown: %c %c\n", q[0], q[4096]);
    return 0;
}

static int vmas_mode(int n, char mode) {
    int fd = open("v.dat", O_RDWR | O_CREAT | O_TRUNC, 0644);
    ftruncate(fd, (long)n * 8192);
    if (mode == 's') {
        char *p = mmap(0, (long)n * 8192, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        for (int i = 0; i < n; i++)
            if (munmap(p + (long)i * 8192 + 4096, 4096)) {
                printf("munmap failed at %d: %s\n", i, strerror(errno));
                return 0;
            }
    } else {
        char *p = mmap(0, (long)n * 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        for (int i = 0; i < n; i++)
            if (mmap(p + (long)i * 4096, 4096, PROT_READ, MAP_PRIVATE | MAP_FIXED, fd, 0)
                    == MAP_FAILED) {
                printf("mmap failed at %d: %s\n", i, strerror(errno));
                return 0;
            }
    }
    printf("all %d ok\n", n);
    return 0;
}

static int cfr_mode(void) {
    int fd = open("src.dat", O_RDWR | O_CREAT | O_TRUNC, 0644);
    write(fd, "hello world\n", 12);
    char *p = mmap(0, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    p[0] = 'J';
    int o = open("dst.dat", O_RDWR | O_CREAT | O_TRUNC, 0644);
    loff_t a = 0, b = 0;
    long n = copy_file_range(fd, &a, o, &b, 12, 0);
    char buf[16] = {0};
    pread(o, buf, 12, 0);
    printf("copy_file_range %ld: %.12s", n, buf);
    return 0;
}

int main(int argc, char **argv) {
    if (argc > 1 && !strcmp(argv[1], "fork")) return fork_mode();
    if (argc > 1 && !strcmp(argv[1], "fds")) return fds_mode();
    if (argc > 1 && !strcmp(argv[1], "both")) return both_mode();
    if (argc > 3 && !strcmp(argv[1], "vmas")) return vmas_mode(atoi(argv[2]), argv[3][0]);
    if (argc > 1 && !strcmp(argv[1], "cfr")) return cfr_mode();
    return 2;
}
