#define _GNU_SOURCE
#include <stdio.h>
#include <string.h>
#include <fcntl.h>
#include <unistd.h>
#include <sys/mman.h>
int main(void) {
    int fd = open("shio31.bin", O_RDWR | O_CREAT | O_TRUNC, 0600);
    write(fd, "hello world", 11);
    char *p = mmap(0, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    char buf[16] = {0};
    p[0] = 'J';                                   /* a store, then read() */
    pread(fd, buf, 5, 0);
    printf("pread after store: %.5s\n", buf);
    lseek(fd, 0, SEEK_SET);
    read(fd, buf, 11);
    printf("read after store: %.11s\n", buf);
    pwrite(fd, "W", 1, 6);                        /* pwrite, then a load */
    printf("load after pwrite: %.11s\n", p);
    lseek(fd, 0, SEEK_SET);
    write(fd, "Y", 1);                            /* write keeps the other stores */
    p[10] = 'D';
    printf("load after write: %.11s\n", p);
    pread(fd, buf, 11, 0);
    printf("file after stores: %.11s\n", buf);
    close(fd);
    unlink("shio31.bin");
    return 0;
}
