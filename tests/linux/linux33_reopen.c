/* linux33: /dev/stdin, /dev/fd/N, /proc/self/fd/N of a regular file reopen it as a new
   open file description (its own offset and access mode), a deleted file too. argv[1]:
   a file to try a write reopen of through a read-only descriptor. */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
int main(int argc, char **argv) {
    char a[16] = {0}, b[16] = {0}, p[64];
    read(0, a, 4);
    int s = open("/dev/stdin", O_RDONLY);
    read(s, b, 4);
    printf("stdin '%s' reopened '%s' offset %ld\n", a, b, (long)lseek(0, 0, SEEK_CUR));
    int w = open("/proc/self/fd/0", O_WRONLY | O_APPEND);
    printf("stdin write reopen %d mode %d wrote %ld\n", w >= 0, w >= 0 ? fcntl(w, F_GETFL) & 3 : -1,
           (long)write(w, "!", 1));
    int c = open("f33", O_RDWR | O_CREAT | O_TRUNC, 0600);
    write(c, "hello world", 11);
    close(c);
    int r = open("f33", O_RDONLY);
    read(r, a, 5);
    snprintf(p, sizeof p, "/proc/self/fd/%d", r);
    int r2 = open(p, O_RDONLY);
    memset(b, 0, sizeof b);
    read(r2, b, 5);
    printf("reopen read '%s' offset %ld %ld\n", b, (long)lseek(r, 0, SEEK_CUR), (long)lseek(r2, 0, SEEK_CUR));
    snprintf(p, sizeof p, "/dev/fd/%d", r);
    int t = open(p, O_WRONLY | O_TRUNC);
    struct stat st;
    fstat(r, &st);
    printf("trunc reopen %d size %ld write %ld\n", t >= 0, (long)st.st_size, (long)write(t, "XY", 2));
    unlink("f33");
    snprintf(p, sizeof p, "/proc/self/fd/%d", r);
    int d = open(p, O_RDONLY);
    memset(b, 0, sizeof b);
    printf("deleted reopen %d read %ld '%s'\n", d >= 0, (long)pread(d, b, 8, 0), b);
    int dw = open(p, O_RDWR);                  /* t grants writing, r does not */
    printf("deleted rdwr via r %d\n", dw >= 0);
    snprintf(p, sizeof p, "/dev/fd/%d", t);
    printf("deleted rdonly via t %d\n", open(p, O_RDONLY) >= 0);
    if (argc > 1) {
        int ro = open(argv[1], O_RDONLY);
        snprintf(p, sizeof p, "/dev/fd/%d", ro);
        int rw = open(p, O_WRONLY);
        printf("protected write reopen %d\n", rw >= 0);
    }
    return 0;
}
