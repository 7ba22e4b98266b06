/* abort(): SIGABRT kills the process (status 134 from a shell). */
#include <stdio.h>
#include <stdlib.h>

int main(void)
{
    printf("before abort\n");
    fflush(stdout);
    abort();
}
