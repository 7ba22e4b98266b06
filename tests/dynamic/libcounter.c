/* A shared library with its own TLS (__thread, initial-exec or dynamic model chosen by
 * the compiler for -fPIC), a constructor, data relocations and a callback. */
#include <stdio.h>
#include <string.h>

__thread int per_thread = 7;
static __thread char name[16] = "initial";
int calls;
static const char *table[] = {"zero", "one", "two", "three"};
int loaded_by_ctor;

__attribute__((constructor)) static void init(void) { loaded_by_ctor = 42; }

int counter_next(void) { calls++; return ++per_thread; }
const char *counter_word(int i) { return table[i & 3]; }
void counter_name(const char *s) { strncpy(name, s, sizeof name - 1); }
const char *counter_get_name(void) { return name; }
int counter_apply(int (*f)(int), int x) { return f(x) + calls; }
