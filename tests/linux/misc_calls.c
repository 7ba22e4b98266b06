/* CPU affinity, prctl (and /proc/self/comm), madvise, mincore, clock_getres,
 * getrusage, wait4 with rusage, waitid, chmod/fchmod(at)/fchown(at), flock between
 * processes, ftruncate, sendfile and copy_file_range. Only what is the same on every
 * machine is printed (no times, no CPU counts). Output is compared with the native run. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static void check(const char *what, long v) {
    printf("%s = %ld%s%s\n", what, v, v < 0 ? " " : "", v < 0 ? strerror(errno) : "");
}

static void test_affinity(void) {
    cpu_set_t set;
    CPU_ZERO(&set);
    check("sched_getaffinity", sched_getaffinity(0, sizeof set, &set));
    printf("cpu0 %d count>=1 %d\n", CPU_ISSET(0, &set), CPU_COUNT(&set) >= 1);
    long n = syscall(SYS_sched_getaffinity, 0, sizeof set, &set);
    printf("raw getaffinity: a whole number of longs %d\n", n > 0 && n % 4 == 0);
    check("raw getaffinity short", syscall(SYS_sched_getaffinity, 0, 2, &set));
    check("getaffinity no such pid", sched_getaffinity(999999, sizeof set, &set));
    CPU_ZERO(&set);
    CPU_SET(0, &set);
    check("setaffinity cpu0", sched_setaffinity(0, sizeof set, &set));
    CPU_ZERO(&set);
    check("setaffinity empty", sched_setaffinity(0, sizeof set, &set));
    check("getaffinity bad pointer", syscall(SYS_sched_getaffinity, 0, 128, (void *)16));
    printf("scheduler %d prio max %d min %d\n", sched_getscheduler(0),
           sched_get_priority_max(SCHED_OTHER), sched_get_priority_min(SCHED_FIFO));
}

static void show_comm(void) {
    char buf[64] = {0};
    int fd = open("/proc/self/comm", O_RDONLY);
    read(fd, buf, sizeof buf - 1);
    close(fd);
    printf("comm file: %s", buf);
}

static void test_prctl(void) {
    char name[32] = {0};
    check("PR_GET_NAME", prctl(PR_GET_NAME, name));
    printf("name %s\n", name);
    check("PR_SET_NAME", prctl(PR_SET_NAME, "renamed-task"));
    prctl(PR_GET_NAME, name);
    printf("name %s\n", name);
    show_comm();
    check("PR_SET_NAME long", prctl(PR_SET_NAME, "a-very-long-thread-name-here"));
    prctl(PR_GET_NAME, name);
    printf("name %s (%d)\n", name, (int)strlen(name));
    show_comm();
    check("PR_GET_DUMPABLE", prctl(PR_GET_DUMPABLE));
    check("PR_SET_PDEATHSIG", prctl(PR_SET_PDEATHSIG, SIGTERM));
    int sig = 0;
    prctl(PR_GET_PDEATHSIG, &sig);
    printf("pdeathsig %d\n", sig);
    check("PR_SET_NO_NEW_PRIVS", prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0));
    check("PR_GET_NO_NEW_PRIVS", prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0));
    check("unknown option", prctl(0x7777, 0));
    check("PR_SET_NAME bad pointer", prctl(PR_SET_NAME, (char *)16));
}

static void test_memory(void) {
    long page = sysconf(_SC_PAGESIZE);
    char *p = mmap(NULL, 4 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    memset(p, 'x', 4 * page);
    unsigned char vec[4];
    check("mincore", mincore(p, 4 * page, vec));
    printf("resident %d %d %d %d\n", vec[0] & 1, vec[1] & 1, vec[2] & 1, vec[3] & 1);
    check("mincore unaligned", mincore(p + 1, page, vec));
    check("mincore bad vec", mincore(p, page, (unsigned char *)16));
    check("madvise WILLNEED", madvise(p, 4 * page, MADV_WILLNEED));
    check("madvise DONTNEED", madvise(p + page, page, MADV_DONTNEED));
    printf("after DONTNEED %d %d %d\n", p[0], p[page], p[2 * page]);
    check("madvise unaligned", madvise(p + 1, page, MADV_NORMAL));
    check("madvise bad advice", madvise(p, page, 12345));
    munmap(p, 4 * page);
    check("madvise unmapped", madvise(p, page, MADV_NORMAL));
    check("mincore unmapped", mincore(p, page, vec));
}

static void test_clocks(void) {
    struct timespec ts;
    clockid_t ids[] = {CLOCK_REALTIME, CLOCK_MONOTONIC, CLOCK_PROCESS_CPUTIME_ID,
                       CLOCK_THREAD_CPUTIME_ID, CLOCK_MONOTONIC_RAW, CLOCK_BOOTTIME};
    for (unsigned i = 0; i < sizeof ids / sizeof ids[0]; i++) {
        long r = clock_getres(ids[i], &ts);
        printf("clock_getres(%d) = %ld res %ld.%09ld\n", (int)ids[i], r, (long)ts.tv_sec,
               ts.tv_nsec);
    }
    struct timespec c1, c2;
    clock_getres(CLOCK_REALTIME_COARSE, &c1);
    clock_getres(CLOCK_MONOTONIC_COARSE, &c2);
    printf("coarse equal %d nonzero %d\n", c1.tv_nsec == c2.tv_nsec, c1.tv_nsec > 0);
    check("clock_getres bad clock", clock_getres(99, &ts));
    check("clock_getres NULL", clock_getres(CLOCK_MONOTONIC, NULL));
    check("raw clock_getres", syscall(SYS_clock_getres, CLOCK_MONOTONIC, &ts));
}

static void busy(void) {
    volatile unsigned x = 0;
    for (unsigned i = 0; i < 3000000; i++)
        x += i;
}

static void test_rusage(void) {
    struct rusage ru;
    check("getrusage self", getrusage(RUSAGE_SELF, &ru));
    printf("maxrss>0 %d\n", ru.ru_maxrss > 0);
    check("getrusage bad who", getrusage(7, &ru));
    check("getrusage bad pointer", syscall(SYS_getrusage, RUSAGE_SELF, (void *)16));
    pid_t pid = fork();
    if (pid == 0) {
        busy();
        _exit(7);
    }
    int status;
    memset(&ru, 0, sizeof ru);
    pid_t got = wait4(pid, &status, 0, &ru);
    printf("wait4 right pid %d exited %d status %d child used time %d maxrss>0 %d\n",
           got == pid, WIFEXITED(status), WEXITSTATUS(status),
           ru.ru_utime.tv_sec + ru.ru_stime.tv_sec + ru.ru_utime.tv_usec +
           ru.ru_stime.tv_usec > 0, ru.ru_maxrss > 0);
    getrusage(RUSAGE_CHILDREN, &ru);
    printf("children used time %d\n", ru.ru_utime.tv_sec + ru.ru_stime.tv_sec +
           ru.ru_utime.tv_usec + ru.ru_stime.tv_usec > 0);

    /* waitid: exit status, a killed child, WNOWAIT, WNOHANG */
    pid = fork();
    if (pid == 0)
        _exit(3);
    siginfo_t si;
    memset(&si, 0, sizeof si);
    check("waitid WNOWAIT", waitid(P_PID, pid, &si, WEXITED | WNOWAIT));
    printf("signo %d code %d pid ok %d status %d\n", si.si_signo, si.si_code,
           si.si_pid == pid, si.si_status);
    memset(&si, 0, sizeof si);
    check("waitid P_ALL", waitid(P_ALL, 0, &si, WEXITED));
    printf("code %d pid ok %d status %d\n", si.si_code, si.si_pid == pid, si.si_status);
    pid = fork();
    if (pid == 0) {
        pause();
        _exit(0);
    }
    memset(&si, 0xff, sizeof si);
    check("waitid WNOHANG nothing yet", waitid(P_PID, pid, &si, WEXITED | WNOHANG));
    printf("si_pid %d\n", si.si_pid);
    kill(pid, SIGKILL);
    memset(&si, 0, sizeof si);
    check("waitid killed", syscall(SYS_waitid, P_PID, pid, &si, WEXITED, &ru));
    printf("code %d status %d\n", si.si_code, si.si_status);
    check("waitid no children", waitid(P_ALL, 0, &si, WEXITED));
    check("waitid bad options", waitid(P_ALL, 0, &si, 0));
    check("waitid bad idtype", waitid(9, 0, &si, WEXITED));
}

static void test_files(void) {
    int fd = open("data.txt", O_CREAT | O_RDWR | O_TRUNC, 0644);
    write(fd, "0123456789abcdefghij", 20);
    struct stat st;
    check("fchmod", fchmod(fd, 0600));
    fstat(fd, &st);
    printf("mode %o\n", st.st_mode & 0777);
    check("chmod", chmod("data.txt", 0640));
    check("fchmodat", fchmodat(AT_FDCWD, "data.txt", 0604, 0));
    stat("data.txt", &st);
    printf("mode %o\n", st.st_mode & 0777);
    check("chmod missing", chmod("missing.txt", 0600));
    check("fchown same owner", fchown(fd, getuid(), getgid()));
    check("fchownat same owner", fchownat(AT_FDCWD, "data.txt", -1, getgid(), 0));
    check("ftruncate", ftruncate(fd, 8));
    fstat(fd, &st);
    printf("size %ld\n", (long)st.st_size);
    check("ftruncate negative", ftruncate(fd, -1));
    check("ftruncate64 grow", ftruncate64(fd, 12));
    fstat(fd, &st);
    printf("size %ld\n", (long)st.st_size);
    int ro = open("data.txt", O_RDONLY);
    check("ftruncate read-only", ftruncate(ro, 0));

    /* sendfile and copy_file_range */
    ftruncate(fd, 0);
    pwrite(fd, "0123456789abcdefghij", 20, 0);
    int out = open("copy.txt", O_CREAT | O_RDWR | O_TRUNC, 0644);
    off_t off = 5;
    check("sendfile with offset", sendfile(out, ro, &off, 6));
    printf("offset now %ld\n", (long)off);
    lseek(ro, 10, SEEK_SET);
    check("sendfile from position", sendfile(out, ro, NULL, 100));
    printf("position now %ld\n", (long)lseek(ro, 0, SEEK_CUR));
    loff_t oin = 2, oout = 0;
    int dst = open("range.txt", O_CREAT | O_RDWR | O_TRUNC, 0644);
    check("copy_file_range", copy_file_range(ro, &oin, dst, &oout, 4, 0));
    printf("offsets %ld %ld\n", (long)oin, (long)oout);
    lseek(ro, 16, SEEK_SET);
    check("copy_file_range positions", copy_file_range(ro, NULL, dst, NULL, 100, 0));
    printf("positions %ld %ld\n", (long)lseek(ro, 0, SEEK_CUR), (long)lseek(dst, 0, SEEK_CUR));
    check("copy_file_range flags", copy_file_range(ro, NULL, dst, NULL, 4, 1));
    check("copy_file_range to read-only", copy_file_range(dst, NULL, ro, NULL, 4, 0));
    int p[2];
    pipe(p);
    check("copy_file_range from a pipe", copy_file_range(p[0], NULL, dst, NULL, 4, 0));
    loff_t a = 0, b = 2;
    check("copy_file_range overlap", copy_file_range(fd, &a, fd, &b, 8, 0));
    char buf[32] = {0};
    pread(out, buf, sizeof buf - 1, 0);
    printf("copy.txt %s\n", buf);
    memset(buf, 0, sizeof buf);
    pread(dst, buf, sizeof buf - 1, 0);
    printf("range.txt %s\n", buf);
    close(p[0]);
    close(p[1]);
    close(out);
    close(dst);
    close(ro);
    close(fd);
}

static void test_flock(void) {
    int a = open("lock.txt", O_CREAT | O_RDWR, 0644);
    int b = open("lock.txt", O_RDWR);
    check("flock EX", flock(a, LOCK_EX));
    check("flock EX other description NB", flock(b, LOCK_EX | LOCK_NB));
    check("flock SH other description NB", flock(b, LOCK_SH | LOCK_NB));
    int c = dup(a);
    check("flock EX on a dup (same description)", flock(c, LOCK_EX | LOCK_NB));
    check("downgrade to SH", flock(a, LOCK_SH));
    check("SH beside SH", flock(b, LOCK_SH | LOCK_NB));
    check("unlock b", flock(b, LOCK_UN));
    check("bad op", flock(a, 0));
    check("flock bad fd", flock(99, LOCK_EX));
    flock(a, LOCK_EX);
    int p[2];
    pipe(p);
    pid_t pid = fork();
    if (pid == 0) {
        int d = open("lock.txt", O_RDWR);
        int r = flock(d, LOCK_EX | LOCK_NB);
        write(p[1], r < 0 && errno == EWOULDBLOCK ? "B" : "?", 1);
        flock(d, LOCK_EX);       /* blocks until the parent unlocks */
        write(p[1], "L", 1);
        _exit(0);
    }
    char got[2] = {0};
    read(p[0], got, 1);
    printf("child saw the lock held: %s\n", got);
    usleep(20000);
    check("parent unlocks", flock(a, LOCK_UN));
    read(p[0], got, 1);
    printf("child then locked: %s\n", got);
    waitpid(pid, NULL, 0);
    check("lock after the child's exit released it", flock(b, LOCK_EX | LOCK_NB));
    close(c);
    close(a);
    close(b);
    unlink("lock.txt");
}

int main(void) {
    setvbuf(stdout, NULL, _IONBF, 0);
    close(99);                 /* the "bad descriptor": whatever the caller left open */
    test_affinity();
    test_prctl();
    test_memory();
    test_clocks();
    test_rusage();
    test_files();
    test_flock();
    unlink("data.txt");
    unlink("copy.txt");
    unlink("range.txt");
    return 0;
}
