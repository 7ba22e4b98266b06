/* outcap29: a guest that fills the disk through the files it may write (its start
 * directory): write, pwrite, ftruncate, truncate, copy_file_range, by argv[1]. Each
 * prints what it did and exits 0 when nothing stopped it; under RLIMIT_FSIZE (native)
 * or --max-output (pyvm) the first write past the limit ends it (SIGXFSZ: status 153). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static char buf[65536];

int main(int argc, char **argv) {
    const char *mode = argc > 1 ? argv[1] : "write";
    long total = 0;
    memset(buf, 'x', sizeof buf);
    int fd = open("fill.out", O_RDWR | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) { perror("open"); return 1; }
    if (!strcmp(mode, "write") || !strcmp(mode, "pwrite")) {
        for (int i = 0; i < 64; i++) {
            ssize_t n = mode[0] == 'w' ? write(fd, buf, sizeof buf)
                                       : pwrite(fd, buf, sizeof buf, total);
            if (n < 0) { printf("%s: %s after %ld\n", mode, strerror(errno), total); return 2; }
            total += n;
        }
    } else if (!strcmp(mode, "ftruncate")) {
        if (ftruncate(fd, 1L << 30) < 0) { printf("ftruncate: %s\n", strerror(errno)); return 2; }
        total = 1L << 30;
    } else if (!strcmp(mode, "truncate")) {
        if (truncate("fill.out", 1L << 30) < 0) { printf("truncate: %s\n", strerror(errno)); return 2; }
        total = 1L << 30;
    } else if (!strcmp(mode, "copy")) {
        int src = open("src.in", O_RDONLY);
        if (src < 0) { perror("src.in"); return 1; }
        for (;;) {
            __off64_t in = 0;
            ssize_t n = copy_file_range(src, &in, fd, NULL, 1 << 20, 0);
            if (n < 0) { printf("copy: %s after %ld\n", strerror(errno), total); return 2; }
            if (n == 0 || total >= (4L << 20)) break;
            total += n;
        }
    }
    printf("%s: %ld\n", mode, total);
    return 0;
}
