/* Reads stdin: counts lines, words and bytes, echoes lines reversed and upper-cased. */
#include <stdio.h>
#include <string.h>
#include <ctype.h>

int main(void)
{
    char line[4096];
    long lines = 0, words = 0, bytes = 0;
    while (fgets(line, sizeof line, stdin)) {
        size_t n = strlen(line);
        bytes += n;
        lines++;
        int in = 0;
        for (size_t i = 0; i < n; i++) {
            if (isspace((unsigned char)line[i]))
                in = 0;
            else if (!in) {
                in = 1;
                words++;
            }
        }
        if (n && line[n - 1] == '\n')
            line[--n] = 0;
        for (size_t i = 0; i < n / 2; i++) {
            char t = line[i];
            line[i] = line[n - 1 - i];
            line[n - 1 - i] = t;
        }
        for (size_t i = 0; i < n; i++)
            line[i] = (char)toupper((unsigned char)line[i]);
        puts(line);
    }
    printf("%ld %ld %ld\n", lines, words, bytes);
    return lines > 0 ? 0 : 3;
}
