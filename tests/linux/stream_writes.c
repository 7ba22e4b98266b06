/* Blocking writes to streams (a pipe, a stream socket) return only when every byte is
 * taken; a signal or SO_SNDTIMEO ends one early with the count written so far;
 * SO_RCVTIMEO ends a blocking recv with EAGAIN; the timeouts read back as set. */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}

/* the child writes n bytes in one call; the parent reads them in small pieces */
static void one_big_write(const char *what, int rd, int wr, size_t n, int use_send)
{
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        close(rd);
        char *buf = malloc(n);
        for (size_t i = 0; i < n; i++)
            buf[i] = (char)(i * 7);
        ssize_t r = use_send ? send(wr, buf, n, 0) : write(wr, buf, n);
        _exit(r == (ssize_t)n ? 0 : 1);
    }
    close(wr);
    size_t got = 0, bad = 0;
    char piece[1000];
    ssize_t r;
    while ((r = read(rd, piece, sizeof piece)) > 0) {
        for (ssize_t i = 0; i < r; i++)
            bad += piece[i] != (char)((got + i) * 7);
        got += r;
    }
    int st;
    waitpid(pid, &st, 0);
    close(rd);
    printf("%s: one call wrote all %zu: %s, read back %zu intact: %s\n", what, n,
           WIFEXITED(st) && WEXITSTATUS(st) == 0 ? "yes" : "no", got, bad ? "no" : "yes");
}

static void on_alarm(int sig) { (void)sig; }

int main(void)
{
    int p[2], sv[2];
    pipe(p);
    one_big_write("pipe", p[0], p[1], 300000, 0);
    socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
    one_big_write("stream socket", sv[0], sv[1], 1500000, 1);

    socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
    struct timeval tv = {0, 200000}, back = {9, 9};
    socklen_t len = sizeof back;
    printf("SO_RCVTIMEO set: %d\n", setsockopt(sv[0], SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv));
    getsockopt(sv[0], SOL_SOCKET, SO_RCVTIMEO, &back, &len);
    printf("read back: %ld.%06ld (%u bytes)\n", (long)back.tv_sec, (long)back.tv_usec, len);
    struct timeval bad = {0, 1000000};
    errno = 0;
    int rc = setsockopt(sv[0], SOL_SOCKET, SO_RCVTIMEO, &bad, sizeof bad);
    printf("usec of a million: %d errno %d\n", rc, errno);
    char c;
    double t0 = now();
    errno = 0;
    ssize_t r = recv(sv[0], &c, 1, 0);
    double waited = now() - t0;
    printf("recv: %zd errno %d after the timeout: %s\n", r, errno,
           waited >= 0.15 && waited < 20 ? "yes" : "no");

    printf("SO_SNDTIMEO set: %d\n", setsockopt(sv[1], SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv));
    size_t big = 8 << 20;
    char *buf = calloc(1, big);
    t0 = now();
    r = send(sv[1], buf, big, 0);
    waited = now() - t0;
    printf("send into a full socket: part of it: %s, after the timeout: %s\n",
           r > 0 && (size_t)r < big ? "yes" : "no", waited >= 0.15 && waited < 20 ? "yes" : "no");
    errno = 0;
    r = send(sv[1], buf, big, 0);
    printf("again, nothing fits: %zd errno %d\n", r, errno);

    /* a signal (SA_RESTART or not) ends a blocking write that wrote some bytes with
     * their count */
    for (int restart = 0; restart < 2; restart++) {
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = on_alarm;
        sa.sa_flags = restart ? SA_RESTART : 0;
        sigaction(SIGALRM, &sa, NULL);
        pipe(p);
        struct itimerval it = {{0, 0}, {0, 200000}};
        setitimer(ITIMER_REAL, &it, NULL);
        errno = 0;
        r = write(p[1], buf, big);
        printf("write interrupted (SA_RESTART %d): part of it: %s, errno %d\n", restart,
               r > 0 && (size_t)r < big ? "yes" : "no", errno);
        close(p[0]);
        close(p[1]);
    }
    return 0;
}
