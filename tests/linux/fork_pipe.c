/* fork, pipe, dup2, waitpid and exit statuses; execve of itself. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <signal.h>
#include <sys/wait.h>

int main(int argc, char **argv)
{
    if (argc > 1 && !strcmp(argv[1], "child")) {
        printf("exec'd child says %s\n", argv[2]);
        return 7;
    }
    int fds[2];
    pipe(fds);
    pid_t pid = fork();
    if (pid == 0) {
        close(fds[0]);
        for (int i = 0; i < 2000; i++)
            dprintf(fds[1], "chunk %d\n", i);
        _exit(3);
    }
    close(fds[1]);
    char buf[512];
    long total = 0;
    ssize_t n;
    while ((n = read(fds[0], buf, sizeof buf)) > 0)
        total += n;
    int status;
    pid_t w = waitpid(pid, &status, 0);
    printf("read %ld bytes; child %s exited %d\n", total, w == pid ? "ok" : "?",
           WEXITSTATUS(status));

    pid = fork();
    if (pid == 0) {
        raise(SIGTERM);
        _exit(0);
    }
    waitpid(pid, &status, 0);
    printf("signaled %d sig %d\n", WIFSIGNALED(status), WTERMSIG(status));

    fflush(stdout);
    pid = fork();
    if (pid == 0) {
        char *args[] = {argv[0], "child", "hello", NULL};
        execv("/proc/self/exe", args);
        _exit(99);
    }
    waitpid(pid, &status, 0);
    printf("exec'd child exited %d\n", WEXITSTATUS(status));
    printf("no more children: %d\n", wait(&status));
    return 0;
}
