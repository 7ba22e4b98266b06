/* A second thread writes through a null pointer: gdb stops in that thread. */
#include <pthread.h>
#include <stdio.h>
int *volatile ptr;
void *worker(void *arg) {
    int id = (int)(long)arg;
    *ptr = id;
    return 0;
}
int main(void) {
    pthread_t t;
    pthread_create(&t, 0, worker, (void *)7L);
    pthread_join(t, 0);
    return 0;
}
