/* argc/argv, the environment and the auxiliary vector a static program sees. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <unistd.h>

extern char **environ;

int main(int argc, char **argv)
{
    printf("argc=%d\n", argc);
    for (int i = 1; i < argc; i++)
        printf("argv[%d]=%s\n", i, argv[i]);
    printf("argv[argc]=%p\n", (void *)argv[argc]);
    const char *vars[] = {"PYVM_TEST_A", "PYVM_TEST_B", "PYVM_MISSING"};
    for (int i = 0; i < 3; i++) {
        const char *v = getenv(vars[i]);
        printf("%s=%s\n", vars[i], v ? v : "(unset)");
    }
    int n = 0;
    for (char **e = environ; *e; e++)
        if (!strncmp(*e, "PYVM_TEST_", 10))
            n++;
    printf("PYVM_TEST_* count=%d\n", n);
    printf("pagesz=%lu clktck=%lu secure=%lu\n", getauxval(AT_PAGESZ), getauxval(AT_CLKTCK),
           getauxval(AT_SECURE));
    printf("random ok=%d phnum ok=%d\n", getauxval(AT_RANDOM) != 0, getauxval(AT_PHNUM) > 0);
    printf("uid match=%d\n", getauxval(AT_UID) == getuid());
    printf("sysconf pagesize=%ld\n", sysconf(_SC_PAGESIZE));
    return argc;
}
