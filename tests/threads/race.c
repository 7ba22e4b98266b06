/* Racy but bounded: threads update shared data without locks (lost updates, an
 * interleaved log). The result depends on where the scheduler switches threads, which
 * pyvm makes deterministic: two runs must print the same. (Natively it varies.) */
#include <pthread.h>
#include <stdio.h>

#define NT 4
#define ITER 60000

static volatile unsigned counter;
static volatile unsigned char log_[NT * 64];
static volatile unsigned log_len;
static volatile unsigned long long mix;

static void *racer(void *arg)
{
    unsigned id = (unsigned)(long)arg;
    for (unsigned i = 0; i < ITER; i++) {
        unsigned c = counter;          /* read ... */
        mix = mix * 31 + id + c;       /* ... other threads may run here ... */
        counter = c + 1;               /* ... write: an update may be lost */
        if (i % (ITER / 64) == 0 && log_len < sizeof log_)
            log_[log_len++] = (unsigned char)('a' + id);
    }
    return NULL;
}

int main(void)
{
    pthread_t t[NT];
    for (long k = 0; k < NT; k++)
        pthread_create(&t[k], NULL, racer, (void *)k);
    for (int k = 0; k < NT; k++)
        pthread_join(t[k], NULL);
    printf("counter %u of %u\nmix %llu\nlog ", counter, NT * ITER, mix);
    for (unsigned i = 0; i < log_len; i++)
        putchar(log_[i]);
    putchar('\n');
    return 0;
}
