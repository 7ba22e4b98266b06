/* Threads that use the x87 unit, one after another, and socket pairs opened and
   closed: what each leaves behind must be freed when it ends, not by a cycle collector
   pyvm's host Python runs now and then (3000 threads held 115 MB). */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

static volatile double sink;

static void *work(void *arg) {
    double x = (double)(long)arg;
    for (int i = 0; i < 10; i++)
        x = x * 1.5 + 0.25;
    sink = x;
    return 0;
}

int main(int argc, char **argv) {
    int n = argc > 1 ? atoi(argv[1]) : 20;
    for (int i = 0; i < n; i++) {
        pthread_t t;
        pthread_create(&t, 0, work, (void *)(long)i);
        pthread_join(t, 0);
        int sv[2];
        socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
        write(sv[0], "x", 1);
        close(sv[0]);
        close(sv[1]);
    }
    printf("%d threads, %d pairs\n", n, n);
    return 0;
}
