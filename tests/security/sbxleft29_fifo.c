/* Opens the FIFO argv[1] for reading (blocking: it waits for a writer) and says so at
   once; then reads what the writer sends. */
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

int main(int argc, char **argv) {
    int fd = open(argv[1], O_RDONLY);
    if (fd < 0)
        return 1;
    write(1, "opened\n", 7);
    char buf[64];
    long n = read(fd, buf, sizeof buf);
    printf("read %ld: %.*s\n", n, (int)(n > 0 ? n : 0), buf);
    return 0;
}
