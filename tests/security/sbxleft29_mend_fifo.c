/* A FIFO reader's blocking open that ends without a writer: interrupted by a signal
 * (then a writer's O_NONBLOCK open must fail with ENXIO: no reader is left; with the
 * second argument "pause" the program waits 3 s for one from outside), or, with another
 * second argument, never ending (the run is stopped from outside). */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static void h(int s) { (void)s; }

int main(int argc, char **argv) {
    if (argc > 2 && strcmp(argv[2], "pause")) {     /* a writer that never comes */
        int fd = open(argv[1], O_RDONLY);
        printf("read open %d\n", fd);
        return 0;
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = h;                  /* no SA_RESTART: the open fails with EINTR */
    sigaction(SIGALRM, &sa, 0);
    signal(SIGPIPE, SIG_IGN);
    alarm(1);
    int fd = open(argv[1], O_RDONLY);
    printf("read open %d %s\n", fd, fd < 0 ? strerror(errno) : "-");
    if (argc > 2) {                     /* the test opens a writer meanwhile */
        fflush(stdout);
        sleep(3);
        return 0;
    }
    usleep(200000);
    int w = open(argv[1], O_WRONLY | O_NONBLOCK);
    printf("nonblocking write open %d %s\n", w, w < 0 ? strerror(errno) : "-");
    if (w >= 0) {
        usleep(200000);
        int n = (int)write(w, "x", 1);
        printf("write %d %s\n", n, n < 0 ? strerror(errno) : "-");
    }
    return 0;
}
