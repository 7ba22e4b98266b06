/* Loaded with dlopen: uses the main library and libc, has TLS of its own. */
#include <stdio.h>
#include <stdlib.h>
extern int counter_next(void);
static __thread long slot = 100;
int plugin_run(int n)
{
    int s = 0;
    for (int i = 0; i < n; i++)
        s += counter_next();
    slot += s;
    char buf[64];
    snprintf(buf, sizeof buf, "%ld", slot);
    return atoi(buf);
}
