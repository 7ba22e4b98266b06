/* qsort, bsearch and string.h / stdlib.h conversions. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <ctype.h>

static int cmp_int(const void *a, const void *b)
{
    int x = *(const int *)a, y = *(const int *)b;
    return (x > y) - (x < y);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int main(void)
{
    int v[500];
    unsigned seed = 7;
    for (int i = 0; i < 500; i++) {
        seed = seed * 1664525 + 1013904223;
        v[i] = (int)(seed >> 8) % 10000 - 5000;
    }
    qsort(v, 500, sizeof v[0], cmp_int);
    for (int i = 0; i < 500; i += 50)
        printf("%d ", v[i]);
    printf("\n");
    int key = v[123];
    int *found = bsearch(&key, v, 500, sizeof v[0], cmp_int);
    printf("found %d at %d\n", key, found ? (int)(found - v) : -1);

    const char *words[] = {"pear", "apple", "fig", "banana", "cherry", "date", "elderberry",
                           "grape", "kiwi", "lemon", "Mango", "apple pie"};
    const char *sorted[12];
    memcpy(sorted, words, sizeof words);
    qsort(sorted, 12, sizeof sorted[0], cmp_str);
    for (int i = 0; i < 12; i++)
        printf("%s%s", sorted[i], i < 11 ? "," : "\n");

    char buf[256];
    strcpy(buf, "Hello");
    strcat(buf, ", World");
    strncat(buf, "!!!!!", 2);
    printf("%s len=%zu cmp=%d ncmp=%d\n", buf, strlen(buf), strcmp(buf, "Hello"),
           strncmp(buf, "Help", 3));
    printf("chr=%s rchr=%s str=%s spn=%zu cspn=%zu\n", strchr(buf, 'o'), strrchr(buf, 'o'),
           strstr(buf, "Wor"), strspn(buf, "HeloW"), strcspn(buf, ","));
    char tok[] = "a,b;;c,d e";
    for (char *t = strtok(tok, ",; "); t; t = strtok(NULL, ",; "))
        printf("<%s>", t);
    printf("\n");
    memmove(buf + 2, buf, 10);
    buf[12] = 0;
    printf("memmove: %s memcmp=%d\n", buf, memcmp("abc", "abd", 3));
    for (char *p = buf; *p; p++)
        *p = (char)toupper((unsigned char)*p);
    printf("upper: %s\n", buf);
    printf("strtol %ld %ld %ld %lu\n", strtol("  -1234xyz", NULL, 10), strtol("0x1f", NULL, 16),
           strtol("0777", NULL, 0), strtoul("4294967295", NULL, 10));
    printf("atoi %d atof %g strtod %.10g\n", atoi("42abc"), atof("3.5e2"),
           strtod("-1.25e-3", NULL));
    int a, b;
    char word[32];
    double d;
    int n = sscanf("17 0x20 token 2.5", "%d %i %31s %lf", &a, &b, word, &d);
    printf("sscanf %d: %d %d %s %g\n", n, a, b, word, d);
    char *dup = strdup("duplicate");
    printf("%s %d\n", dup, (int)strlen(dup));
    free(dup);
    return 0;
}
