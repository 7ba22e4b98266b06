/* Small answers Linux defines: read/write of 0 bytes on a descriptor of the wrong mode
   (EBADF), clock_nanosleep on a CPU-time clock (sleeps CPU time, not wall time: a
   relative sleep of a thread that does nothing else ends when its CPU time has passed;
   here asked with TIMER_ABSTIME at a CPU time already passed, so it returns at once),
   mprotect with PROT_GROWSDOWN on a MAP_GROWSDOWN mapping (0), seekdir to a position
   telldir gave past 0. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <stdio.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

static volatile int alarmed;
static void on_alarm(int sig) { alarmed = sig; }

static void show(const char *what, long r) {
    printf("%s %ld %d\n", what, r, r < 0 ? errno : 0);
    errno = 0;
}

int main(void) {
    setvbuf(stdout, 0, _IONBF, 0);
    int w = open("sbx30-w", O_WRONLY | O_CREAT | O_TRUNC, 0600);
    int r = open("sbx30-w", O_RDONLY);
    char c;
    show("read0-wronly", read(w, &c, 0));
    show("write0-rdonly", write(r, &c, 0));
    show("pread0-wronly", pread(w, &c, 0, 0));
    show("pwrite0-rdonly", pwrite(r, &c, 0, 0));
    show("read1-wronly", read(w, &c, 1));
    int p[2];
    pipe(p);
    show("read0-pipe-w", read(p[1], &c, 0));
    show("write0-pipe-r", write(p[0], &c, 0));
    unlink("sbx30-w");
    /* a CPU-time clock: an absolute time already passed returns 0 at once; a relative
       100 s sleep on the process CPU clock with a 1 s alarm is cut by the alarm */
    struct timespec ts = {0, 1};
    show("cpu-abs-past", clock_nanosleep(CLOCK_PROCESS_CPUTIME_ID, TIMER_ABSTIME, &ts, 0));
    show("thread-cpu", clock_nanosleep(CLOCK_THREAD_CPUTIME_ID, 0, &ts, 0));
    /* no other thread runs: the process's CPU clock stands still while it sleeps, so a
       50 ms sleep on it is ended by the alarm (EINTR), not by the clock */
    signal(SIGALRM, on_alarm);
    alarm(1);
    struct timespec fifty = {0, 50000000};
    show("cpu-rel-own", clock_nanosleep(CLOCK_PROCESS_CPUTIME_ID, 0, &fifty, 0));
    printf("alarmed %d\n", alarmed);
    char *g = mmap(0, 8192, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_GROWSDOWN, -1, 0);
    show("mmap-growsdown", g == MAP_FAILED ? -1 : 0);
    show("mprotect-growsdown", mprotect(g + 4096, 4096, PROT_READ | PROT_GROWSDOWN));
    int zero = open("/dev/zero", O_RDONLY);     /* the first page is read-only too */
    show("read-into-first-page", read(zero, g, 1));
    show("read-into-stack", read(zero, &c, 1));
    mkdir("sbx30-d", 0700);
    for (int i = 0; i < 5; i++) {
        char name[32];
        snprintf(name, sizeof name, "sbx30-d/f%d", i);
        close(open(name, O_CREAT | O_WRONLY, 0600));
    }
    const char *dirs[] = {"sbx30-d", "/proc/self"};
    for (int k = 0; k < 2; k++) {
        DIR *d = opendir(dirs[k]);
        readdir(d);
        readdir(d);
        long pos = telldir(d);
        struct dirent *e = readdir(d);
        char first[256];
        strcpy(first, e->d_name);
        readdir(d);
        readdir(d);
        seekdir(d, pos);
        e = readdir(d);
        printf("%s seekdir-back %s\n", dirs[k], e && !strcmp(e->d_name, first) ? "same" : "other");
        closedir(d);
    }
    for (int i = 0; i < 5; i++) {
        char name[32];
        snprintf(name, sizeof name, "sbx30-d/f%d", i);
        unlink(name);
    }
    rmdir("sbx30-d");
    return 0;
}
