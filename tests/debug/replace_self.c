/* Removes its own program file and leaves a symbolic link to argv[2] in its place. */
#include <stdio.h>
#include <unistd.h>

int main(int argc, char **argv) {
    if (argc > 2 && unlink(argv[1]) == 0 && symlink(argv[2], argv[1]) == 0)
        puts("replaced");
    return 0;
}
