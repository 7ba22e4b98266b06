/* File-backed mmap: MAP_PRIVATE is copy-on-write (the file keeps its bytes), MAP_SHARED
 * on a file opened for writing reaches the file (msync, munmap, exit), MAP_SHARED with
 * PROT_WRITE on a read-only descriptor is EACCES, a mapping reads the file's bytes and
 * zeros in the rest of its last page. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static void show(const char *what, const char *file)
{
    char buf[64] = {0};
    int fd = open(file, O_RDONLY);
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    printf("%s: %zd [%s]\n", what, n, buf);
}

int main(int argc, char **argv)
{
    const char *file = "mmap_file.dat";
    int fd = open(file, O_RDWR | O_CREAT | O_TRUNC, 0644);
    write(fd, "hello, mapped world", 19);

    char *p = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
    printf("private read [%.19s] tail %d\n", p, p[19] + p[4095]);
    memcpy(p, "HELLO", 5);
    munmap(p, 8192);
    show("after private", file);

    char *s = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    memcpy(s + 7, "MAPPED", 6);
    printf("msync %d\n", msync(s, 4096, MS_SYNC));
    show("after msync", file);
    s[0] = 'J';
    munmap(s, 4096);
    show("after munmap", file);

    int ro = open(file, O_RDONLY);
    void *bad = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, ro, 0);
    printf("shared on read-only fd: %s\n", bad == MAP_FAILED && errno == EACCES ? "EACCES" : "mapped");
    char *r = mmap(NULL, 4096, PROT_READ, MAP_SHARED, ro, 0);
    printf("read-only shared [%.5s]\n", r);

    s = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    close(fd);
    s[18] = 'D';
    if (argc > 1) {             /* the stores must reach the file at exit */
        return 3;
    }
    munmap(s, 4096);
    show("final", file);
    unlink(file);
    return 0;
}
