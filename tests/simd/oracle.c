#define _GNU_SOURCE
/* The real CPU as an oracle for single SSE/MMX instructions.  Each stdin line:
 *   CODEHEX XMM0 XMM1 MXCSR ECX MM0 MM1
 * (hex; XMMn 32 digits, MM 16).  The instruction runs with those registers (EDX points at
 * a 32-byte scratch area holding XMM1's bytes twice, for memory forms) and the line
 * printed is
 *   XMM0 XMM1 MXCSR ECX EFLAGS MM0 MM1 SIG SI_CODE
 * where SIG is 0, or 8 when the instruction raised SIGFPE (#XM): then the registers are
 * those the kernel saved in the signal frame (the state before the instruction). */
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <ucontext.h>

struct state {                      /* offsets are used by the stub below */
    uint8_t xmm0[16], xmm1[16];     /* 0, 16 */
    uint32_t mxcsr, ecx, eflags, pad; /* 32, 36, 40, 44 */
    uint8_t mm0[8], mm1[8];         /* 48, 56 */
    uint8_t scratch[32];            /* 64 */
};

static struct state st;
static sigjmp_buf jb;
static volatile int code_seen;
static struct state saved;

static void on_fpe(int sig, siginfo_t *si, void *ctx) {
    ucontext_t *uc = ctx;
    uint8_t *fp = (uint8_t *)uc->uc_mcontext.fpregs;   /* struct _fpstate_32 */
    (void)sig;
    code_seen = si->si_code;
    memcpy(&saved, &st, sizeof st);
    memcpy(&saved.mxcsr, fp + 136, 4);
    memcpy(saved.xmm0, fp + 272, 16);
    memcpy(saved.xmm1, fp + 288, 16);
    memcpy(saved.mm0, fp + 144, 8);
    memcpy(saved.mm1, fp + 160, 8);
    saved.ecx = uc->uc_mcontext.gregs[REG_ECX];
    saved.eflags = uc->uc_mcontext.gregs[REG_EFL];
    siglongjmp(jb, 1);
}

static int hexbytes(const char *s, uint8_t *out, int n) {   /* little-endian number */
    int len = strlen(s);
    if (len != 2 * n) return -1;
    for (int k = 0; k < n; k++) {
        unsigned v;
        sscanf(s + len - 2 * (k + 1), "%2x", &v);
        out[k] = v;
    }
    return 0;
}

static void hexout(const uint8_t *p, int n) {
    for (int k = n - 1; k >= 0; k--) printf("%02x", p[k]);
}

int main(void) {
    static const uint8_t pre[] = {
        0x60,                               /* pusha */
        0x8b, 0x74, 0x24, 0x24,             /* mov esi, [esp+36] */
        0xf3, 0x0f, 0x6f, 0x06,             /* movdqu xmm0, [esi] */
        0xf3, 0x0f, 0x6f, 0x4e, 0x10,       /* movdqu xmm1, [esi+16] */
        0x0f, 0x6f, 0x46, 0x30,             /* movq mm0, [esi+48] */
        0x0f, 0x6f, 0x4e, 0x38,             /* movq mm1, [esi+56] */
        0x0f, 0xae, 0x56, 0x20,             /* ldmxcsr [esi+32] */
        0x8b, 0x4e, 0x24,                   /* mov ecx, [esi+36] */
        0x8d, 0x56, 0x40,                   /* lea edx, [esi+64] */
    };
    static const uint8_t post[] = {
        0x9c, 0x8f, 0x46, 0x28,             /* pushf; pop dword [esi+40] */
        0x0f, 0xae, 0x5e, 0x20,             /* stmxcsr [esi+32] */
        0x89, 0x4e, 0x24,                   /* mov [esi+36], ecx */
        0xf3, 0x0f, 0x7f, 0x06,             /* movdqu [esi], xmm0 */
        0xf3, 0x0f, 0x7f, 0x4e, 0x10,       /* movdqu [esi+16], xmm1 */
        0x0f, 0x7f, 0x46, 0x30,             /* movq [esi+48], mm0 */
        0x0f, 0x7f, 0x4e, 0x38,             /* movq [esi+56], mm1 */
        0x0f, 0x77,                         /* emms */
        0x61, 0xc3,                         /* popa; ret */
    };
    uint8_t *buf = mmap(0, 4096, PROT_READ | PROT_WRITE | PROT_EXEC,
                        MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_fpe;
    sa.sa_flags = SA_SIGINFO | SA_NODEFER;
    sigaction(SIGFPE, &sa, 0);
    char code[64], x0[40], x1[40], mx[16], cx[16], m0[24], m1[24];
    setvbuf(stdout, 0, _IOFBF, 1 << 16);
    while (scanf("%63s %39s %39s %15s %15s %23s %23s", code, x0, x1, mx, cx, m0, m1) == 7) {
        uint8_t insn[32];
        int n = strlen(code) / 2;
        for (int k = 0; k < n; k++) {
            unsigned v;
            sscanf(code + 2 * k, "%2x", &v);
            insn[k] = v;
        }
        memset(&st, 0, sizeof st);
        hexbytes(x0, st.xmm0, 16);
        hexbytes(x1, st.xmm1, 16);
        hexbytes(m0, st.mm0, 8);
        hexbytes(m1, st.mm1, 8);
        memcpy(st.scratch, st.xmm1, 16);
        memcpy(st.scratch + 16, st.xmm1, 16);
        sscanf(mx, "%x", &st.mxcsr);
        sscanf(cx, "%x", &st.ecx);
        uint8_t *p = buf;
        memcpy(p, pre, sizeof pre); p += sizeof pre;
        memcpy(p, insn, n); p += n;
        memcpy(p, post, sizeof post);
        int sig = 0;
        code_seen = 0;
        if (sigsetjmp(jb, 1) == 0) {
            ((void (*)(struct state *))buf)(&st);
        } else {
            sig = 8;
            memcpy(&st, &saved, sizeof st);
        }
        hexout(st.xmm0, 16); putchar(' ');
        hexout(st.xmm1, 16); printf(" %08x %08x %08x ", st.mxcsr, st.ecx, st.eflags & 0x8d5);
        hexout(st.mm0, 8); putchar(' ');
        hexout(st.mm1, 8);
        printf(" %d %d\n", sig, code_seen);
    }
    return 0;
}
