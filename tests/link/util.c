/* Second C object: a table of function pointers (R_386_32 to .text) and data referring
 * back to prog.c. */
extern int shared_value;
extern int counter;

static unsigned long long times(unsigned long long v, unsigned int by) { return v * by; }

unsigned long long scale(unsigned long long v, unsigned int by)
{
    return times(v, by) / (unsigned long long)(by + 1);
}

static int one(void) { return 1; }
static int two(void) { return 2; }
int (*const ops[])(void) = {one, two};
int *const shared_ptr = &shared_value;

int table_sum(void)
{
    return ops[0]() + ops[1]() + *shared_ptr + counter;
}
