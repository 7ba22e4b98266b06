/* "forks": fork until fork() fails (children wait on a pipe), report why, let the
   children go and reap them, exit 3.  "bomb": every process forks up to 4 children that
   do the same, 6 levels deep (5461 processes if nothing fails); the first exits 42. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/wait.h>

static void bomb(int depth) {
    for (int i = 0; i < 4 && depth > 0; i++) {
        pid_t pid = fork();
        if (pid == 0) {
            bomb(depth - 1);
            _exit(0);
        }
    }
    while (wait(NULL) > 0)
        ;
}

int main(int argc, char **argv) {
    if (argc > 1 && strcmp(argv[1], "bomb") == 0) {
        bomb(6);
        printf("bomb done\n");
        return 42;
    }
    int go[2];
    if (pipe(go)) return 1;
    int n = 0;
    for (;;) {
        pid_t pid = fork();
        if (pid < 0) {
            printf("fork failed after %d children: %s\n", n,
                   errno == EAGAIN ? "EAGAIN" : strerror(errno));
            break;
        }
        if (pid == 0) {
            char c;
            close(go[1]);
            read(go[0], &c, 1);
            _exit(0);
        }
        if (++n > 100000) break;
    }
    close(go[1]);
    int reaped = 0;
    while (wait(NULL) > 0) reaped++;
    printf("reaped %d\n", reaped);
    return 3;
}
