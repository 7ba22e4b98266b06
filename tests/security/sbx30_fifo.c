/* A blocking open for writing of a FIFO (argv[1]) that a reader opens only for a
   moment (non-blocking, closed at once): Linux ends the open when the reader came
   (fifo_open's wait_for_partner sees the reader count change), even if it left since. */
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

int main(int argc, char **argv) {
    setvbuf(stdout, 0, _IONBF, 0);
    printf("opening\n");
    int fd = open(argv[1], O_WRONLY);
    printf("opened %d\n", fd >= 0);
    return 0;
}
