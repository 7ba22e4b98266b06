int from_b = 10;
extern int bias;
int get_a(int i);
static int local_b = 5;
int main(void) { return get_a(2) + bias * 2 + local_b; }
