/* mend-linux33: each argument one operation on descriptors, its result reported as
   "op -> value" (or -errno) on stderr, or on the descriptor a "to:N" names: opens of
   /dev/stdout, /dev/fd/N, /proc/self/fd/N with flags (r w b: access; t a c x f C:
   O_TRUNC O_APPEND O_CLOEXEC O_EXCL O_NOFOLLOW O_CREAT O_PATH), reads, writes, sizes,
   ftruncate, F_SETFL 0, close, and reopen:NAME:N (N opens and closes). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
static int fl(const char *s) {
    int f = 0, acc = O_RDONLY;
    for (; *s; s++) switch (*s) {
        case 'r': acc = O_RDONLY; break; case 'w': acc = O_WRONLY; break;
        case 'b': acc = O_RDWR; break; case 't': f |= O_TRUNC; break;
        case 'a': f |= O_APPEND; break; case 'c': f |= O_CLOEXEC; break;
        case 'x': f |= O_EXCL; break; case 'f': f |= O_NOFOLLOW; break;
        case 'C': f |= O_CREAT; break; case 'p': f |= O_PATH; break;
    }
    return f | acc;
}
int main(int argc, char **argv) {
    FILE *out = stderr;
    for (int i = 1; i < argc; i++) {
        char *a = strdup(argv[i]), *op = strtok(a, ":"), *x = strtok(0, ":"), *y = strtok(0, ":");
        long r; char buf[256] = {0};
        struct stat st;
        if (!strcmp(op, "to")) { out = fdopen(atoi(x), "w"); setvbuf(out, 0, _IONBF, 0); continue; }
        if (!strcmp(op, "open")) r = open(x, fl(y ? y : "r"), 0644);
        else if (!strcmp(op, "write")) r = write(atoi(x), y, strlen(y));
        else if (!strcmp(op, "read")) {
            r = read(atoi(x), buf, 64);
            if (r > 0) fprintf(out, "[%.*s] ", (int)r, buf);
        } else if (!strcmp(op, "size")) { r = fstat(atoi(x), &st); if (!r) r = st.st_size; }
        else if (!strcmp(op, "getfl")) { r = fcntl(atoi(x), F_GETFL); if (r >= 0) r &= 03 | O_APPEND | O_PATH; }
        else if (!strcmp(op, "close")) r = close(atoi(x));
        else if (!strcmp(op, "ftrunc")) r = ftruncate(atoi(x), atol(y));
        else if (!strcmp(op, "noappend")) r = fcntl(atoi(x), F_SETFL, 0);
        else if (!strcmp(op, "reopen")) {           /* y times: open x O_WRONLY|O_APPEND, close */
            for (r = 0; r < atoi(y); r++) { int k = open(x, O_WRONLY | O_APPEND); if (k < 0) break; close(k); }
        }
        else { fprintf(out, "?%s\n", op); continue; }
        fprintf(out, "%s -> %ld\n", argv[i], r < 0 ? -errno : r);
    }
    return 0;
}
