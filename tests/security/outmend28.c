/* outmend28: a program that does nothing; its traced first instructions are what
   tests/security/test_outmend28.py looks for in run outputs reached through links. */
int main(void) { return 0; }
