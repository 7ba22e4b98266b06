/* Run with --root: prints what the guest's / holds and that .. cannot climb above it. */
#include <stdio.h>
#include <string.h>
#include <dirent.h>
#include <stdlib.h>
#include <unistd.h>

static int cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void list(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d) {
        printf("%s: cannot open\n", dir);
        return;
    }
    char *names[64];
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) && n < 64)
        if (e->d_name[0] != '.')
            names[n++] = strdup(e->d_name);
    closedir(d);
    qsort(names, n, sizeof names[0], cmp);
    printf("%s:", dir);
    for (int i = 0; i < n; i++)
        printf(" %s", names[i]);
    printf("\n");
}

int main(void)
{
    list("/");
    list("/../../..");
    FILE *f = fopen("/etc/motd", "r");
    char line[128];
    if (f && fgets(line, sizeof line, f))
        printf("motd: %s", line);
    char cwd[256];
    chdir("/../..");
    printf("cwd: %s\n", getcwd(cwd, sizeof cwd));
    f = fopen("/home/up/etc/motd", "r");
    printf("symlink up: %s", f && fgets(line, sizeof line, f) ? line : "(none)\n");
    return 0;
}
