/* Mend of the last read of the Linux diff (sandbox). Modes:
   grow OUTSIDE: a MAP_PRIVATE file mapping whose file is then unlinked and replaced by
     a symlink to OUTSIDE is grown by mremap (Linux maps on over the old file);
   store kill|spin: a MAP_SHARED store to "g", then SIGKILL (native) or a spin that
     pyvm's step limit stops;
   read: the first 8 bytes of "g". */
#define _GNU_SOURCE
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static int grow(const char *outside) {
    char z[8192];
    memset(z, 'x', sizeof z);
    int fd = open("a", O_CREAT | O_RDWR | O_TRUNC, 0644);
    if (write(fd, z, sizeof z) != sizeof z) return 1;
    char *p = mmap(0, 4096, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    unlink("a");
    int s = symlink(outside, "a");
    char *q = mremap(p, 4096, 8192, MREMAP_MAYMOVE);
    printf("symlink %d mremap %s first %c\n", s, q == MAP_FAILED ? "failed" : "ok",
           q == MAP_FAILED ? '-' : q[0]);
    return 0;
}

static int store(const char *how) {
    char z[4096];
    memset(z, '.', sizeof z);
    int fd = open("g", O_CREAT | O_RDWR | O_TRUNC, 0644);
    if (write(fd, z, sizeof z) != sizeof z) return 1;
    char *p = mmap(0, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    memcpy(p, "AAAA", 4);
    if (!strcmp(how, "kill"))
        kill(getpid(), SIGKILL);
    for (volatile unsigned i = 0;; i++)
        ;
}

int main(int argc, char **argv) {
    if (argc > 2 && !strcmp(argv[1], "grow")) return grow(argv[2]);
    if (argc > 2 && !strcmp(argv[1], "store")) return store(argv[2]);
    if (argc > 1 && !strcmp(argv[1], "read")) {
        char b[9] = {0};
        int fd = open("g", O_RDONLY);
        printf("read %zd %s\n", read(fd, b, 8), b);
        return 0;
    }
    return 2;
}
