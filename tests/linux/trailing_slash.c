#define _GNU_SOURCE
/* Paths ending in '/' name directories only (ENOTDIR otherwise, nothing opened or
 * truncated), /proc/self/exe/ included; a /proc link opened with O_NOFOLLOW is ELOOP. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static void try_open(const char *path, int flags) {
    int fd = open(path, flags, 0644);
    printf("open %s %#x: %s\n", path, flags, fd < 0 ? strerror(errno) : "opened");
    if (fd >= 0) close(fd);
}

int main(int argc, char **argv) {
    if (argc > 1) { printf("re-executed\n"); return 0; }
    int fd = open("t", O_WRONLY | O_CREAT | O_TRUNC, 0644);
    write(fd, "data", 4);
    close(fd);
    try_open("t/", O_RDONLY);
    try_open("t/", O_WRONLY | O_TRUNC);
    try_open("/etc/passwd/", O_RDONLY);
    try_open("/proc/self/exe", O_RDONLY | O_NOFOLLOW);
    struct stat st;
    stat("t", &st);
    printf("t size %d\n", (int)st.st_size);
    printf("stat t/: %s\n", stat("t/", &st) ? strerror(errno) : "ok");
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        char *args[] = {argv[0], "again", NULL};
        execv("/proc/self/exe/", args);
        printf("execv /proc/self/exe/: %s\n", strerror(errno));
        fflush(stdout);
        _exit(0);
    }
    waitpid(pid, NULL, 0);
    int p = open("/proc/self/exe", O_PATH | O_NOFOLLOW);   /* (no crash: fd or error) */
    printf("O_PATH done\n");
    if (p >= 0) close(p);
    return 0;
}
