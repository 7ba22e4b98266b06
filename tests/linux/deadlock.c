/* Reads a pipe whose only writer is itself: a native run waits forever; pyvm sees that
 * no process can ever run again and stops with a message. */
#include <stdio.h>
#include <unistd.h>

int main(void)
{
    int p[2];
    char c;
    pipe(p);
    printf("reading\n");
    fflush(stdout);
    return (int)read(p[0], &c, 1);
}
