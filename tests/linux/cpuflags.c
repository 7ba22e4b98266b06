/* What the CPU says (CPUID through gcc's __builtin_cpu_supports) next to what
   /proc/cpuinfo says: the two must agree, as they do on a real Linux. */
#include <stdio.h>
#include <string.h>

int main(void) {
    static const char *names[] = {"cmov", "mmx", "sse", "sse2", "sse3", 0};
    int cpuid[] = {__builtin_cpu_supports("cmov"), __builtin_cpu_supports("mmx"),
                   __builtin_cpu_supports("sse"), __builtin_cpu_supports("sse2"),
                   __builtin_cpu_supports("sse3")};
    static const char *linux_names[] = {"cmov", "mmx", "sse", "sse2", "pni", 0};
    char line[1024], flags[1024] = "";
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (!f) { perror("cpuinfo"); return 2; }
    while (fgets(line, sizeof line, f))
        if (!strncmp(line, "flags", 5)) { snprintf(flags, sizeof flags, " %s", strchr(line, ':') + 2); break; }
    fclose(f);
    flags[strcspn(flags, "\n")] = ' ';
    int bad = 0;
    for (int i = 0; names[i]; i++) {
        char word[32];
        snprintf(word, sizeof word, " %s ", linux_names[i]);
        int has = cpuid[i] != 0, listed = strstr(flags, word) != 0;
        printf("%s cpuid=%d cpuinfo=%d\n", names[i], has, listed);
        bad |= has != listed;
    }
    return bad;
}
