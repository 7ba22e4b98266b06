/* The guest's random bytes: AT_RANDOM, getrandom() and /dev/urandom, printed in hex. */
#include <stdio.h>
#include <sys/auxv.h>
#include <sys/random.h>
#include <fcntl.h>
#include <unistd.h>

static void hex(const char *what, const unsigned char *p, int n)
{
    printf("%s ", what);
    for (int i = 0; i < n; i++)
        printf("%02x", p[i]);
    printf("\n");
}

int main(void)
{
    unsigned char buf[16];
    hex("AT_RANDOM", (const unsigned char *)getauxval(AT_RANDOM), 16);
    if (getrandom(buf, sizeof buf, 0) != sizeof buf)
        return 1;
    hex("getrandom", buf, 16);
    int fd = open("/dev/urandom", O_RDONLY);
    if (fd < 0 || read(fd, buf, sizeof buf) != sizeof buf)
        return 2;
    hex("urandom", buf, 16);
    return 0;
}
