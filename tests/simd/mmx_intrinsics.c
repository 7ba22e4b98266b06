/* MMX (and SSE's MMX additions) through <mmintrin.h>/<xmmintrin.h>, then x87 code after
 * EMMS; the x87 tag word and TOP seen by fnstenv around MMX code. */
#include <mmintrin.h>
#include <xmmintrin.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

static void show(const char *name, __m64 v) {
    uint64_t x;
    memcpy(&x, &v, 8);
    printf("%-10s %016llx\n", name, (unsigned long long)x);
}

static unsigned short env_tag(unsigned short *sw) {
    unsigned short env[14];
    __asm__ volatile("fnstenv %0" : "=m"(env));
    __asm__ volatile("fldcw %0" : : "m"(env[0]));   /* fnstenv masks exceptions */
    *sw = env[2];
    return env[4];
}

int main(void) {
    volatile uint64_t seed = 0x0123456789abcdefULL;
    __m64 a = _mm_set_pi32(0x7fff8000, (int)0x80017f01);
    __m64 b = _mm_set_pi32((int)0xfffe0002, 0x00ff7f80);
    __m64 c;
    memcpy(&c, (const void *)&seed, 8);
    show("add8", _mm_add_pi8(a, b));
    show("adds8", _mm_adds_pi8(a, b));
    show("addus16", _mm_adds_pu16(a, b));
    show("subs16", _mm_subs_pi16(a, b));
    show("mullo", _mm_mullo_pi16(a, c));
    show("mulhi", _mm_mulhi_pi16(a, c));
    show("madd", _mm_madd_pi16(a, b));
    show("packs", _mm_packs_pi16(a, b));
    show("packus", _mm_packs_pu16(a, c));
    show("packs32", _mm_packs_pi32(a, b));
    show("unpckh8", _mm_unpackhi_pi8(a, c));
    show("unpckl16", _mm_unpacklo_pi16(a, c));
    show("unpckh32", _mm_unpackhi_pi32(b, c));
    show("cmpgt16", _mm_cmpgt_pi16(a, b));
    show("cmpeq8", _mm_cmpeq_pi8(a, a));
    show("sll", _mm_slli_pi16(c, 3));
    show("sra", _mm_srai_pi32(b, 7));
    show("srl64", _mm_srl_si64(c, _mm_cvtsi32_si64(12)));
    show("andnot", _mm_andnot_si64(a, c));
    show("shuf", _mm_shuffle_pi16(c, 0x1b));
    show("avg", _mm_avg_pu8(a, c));
    show("min", _mm_min_pi16(a, c));
    show("maxu", _mm_max_pu8(b, c));
    show("sad", _mm_sad_pu8(a, c));
    show("mulhu", _mm_mulhi_pu16(a, c));
    show("insert", _mm_insert_pi16(c, 0xbeef, 2));
    printf("extract %d movemask %d\n", _mm_extract_pi16(c, 3), _mm_movemask_pi8(c));
    unsigned short sw, tag = env_tag(&sw);
    printf("in MMX state: tag %04x top %d\n", tag, (sw >> 11) & 7);
    _mm_empty();
    tag = env_tag(&sw);
    printf("after emms: tag %04x top %d\n", tag, (sw >> 11) & 7);
    volatile long double x = 2.0L;
    long double r = x * 3.0L + 0.5L;
    printf("x87 after emms: %.3Lf\n", r);
    /* a loop the compiler may vectorise with MMX */
    static int16_t s[64], t[64];
    for (int k = 0; k < 64; k++) {
        s[k] = (int16_t)(k * 1237 - 30000);
        t[k] = (int16_t)(k * -977 + 12345);
    }
    __m64 acc = _mm_setzero_si64();
    for (int k = 0; k < 64; k += 4) {
        __m64 p, q;
        memcpy(&p, &s[k], 8);
        memcpy(&q, &t[k], 8);
        acc = _mm_add_pi32(acc, _mm_madd_pi16(p, q));
    }
    show("dot", acc);
    _mm_empty();
    /* an x87 value read back as MMX: fld then movq gives its significand */
    volatile double d = 1.5;
    uint64_t sig;
    __asm__ volatile("fldl %1\n\tfstpt -16(%%esp)\n\tmovq -16(%%esp), %%mm0\n\t"
                     "movq %%mm0, %0\n\temms" : "=m"(sig) : "m"(d) : "mm0");
    printf("significand %016llx\n", (unsigned long long)sig);
    return 0;
}
