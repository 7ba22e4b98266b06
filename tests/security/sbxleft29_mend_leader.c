/* /proc/<pid> after the leader thread called pthread_exit while another thread runs
 * on: Linux answers from the leader's memory, files and directories, which went with
 * it (environ ESRCH, cmdline and maps empty, exe/cwd/root ENOENT); status remains. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <unistd.h>

static int pid;
static pthread_t leader;

static void readfile(const char *name) {
    char path[64], buf[4096];
    snprintf(path, sizeof path, "/proc/%d/%s", pid, name);
    int fd = open(path, O_RDONLY);
    if (fd < 0) { printf("%s open errno %d\n", name, errno); return; }
    long n = read(fd, buf, sizeof buf);
    printf("%s read %s %d\n", name, n > 0 ? ">0" : n == 0 ? "0" : "err", n < 0 ? errno : 0);
    close(fd);
}

static void showlink(const char *name) {
    char path[64], buf[4096];
    snprintf(path, sizeof path, "/proc/%d/%s", pid, name);
    long n = readlink(path, buf, sizeof buf);
    printf("%s readlink %s %d\n", name, n < 0 ? "error" : "ok", n < 0 ? errno : 0);
}

static void *t(void *a) {
    (void)a;
    setvbuf(stdout, 0, _IONBF, 0);
    readfile("environ");                /* the leader still runs: all answer */
    pthread_join(leader, 0);            /* (its tid cleared: it has exited) */
    usleep(100000);
    readfile("environ"); readfile("cmdline"); readfile("maps"); readfile("status");
    showlink("exe"); showlink("cwd"); showlink("root");
    return 0;
}

int main(void) {
    pid = getpid();
    leader = pthread_self();
    pthread_t th;
    pthread_create(&th, 0, t, 0);
    pthread_exit(0);
}
