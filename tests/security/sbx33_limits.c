/* sbx33: resource limits (test_sbx33_limits.py). "as": getrlimit(RLIMIT_AS) (pyvm
   --memory SIZE against a native run under that RLIMIT_AS); "nproc": as uid 65534
   (root ignores RLIMIT_NPROC), RLIMIT_NPROC 4, fork children that wait on a pipe until
   fork fails; "prlimit": set and read a child's RLIMIT_NOFILE through prlimit(2);
   "vmsize": /proc/self/status's VmSize in kB. */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv) {
    const char *mode = argc > 1 ? argv[1] : "";
    if (!strcmp(mode, "as")) {
        struct rlimit r;
        getrlimit(RLIMIT_AS, &r);
        printf("as %lu %lu\n", (unsigned long)r.rlim_cur, (unsigned long)r.rlim_max);
        struct rlimit64 q;
        prlimit64(0, RLIMIT_AS, 0, &q);
        printf("as64 %llu %llu\n", (unsigned long long)q.rlim_cur, (unsigned long long)q.rlim_max);
        return 0;
    }
    if (!strcmp(mode, "nproc")) {
        if (setgid(65534) || setuid(65534)) { /* pyvm: the guest is never privileged */ }
        struct rlimit r = {4, 4};
        if (setrlimit(RLIMIT_NPROC, &r)) { perror("setrlimit"); return 1; }
        int p[2]; pipe(p);
        int made = 0, err = 0;
        for (int i = 0; i < 10; i++) {
            pid_t pid = fork();
            if (pid == 0) { char c; close(p[1]); read(p[0], &c, 1); _exit(0); }
            if (pid < 0) { err = errno; break; }
            made++;
        }
        close(p[1]);
        while (wait(0) > 0) {}
        printf("forked %d, then %s\n", made, err == EAGAIN ? "EAGAIN" : strerror(err));
        pid_t pid = fork();         /* all reaped: room again */
        if (pid == 0) _exit(0);
        printf("after reaping: %s\n", pid > 0 ? "forked" : strerror(errno));
        if (pid > 0) waitpid(pid, 0, 0);
        return 0;
    }
    if (!strcmp(mode, "prlimit")) {
        int p[2]; pipe(p);
        pid_t pid = fork();
        if (pid == 0) { char c; close(p[1]); read(p[0], &c, 1); _exit(0); }
        struct rlimit64 want = {32, 64}, got = {0, 0};
        int a = prlimit64(pid, RLIMIT_NOFILE, &want, 0);
        int b = prlimit64(pid, RLIMIT_NOFILE, 0, &got);
        printf("prlimit child: %d %d %llu %llu\n", a, b, (unsigned long long)got.rlim_cur,
               (unsigned long long)got.rlim_max);
        int c = prlimit64(99999, RLIMIT_NOFILE, 0, &got);
        printf("prlimit none: %d %s\n", c, strerror(errno));
        close(p[1]);
        waitpid(pid, 0, 0);
        return 0;
    }
    if (!strcmp(mode, "vmsize")) {
        char line[256];
        FILE *f = fopen("/proc/self/status", "r");
        while (f && fgets(line, sizeof line, f))
            if (!strncmp(line, "VmSize:", 7)) fputs(line, stdout);
        return 0;
    }
    return 2;
}
