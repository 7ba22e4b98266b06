/* System calls with bad arguments: each must fail with the errno the kernel gives (no
 * crash of the emulator). The results are compared with a native run. */
#define _GNU_SOURCE
#include <stdio.h>
#include <string.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <time.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <termios.h>

#define BAD ((void *)16)
#define TRY(expr) report(#expr, (long)(expr))

static void report(const char *what, long r)
{
    int e = errno;
    if (r < 0)
        printf("%-44s -> %ld %s\n", what, r, strerrorname_np(e) ? strerrorname_np(e) : "?");
    else
        printf("%-44s -> ok\n", what);
    errno = 0;
}

int main(void)
{
    int fd = open("file.txt", O_CREAT | O_RDWR | O_TRUNC, 0644);
    write(fd, "0123456789", 10);
    lseek(fd, 0, SEEK_SET);
    int p[2];
    pipe(p);
    struct stat st;
    char buf[64];
    struct timespec ts = {0, 2000000000};

    TRY(syscall(SYS_read, fd, BAD, 4));
    TRY(syscall(SYS_write, 1, BAD, 4));
    TRY(syscall(SYS_open, BAD, O_RDONLY));
    TRY(syscall(SYS_open, "no/such/dir/file", O_RDONLY));
    TRY(syscall(SYS_open, "file.txt/x", O_RDONLY));
    TRY(syscall(SYS_stat64, "file.txt", BAD));
    TRY(syscall(SYS_fstat64, 99, &st));
    TRY(syscall(SYS_close, -1));
    TRY(syscall(SYS_close, 12345));
    TRY(syscall(SYS_dup2, 1, -1));
    TRY(syscall(SYS_lseek, p[0], 0, SEEK_SET));
    TRY(syscall(SYS_lseek, fd, -100, SEEK_SET));
    TRY(syscall(SYS_lseek, fd, 0, 17));
    TRY(syscall(SYS_ioctl, fd, TCGETS, buf));
    TRY(syscall(SYS_ioctl, p[0], TIOCGWINSZ, buf));
    TRY(syscall(SYS_fcntl64, fd, 9999, 0));
    TRY(syscall(SYS_getcwd, buf, 1));
    TRY(syscall(SYS_getcwd, BAD, 64));
    TRY(syscall(SYS_mmap2, 0, 0, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
    TRY(syscall(SYS_mmap2, 0, 4096, PROT_READ, MAP_PRIVATE, 77, 0));
    TRY(syscall(SYS_munmap, 4097, 4096));
    TRY(syscall(SYS_mprotect, 4097, 4096, PROT_READ));
    TRY(syscall(SYS_rt_sigaction, SIGKILL, BAD, 0, 8));
    TRY(syscall(SYS_rt_sigaction, 99, 0, 0, 8));
    TRY(syscall(SYS_kill, 999999, 0));
    TRY(syscall(SYS_wait4, -1, 0, 0, 0));
    TRY(syscall(SYS_pipe, BAD));
    TRY(syscall(SYS_nanosleep, &ts, 0));
    TRY(syscall(SYS_clock_gettime, CLOCK_REALTIME, BAD));
    TRY(syscall(SYS_uname, BAD));
    TRY(syscall(SYS_chdir, "file.txt"));
    TRY(syscall(SYS_chdir, "nonexistent"));
    TRY(syscall(SYS_rmdir, "file.txt"));
    TRY(syscall(SYS_mkdir, "file.txt", 0755));
    TRY(syscall(SYS_unlink, "nonexistent"));
    TRY(syscall(SYS_rename, "nonexistent", "x"));
    TRY(syscall(SYS_readlink, "file.txt", buf, sizeof buf));
    TRY(syscall(SYS_access, "nonexistent", F_OK));
    TRY(syscall(SYS_getdents64, fd, buf, sizeof buf));
    TRY(syscall(SYS_execve, "file.txt", 0, 0));
    TRY(syscall(SYS_execve, "nonexistent", 0, 0));
    TRY(syscall(SYS_write, p[0], "x", 1));
    TRY(syscall(SYS_read, p[1], buf, 1));
    TRY(syscall(SYS_openat, 12345, "file.txt", O_RDONLY));
    TRY(syscall(SYS_openat, fd, "x", O_RDONLY));
    TRY(syscall(SYS_read, fd, buf, 4));
    printf("read after EFAULT: %.4s\n", buf);
    return 0;
}
