/* Freestanding C for the pyld tests: 64-bit division from libgcc, string literals in
 * .rodata.str1.1, a COMMON variable, a static .bss array, initialised pointers in .data
 * (R_386_32), and calls across objects in both directions. */
extern void putstr(const char *s);
extern const char startup_marker[];
extern unsigned long long scale(unsigned long long v, unsigned int by);
extern int table_sum(void);

__attribute__((common)) int counter;            /* COMMON: set by start.asm */
static char buffer[64];                          /* static .bss */
const char *greetings[] = {"hello", "from", "pyld"};   /* .data pointers to .rodata.str1.1 */
int *counter_ptr = &counter;                     /* .data pointer to COMMON storage */
int shared_value = 7;                            /* used by util.c */
unsigned int radix = 10;                         /* not a constant: real 64-bit division */

static char *utoa(unsigned long long v, char *end)
{
    *--end = 0;
    do {
        *--end = (char)('0' + v % radix);        /* __umoddi3 */
        v /= radix;                              /* __udivdi3 */
    } while (v);
    return end;
}

static long long sdiv(long long a, long long b) __attribute__((noipa));
static long long sdiv(long long a, long long b) { return a / b; }   /* __divdi3 */

int main(void)
{
    for (int i = 0; i < 3; i++) {
        putstr(greetings[i]);
        putstr(" ");
    }
    putstr("\n");
    putstr(startup_marker);
    putstr("\n");
    unsigned long long big = scale(123456789012345ULL, *counter_ptr);
    putstr(utoa(big, buffer + sizeof buffer));
    putstr("\n");
    long long q = sdiv(-9000000000LL, 7);
    putstr(q < 0 ? "negative " : "positive ");
    putstr(utoa((unsigned long long)-q, buffer + sizeof buffer));
    putstr("\n");
    return (int)(big % 200) + table_sum() + counter;
}
