/* Runs the program named by argv[1] (exec): gdb's `catch exec` stops in the new image. */
#include <unistd.h>
int main(int argc, char **argv) {
    if (argc > 1)
        execv(argv[1], argv + 1);
    return 1;
}
