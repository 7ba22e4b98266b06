/* main starts a thread that ends (joined), then a second one that calls work():
   natively gdb numbers the second thread 3 and prints the first one's exit. */
#include <pthread.h>
#include <unistd.h>

volatile int counter;

int work(int id) {
    counter += id;
    return id;
}

void *first(void *arg) {
    counter += 1;
    return 0;
}

void *second(void *arg) {
    return (void *)(long)work(2);
}

int main(void) {
    pthread_t t;
    pthread_create(&t, 0, first, 0);
    pthread_join(t, 0);
    pthread_create(&t, 0, second, 0);
    pthread_join(t, 0);
    write(1, "done\n", 5);
    return 0;
}
