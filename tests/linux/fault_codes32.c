/* The siginfo of a signal a CPU exception raises: si_code and si_addr (the faulting
   instruction, 0, or elsewhere) for #GP (privileged instruction, bad selector, INT n,
   BOUND), #UD, #DE, INT3, INTO, INT1, a page fault and x87 #MF; for SIGSEGV the
   sigcontext's trapno and err (INT n is #GP: trapno 13, err n*8+2, EIP on the INT). */
#define _GNU_SOURCE
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <ucontext.h>
#include <unistd.h>

int bnd[2] = {0, 1};
static sigjmp_buf jb;
static void *at;
static int show_eip;

static void on_signal(int s, siginfo_t *si, void *uc) {
    ucontext_t *u = uc;
    void *eip = (void *)u->uc_mcontext.gregs[REG_EIP];
    printf("sig %d code %d addr %s", s, si->si_code,
           si->si_addr == 0 ? "0" : si->si_addr == at ? "=insn" : "other");
    if (show_eip)
        printf(" eip %s", eip == at ? "=insn" : "other");
    if (s == SIGSEGV && show_eip != 2)   /* (2: not the selector error code) */
        printf(" trapno %d err %d", (int)u->uc_mcontext.gregs[REG_TRAPNO],
               (int)u->uc_mcontext.gregs[REG_ERR]);
    printf("\n");
    fflush(stdout);
    siglongjmp(jb, 1);
}

/* asm text with the instruction under test at local label 9 */
#define T(name, eip, text) do { \
    show_eip = eip; \
    if (!sigsetjmp(jb, 1)) { \
        printf("%s: ", name); fflush(stdout); \
        __asm__ volatile("movl $9f, %0\n" text "\n" : "=m"(at) :: "memory", "eax", "edx", "ecx"); \
        printf("none\n"); \
    } } while (0)

static void x87(const char *name, unsigned short unmask, int op) {
    unsigned short cw = 0x037f & ~unmask;
    volatile double a = op == 2 ? -1.0 : 1.0, b = op == 0 ? 0.0 : op == 1 ? 3.0 : 1e300;
    volatile double r = 0;
    show_eip = 0;
    if (!sigsetjmp(jb, 1)) {
        printf("%s: ", name); fflush(stdout);
        __asm__ volatile("fclex; fldcw %0" :: "m"(cw));
        if (op == 2) __asm__ volatile("fldl %1; fsqrt; fstpl %0" : "=m"(r) : "m"(a));
        else if (op == 3) __asm__ volatile("fldl %1; fmul %%st(0), %%st(0); fstpl %0" : "=m"(r) : "m"(b));
        else r = a / b;
        __asm__ volatile("fwait");
        printf("none\n");
    }
    cw = 0x037f;
    __asm__ volatile("fnclex; fldcw %0" :: "m"(cw));
    (void)r;
}

int main(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_signal;
    sa.sa_flags = SA_SIGINFO | SA_NODEFER;
    for (int s = 1; s < 32; s++)
        sigaction(s, &sa, 0);
    T("hlt", 1, "jmp 8f\n9: hlt\n8: jmp 9b");
    T("cli", 1, "jmp 8f\n9: cli\n8: jmp 9b");
    T("mov from cr0", 1, "jmp 8f\n9: mov %%cr0, %%eax\n8: jmp 9b");
    T("in", 1, "jmp 8f\n9: inb $0x80, %%al\n8: jmp 9b");
    T("bad selector", 2, "mov $0x1234, %%eax\njmp 8f\n9: mov %%eax, %%ds\n8: jmp 9b");
    T("bound", 1, "mov $5, %%eax\njmp 8f\n9: bound %%eax, bnd\n8: jmp 9b");
    T("int 0x40", 1, "jmp 8f\n9: int $0x40\n8: jmp 9b");
    T("ud2", 1, "jmp 8f\n9: ud2\n8: jmp 9b");
    T("divide by 0", 1, "xor %%ecx, %%ecx\nmov $1, %%eax\ncdq\njmp 8f\n9: idiv %%ecx\n8: jmp 9b");
    T("divide overflow", 1, "mov $-1, %%ecx\nmov $0x80000000, %%eax\ncdq\njmp 8f\n9: idiv %%ecx\n8: jmp 9b");
    T("int3", 1, "jmp 8f\n9: int3\n8: jmp 9b");
    T("int1", 1, "jmp 8f\n9: .byte 0xf1\n8: jmp 9b");
    T("into", 1, "mov $0x7fffffff, %%eax\nadd %%eax, %%eax\njmp 8f\n9: into\n8: jmp 9b");
    T("read 0", 1, "xor %%eax, %%eax\njmp 8f\n9: mov (%%eax), %%eax\n8: jmp 9b");
    T("write text", 1, "jmp 8f\n9: movl $0, 9b\n8: jmp 9b");
    T("write 0", 1, "xor %%eax, %%eax\njmp 8f\n9: movl $1, (%%eax)\n8: jmp 9b");
    x87("x87 divide by zero", 0x04, 0);
    x87("x87 invalid", 0x01, 2);
    x87("x87 inexact", 0x20, 1);
    x87("x87 overflow", 0x08, 3);
    x87("x87 masked", 0, 0);
    return 0;
}
