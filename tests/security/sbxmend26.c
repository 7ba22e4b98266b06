/* Acts on the paths named in argv and prints each call's result, for the writable-top
   rules (tests/security/test_sbxmend26.py). Each argument is OP:PATH[:PATH2]:
   R rmdir, U unlink, N rename PATH PATH2, S symlink PATH (target) PATH2, M mkdir,
   C chmod 0755, T open(PATH, O_RDONLY|O_TRUNC). Prints "ARG: rc errno". */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int main(int argc, char **argv) {
    for (int i = 1; i < argc; i++) {
        char buf[4096];
        strncpy(buf, argv[i], sizeof buf - 1);
        buf[sizeof buf - 1] = 0;
        char *a = buf + 2, *b = strchr(a, ':');
        if (b)
            *b++ = 0;
        int rc = -1;
        errno = 0;
        switch (buf[0]) {
        case 'R': rc = rmdir(a); break;
        case 'U': rc = unlink(a); break;
        case 'N': rc = rename(a, b); break;
        case 'S': rc = symlink(a, b); break;
        case 'M': rc = mkdir(a, 0755); break;
        case 'C': rc = chmod(a, 0755); break;
        case 'T': rc = open(a, O_RDONLY | O_TRUNC); if (rc >= 0) { close(rc); rc = 0; } break;
        }
        printf("%s: %d %d\n", argv[i], rc, rc < 0 ? errno : 0);
    }
    return 0;
}
