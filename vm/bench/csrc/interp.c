/* A small bytecode interpreter: a stack machine with a switch dispatch, running a
 * program that counts primes below N by trial division. */
#include <stdio.h>
#include <stdlib.h>

enum { PUSH, LOAD, STORE, ADD, SUB, MUL, MOD, LT, JZ, JMP, HALT, DUP, POP, INC };

/* locals: 0 = n, 1 = i, 2 = d, 3 = count, 4 = prime flag */

int main(int argc, char **argv)
{
    int n = argc > 1 ? atoi(argv[1]) : 6000;
    int code[128], *c = code;
#define E(x) (*c++ = (x))
    E(PUSH); E(2); E(STORE); E(1);
    E(PUSH); E(0); E(STORE); E(3);
    int outer = c - code;
    E(LOAD); E(1); E(LOAD); E(0); E(LT); E(JZ); int *fix_end = c; E(0);
    E(PUSH); E(1); E(STORE); E(4); E(PUSH); E(2); E(STORE); E(2);
    int inner = c - code;
    /* while d*d <= i: if i % d == 0 {flag = 0; break}; d++ */
    E(LOAD); E(2); E(DUP); E(MUL); E(LOAD); E(1); E(PUSH); E(1); E(ADD); E(LT);
    E(JZ); int *fix_cont = c; E(0);
    E(LOAD); E(1); E(LOAD); E(2); E(MOD); E(JZ); int *fix_comp = c; E(0);
    E(INC); E(2); E(JMP); E(inner);
    int comp = c - code;
    E(PUSH); E(0); E(STORE); E(4);
    int cont = c - code;
    /* d*d > i or composite: count += flag; i++ */
    *fix_cont = cont;
    *fix_comp = comp;
    E(LOAD); E(3); E(LOAD); E(4); E(ADD); E(STORE); E(3);
    E(INC); E(1); E(JMP); E(outer);
    *fix_end = c - code;
    E(HALT);

    int loc[8] = {n};
    int stack[64], sp = 0, pc = 0;
    long steps = 0;
    for (;;) {
        steps++;
        switch (code[pc++]) {
        case PUSH: stack[sp++] = code[pc++]; break;
        case LOAD: stack[sp++] = loc[code[pc++]]; break;
        case STORE: loc[code[pc++]] = stack[--sp]; break;
        case ADD: sp--; stack[sp - 1] += stack[sp]; break;
        case SUB: sp--; stack[sp - 1] -= stack[sp]; break;
        case MUL: sp--; stack[sp - 1] *= stack[sp]; break;
        case MOD: sp--; stack[sp - 1] %= stack[sp]; break;
        case LT: sp--; stack[sp - 1] = stack[sp - 1] < stack[sp]; break;
        case JZ: { int t = code[pc++]; if (!stack[--sp]) pc = t; break; }
        case JMP: pc = code[pc]; break;
        case DUP: stack[sp] = stack[sp - 1]; sp++; break;
        case POP: sp--; break;
        case INC: loc[code[pc++]]++; break;
        case HALT: goto done;
        }
    }
done:
    printf("interp %d: %d primes, %ld bytecodes\n", n, loc[3], steps);
    return 0;
}
