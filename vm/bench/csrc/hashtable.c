/* A chained hash table with string keys: insert, look up, count words. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct entry { struct entry *next; char *key; int count; };

static unsigned hash(const char *s)
{
    unsigned h = 2166136261u;
    while (*s)
        h = (h ^ (unsigned char)*s++) * 16777619u;
    return h;
}

int main(int argc, char **argv)
{
    int n = argc > 1 ? atoi(argv[1]) : 60000;
    unsigned nb = 4096;
    struct entry **tab = calloc(nb, sizeof *tab);
    char key[32];
    unsigned s = 7, distinct = 0;
    for (int i = 0; i < n; i++) {
        s = s * 1664525u + 1013904223u;
        snprintf(key, sizeof key, "k%u", (s >> 8) % (unsigned)(n / 3 + 1));
        unsigned h = hash(key) & (nb - 1);
        struct entry *e = tab[h];
        while (e && strcmp(e->key, key))
            e = e->next;
        if (!e) {
            e = malloc(sizeof *e);
            e->key = strdup(key);
            e->count = 0;
            e->next = tab[h];
            tab[h] = e;
            distinct++;
        }
        e->count++;
    }
    int best = 0, longest = 0;
    const char *bestkey = "";
    for (unsigned h = 0; h < nb; h++) {
        int len = 0;
        for (struct entry *e = tab[h]; e; e = e->next) {
            len++;
            if (e->count > best || (e->count == best && strcmp(e->key, bestkey) < 0)) {
                best = e->count;
                bestkey = e->key;
            }
        }
        if (len > longest)
            longest = len;
    }
    printf("hashtable %d: %u distinct, top %s x%d, longest chain %d\n",
           n, distinct, bestkey, best, longest);
    return 0;
}
