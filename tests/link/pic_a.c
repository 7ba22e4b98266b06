/* PIC objects: R_386_GOTPC, R_386_GOT32X, R_386_GOTOFF, R_386_PLT32 and the
 * __x86.get_pc_thunk COMDAT group that both objects carry. */
extern int from_b;
int bias = 1;
static int local_a = 30;
static const char *names[] = {"x", "yy", "zzz"};
int get_a(int i) { return from_b + local_a + bias + names[i][0]; }
