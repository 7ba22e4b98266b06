/* /proc/<pid> of a zombie: its environ and cmdline read empty, its exe, cwd and root
   links do not resolve (ENOENT), its fd directory lists nothing. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

static void readfile(int pid, const char *name) {
    char path[64], buf[4096];
    snprintf(path, sizeof path, "/proc/%d/%s", pid, name);
    int fd = open(path, O_RDONLY);
    if (fd < 0) {
        printf("%s open errno %d\n", name, errno);
        return;
    }
    long n = read(fd, buf, sizeof buf);
    printf("%s read %ld %d\n", name, n, n < 0 ? errno : 0);
    close(fd);
}

static void showlink(int pid, const char *name) {
    char path[64], buf[4096];
    snprintf(path, sizeof path, "/proc/%d/%s", pid, name);
    long n = readlink(path, buf, sizeof buf);
    printf("%s readlink %s %d\n", name, n < 0 ? "error" : "ok", n < 0 ? errno : 0);
}

int main(void) {
    int pid = fork();
    if (pid == 0)
        _exit(3);
    siginfo_t si;
    waitid(P_PID, pid, &si, WEXITED | WNOWAIT);     /* a zombie now, not reaped */
    readfile(pid, "environ");
    readfile(pid, "cmdline");
    showlink(pid, "exe");
    showlink(pid, "cwd");
    showlink(pid, "root");
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/fd", pid);
    DIR *d = opendir(path);
    int n = 0;
    if (d) {
        while (readdir(d))
            n++;
        closedir(d);
    }
    printf("fd entries %d (opened %d)\n", n, d != 0);
    int status;
    waitpid(pid, &status, 0);
    printf("status %d\n", WEXITSTATUS(status));
    return 0;
}
