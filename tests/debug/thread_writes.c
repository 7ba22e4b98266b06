/* A worker thread makes two write calls and ends, then main makes one: `catch syscall`
   stops in the worker, for each call and its return, then in main (natively and under
   pyvm's GDB stub). */
#include <pthread.h>
#include <unistd.h>

void *worker(void *arg) {
    write(1, "w1\n", 3);
    write(1, "w2\n", 3);
    return 0;
}

int main(void) {
    pthread_t t;
    pthread_create(&t, 0, worker, 0);
    pthread_join(t, 0);
    write(1, "m\n", 2);
    return 0;
}
