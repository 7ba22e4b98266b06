/* Touch a 10 MB heap, fork N children that check their copy of it and block on a pipe
   until the parent, having forked them all, reads one line of stdin (the test measures
   pyvm's memory meanwhile), then let them all exit and reap them. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/wait.h>

#define HEAP (10u << 20)

int main(int argc, char **argv) {
    int n = argc > 1 ? atoi(argv[1]) : 100;
    unsigned char *p = malloc(HEAP);
    if (!p) { printf("malloc failed\n"); return 1; }
    for (unsigned i = 0; i < HEAP; i++) p[i] = (unsigned char)(i * 7 + (i >> 12));
    int go[2], ready[2];
    if (pipe(go) || pipe(ready)) { printf("pipe failed\n"); return 1; }
    for (int i = 0; i < n; i++) {
        pid_t pid = fork();
        if (pid < 0) { printf("fork %d failed\n", i); return 1; }
        if (pid == 0) {
            close(go[1]);
            close(ready[0]);
            int good = p[1] == (i ? i : 7);         /* not the parent's later writes */
            for (unsigned k = 64; k < HEAP; k += 4099)
                good &= p[k] == (unsigned char)(k * 7 + (k >> 12));
            p[4096 * (i + 2)] ^= 0xFF;              /* a private write */
            write(ready[1], good ? "g" : "b", 1);
            char c;
            read(go[0], &c, 1);                     /* EOF once the parent closes it */
            _exit(p[4096 * (i + 2)] == (unsigned char)~(4096u * (i + 2) * 7 + i + 2) ? 10 : 11);
        }
        p[1] = (unsigned char)(i + 1);
    }
    close(ready[1]);
    int good = 0, got = 0;
    char c;
    while (got < n && read(ready[0], &c, 1) == 1) {
        got++;
        good += c == 'g';
    }
    printf("children ready: %d, good copies: %d\n", got, good);
    fflush(stdout);
    char line[16];
    if (!fgets(line, sizeof line, stdin)) line[0] = 0;
    close(go[1]);
    int ok = 0, status;
    while (wait(&status) > 0)
        ok += WIFEXITED(status) && WEXITSTATUS(status) == 10;
    int same = 1;
    for (unsigned k = 4096; k < 4096u * (n + 2); k += 4096)
        same &= p[k] == (unsigned char)(k * 7 + (k >> 12));
    printf("children exited: %d ok, parent heap %s\n", ok, same ? "unchanged" : "CHANGED");
    return 0;
}
