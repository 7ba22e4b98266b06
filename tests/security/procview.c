/* What a guest sees of itself in /proc: prints each file's bytes (NULs as '|'), the magic
 * links, and whether host-only details leak (pyvm's interpreter in maps or exe). */
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static int slurp(const char *path, char *buf, int size)
{
    int fd = open(path, O_RDONLY), n, total = 0;
    if (fd < 0)
        return -1;
    while (total < size - 1 && (n = read(fd, buf + total, size - 1 - total)) > 0)
        total += n;
    close(fd);
    buf[total] = 0;
    return total;
}

static void show(const char *label, const char *path)
{
    static char buf[65536];
    int n = slurp(path, buf, sizeof buf);
    for (int i = 0; i < n; i++)
        if (!buf[i])
            buf[i] = '|';
    printf("%s: %s\n", label, n < 0 ? "(none)" : buf);
}

static void link_of(const char *label, const char *path)
{
    char buf[4096];
    int n = readlink(path, buf, sizeof buf - 1);
    buf[n > 0 ? n : 0] = 0;
    printf("%s: %s\n", label, n < 0 ? "(none)" : buf);
}

int main(void)
{
    static char buf[65536];
    char path[64];
    show("environ", "/proc/self/environ");
    show("cmdline", "/proc/self/cmdline");
    link_of("exe", "/proc/self/exe");
    link_of("cwd", "/proc/self/cwd");
    link_of("root", "/proc/self/root");
    snprintf(path, sizeof path, "/proc/%d/cmdline", getpid());
    show("pid cmdline", path);
    slurp("/proc/self/maps", buf, sizeof buf);
    printf("maps names python: %s\n", strstr(buf, "python") || strstr(buf, ".so") ? "yes" : "no");
    printf("maps has stack: %s\n", strstr(buf, "[stack]") ? "yes" : "no");
    slurp("/proc/self/status", buf, sizeof buf);
    char *pid = strstr(buf, "\nPid:\t");
    int status_pid = -1;
    if (pid)
        sscanf(pid + 6, "%d", &status_pid);
    printf("status pid matches: %s\n", status_pid == getpid() ? "yes" : "no");
    int fd = open("/proc/self/exe", O_RDONLY);
    char head[4] = {0};
    read(fd, head, 4);
    printf("exe is ELF: %s\n", memcmp(head, "\177ELF", 4) ? "no" : "yes");
    close(fd);
    DIR *d = opendir("/proc/self/fd");
    struct dirent *e;
    printf("fds:");
    while (d && (e = readdir(d)))
        printf(" %s", e->d_name);
    printf("\n");
    printf("write environ: %s\n", open("/proc/self/environ", O_WRONLY) < 0 ? "refused" : "ok");
    return 0;
}
