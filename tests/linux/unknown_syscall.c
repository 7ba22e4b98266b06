/* System calls the kernel does not have: -1 with ENOSYS, and the program goes on. */
#include <stdio.h>
#include <errno.h>
#include <unistd.h>
#include <sys/syscall.h>

int main(void)
{
    long r = syscall(999, 1, 2, 3);
    printf("syscall 999: %ld %s\n", r, errno == ENOSYS ? "ENOSYS" : "?");
    r = syscall(5000);
    printf("syscall 5000: %ld %s\n", r, errno == ENOSYS ? "ENOSYS" : "?");
    printf("getpid works: %d\n", getpid() > 0);
    return 0;
}
