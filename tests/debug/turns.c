/* Two threads take turns at work() (breakpoint there: thread 2 hits it with id=1,
   then thread 3 with id=2, natively and under pyvm), then spin until main is done. */
#include <pthread.h>
#include <stdio.h>
#include <unistd.h>

volatile int go, turn = 1, done, counter;

int work(int id) {
    int v = id * 10;
    counter += v;
    return v;
}

void *worker(void *arg) {
    int id = (int)(long)arg;
    while (!go || turn != id)
        ;
    int r = work(id);
    turn = id + 1;
    while (!done)
        ;
    return (void *)(long)r;
}

int main(void) {
    pthread_t t[2];
    for (int i = 0; i < 2; i++)
        pthread_create(&t[i], 0, worker, (void *)(long)(i + 1));
    go = 1;
    while (turn != 3)
        ;
    done = 1;
    for (int i = 0; i < 2; i++)
        pthread_join(t[i], 0);
    write(1, "done\n", 5);
    printf("counter=%d\n", counter);
    return 0;
}
