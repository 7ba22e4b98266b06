/* linux33b: /proc/<another pid>/fd/N of a regular file opens a new open file description
   (its own offset and access mode), as /proc/self/fd/N does (run natively: the oracle). */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
int main(void) {
    int go[2], done[2], fd;
    char buf[16], path[64];
    setvbuf(stdout, 0, _IONBF, 0);
    pipe(go);
    pipe(done);
    pid_t parent = getpid(), pid = fork();
    if (pid == 0) {
        read(go[0], &fd, sizeof fd);
        snprintf(path, sizeof path, "/proc/%d/fd/%d", (int)parent, fd);
        int r = open(path, O_RDONLY);
        long n = read(r, buf, 4);
        printf("child read %ld '%.*s' offset %ld\n", n, (int)(n > 0 ? n : 0), buf,
               (long)lseek(r, 0, SEEK_CUR));
        int w = open(path, O_WRONLY | O_APPEND);
        printf("child write reopen mode %d wrote %ld\n",
               w < 0 ? -1 : fcntl(w, F_GETFL) & O_ACCMODE, (long)write(w, "!", 1));
        int d = open(path, O_RDONLY | O_DIRECTORY);
        printf("directory %d\n", d);
        snprintf(path, sizeof path, "/proc/%d/fd/0", (int)parent);
        r = open(path, O_RDONLY);
        n = read(r, buf, 4);
        printf("parent's stdin read %ld '%.*s' offset %ld\n", n, (int)(n > 0 ? n : 0), buf,
               (long)lseek(r, 0, SEEK_CUR));
        read(go[0], &fd, sizeof fd);
        snprintf(path, sizeof path, "/proc/%d/fd/%d", (int)parent, fd);
        r = open(path, O_RDONLY);
        n = read(r, buf, 4);
        printf("deleted read %ld '%.*s' offset %ld\n", n, (int)(n > 0 ? n : 0), buf,
               (long)lseek(r, 0, SEEK_CUR));
        write(done[1], "x", 1);
        _exit(0);
    }
    int f = open("procfd.txt", O_RDWR | O_CREAT | O_TRUNC, 0600);
    write(f, "abcdefgh", 8);
    close(f);
    fd = open("procfd.txt", O_RDONLY);
    long n = read(fd, buf, 4);
    n = read(0, buf, 2);                /* the parent's stdin (a file) at offset 2 */
    write(go[1], &fd, sizeof fd);
    int gone = open("gone.txt", O_RDWR | O_CREAT | O_TRUNC, 0600);
    write(gone, "deleted!", 8);
    unlink("gone.txt");
    write(go[1], &gone, sizeof gone);
    read(done[0], buf + 8, 1);
    n = read(fd, buf, 8);
    printf("parent then read %ld '%.*s'\n", n, (int)(n > 0 ? n : 0), buf);
    int st;
    waitpid(pid, &st, 0);
    f = open("procfd.txt", O_RDONLY);
    n = read(f, buf, 16);
    printf("file %ld '%.*s'\n", n, (int)(n > 0 ? n : 0), buf);
    unlink("procfd.txt");
    return 0;
}
