/* /proc/self/exe after the program's name was unlinked and replaced by a symlink to
   something else (argv[1]): Linux keeps the inode that was executed, so open, stat and
   execve of /proc/self/exe still reach the original program, in this process and in a
   forked child. Prints one line per probe; the test compares with the native run. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static void probe_open(const char *who) {
    char buf[4096];
    int fd = open("/proc/self/exe", O_RDONLY);
    if (fd < 0) { printf("%s open: %s\n", who, strerror(errno)); return; }
    int n = read(fd, buf, sizeof buf);
    close(fd);
    if (n < 4) { printf("%s read: %d\n", who, n); return; }
    printf("%s open: %s\n", who, memcmp(buf, "\177ELF", 4) ? "not the program" : "ELF");
    fwrite(buf, 1, n, stderr);          /* whatever was read, for the test to search */
}

int main(int argc, char **argv) {
    if (argc > 1 && !strcmp(argv[1], "child")) { printf("execve: ran\n"); return 0; }
    struct stat before, st;
    if (stat(argv[0], &before)) { perror("stat"); return 1; }
    unlink(argv[0]);
    if (symlink(argv[1], argv[0])) { perror("symlink"); return 1; }
    probe_open("self");
    if (stat("/proc/self/exe", &st)) printf("stat: %s\n", strerror(errno));
    else printf("stat: %s size=%s nlink=%d\n", S_ISREG(st.st_mode) ? "reg" : "other",
                st.st_size == before.st_size ? "same" : "other", (int)st.st_nlink);
    fflush(stdout);
    char *args[] = {argv[0], "child", NULL};
    pid_t pid = fork();
    if (pid == 0) {             /* (another spelling of the same link) */
        probe_open("child");
        fflush(stdout);
        execv("/proc/./self/exe", args);
        printf("child execve: %s\n", strerror(errno));
        _exit(0);
    }
    waitpid(pid, NULL, 0);
    execv("/proc/self/exe", args);
    printf("execve: %s\n", strerror(errno));
    return 0;
}
