/* linux33b: segment loads of TLS descriptors (run natively: the oracle). Linux refuses
   a not-present TLS segment (tls_desc_okay: EINVAL), so the loads below are of a
   selector past the GDT (#GP: SIGSEGV, SI_KERNEL); an all-zero user_desc clears its
   slot (loading it: #GP); an expand-down data segment in SS faults on an access below
   its limit with #SS, which Linux's traps.c makes SIGBUS (SI_KERNEL).
   A not-present LDT entry (modify_ldt: ENOSYS under pyvm) loaded into GS is #NP: SIGBUS.
   argv[1]: gs (not present), ss (not present), zero (cleared, into fs), down (#SS),
   ldt (#NP). */
#define _GNU_SOURCE
#include <asm/ldt.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>
static void on_sig(int sig, siginfo_t *si, void *uc) {
    (void)uc;
    printf("signal %d code %d\n", sig, si->si_code);
    _exit(0);
}
int main(int argc, char **argv) {
    const char *mode = argc > 1 ? argv[1] : "gs";
    struct user_desc d;
    memset(&d, 0, sizeof d);
    d.entry_number = strcmp(mode, "ldt") == 0 ? 0 : -1;
    if (strcmp(mode, "down") == 0) {
        d.limit = 0xffff;
        d.seg_32bit = 1;
        d.contents = 1;                 /* expand-down data: offsets 0-0xffff are out */
        d.useable = 1;
    } else if (strcmp(mode, "zero") != 0) {
        d.limit = 0xfffff;
        d.seg_32bit = 1;
        d.limit_in_pages = 1;
        d.useable = 1;
        d.seg_not_present = 1;
    }
    setvbuf(stdout, 0, _IONBF, 0);
    long r = strcmp(mode, "ldt") == 0 ? syscall(SYS_modify_ldt, 1, &d, sizeof d)
                                      : syscall(SYS_set_thread_area, &d);
    if (strcmp(mode, "ldt") == 0)
        d.entry_number = 0;
    printf("set_thread_area %ld entry %d\n", r, (int)d.entry_number);
    unsigned sel = d.entry_number * 8 + 3 + (strcmp(mode, "ldt") == 0 ? 4 : 0);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_sig;
    sa.sa_flags = SA_SIGINFO;
    sigaction(SIGBUS, &sa, 0);
    sigaction(SIGSEGV, &sa, 0);
    int v = 0;
    if (strcmp(mode, "gs") == 0 || strcmp(mode, "ldt") == 0)
        __asm__ volatile("mov %0, %%gs" : : "r"(sel));
    else if (strcmp(mode, "ss") == 0)
        __asm__ volatile("push %%ss; mov %0, %%ss; pop %%ss" : : "r"(sel));
    else if (strcmp(mode, "zero") == 0)
        __asm__ volatile("mov %0, %%fs" : : "r"(sel));
    else
        __asm__ volatile("push %%ebp; mov $0x100, %%ebp; mov %1, %%ss; mov (%%ebp), %0;"
                         "pop %%ebp" : "=r"(v) : "r"(sel));
    printf("no fault %d\n", v);
    return 1;
}
