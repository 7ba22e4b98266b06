/* sbx33: segment faults in user mode (test_sbx33_segs.py): loading %fs with a
   not-present LDT descriptor (#NP), with a selector past the LDT (#GP(selector)),
   and a push through an LDT stack segment of a small limit (#SS). Prints the signal,
   si_code and the sigcontext's trapno and err. */
#define _GNU_SOURCE
#include <asm/ldt.h>
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <ucontext.h>
#include <unistd.h>

static sigjmp_buf jb;
static volatile int got_sig, got_code, got_trap, got_err;
static void h(int s, siginfo_t *si, void *uc) {
    ucontext_t *u = uc;
    got_sig = s; got_code = si->si_code;
    got_trap = u->uc_mcontext.gregs[REG_TRAPNO]; got_err = u->uc_mcontext.gregs[REG_ERR];
    siglongjmp(jb, 1);
}

static void set_ldt(int entry, unsigned base, unsigned limit, int present, int contents) {
    struct user_desc d;
    memset(&d, 0, sizeof d);
    d.entry_number = entry; d.base_addr = base; d.limit = limit; d.seg_32bit = 1;
    d.contents = contents; d.seg_not_present = !present; d.useable = 1;
    if (syscall(SYS_modify_ldt, 1, &d, sizeof d)) perror("modify_ldt");
}

static void report(const char *what) {
    printf("%s: sig %d code %#x trapno %d err %#x\n", what, got_sig, got_code, got_trap, got_err);
}

int main(void) {
    struct sigaction sa; memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = h; sa.sa_flags = SA_SIGINFO | SA_NODEFER;
    sigaction(SIGSEGV, &sa, 0); sigaction(SIGBUS, &sa, 0);
    set_ldt(0, 0, 0xfffff, 0, 0);            /* not present */
    set_ldt(1, 0, 0, 1, 0);                  /* data, 4 KiB (limit 0, byte granular: 1 byte) */
    got_sig = 0;
    if (sigsetjmp(jb, 1) == 0) { asm volatile("mov %0, %%fs" :: "r"(0 << 3 | 7)); printf("np: loaded\n"); }
    else report("np");
    got_sig = 0;
    if (sigsetjmp(jb, 1) == 0) { asm volatile("mov %0, %%fs" :: "r"(200 << 3 | 7)); printf("gp: loaded\n"); }
    else report("gp");
    got_sig = 0;
    if (sigsetjmp(jb, 1) == 0) {
        asm volatile("push %%ss\n\tmov %0, %%ss\n\tmov $0x100, %%esp\n\tpush %%eax\n\t" :: "r"(1 << 3 | 7));
        printf("ss: pushed\n");
    } else report("ss");
    return 0;
}
