/* The worker writes `stage` while main spins: a watchpoint on it stops in the worker. */
#include <pthread.h>
#include <stdio.h>

volatile int go, done, stage;
volatile unsigned mainspin;

void *worker(void *arg) {
    while (!go)
        ;
    stage = 1;
    stage = 2;
    stage = 3;
    stage = 4;
    done = 1;
    return 0;
}

int main(void) {
    pthread_t t;
    pthread_create(&t, 0, worker, 0);
    go = 1;
    while (!done)
        mainspin++;
    pthread_join(t, 0);
    printf("stage=%d\n", stage);
    return 0;
}
