/* Write the vDSO this process was given (AT_SYSINFO_EHDR) to argv[1]: its loaded bytes
 * and its section headers, as far as the image holds them. Run natively, it hands the
 * tests the host kernel's vDSO to compare pyvm's with (readelf reads both). */
#include <elf.h>
#include <stdio.h>
#include <sys/auxv.h>

int main(int argc, char **argv)
{
    unsigned long base = getauxval(AT_SYSINFO_EHDR);
    if (argc != 2 || !base)
        return 2;
    Elf32_Ehdr *eh = (Elf32_Ehdr *)base;
    Elf32_Phdr *ph = (Elf32_Phdr *)(base + eh->e_phoff);
    unsigned long end = eh->e_shoff + (unsigned long)eh->e_shnum * eh->e_shentsize;
    for (int i = 0; i < eh->e_phnum; i++)
        if (ph[i].p_type == PT_LOAD && ph[i].p_offset + ph[i].p_filesz > end)
            end = ph[i].p_offset + ph[i].p_filesz;
    FILE *f = fopen(argv[1], "wb");
    if (!f || fwrite((void *)base, 1, end, f) != end || fclose(f))
        return 1;
    return 0;
}
