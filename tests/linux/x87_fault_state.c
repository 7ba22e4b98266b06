/* x87 instructions between integer code: the registers and the arithmetic flags the
 * block left pending must be exact when a waiting x87 instruction raises #MF (SIGFPE
 * handler reads them from the signal context), and fcomi/fucomi and fnstsw ax must
 * update EFLAGS/AX in the middle of a block. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <ucontext.h>

static sigjmp_buf jb;
static double slot = 2.5;
static const unsigned short unmask_ie = 0x037e;

static void on_fpe(int sig, siginfo_t *si, void *p)
{
    ucontext_t *uc = p;
    greg_t *g = uc->uc_mcontext.gregs;
    (void)si;
    printf("sig %d eax=%08x ecx=%08x edx=%08x esi=%08x flags=%03x\n", sig,
           (unsigned)g[REG_EAX], (unsigned)g[REG_ECX], (unsigned)g[REG_EDX],
           (unsigned)g[REG_ESI], (unsigned)g[REG_EFL] & 0x8d5);
    siglongjmp(jb, 1);
}

#define PENDING "fninit\n\tfldcw %[cw]\n\tfldz\n\tfldz\n\tfdivp\n\t"

int main(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_fpe;
    sa.sa_flags = SA_SIGINFO | SA_NODEFER;
    sigaction(SIGFPE, &sa, 0);
    for (int k = 0; k < 4; k++) {
        if (sigsetjmp(jb, 1) == 0) {
            switch (k) {
            case 0:     /* OF SF AF pending from add, fault on fld1 */
                __asm__ volatile(PENDING "mov $0x7fffffff, %%eax\n\tadd $1, %%eax\n\t"
                                 "mov $3, %%ecx\n\tmov $9, %%edx\n\tfld1\n\t"
                                 :: [cw] "m"(unmask_ie) : "eax", "ecx", "edx", "memory", "cc");
                break;
            case 1:     /* CF ZF PF from sub, fault on a store */
                __asm__ volatile(PENDING "mov $5, %%esi\n\tsub $5, %%esi\n\tmov $0x1234, %%ecx\n\t"
                                 "fstpl %[m]\n\t"
                                 : [m] "=m"(slot) : [cw] "m"(unmask_ie) : "esi", "ecx", "cc");
                break;
            case 2:     /* inc keeps CF from stc; fault on fxch */
                __asm__ volatile(PENDING "stc\n\tmov $-1, %%edx\n\tinc %%edx\n\tfxch\n\t"
                                 :: [cw] "m"(unmask_ie) : "edx", "cc");
                break;
            default:    /* cmp, then fwait */
                __asm__ volatile(PENDING "mov $1, %%eax\n\tcmp $2, %%eax\n\tfwait\n\t"
                                 :: [cw] "m"(unmask_ie) : "eax", "cc");
                break;
            }
            printf("case %d: no fault\n", k);
        }
        __asm__ volatile("fninit");
    }
    /* flags written by fucomip between integer instructions, and fnstsw ax */
    unsigned fl1, fl2, ax;
    double a = 1.5, b = 2.5;
    __asm__ volatile("mov $0x7fffffff, %%eax\n\tadd $1, %%eax\n\t"
                     "fldl %[b]\n\tfldl %[a]\n\tfucomip %%st(1), %%st\n\t"
                     "pushf\n\tpop %[f1]\n\t"
                     "fucomip %%st(0), %%st\n\tpushf\n\tpop %[f2]\n\t"
                     "mov $0xabcd0000, %%eax\n\tfld1\n\tfldz\n\tfcompp\n\tfnstsw %%ax\n\t"
                     "mov %%eax, %[ax]\n\t"
                     : [f1] "=r"(fl1), [f2] "=r"(fl2), [ax] "=r"(ax)
                     : [a] "m"(a), [b] "m"(b) : "eax", "cc", "memory");
    printf("fucomip flags %03x %03x fnstsw ax %08x\n", fl1 & 0x8d5, fl2 & 0x8d5, ax);
    return 0;
}
