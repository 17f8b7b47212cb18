/* AVX-512 (F, DQ, BW, VL) twins of the portable kernels: Philox4x32-10 and
 * the normal mapping on 16 blocks at once, the same operations in the same
 * order as kernels/common (see cpu_simd_avx2.c), so the bits are those of
 * aimc_normal4. The one-sample read products use the 256-bit kernels
 * (their order of sums is fixed at 8 partial sums), encoded with AVX-512VL;
 * the products of several samples use 512-bit registers for two samples'
 * partial sums at once (cpu_simd_reads_x86.h). */
#include <immintrin.h>

#include "kernels/common/rng.h"
#include "kernels/cpu/cpu_simd.h"
#include "kernels/cpu/cpu_simd_pulse_x86.h"
#define AIMC_READS_AVX512 1 /* the 512-bit sample-blocked reads of the header */
#include "kernels/cpu/cpu_simd_reads_x86.h"

static inline void mulhilo16(__m512i a, __m512i m, __m512i *lo, __m512i *hi) {
  __m512i pe = _mm512_mul_epu32(a, m);
  __m512i po = _mm512_mul_epu32(_mm512_srli_epi64(a, 32), m);
  *lo = _mm512_mask_blend_epi32((__mmask16)0xAAAA, pe, _mm512_slli_epi64(po, 32));
  *hi = _mm512_mask_blend_epi32((__mmask16)0xAAAA, _mm512_srli_epi64(pe, 32), po);
}

static inline void philox16(__m512i c[4], uint32_t k0s, uint32_t k1s) {
  const __m512i m0 = _mm512_set1_epi32((int)0xD2511F53u), m1 = _mm512_set1_epi32((int)0xCD9E8D57u);
  uint32_t k0 = k0s, k1 = k1s;
  for (int round = 0; round < 10; ++round) {
    __m512i lo0, hi0, lo1, hi1;
    mulhilo16(c[0], m0, &lo0, &hi0);
    mulhilo16(c[2], m1, &lo1, &hi1);
    /* 0x96: three-way xor */
    __m512i n0 = _mm512_ternarylogic_epi32(hi1, c[1], _mm512_set1_epi32((int)k0), 0x96);
    __m512i n2 = _mm512_ternarylogic_epi32(hi0, c[3], _mm512_set1_epi32((int)k1), 0x96);
    c[0] = n0;
    c[1] = lo1;
    c[2] = n2;
    c[3] = lo0;
    k0 += 0x9E3779B9u;
    k1 += 0xBB67AE85u;
  }
}

/* aimc_logf for x in [2^-24, 1] (see cpu_simd_avx2.c). */
static inline __m512 logf16(__m512 x) {
  __m512i bits = _mm512_castps_si512(x);
  __m512i e = _mm512_sub_epi32(_mm512_and_si512(_mm512_srli_epi32(bits, 23), _mm512_set1_epi32(0xff)),
                               _mm512_set1_epi32(127));
  __m512 m = _mm512_castsi512_ps(_mm512_or_si512(
      _mm512_and_si512(bits, _mm512_set1_epi32(0x007fffff)), _mm512_set1_epi32(0x3f800000)));
  __mmask16 big = _mm512_cmp_ps_mask(m, _mm512_set1_ps(1.41421356f), _CMP_GT_OQ);
  m = _mm512_mask_mul_ps(m, big, m, _mm512_set1_ps(0.5f));
  e = _mm512_mask_add_epi32(e, big, e, _mm512_set1_epi32(1));
  const __m512 one = _mm512_set1_ps(1.0f);
  __m512 s = _mm512_div_ps(_mm512_sub_ps(m, one), _mm512_add_ps(m, one));
  __m512 s2 = _mm512_mul_ps(s, s);
  __m512 p = _mm512_fmadd_ps(s2, _mm512_set1_ps(0.222222222f), _mm512_set1_ps(0.285714286f));
  p = _mm512_fmadd_ps(s2, p, _mm512_set1_ps(0.4f));
  p = _mm512_fmadd_ps(s2, p, _mm512_set1_ps(0.666666667f));
  __m512 lnm = _mm512_fmadd_ps(_mm512_mul_ps(s, s2), p, _mm512_mul_ps(_mm512_set1_ps(2.0f), s));
  __m512 fe = _mm512_cvtepi32_ps(e);
  return _mm512_fmadd_ps(fe, _mm512_set1_ps(AIMC_LN2_HI),
                         _mm512_fmadd_ps(fe, _mm512_set1_ps(AIMC_LN2_LO), lnm));
}

static inline void sincos16(__m512 u, __m512 *s_out, __m512 *c_out) {
  __m512 t = _mm512_mul_ps(_mm512_set1_ps(4.0f), u);
  __m512 q = _mm512_roundscale_ps(t, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m512 a = _mm512_mul_ps(_mm512_sub_ps(t, q), _mm512_set1_ps(AIMC_HALF_PI));
  __m512 a2 = _mm512_mul_ps(a, a);
  __m512 s = _mm512_fmadd_ps(a2, _mm512_set1_ps(2.75573192e-6f), _mm512_set1_ps(-1.98412698e-4f));
  s = _mm512_fmadd_ps(a2, s, _mm512_set1_ps(8.33333333e-3f));
  s = _mm512_fmadd_ps(a2, s, _mm512_set1_ps(-1.66666667e-1f));
  s = _mm512_fmadd_ps(_mm512_mul_ps(a, a2), s, a);
  __m512 c = _mm512_fmadd_ps(a2, _mm512_set1_ps(-2.75573192e-7f), _mm512_set1_ps(2.48015873e-5f));
  c = _mm512_fmadd_ps(a2, c, _mm512_set1_ps(-1.38888889e-3f));
  c = _mm512_fmadd_ps(a2, c, _mm512_set1_ps(4.16666667e-2f));
  c = _mm512_fmadd_ps(a2, c, _mm512_set1_ps(-0.5f));
  c = _mm512_fmadd_ps(a2, c, _mm512_set1_ps(1.0f));
  /* quadrant q & 3: 0 (s, c), 1 (c, -s), 2 (-s, -c), 3 (-c, s) */
  __m512i qi = _mm512_cvtps_epi32(q);
  __m512i one = _mm512_set1_epi32(1), two = _mm512_set1_epi32(2);
  __mmask16 swap = _mm512_test_epi32_mask(qi, one);
  __m512 S = _mm512_mask_blend_ps(swap, s, c), C = _mm512_mask_blend_ps(swap, c, s);
  __mmask16 neg_s = _mm512_test_epi32_mask(qi, two);
  __mmask16 neg_c = _mm512_test_epi32_mask(_mm512_add_epi32(qi, one), two);
  __m512 sign = _mm512_castsi512_ps(_mm512_set1_epi32((int)0x80000000u));
  *s_out = _mm512_mask_xor_ps(S, neg_s, S, sign);
  *c_out = _mm512_mask_xor_ps(C, neg_c, C, sign);
}

/* Philox counters of 16 blocks (b_lo: blocks 0-7, b_hi: 8-15, 64-bit
 * indices) of one subsequence: their low and high words, in block order. */
static inline void block_counters16(__m512i b_lo, __m512i b_hi, __m512i sub_lo, __m512i sub_hi,
                                    __m512i c[4]) {
  c[0] = _mm512_inserti64x4(_mm512_castsi256_si512(_mm512_cvtepi64_epi32(b_lo)),
                            _mm512_cvtepi64_epi32(b_hi), 1);
  c[1] = _mm512_inserti64x4(_mm512_castsi256_si512(_mm512_cvtepi64_epi32(_mm512_srli_epi64(b_lo, 32))),
                            _mm512_cvtepi64_epi32(_mm512_srli_epi64(b_hi, 32)), 1);
  c[2] = sub_lo;
  c[3] = sub_hi;
}

static inline void normal2_16(__m512i w0, __m512i w1, __m512 *z0, __m512 *z1) {
  const __m512 ulp24 = _mm512_set1_ps(5.9604644775390625e-8f);
  __m512 u0 = _mm512_mul_ps(
      _mm512_cvtepi32_ps(_mm512_add_epi32(_mm512_srli_epi32(w0, 8), _mm512_set1_epi32(1))), ulp24);
  __m512 u1 = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_srli_epi32(w1, 8)), ulp24);
  __m512 r = _mm512_sqrt_ps(_mm512_mul_ps(_mm512_set1_ps(-2.0f), logf16(u0)));
  __m512 s, c;
  sincos16(u1, &s, &c);
  *z0 = _mm512_mul_ps(r, c);
  *z1 = _mm512_mul_ps(r, s);
}

static void normal4_blocks_avx512(uint64_t key, uint64_t subsequence, const uint64_t *blocks,
                                  int64_t n, float *z) {
  uint32_t k0 = (uint32_t)key, k1 = (uint32_t)(key >> 32);
  __m512i sub_lo = _mm512_set1_epi32((int)(uint32_t)subsequence);
  __m512i sub_hi = _mm512_set1_epi32((int)(uint32_t)(subsequence >> 32));
  for (int64_t kb = 0; kb < n; kb += 16) {
    int64_t m = n - kb < 16 ? n - kb : 16;
    __mmask8 m_lo = (__mmask8)(m >= 8 ? 0xff : (1u << m) - 1u);
    __mmask8 m_hi = (__mmask8)(m <= 8 ? 0 : (1u << (m - 8)) - 1u);
    __m512i b_lo = _mm512_maskz_loadu_epi64(m_lo, blocks + kb);
    __m512i b_hi = _mm512_maskz_loadu_epi64(m_hi, blocks + kb + 8);
    __m512i c[4];
    block_counters16(b_lo, b_hi, sub_lo, sub_hi, c);
    philox16(c, k0, k1);
    __m512 zv[4];
    normal2_16(c[0], c[1], &zv[0], &zv[1]);
    normal2_16(c[2], c[3], &zv[2], &zv[3]);
    /* interleave to z[4k + q]: 4x4 transposes of 128-bit groups */
    __m512 t0 = _mm512_unpacklo_ps(zv[0], zv[1]); /* z0k z1k z0k+1 z1k+1 per 128-bit group */
    __m512 t1 = _mm512_unpackhi_ps(zv[0], zv[1]);
    __m512 t2 = _mm512_unpacklo_ps(zv[2], zv[3]);
    __m512 t3 = _mm512_unpackhi_ps(zv[2], zv[3]);
    __m512 r0 = _mm512_castpd_ps(_mm512_unpacklo_pd(_mm512_castps_pd(t0), _mm512_castps_pd(t2)));
    __m512 r1 = _mm512_castpd_ps(_mm512_unpackhi_pd(_mm512_castps_pd(t0), _mm512_castps_pd(t2)));
    __m512 r2 = _mm512_castpd_ps(_mm512_unpacklo_pd(_mm512_castps_pd(t1), _mm512_castps_pd(t3)));
    __m512 r3 = _mm512_castpd_ps(_mm512_unpackhi_pd(_mm512_castps_pd(t1), _mm512_castps_pd(t3)));
    /* group g of r0..r3 holds blocks 4g, 4g+1, 4g+2, 4g+3 */
    float *out = z + 4 * kb;
    for (int g = 0; g < 4; ++g) {
      int64_t base = 4 * g; /* first block of group g */
      __m128 v[4];
      switch (g) {
        case 0: v[0] = _mm512_extractf32x4_ps(r0, 0); v[1] = _mm512_extractf32x4_ps(r1, 0);
                v[2] = _mm512_extractf32x4_ps(r2, 0); v[3] = _mm512_extractf32x4_ps(r3, 0); break;
        case 1: v[0] = _mm512_extractf32x4_ps(r0, 1); v[1] = _mm512_extractf32x4_ps(r1, 1);
                v[2] = _mm512_extractf32x4_ps(r2, 1); v[3] = _mm512_extractf32x4_ps(r3, 1); break;
        case 2: v[0] = _mm512_extractf32x4_ps(r0, 2); v[1] = _mm512_extractf32x4_ps(r1, 2);
                v[2] = _mm512_extractf32x4_ps(r2, 2); v[3] = _mm512_extractf32x4_ps(r3, 2); break;
        default: v[0] = _mm512_extractf32x4_ps(r0, 3); v[1] = _mm512_extractf32x4_ps(r1, 3);
                 v[2] = _mm512_extractf32x4_ps(r2, 3); v[3] = _mm512_extractf32x4_ps(r3, 3); break;
      }
      for (int q = 0; q < 4; ++q)
        if (base + q < m) _mm_storeu_ps(out + 4 * (base + q), v[q]);
    }
  }
}

/* aimc_expf on 16 lanes: the same reduction and polynomial, the special
 * cases (NaN, overflow, underflow, k = 128) blended in. */
static inline __m512 expf16(__m512 x) {
  __m512 k = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504f)),
                                  _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m512 nk = _mm512_sub_ps(_mm512_setzero_ps(), k); /* -k, exact */
  __m512 r = _mm512_fmadd_ps(nk, _mm512_set1_ps(AIMC_LN2_HI), x);
  r = _mm512_fmadd_ps(nk, _mm512_set1_ps(AIMC_LN2_LO), r);
  __m512 p = _mm512_fmadd_ps(r, _mm512_set1_ps(1.98412698e-4f), _mm512_set1_ps(1.38888889e-3f));
  p = _mm512_fmadd_ps(r, p, _mm512_set1_ps(8.33333333e-3f));
  p = _mm512_fmadd_ps(r, p, _mm512_set1_ps(4.16666667e-2f));
  p = _mm512_fmadd_ps(r, p, _mm512_set1_ps(1.66666667e-1f));
  p = _mm512_fmadd_ps(r, p, _mm512_set1_ps(0.5f));
  p = _mm512_fmadd_ps(r, p, _mm512_set1_ps(1.0f));
  p = _mm512_fmadd_ps(r, p, _mm512_set1_ps(1.0f));
  __m512i ki = _mm512_cvttps_epi32(k);
  __mmask16 big = _mm512_cmpgt_epi32_mask(ki, _mm512_set1_epi32(127));
  __m512i kk = _mm512_mask_sub_epi32(ki, big, ki, _mm512_set1_epi32(1));
  __m512 scale = _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_add_epi32(kk, _mm512_set1_epi32(127)), 23));
  p = _mm512_mask_mul_ps(p, big, p, _mm512_set1_ps(2.0f));
  __m512 res = _mm512_mul_ps(p, scale);
  res = _mm512_mask_blend_ps(_mm512_cmp_ps_mask(x, _mm512_set1_ps(-87.33f), _CMP_LT_OQ), res,
                             _mm512_setzero_ps());
  res = _mm512_mask_blend_ps(_mm512_cmp_ps_mask(x, _mm512_set1_ps(88.7228f), _CMP_GT_OQ), res,
                             _mm512_castsi512_ps(_mm512_set1_epi32(0x7f800000)));
  return _mm512_mask_blend_ps(_mm512_cmp_ps_mask(x, x, _CMP_UNORD_Q), res, x);
}

/* aimc_pulse_seg_portable on 16 weights at once: each lane its own pulse
 * count per sample (lanes done are masked), its own noise position (a
 * gather), the same multiplies and adds in the same order, no FMA.
 *
 * A pulse depends on the state the previous pulse left, so one chunk of 16
 * weights is a chain of dependent operations (about 25 cycles a pulse for
 * SoftBounds, 100 for ExpStep's divide and exponential). PULSE_GROUPS
 * chunks therefore run interleaved, each with its own sample and pulse
 * position, and a finished chunk is replaced by the next one of the
 * segment, so the chains overlap. Every weight still takes its own pulses
 * in sample and pulse order: the bits are those of the portable loop. */
#define PULSE_GROUPS 4

typedef struct pulse_chunk16 {
  __m512 h, bmin, bmax, s_up, s_dn, p_up, p_dn;
  __m512i zi; /* each lane's next normal in ps->z */
  __m512i n;  /* pulses of each lane in the current sample */
  __mmask16 lanes, up;
  int64_t j0, c;   /* first weight, current sample */
  int32_t q, nmax; /* pulse within the sample, most pulses of a lane in it */
} pulse_chunk16_t;

/* Moves the chunk to its next sample with pulses; 0 when there is none. */
static inline int chunk16_next_sample(const aimc_pulse_seg_t *ps, pulse_chunk16_t *g) {
  for (++g->c; g->c < ps->nb; ++g->c) {
    __m512i cv = _mm512_maskz_loadu_epi32(g->lanes, ps->cnt + g->c * ps->stride + g->j0);
    __m512i n = _mm512_abs_epi32(cv);
    int nmax = _mm512_reduce_max_epi32(n);
    if (nmax == 0) continue;
    g->n = n;
    g->up = _mm512_cmpgt_epi32_mask(cv, _mm512_setzero_si512());
    g->nmax = nmax;
    g->q = 0;
    return 1;
  }
  return 0;
}

/* Loads the chunk of weights j0 .. j0+15 (fewer at the end of the segment);
 * 0 when none of them has a pulse (their states stay as they are). */
static inline int chunk16_start(const aimc_pulse_seg_t *ps, pulse_chunk16_t *g, int64_t j0) {
  int64_t m = ps->n - j0 < 16 ? ps->n - j0 : 16;
  __mmask16 lanes = (__mmask16)(m == 16 ? 0xffffu : (1u << m) - 1u);
  __m512i zi = _mm512_maskz_loadu_epi32(lanes, ps->zpos + j0);
  lanes &= (__mmask16)~_mm512_cmplt_epi32_mask(zi, _mm512_setzero_si512());
  if (!lanes) return 0;
  g->lanes = lanes;
  g->j0 = j0;
  g->c = -1;
  if (!chunk16_next_sample(ps, g)) return 0;
  const __m512 zero = _mm512_setzero_ps();
  g->zi = zi;
  g->h = _mm512_maskz_loadu_ps(lanes, ps->h + j0);
  g->bmin = _mm512_maskz_loadu_ps(lanes, ps->bmin + j0);
  g->bmax = _mm512_maskz_loadu_ps(lanes, ps->bmax + j0);
  g->s_up = _mm512_maskz_loadu_ps(lanes, ps->s_up + j0);
  g->s_dn = _mm512_maskz_loadu_ps(lanes, ps->s_dn + j0);
  g->p_up = ps->p_up ? _mm512_maskz_loadu_ps(lanes, ps->p_up + j0) : zero;
  g->p_dn = ps->p_dn ? _mm512_maskz_loadu_ps(lanes, ps->p_dn + j0) : zero;
  return 1;
}

/* Pulse q of the current sample on every lane that has one. */
static inline void chunk16_pulse(const aimc_pulse_seg_t *ps, pulse_chunk16_t *g) {
  const __m512i one_i = _mm512_set1_epi32(1);
  const __m512 one = _mm512_set1_ps(1.0f), std = _mm512_set1_ps(ps->dw_min_std);
  const __m512 zero = _mm512_setzero_ps();
  __mmask16 up = g->up;
  __m512 h = g->h, bmin = g->bmin, bmax = g->bmax;
  __m512 s = _mm512_mask_blend_ps(up, g->s_dn, g->s_up);
  __mmask16 act = _mm512_cmpgt_epi32_mask(g->n, _mm512_set1_epi32(g->q));
  __m512 xi = ps->noisy ? _mm512_mask_i32gather_ps(zero, act, g->zi, ps->z, 4) : zero;
  __m512 onep = _mm512_add_ps(one, _mm512_mul_ps(std, xi));
  __m512 hn, r;
  if (ps->kernel >= AIMC_PULSE_KERNEL_EXP) {
    const aimc_device_params_t *dp = ps->dev;
    __m512 range = _mm512_sub_ps(bmax, bmin);
    __m512 z = _mm512_add_ps(
        _mm512_div_ps(_mm512_mul_ps(_mm512_set1_ps(2.0f * dp->es_a), h), range),
        _mm512_set1_ps(dp->es_b));
    __m512 gm = _mm512_mask_blend_ps(up, _mm512_set1_ps(-dp->es_gamma_down),
                                     _mm512_set1_ps(dp->es_gamma_up));
    __m512 A = _mm512_mask_blend_ps(up, _mm512_set1_ps(dp->es_A_down), _mm512_set1_ps(dp->es_A_up));
    __m512 y = _mm512_sub_ps(one, _mm512_mul_ps(A, expf16(_mm512_mul_ps(gm, z))));
    y = _mm512_mask_blend_ps(_mm512_cmp_ps_mask(y, zero, _CMP_GT_OQ), zero, y);
    __m512 ny = _mm512_castsi512_ps(_mm512_xor_si512(_mm512_castps_si512(y), /* -y */
                                                     _mm512_set1_epi32((int)0x80000000u)));
    __m512 dw = _mm512_mul_ps(_mm512_mask_blend_ps(up, ny, y), s);
    if (ps->kernel == AIMC_PULSE_KERNEL_EXP_COMPLEX) {
      __m512 absm = _mm512_castsi512_ps(_mm512_set1_epi32(0x7fffffff));
      __m512 t = _mm512_add_ps(
          _mm512_add_ps(_mm512_and_ps(dw, absm), _mm512_set1_ps(dp->std_add)),
          _mm512_mul_ps(_mm512_set1_ps(dp->std_slope), _mm512_and_ps(h, absm)));
      hn = _mm512_add_ps(_mm512_add_ps(h, dw),
                         _mm512_mul_ps(_mm512_mul_ps(_mm512_set1_ps(dp->dw_min_std), t), xi));
    } else {
      hn = _mm512_add_ps(h, _mm512_mul_ps(dw, onep));
    }
    r = _mm512_mask_blend_ps(_mm512_cmp_ps_mask(hn, bmax, _CMP_GT_OQ), hn, bmax);
    r = _mm512_mask_blend_ps(_mm512_cmp_ps_mask(hn, bmin, _CMP_LT_OQ), r, bmin);
    /* a stuck device (!(range > 0)) keeps h, unclipped */
    r = _mm512_mask_blend_ps(_mm512_cmp_ps_mask(range, zero, _CMP_GT_OQ), h, r);
  } else {
    __m512 step;
    if (ps->kernel == AIMC_PULSE_KERNEL_CONSTANT) {
      step = _mm512_mul_ps(s, onep);
    } else if (ps->kernel == AIMC_PULSE_KERNEL_LINEAR_MULT) {
      __m512 p = _mm512_mask_blend_ps(up, g->p_dn, g->p_up);
      step = _mm512_mul_ps(_mm512_add_ps(_mm512_mul_ps(p, h), s), onep);
    } else if (ps->kernel == AIMC_PULSE_KERNEL_LINEAR) {
      __m512 p = _mm512_mask_blend_ps(up, g->p_dn, g->p_up);
      step = _mm512_add_ps(_mm512_mul_ps(p, h), _mm512_mul_ps(s, onep));
    } else { /* SoftBoundsReference: a = h / bound when the bound is on its side */
      __m512 bnd = _mm512_mask_blend_ps(up, bmin, bmax);
      __mmask16 on_side = (__mmask16)((up & _mm512_cmp_ps_mask(bmax, zero, _CMP_GT_OQ)) |
                                      (~up & _mm512_cmp_ps_mask(bmin, zero, _CMP_LT_OQ)));
      __m512 a = _mm512_maskz_div_ps(on_side, h, bnd);
      __m512 one_a = _mm512_sub_ps(one, a);
      step = ps->kernel == AIMC_PULSE_KERNEL_SBREF_MULT
                 ? _mm512_mul_ps(_mm512_mul_ps(s, one_a), onep)
                 : _mm512_mul_ps(s, _mm512_add_ps(one_a, _mm512_mul_ps(std, xi)));
    }
    hn = _mm512_mask_blend_ps(up, _mm512_sub_ps(h, step), _mm512_add_ps(h, step));
    /* aimc_clampf: v < lo ? lo : (v > hi ? hi : v) */
    r = _mm512_mask_blend_ps(_mm512_cmp_ps_mask(hn, bmax, _CMP_GT_OQ), hn, bmax);
    r = _mm512_mask_blend_ps(_mm512_cmp_ps_mask(hn, bmin, _CMP_LT_OQ), r, bmin);
  }
  g->h = _mm512_mask_mov_ps(h, act, r);
  g->zi = _mm512_mask_add_epi32(g->zi, act, g->zi, one_i);
}

/* Starts the next chunk of the segment with pulses in g; 0 when none is left. */
static inline int chunk16_refill(const aimc_pulse_seg_t *ps, pulse_chunk16_t *g, int64_t *next) {
  while (*next < ps->n) {
    int64_t j0 = *next;
    *next += 16;
    if (chunk16_start(ps, g, j0)) return 1;
  }
  return 0;
}

static void pulse_seg_avx512(const aimc_pulse_seg_t *ps) {
  pulse_chunk16_t g[PULSE_GROUPS];
  int live[PULSE_GROUPS];
  int64_t next = 0;
  for (int k = 0; k < PULSE_GROUPS; ++k) live[k] = chunk16_refill(ps, &g[k], &next);
  for (;;) {
    int any = 0;
#pragma GCC unroll 8
    for (int k = 0; k < PULSE_GROUPS; ++k) {
      if (!live[k]) continue;
      any = 1;
      chunk16_pulse(ps, &g[k]);
      if (++g[k].q < g[k].nmax || chunk16_next_sample(ps, &g[k])) continue;
      _mm512_mask_storeu_ps(ps->h + g[k].j0, g[k].lanes, g[k].h);
      live[k] = chunk16_refill(ps, &g[k], &next);
    }
    if (!any) break;
  }
}

static void io_normals_avx512(uint64_t key, uint64_t subsequence, uint64_t first, int64_t n,
                              float *z0, float *z1, uint32_t *w2) {
  uint32_t k0 = (uint32_t)key, k1 = (uint32_t)(key >> 32);
  __m512i sub_lo = _mm512_set1_epi32((int)(uint32_t)subsequence);
  __m512i sub_hi = _mm512_set1_epi32((int)(uint32_t)(subsequence >> 32));
  const __m512i lane_lo = _mm512_setr_epi64(0, 1, 2, 3, 4, 5, 6, 7);
  const __m512i lane_hi = _mm512_setr_epi64(8, 9, 10, 11, 12, 13, 14, 15);
  for (int64_t kb = 0; kb < n; kb += 16) {
    int64_t m = n - kb < 16 ? n - kb : 16;
    __mmask16 lanes = (__mmask16)(m == 16 ? 0xffffu : (1u << m) - 1u);
    __m512i b0 = _mm512_set1_epi64((long long)(first + (uint64_t)kb));
    __m512i b_lo = _mm512_add_epi64(b0, lane_lo), b_hi = _mm512_add_epi64(b0, lane_hi);
    __m512i c[4];
    block_counters16(b_lo, b_hi, sub_lo, sub_hi, c);
    philox16(c, k0, k1);
    __m512 a, b;
    normal2_16(c[0], c[1], &a, &b);
    _mm512_mask_storeu_ps(z0 + kb, lanes, a);
    _mm512_mask_storeu_ps(z1 + kb, lanes, b);
    _mm512_mask_storeu_epi32(w2 + kb, lanes, c[2]);
  }
}

/* aimc_make_train on 16 lines at once: Philox block kb of every line (its
 * counter (line << 14) | kb), slot 4 kb + q fires where u01(word q) < p,
 * the same comparison of the same exact floats. Lines with !(p > 0) fire
 * nowhere, as in the scalar early return. */
static void make_trains_avx512(uint64_t key, uint64_t subsequence, uint64_t line0, const float *p,
                               int64_t p_stride, int64_t n, int32_t bl, uint32_t *words,
                               int64_t stride) {
  uint32_t k0 = (uint32_t)key, k1 = (uint32_t)(key >> 32);
  const __m512i sub_lo = _mm512_set1_epi32((int)(uint32_t)subsequence);
  const __m512i sub_hi = _mm512_set1_epi32((int)(uint32_t)(subsequence >> 32));
  const __m512 scale = _mm512_set1_ps(5.9604644775390625e-8f);
  int32_t nblk = (bl + 3) / 4;
  for (int64_t l0 = 0; l0 < n; l0 += 16) {
    int64_t m = n - l0 < 16 ? n - l0 : 16;
    uint32_t lo[16], hi[16], out[16];
    float pv[16];
    for (int l = 0; l < 16; ++l) {
      uint64_t line = (line0 + (uint64_t)(l0 + (l < m ? l : 0))) << 14;
      lo[l] = (uint32_t)line;
      hi[l] = (uint32_t)(line >> 32);
      pv[l] = l < m ? p[(l0 + l) * p_stride] : 0.0f;
    }
    __m512i base_lo = _mm512_loadu_si512(lo), base_hi = _mm512_loadu_si512(hi);
    __m512 prob = _mm512_loadu_ps(pv);
    __m512i acc = _mm512_setzero_si512();
    for (int32_t kb = 0; kb < nblk; ++kb) {
      __m512i c[4] = {_mm512_or_si512(base_lo, _mm512_set1_epi32(kb)), base_hi, sub_lo, sub_hi};
      philox16(c, k0, k1);
      for (int q = 0; q < 4; ++q) {
        int32_t k = 4 * kb + q;
        if (k >= bl) break;
        __m512 u = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_srli_epi32(c[q], 8)), scale);
        __mmask16 fire = _mm512_cmp_ps_mask(u, prob, _CMP_LT_OQ);
        acc = _mm512_mask_or_epi32(acc, fire, acc, _mm512_set1_epi32((int)(1u << (k & 31))));
        if ((k & 31) == 31 || k == bl - 1) { /* word k / 32 complete */
          _mm512_storeu_si512(out, acc);
          for (int l = 0; l < m; ++l) words[(l0 + l) * stride + (k >> 5)] = out[l];
          acc = _mm512_setzero_si512();
        }
      }
    }
  }
}

const aimc_simd_ops_t aimc_simd_avx512 = {"avx512",        normal4_blocks_avx512,
                                          reads_dot_rows,  reads_dot_cols,
                                          coincidences_popcnt, pulse_seg_avx512,
                                          io_normals_avx512,
                                          /* the reads of several samples, IO steps */
                                          reads_dot_rows_n512, reads_dot_cols_n512,
                                          reads_io_stats, reads_io_inputs, reads_io_outputs,
                                          make_trains_avx512};
