/* Tries to change files outside the writable tree: each attempt prints the errno name.
 * argv[1]: a directory outside the current one (absolute); ./link_out is a symlink to it. */
#include <stdio.h>
#include <string.h>
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>
#include <sys/stat.h>

static const char *err(int r)
{
    if (r >= 0)
        return "ok";
    switch (errno) {
    case EROFS: return "EROFS";
    case EACCES: return "EACCES";
    case ENOENT: return "ENOENT";
    case EPERM: return "EPERM";
    case EEXIST: return "EEXIST";
    default: return strerror(errno);
    }
}

static int try_create(const char *path)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd >= 0) {
        write(fd, "escaped\n", 8);
        close(fd);
    }
    return fd;
}

int main(int argc, char **argv)
{
    char path[4096];
    const char *out = argc > 1 ? argv[1] : "/tmp";
    printf("create here: %s\n", err(try_create("inside.txt")));
    printf("create ../: %s\n", err(try_create("../escape.txt")));
    snprintf(path, sizeof path, "%s/abs.txt", out);
    printf("create absolute: %s\n", err(try_create(path)));
    printf("create via symlink: %s\n", err(try_create("link_out/sym.txt")));
    printf("create via ../ chain: %s\n", err(try_create("link_out/../chain.txt")));
    snprintf(path, sizeof path, "%s/existing.txt", out);
    printf("append existing: %s\n", err(open(path, O_WRONLY | O_APPEND)));
    printf("read existing: %s\n", err(open(path, O_RDONLY)));
    printf("unlink outside: %s\n", err(unlink(path)));
    printf("rename out: %s\n", err(rename("inside.txt", "link_out/moved.txt")));
    snprintf(path, sizeof path, "%s/newdir", out);
    printf("mkdir outside: %s\n", err(mkdir(path, 0755)));
    printf("mkdir here: %s\n", err(mkdir("sub", 0755)));
    printf("symlink outside: %s\n", err(symlink("x", "link_out/newlink")));
    printf("chmod outside: %s\n", err(chmod("link_out/existing.txt", 0600)));
    printf("access W outside: %s\n", err(access("link_out/existing.txt", W_OK)));
    printf("chdir ..: %s\n", err(chdir("..")));
    printf("create after chdir: %s\n", err(try_create("after_chdir.txt")));
    printf("/etc/passwd for writing: %s\n", err(open("/etc/passwd", O_WRONLY)));
    return 0;
}
