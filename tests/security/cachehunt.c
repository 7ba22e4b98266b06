/* A guest hunting for pyvm's code cache: it learns where the cache lives from the
 * environment (XDG_CACHE_HOME, HOME), then tries every way to read, list, write, move or
 * link it. Each attempt prints "name: result"; anything it manages to write says PWNED. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void report(const char *what, int r)
{
    printf("%s: %s\n", what, r >= 0 ? "ok" : strerrorname_np(errno));
}

static int scribble(const char *path, int flags)
{
    int fd = open(path, flags, 0644);
    if (fd >= 0) {
        write(fd, "PWNED", 5);
        close(fd);
    }
    return fd;
}

int main(void)
{
    const char *base = getenv("XDG_CACHE_HOME");
    char dir[2048], p[4096];
    struct stat st;
    snprintf(dir, sizeof dir, "%s/pyvm", base);

    DIR *d = opendir(base);
    struct dirent *e;
    int listed = 0;
    while (d && (e = readdir(d)))
        listed |= strcmp(e->d_name, "pyvm") == 0;
    printf("listed: %s\n", listed ? "yes" : "no");
    report("stat dir", stat(dir, &st));
    report("opendir", opendir(dir) ? 0 : -1);
    snprintf(p, sizeof p, "%s/key", dir);
    report("read key", open(p, O_RDONLY));
    report("write key", scribble(p, O_WRONLY | O_TRUNC));
    snprintf(p, sizeof p, "%s/x86-blocks-cpython-311.sqlite3", dir);
    report("write db", scribble(p, O_WRONLY));
    report("create in dir", scribble(strcat(strcpy(p, dir), "/evil"), O_WRONLY | O_CREAT));
    report("relative", open(".cache/pyvm/key", O_RDONLY));
    report("dotdot", open(".cache/../.cache/./pyvm/key", O_RDONLY));
    snprintf(p, sizeof p, "/proc/self/root%s/key", dir);
    report("proc root", open(p, O_RDONLY));
    report("proc cwd", open("/proc/self/cwd/.cache/pyvm/key", O_RDONLY));
    symlink(dir, "lnk");
    report("symlink to dir", open("lnk/key", O_RDONLY));
    symlink(".cache", "lnk2");
    report("symlink to parent", open("lnk2/pyvm/key", O_RDONLY));
    snprintf(p, sizeof p, "%s/key", dir);
    report("hard link key", link(p, "stolen_key"));
    report("rename cache parent", rename(".cache", "moved"));
    report("rename cache", rename(".cache/pyvm", "moved2"));
    report("rmdir cache", rmdir(dir));
    report("chmod cache", chmod(dir, 0777));
    report("symlink in place", symlink("/tmp", dir));
    report("mkdir in place", mkdir(dir, 0700));
    int fd = open(".cache", O_RDONLY | O_DIRECTORY);
    report("openat dirfd", openat(fd, "pyvm/key", O_RDONLY));
    return 0;
}
