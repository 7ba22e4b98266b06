/* Session 33 red team: the base program of the crafted ELF files in
   tests/security/test_redteam33.py (it prints a line and exits 0). */
#include <stdio.h>
int main(void) { puts("redteam33"); return 0; }
