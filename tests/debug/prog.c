#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <sys/random.h>
#include <unistd.h>

int counter = 0;
int values[8];

int square(int x) {
    int y = x * x;
    return y;
}

int sum_to(int n) {
    int s = 0;
    for (int i = 1; i <= n; i++) {
        s += square(i);
        counter++;
    }
    return s;
}

int main(int argc, char **argv) {
    char buf[64] = {0};
    ssize_t n = read(0, buf, sizeof buf - 1);
    unsigned int r = 0;
    getrandom(&r, sizeof r, 0);
    time_t t = time(NULL);
    for (int i = 0; i < 8; i++) values[i] = i * 3;
    int s = sum_to(10);
    printf("input=%d sum=%d counter=%d r=%u t=%ld\n", (int)n, s, counter, r, (long)t);
    return s % 256 == 129 ? 3 : counter;
}
