/* main waits in pthread_join (a futex call) while the worker runs to work(): at the
   worker's breakpoint, main is blocked in that system call (the worker's sleep lets
   main get there first on the native run, under load too). */
#include <pthread.h>
#include <unistd.h>

volatile int counter;

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
    pthread_create(&t, 0, worker, 0);
    pthread_join(t, 0);
    return 0;
}
