/* A recursive-descent evaluator of arithmetic expressions over generated input. */
#include <stdio.h>
#include <stdlib.h>

static const char *p;

static long expr(void);

static long primary(void)
{
    while (*p == ' ')
        p++;
    if (*p == '(') {
        p++;
        long v = expr();
        while (*p == ' ')
            p++;
        p++;                    /* ')' */
        return v;
    }
    if (*p == '-') {
        p++;
        return -primary();
    }
    long v = 0;
    while (*p >= '0' && *p <= '9')
        v = v * 10 + (*p++ - '0');
    return v;
}

static long term(void)
{
    long v = primary();
    for (;;) {
        while (*p == ' ')
            p++;
        char op = *p;
        if (op != '*' && op != '/' && op != '%')
            return v;
        p++;
        long r = primary();
        if (op == '*')
            v = v * r % 1000003;
        else if (r == 0)
            v = 0;
        else if (op == '/')
            v /= r;
        else
            v %= r;
    }
}

static long expr(void)
{
    long v = term();
    for (;;) {
        while (*p == ' ')
            p++;
        char op = *p;
        if (op != '+' && op != '-')
            return v;
        p++;
        long r = term();
        v = op == '+' ? v + r : v - r;
    }
}

static unsigned seed = 42;
static unsigned rnd(void) { return seed = seed * 1103515245u + 12345u, seed >> 16; }

static char *gen(char *o, int depth)
{
    if (depth == 0 || rnd() % 4 == 0)
        return o + sprintf(o, "%u", rnd() % 1000);
    *o++ = '(';
    o = gen(o, depth - 1);
    *o++ = ' ';
    *o++ = "+-*/%+-*"[rnd() % 8];
    *o++ = ' ';
    o = gen(o, depth - 1);
    *o++ = ')';
    return o;
}

int main(int argc, char **argv)
{
    int n = argc > 1 ? atoi(argv[1]) : 400;
    static char buf[1 << 16];
    long total = 0;
    for (int i = 0; i < n; i++) {
        char *end = gen(buf, 9);
        *end = 0;
        p = buf;
        total = total * 7 + expr();
        total %= 1000000007;
    }
    printf("expr %d: %ld\n", n, total);
    return 0;
}
