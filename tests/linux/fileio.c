/* File I/O in the current directory: create, write, seek, read, stat, rename, directories,
 * unlink. Run in a fresh temporary directory. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <unistd.h>
#include <dirent.h>
#include <errno.h>
#include <sys/stat.h>

static int cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int main(void)
{
    FILE *f = fopen("data.txt", "w");
    if (!f) {
        perror("fopen");
        return 1;
    }
    for (int i = 0; i < 100; i++)
        fprintf(f, "line %d: %s\n", i, i % 2 ? "odd" : "even");
    fclose(f);

    f = fopen("data.txt", "r");
    char line[128];
    int count = 0;
    long sum = 0;
    while (fgets(line, sizeof line, f)) {
        count++;
        sum += strlen(line);
    }
    printf("read %d lines, %ld bytes\n", count, sum);
    fseek(f, 120, SEEK_SET);
    fgets(line, sizeof line, f);
    printf("at 120: %s", line);
    printf("ftell %ld\n", ftell(f));
    fclose(f);

    int fd = open("raw.bin", O_CREAT | O_RDWR | O_TRUNC, 0644);
    unsigned char buf[4096];
    for (int i = 0; i < 4096; i++)
        buf[i] = (unsigned char)(i * 7);
    printf("write %zd\n", write(fd, buf, sizeof buf));
    printf("lseek %ld\n", (long)lseek(fd, 1000, SEEK_SET));
    unsigned char small[8];
    printf("read %zd: %d %d\n", read(fd, small, 8), small[0], small[7]);
    printf("pread %zd: %d\n", pread(fd, small, 4, 4000), small[0]);
    struct stat st;
    fstat(fd, &st);
    printf("size %ld regular %d\n", (long)st.st_size, S_ISREG(st.st_mode));
    close(fd);

    printf("mkdir %d\n", mkdir("sub", 0755));
    printf("mkdir again %d errno %s\n", mkdir("sub", 0755), errno == EEXIST ? "EEXIST" : "?");
    printf("rename %d\n", rename("raw.bin", "sub/moved.bin"));
    printf("stat moved %d size %ld\n", stat("sub/moved.bin", &st), (long)st.st_size);
    printf("stat old %d errno %s\n", stat("raw.bin", &st), errno == ENOENT ? "ENOENT" : "?");
    f = fopen("sub/a.txt", "w");
    fputs("a", f);
    fclose(f);
    f = fopen("sub/b.txt", "a");
    fputs("bb", f);
    fclose(f);
    f = fopen("sub/b.txt", "a");
    fputs("bb", f);
    fclose(f);
    stat("sub/b.txt", &st);
    printf("appended size %ld\n", (long)st.st_size);

    DIR *d = opendir("sub");
    char *names[16];
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) && n < 16)
        names[n++] = strdup(e->d_name);
    closedir(d);
    qsort(names, n, sizeof names[0], cmp);
    for (int i = 0; i < n; i++)
        printf("entry %s\n", names[i]);

    char cwd[4096];
    printf("getcwd ok %d\n", getcwd(cwd, sizeof cwd) != NULL);
    printf("chdir %d\n", chdir("sub"));
    printf("access %d %d\n", access("a.txt", R_OK), access("nope", F_OK));
    printf("chdir back %d\n", chdir(".."));
    printf("unlink %d %d %d\n", unlink("sub/a.txt"), unlink("sub/b.txt"),
           unlink("sub/moved.bin"));
    printf("rmdir %d\n", rmdir("sub"));
    printf("unlink data %d\n", unlink("data.txt"));
    printf("open missing %d errno %s\n", open("missing", O_RDONLY),
           errno == ENOENT ? "ENOENT" : "?");
    return 0;
}
