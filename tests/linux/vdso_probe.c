/* The vDSO as a program sees it: AT_SYSINFO_EHDR and AT_SYSINFO, its ELF tables parsed
 * the way the kernel's tools/testing/selftests/vDSO/parse_vdso.c does (SysV hash, symbol
 * versions), each __vdso_* function called and checked against the system call, a
 * handler installed without SA_RESTORER returning through __kernel_(rt_)sigreturn,
 * /proc/self/maps and dl_iterate_phdr. Only facts that hold on any kernel are printed,
 * so the output is the same natively and under pyvm. */
#define _GNU_SOURCE
#include <elf.h>
#include <errno.h>
#include <link.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static uintptr_t base;
static Elf32_Sym *symtab;
static const char *strtab;
static Elf32_Word *bucket, *chain, nbucket;
static Elf32_Versym *versym;
static Elf32_Verdef *verdef;
static uintptr_t load_offset;

static unsigned long elf_hash(const char *name)
{
    unsigned long h = 0, g;
    for (; *name; name++) {
        h = (h << 4) + (unsigned char)*name;
        if ((g = h & 0xf0000000))
            h ^= g >> 24;
        h &= ~g;
    }
    return h;
}

static int version_matches(int i, const char *version)
{
    if (!versym)
        return 1;
    unsigned ver = versym[i] & 0x7fff;
    for (Elf32_Verdef *d = verdef;; d = (Elf32_Verdef *)((char *)d + d->vd_next)) {
        if (!(d->vd_flags & VER_FLG_BASE) && (d->vd_ndx & 0x7fff) == ver) {
            Elf32_Verdaux *aux = (Elf32_Verdaux *)((char *)d + d->vd_aux);
            return strcmp(version, strtab + aux->vda_name) == 0;
        }
        if (!d->vd_next)
            return 0;
    }
}

static void *lookup(const char *version, const char *name)
{
    for (Elf32_Word i = bucket[elf_hash(name) % nbucket]; i; i = chain[i]) {
        Elf32_Sym *s = &symtab[i];
        if (ELF32_ST_TYPE(s->st_info) != STT_FUNC || s->st_shndx == SHN_UNDEF)
            continue;
        if (strcmp(name, strtab + s->st_name) == 0 && version_matches(i, version))
            return (void *)(load_offset + s->st_value);
    }
    return NULL;
}

static int parse(void)
{
    Elf32_Ehdr *eh = (Elf32_Ehdr *)base;
    if (memcmp(eh->e_ident, ELFMAG, SELFMAG) || eh->e_type != ET_DYN || eh->e_machine != EM_386)
        return 0;
    Elf32_Phdr *ph = (Elf32_Phdr *)(base + eh->e_phoff);
    Elf32_Dyn *dyn = NULL;
    int found_load = 0;
    for (int i = 0; i < eh->e_phnum; i++) {
        if (ph[i].p_type == PT_LOAD && !found_load) {
            found_load = 1;
            load_offset = base + ph[i].p_offset - ph[i].p_vaddr;
        } else if (ph[i].p_type == PT_DYNAMIC)
            dyn = (Elf32_Dyn *)(base + ph[i].p_offset);
    }
    if (!found_load || !dyn)
        return 0;
    Elf32_Word *hash = NULL;
    for (; dyn->d_tag != DT_NULL; dyn++) {
        uintptr_t p = load_offset + dyn->d_un.d_ptr;
        switch (dyn->d_tag) {
        case DT_STRTAB: strtab = (const char *)p; break;
        case DT_SYMTAB: symtab = (Elf32_Sym *)p; break;
        case DT_HASH: hash = (Elf32_Word *)p; break;
        case DT_VERSYM: versym = (Elf32_Versym *)p; break;
        case DT_VERDEF: verdef = (Elf32_Verdef *)p; break;
        }
    }
    if (!strtab || !symtab || !hash)
        return 0;
    if (!verdef)
        versym = NULL;
    nbucket = hash[0];
    bucket = &hash[2];
    chain = &hash[2 + nbucket];
    return 1;
}

typedef long (*two_args)(long, void *);
static volatile uintptr_t handler_return;
static volatile int handled;

static void plain_handler(int sig)
{
    handler_return = (uintptr_t)__builtin_return_address(0);
    handled = sig;
}

static void info_handler(int sig, siginfo_t *si, void *uc)
{
    (void)si; (void)uc;
    handler_return = (uintptr_t)__builtin_return_address(0);
    handled = sig;
}

struct kernel_sigaction {       /* rt_sigaction's: no SA_RESTORER, no restorer */
    void *handler;
    unsigned long flags;
    void *restorer;
    unsigned long long mask;
};

static void handler_test(const char *what, void *handler, unsigned long flags, uintptr_t end)
{
    struct kernel_sigaction ka = {handler, flags, NULL, 0};
    handled = 0;
    handler_return = 0;
    if (syscall(SYS_rt_sigaction, SIGUSR1, &ka, NULL, 8) != 0) {
        printf("%s: rt_sigaction failed\n", what);
        return;
    }
    syscall(SYS_tgkill, getpid(), syscall(SYS_gettid), SIGUSR1);
    printf("%s: handled %d, returns into the vdso: %s\n", what, handled,
           handler_return >= base && handler_return < end ? "yes" : "no");
}

static int seen_in_iterate;
static int iterate(struct dl_phdr_info *info, size_t size, void *data)
{
    (void)size; (void)data;
    if (info->dlpi_addr + 0 == base || (info->dlpi_phdr &&
        (uintptr_t)info->dlpi_phdr == base + ((Elf32_Ehdr *)base)->e_phoff))
        seen_in_iterate = 1;
    return 0;
}

int main(void)
{
    base = getauxval(AT_SYSINFO_EHDR);
    uintptr_t sysinfo = getauxval(AT_SYSINFO);
    printf("AT_SYSINFO_EHDR given: %s, page aligned: %s\n", base ? "yes" : "no",
           base % 4096 ? "no" : "yes");
    if (!base || !parse()) {
        puts("cannot parse the vdso");
        return 1;
    }
    Elf32_Ehdr *eh = (Elf32_Ehdr *)base;
    printf("AT_SYSINFO is the entry point: %s\n", sysinfo == base + eh->e_entry ? "yes" : "no");
    const char *soname = NULL;
    void *vsyscall = lookup("LINUX_2.5", "__kernel_vsyscall");
    printf("__kernel_vsyscall@LINUX_2.5 is AT_SYSINFO: %s\n",
           vsyscall && (uintptr_t)vsyscall == sysinfo ? "yes" : "no");
    printf("__kernel_sigreturn@LINUX_2.5: %s\n", lookup("LINUX_2.5", "__kernel_sigreturn") ? "found" : "missing");
    printf("__kernel_rt_sigreturn@LINUX_2.5: %s\n", lookup("LINUX_2.5", "__kernel_rt_sigreturn") ? "found" : "missing");
    printf("__vdso_clock_gettime@LINUX_2.5 (wrong version): %s\n",
           lookup("LINUX_2.5", "__vdso_clock_gettime") ? "found" : "missing");
    (void)soname;
    uintptr_t end = 0;
    Elf32_Phdr *ph = (Elf32_Phdr *)(base + eh->e_phoff);
    for (int i = 0; i < eh->e_phnum; i++)
        if (ph[i].p_type == PT_LOAD)
            end = base + ((ph[i].p_vaddr + ph[i].p_memsz + 4095) & ~4095u);

    two_args gettime = lookup("LINUX_2.6", "__vdso_clock_gettime");
    two_args gettime64 = lookup("LINUX_2.6", "__vdso_clock_gettime64");
    two_args getres = lookup("LINUX_2.6", "__vdso_clock_getres");
    two_args gtod = lookup("LINUX_2.6", "__vdso_gettimeofday");
    long (*vtime)(long *) = lookup("LINUX_2.6", "__vdso_time");
    printf("functions found: %d %d %d %d %d\n", !!gettime, !!gettime64, !!getres, !!gtod, !!vtime);
    if (!gettime || !gettime64 || !getres || !gtod || !vtime)
        return 1;

    struct timespec a, b, r1, r2;
    syscall(SYS_clock_gettime, CLOCK_MONOTONIC, &a);
    long rc = gettime(CLOCK_MONOTONIC, &b);
    printf("clock_gettime: %ld, monotonic: %s\n", rc,
           b.tv_sec > a.tv_sec || (b.tv_sec == a.tv_sec && b.tv_nsec >= a.tv_nsec) ? "yes" : "no");
    printf("clock_gettime(bad clock): %ld\n", gettime(12345, &b));
    struct { long long sec; long long nsec; } t64;
    rc = gettime64(CLOCK_REALTIME, &t64);
    printf("clock_gettime64: %ld, near time(): %s\n", rc,
           llabs(t64.sec - (long long)time(NULL)) <= 2 ? "yes" : "no");
    syscall(SYS_clock_getres, CLOCK_MONOTONIC, &r1);
    rc = getres(CLOCK_MONOTONIC, &r2);
    printf("clock_getres: %ld, same: %s\n", rc,
           r1.tv_sec == r2.tv_sec && r1.tv_nsec == r2.tv_nsec ? "yes" : "no");
    struct timeval tv;
    rc = gtod((long)&tv, NULL);
    printf("gettimeofday: %ld, near time(): %s\n", rc, labs(tv.tv_sec - time(NULL)) <= 2 ? "yes" : "no");
    long stored = 0, now = vtime(&stored);
    printf("time: stored the same: %s, near: %s\n", stored == now ? "yes" : "no",
           labs(now - time(NULL)) <= 2 ? "yes" : "no");

    struct timespec c;
    struct timeval tv2;
    printf("libc clock_gettime: %d, gettimeofday: %d, time > 0: %s\n",
           clock_gettime(CLOCK_REALTIME, &c), gettimeofday(&tv2, NULL), time(NULL) > 0 ? "yes" : "no");

    handler_test("plain handler", (void *)plain_handler, 0, end);
    handler_test("SA_SIGINFO handler", (void *)info_handler, SA_SIGINFO, end);

    FILE *f = fopen("/proc/self/maps", "r");
    char line[512];
    int in_maps = 0;
    while (f && fgets(line, sizeof line, f)) {
        unsigned long lo, hi;
        char perms[8];
        if (strstr(line, "[vdso]") && sscanf(line, "%lx-%lx %7s", &lo, &hi, perms) == 3)
            in_maps = lo == base && hi == end && strcmp(perms, "r-xp") == 0;
    }
    if (f)
        fclose(f);
    printf("/proc/self/maps [vdso] r-xp at AT_SYSINFO_EHDR: %s\n", in_maps ? "yes" : "no");
    dl_iterate_phdr(iterate, NULL);
    printf("dl_iterate_phdr shows it: %s\n", seen_in_iterate ? "yes" : "no");
    return 0;
}
