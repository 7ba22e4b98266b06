/* A hostile guest: each attempt to change something outside the current directory
 * prints "name: result" (ok or the errno name) and, when the first step succeeded, goes
 * on as an attacker would (writes through what it got).
 * argv[1]: an absolute directory outside the cwd holding "secret", "other" and "victim";
 * ./prelinked is a hard link to argv[1]/victim made before the run (by the test). */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

static const char *name(int e)
{
    switch (e) {
    case EROFS: return "EROFS";
    case EACCES: return "EACCES";
    case ENOENT: return "ENOENT";
    case EPERM: return "EPERM";
    case EEXIST: return "EEXIST";
    case EXDEV: return "EXDEV";
    case ELOOP: return "ELOOP";
    case EBUSY: return "EBUSY";
    case EINVAL: return "EINVAL";
    case ENOTDIR: return "ENOTDIR";
    case EAGAIN: return "EAGAIN";
    default: return strerror(e);
    }
}

static void report(const char *what, int r)
{
    printf("%s: %s\n", what, r >= 0 ? "ok" : name(errno));
}

/* open for writing and scribble: the attack's payoff */
static int scribble(const char *path, int flags)
{
    int fd = open(path, flags, 0644);
    if (fd >= 0) {
        write(fd, "PWNED\n", 6);
        close(fd);
    }
    return fd;
}

int main(int argc, char **argv)
{
    const char *out = argv[1];
    char p[4096], q[4096];
    int r, fd;

    /* 1. hard link an outside file in, then write the new name */
    snprintf(p, sizeof p, "%s/secret", out);
    r = link(p, "hl");
    report("link outside", r);
    if (r == 0)
        scribble("hl", O_WRONLY | O_TRUNC);

    /* 2. linkat through a symlink with AT_SYMLINK_FOLLOW */
    symlink(p, "sl");
    r = linkat(AT_FDCWD, "sl", AT_FDCWD, "hl2", AT_SYMLINK_FOLLOW);
    report("linkat follow", r);
    if (r == 0)
        scribble("hl2", O_WRONLY | O_APPEND);

    /* 3. write through a symlink to the outside file */
    report("write via symlink", scribble("sl", O_WRONLY | O_TRUNC));

    /* 4. an existing hard link to an outside inode (made before the run) */
    report("write prelinked", scribble("prelinked", O_WRONLY | O_APPEND));
    report("truncate prelinked", truncate("prelinked", 0));
    report("chmod prelinked", chmod("prelinked", 0777));
    r = link("prelinked", "prelinked2");
    report("link prelinked", r);

    /* 5. rename in and out */
    snprintf(q, sizeof q, "%s/other", out);
    report("rename in", rename(q, "stolen"));
    scribble("mine", O_WRONLY | O_CREAT | O_TRUNC);
    snprintf(q, sizeof q, "%s/planted", out);
    report("rename out", rename("mine", q));
    report("exchange", syscall(SYS_renameat2, AT_FDCWD, "mine", AT_FDCWD, p, 2));

    /* 6. /proc spellings of the outside */
    report("proc cwd ..", scribble("/proc/self/cwd/../escape", O_WRONLY | O_CREAT));
    snprintf(q, sizeof q, "/proc/self/root%s/secret", out);
    report("proc root", scribble(q, O_WRONLY | O_TRUNC));
    snprintf(q, sizeof q, "/proc/%d/root%s/secret", getpid(), out);
    report("proc pid root", scribble(q, O_WRONLY | O_TRUNC));

    /* 7. O_CREAT through a dangling symlink, and O_NOFOLLOW on it */
    snprintf(q, sizeof q, "%s/created", out);
    symlink(q, "dangling");
    report("creat dangling", scribble("dangling", O_WRONLY | O_CREAT));
    report("creat nofollow", scribble("dangling", O_WRONLY | O_CREAT | O_NOFOLLOW));

    /* 8. a directory renamed behind an open descriptor, a symlink swapped in */
    mkdir("d", 0755);
    int dfd = open("d", O_RDONLY | O_DIRECTORY);
    rename("d", "d2");
    symlink(out, "d");
    fd = openat(dfd, "victim", O_WRONLY | O_CREAT | O_TRUNC, 0644);
    report("openat renamed dir", fd);
    if (fd >= 0) {
        write(fd, "in d2\n", 6);
        close(fd);
    }
    close(dfd);

    /* 9. linkat(AT_EMPTY_PATH) of a read-only descriptor of an outside file */
    fd = open(p, O_RDONLY);
    r = linkat(fd, "", AT_FDCWD, "hl3", AT_EMPTY_PATH);
    report("linkat empty path", r);
    if (r == 0)
        scribble("hl3", O_WRONLY | O_APPEND);
    close(fd);

    /* 10. directory symlink then create through it, mkdir outside */
    symlink(out, "outdir");
    report("create via dir link", scribble("outdir/new", O_WRONLY | O_CREAT));
    snprintf(q, sizeof q, "%s/newdir", out);
    report("mkdir outside", mkdir(q, 0755));
    report("unlink outside", unlink(p));

    /* 11. links made inside the tree stay usable */
    scribble("own", O_WRONLY | O_CREAT | O_TRUNC);
    report("link own", link("own", "own2"));
    report("write own link", scribble("own2", O_WRONLY | O_APPEND));
    return 0;
}
