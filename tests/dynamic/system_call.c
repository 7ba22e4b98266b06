/* system() and popen(): /bin/sh (dash, from the guest root) runs the commands, whose
 * output and exit statuses come back to this program. */
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>

int main(void)
{
    fflush(stdout);
    int rc = system("echo via system | tr a-z A-Z");
    printf("rc %d\n", WEXITSTATUS(rc));
    rc = system("exit 3");
    printf("exit 3 -> %d\n", WEXITSTATUS(rc));
    fflush(stdout);
    rc = system("sort words.txt | uniq | head -n 3; test -e /no/such/file");
    printf("last -> %d\n", WEXITSTATUS(rc));
    FILE *p = popen("wc -l < words.txt", "r");
    int lines = -1;
    if (p == NULL || fscanf(p, "%d", &lines) != 1)
        return 1;
    printf("popen status %d lines %d\n", WEXITSTATUS(pclose(p)), lines);
    p = popen("cat > from_popen.txt; echo done >&2", "w");
    fputs("written through a pipe\n", p);
    pclose(p);
    fflush(stdout);
    system("cat from_popen.txt; rm from_popen.txt");
    return system("nonexistent-command 2>/dev/null") == 127 << 8 ? 6 : 7;
}
