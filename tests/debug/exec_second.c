/* The program execer.c runs: a breakpoint on second_fn (set after `catch exec` stopped
   in this image) hits, natively and under pyvm's GDB stub. */
#include <unistd.h>

int second_fn(int x) {
    return x * 2;
}

int main(void) {
    write(1, "second\n", 7);
    return second_fn(3) - 6;
}
