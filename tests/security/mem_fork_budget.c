/* Several processes, each allocating 1.5 GiB (within the per-process cap): the run as a
 * whole may hold only twice that cap, so later children get NULL. Each child reports,
 * then waits on a pipe so that all are alive at once. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

int main(void)
{
    int gate[2], done[2];
    pipe(gate);
    pipe(done);
    for (int i = 0; i < 4; i++) {
        if (fork() == 0) {
            close(gate[1]);
            char *p = malloc(1536u << 20);
            if (p) {
                p[0] = 1;
                p[(1536u << 20) - 1] = 1;
            }
            printf("child %d: %s\n", i, p ? "ok" : "null");
            fflush(stdout);
            write(done[1], "x", 1);
            char c;
            read(gate[0], &c, 1);
            _exit(0);
        }
        char c;
        read(done[0], &c, 1);       /* one at a time: the order is fixed */
    }
    close(gate[1]);
    while (wait(NULL) > 0)
        ;
    return 0;
}
