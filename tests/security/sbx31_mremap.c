#define _GNU_SOURCE
#include <stdio.h>
#include <string.h>
#include <fcntl.h>
#include <unistd.h>
#include <sys/mman.h>
int main(void) {
    int fd = open("mrem31.bin", O_RDWR | O_CREAT | O_TRUNC, 0600);
    char page[4096];
    for (int i = 0; i < 4; i++) { memset(page, 'a' + i, sizeof page); write(fd, page, sizeof page); }
    char *p = mmap(0, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 4096);
    p[0] = 'X';
    char *q = mremap(p, 4096, 3 * 4096, MREMAP_MAYMOVE);     /* grows: the file goes on */
    printf("grown: %c %c %c\n", q[0], q[4096], q[8191 + 1]);
    munmap(q, 3 * 4096);
    /* in place, after the space beyond is made free */
    char *r = mmap(0, 3 * 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    munmap(r + 4096, 2 * 4096);
    char *s = mmap(r, 4096, PROT_READ, MAP_PRIVATE | MAP_FIXED, fd, 0);
    char *t = mremap(s, 4096, 2 * 4096, 0);
    printf("in place: %d %c %c\n", t == s, t[0], t[4096]);
    close(fd);
    unlink("mrem31.bin");
    return 0;
}
