/* A dynamic program with its own shared library (found through $ORIGIN) and a plugin
 * loaded with dlopen: relocations, TLS in every module and in threads, constructors. */
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

extern int counter_next(void);
extern const char *counter_word(int);
extern void counter_name(const char *);
extern const char *counter_get_name(void);
extern int counter_apply(int (*)(int), int);
extern int loaded_by_ctor;
extern __thread int per_thread;

static int twice(int x) { return 2 * x; }

static void *worker(void *arg)
{
    counter_name((const char *)arg);
    int a = counter_next(), b = counter_next();
    printf("thread %s: %d %d per_thread=%d\n", counter_get_name(), a, b, per_thread);
    return NULL;
}

int main(int argc, char **argv)
{
    (void)argc;
    printf("ctor %d\n", loaded_by_ctor);
    printf("next %d %d\n", counter_next(), counter_next());
    printf("words %s %s %s\n", counter_word(1), counter_word(2), counter_word(7));
    counter_name("main");
    printf("apply %d\n", counter_apply(twice, 20));
    pthread_t t;
    pthread_create(&t, NULL, worker, "worker");
    pthread_join(t, NULL);
    printf("main name %s per_thread=%d\n", counter_get_name(), per_thread);

    char path[4096];
    strncpy(path, argv[0], sizeof path - 32);
    char *slash = strrchr(path, '/');
    strcpy(slash ? slash + 1 : path, "plugin.so");
    void *h = dlopen(path, RTLD_NOW);
    if (!h) {
        printf("dlopen: %s\n", dlerror());
        return 1;
    }
    int (*run)(int) = (int (*)(int))dlsym(h, "plugin_run");
    printf("plugin %d\n", run(3));
    printf("plugin %d\n", run(1));
    printf("missing %p\n", dlsym(h, "no_such_symbol"));
    dlclose(h);
    return 5;
}
