/* pyvm's own files and what the host Python runs, reached by two spellings: for each
   directory prefix given (argv[1..]: "." and a bind mount of "." inside it), list
   PREFIX/.cache, rename PREFIX/.cache away (and back), create a .pth file in a
   directory on the host Python's sys.path, make the first directory of the user site
   directory (which does not exist yet; $SBX30_SITE_DIR, under .local) and rename the
   user base away. The answers must not depend on the
   spelling: the objects are the same. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void show(const char *pre, const char *what, long r) {
    printf("%s %s %ld %d\n", pre, what, r, r < 0 ? errno : 0);
    errno = 0;
}

int main(int argc, char **argv) {
    setvbuf(stdout, 0, _IONBF, 0);
    for (int i = 1; i < argc; i++) {
        const char *p = argv[i];
        char a[512], b[512];
        snprintf(a, sizeof a, "%s/.cache", p);
        DIR *d = opendir(a);
        int seen = 0;
        struct dirent *e;
        while (d && (e = readdir(d)))
            seen |= !strcmp(e->d_name, "pyvm");
        if (d)
            closedir(d);
        printf("%s list-shows-pyvm %d\n", p, seen);
        snprintf(b, sizeof b, "%s/.cache-moved", p);
        long r = rename(a, b);
        show(p, "rename-cache", r);
        if (r == 0)
            rename(b, a);
        snprintf(a, sizeof a, "%s/.local/lib/site/evil.pth", p);
        int fd = open(a, O_CREAT | O_WRONLY, 0600);
        show(p, "create-pth", fd < 0 ? -1 : 0);
        if (fd >= 0) {
            close(fd);
            unlink(a);
        }
        /* the user site directory, not made yet: its first missing directory */
        snprintf(a, sizeof a, "%s/.local/%s", p, getenv("SBX30_SITE_DIR"));
        r = mkdir(a, 0700);
        show(p, "mkdir-site", r);
        if (r == 0)
            rmdir(a);
        snprintf(a, sizeof a, "%s/.local", p);
        snprintf(b, sizeof b, "%s/.local-moved", p);
        r = rename(a, b);
        show(p, "rename-local", r);
        if (r == 0)
            rename(b, a);
    }
    return 0;
}
