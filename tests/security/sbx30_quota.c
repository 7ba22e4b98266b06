/* What a guest leaves on the disk: "names KIND N" makes up to N new names of one kind
   (mkdir, creat, symlink, link) and prints how many it made and the errno that stopped
   it; "churn N" makes and removes one temporary file N times; "sparse" writes 1 byte
   1 GiB past the end of a new file (write, then pwrite) and prints each answer and the
   size left. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int main(int argc, char **argv) {
    setvbuf(stdout, 0, _IONBF, 0);
    signal(SIGXFSZ, SIG_IGN);           /* natively under RLIMIT_FSIZE: EFBIG, not a kill */
    if (argc >= 4 && !strcmp(argv[1], "names")) {
        const char *kind = argv[2];
        int n = atoi(argv[3]), made = 0, err = 0;
        close(open("src", O_CREAT | O_WRONLY, 0600));
        for (int i = 0; i < n; i++) {
            char name[32];
            snprintf(name, sizeof name, "n%d", i);
            int r;
            if (!strcmp(kind, "mkdir"))
                r = mkdir(name, 0700);
            else if (!strcmp(kind, "creat"))
                r = open(name, O_CREAT | O_EXCL | O_WRONLY, 0600) < 0 ? -1 : 0;
            else if (!strcmp(kind, "symlink"))
                r = symlink("src", name);
            else
                r = link("src", name);
            if (r < 0) {
                err = errno;
                break;
            }
            made++;
        }
        printf("%s made %d errno %d\n", kind, made, err);
        return 0;
    }
    if (argc >= 3 && !strcmp(argv[1], "churn")) {
        int n = atoi(argv[2]), made = 0;
        for (int i = 0; i < n; i++) {
            int fd = open("tmpfile", O_CREAT | O_EXCL | O_WRONLY, 0600);
            if (fd < 0)
                break;
            close(fd);
            unlink("tmpfile");
            made++;
        }
        printf("churn %d\n", made);
        return 0;
    }
    if (argc >= 2 && !strcmp(argv[1], "sparse")) {
        int fd = open("sparse.out", O_CREAT | O_TRUNC | O_RDWR, 0600);
        lseek(fd, 1 << 30, SEEK_SET);
        long r = write(fd, "x", 1);
        printf("write %ld %d\n", r, r < 0 ? errno : 0);
        r = pwrite(fd, "y", 1, 1 << 30);
        printf("pwrite %ld %d\n", r, r < 0 ? errno : 0);
        struct stat st;
        fstat(fd, &st);
        printf("size %ld\n", (long)st.st_size);
        return 0;
    }
    return 2;
}
