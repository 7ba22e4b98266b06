/* main waits in pthread_join (a futex call) while the worker runs to work(): at the
   worker's breakpoint, main is blocked in that system call (the worker's sleep lets
   main get there first on the native run, under load too). gdb calls helper() in main
   while it waits. */
#include <pthread.h>
#include <stdio.h>
#include <unistd.h>

volatile int counter;

int helper(int x) {
    return x * 2;
}

int work(int id) {
    counter += id;
    return id;
}

void *worker(void *arg) {
    usleep(300000);
    return (void *)(long)work(1);
}

int main(void) {
    pthread_t t;
    void *r = 0;
    pthread_create(&t, 0, worker, 0);
    int e = pthread_join(t, &r);
    printf("join=%d r=%ld counter=%d\n", e, (long)r, counter);
    return 0;
}
