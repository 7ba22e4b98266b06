/* A handler running on the normal stack raises a signal whose handler runs on an
   alternate stack ABOVE it (here an array in main's frame), then clobbers the x87
   registers (fninit). Its return must give the interrupted code its x87 stack back:
   prints r=1.000000 natively. */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

static void on_alt(int s) { (void)s; }

static void on_main(int s)
{
    (void)s;
    syscall(SYS_kill, getpid(), SIGUSR2);
    __asm__ volatile("fninit");
}

int main(void)
{
    static char *volatile keep;
    char alt[65536];
    keep = alt;
    stack_t ss = {.ss_sp = alt, .ss_size = sizeof alt, .ss_flags = 0};
    sigaltstack(&ss, 0);
    struct sigaction a;
    memset(&a, 0, sizeof a);
    a.sa_handler = on_main;
    sigaction(SIGUSR1, &a, 0);
    a.sa_handler = on_alt;
    a.sa_flags = SA_ONSTACK;
    sigaction(SIGUSR2, &a, 0);
    double r;
    int pid = getpid();
    __asm__ volatile("fld1\n\tmovl $37, %%eax\n\tmovl %1, %%ebx\n\tmovl $10, %%ecx\n\t"
                     "int $0x80\n\tfstpl %0"
                     : "=m"(r) : "r"(pid) : "eax", "ebx", "ecx", "memory");
    printf("alternate stack above: %d\nr=%f\n", (char *)alt > (char *)&a, r);
    return 0;
}
