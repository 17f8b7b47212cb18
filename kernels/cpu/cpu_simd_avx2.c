/* AVX2 + FMA twins of the portable kernels (compiled with -mavx2 -mfma,
 * called only when the CPU has both). Philox4x32-10 and the normal mapping
 * of kernels/common/rng.h and fmath.h on 8 blocks at once: the same
 * operations in the same order (an fmadd where the scalar code has fmaf,
 * a separate multiply and add where it has none), so the bits are those of
 * aimc_normal4. */
#include <immintrin.h>

#include "kernels/common/rng.h"
#include "kernels/cpu/cpu_simd.h"
#include "kernels/cpu/cpu_simd_pulse_x86.h"
#include "kernels/cpu/cpu_simd_reads_x86.h"

/* lo and hi words of the 32x32-bit products a * m (m the same in every lane). */
static inline void mulhilo8(__m256i a, __m256i m, __m256i *lo, __m256i *hi) {
  __m256i pe = _mm256_mul_epu32(a, m);
  __m256i po = _mm256_mul_epu32(_mm256_srli_epi64(a, 32), m);
  *lo = _mm256_blend_epi32(pe, _mm256_slli_epi64(po, 32), 0xAA);
  *hi = _mm256_blend_epi32(_mm256_srli_epi64(pe, 32), po, 0xAA);
}

/* aimc_philox4x32_10 on 8 counters (c[q] lane k = word q of counter k). */
static inline void philox8(__m256i c[4], uint32_t k0s, uint32_t k1s) {
  const __m256i m0 = _mm256_set1_epi32((int)0xD2511F53u), m1 = _mm256_set1_epi32((int)0xCD9E8D57u);
  uint32_t k0 = k0s, k1 = k1s;
  for (int round = 0; round < 10; ++round) {
    __m256i lo0, hi0, lo1, hi1;
    mulhilo8(c[0], m0, &lo0, &hi0);
    mulhilo8(c[2], m1, &lo1, &hi1);
    __m256i n0 = _mm256_xor_si256(_mm256_xor_si256(hi1, c[1]), _mm256_set1_epi32((int)k0));
    __m256i n2 = _mm256_xor_si256(_mm256_xor_si256(hi0, c[3]), _mm256_set1_epi32((int)k1));
    c[0] = n0;
    c[1] = lo1;
    c[2] = n2;
    c[3] = lo0;
    k0 += 0x9E3779B9u;
    k1 += 0xBB67AE85u;
  }
}

/* aimc_logf for x in [2^-24, 1] (the uniforms of aimc_u01_open0: no zero,
 * subnormal, infinite or negative input, so only the main branch). */
static inline __m256 logf8(__m256 x) {
  __m256i bits = _mm256_castps_si256(x);
  __m256i e = _mm256_sub_epi32(_mm256_and_si256(_mm256_srli_epi32(bits, 23), _mm256_set1_epi32(0xff)),
                               _mm256_set1_epi32(127));
  __m256 m = _mm256_castsi256_ps(_mm256_or_si256(
      _mm256_and_si256(bits, _mm256_set1_epi32(0x007fffff)), _mm256_set1_epi32(0x3f800000)));
  __m256 big = _mm256_cmp_ps(m, _mm256_set1_ps(1.41421356f), _CMP_GT_OQ);
  m = _mm256_blendv_ps(m, _mm256_mul_ps(m, _mm256_set1_ps(0.5f)), big);
  e = _mm256_sub_epi32(e, _mm256_castps_si256(big)); /* big lanes are -1 */
  const __m256 one = _mm256_set1_ps(1.0f);
  __m256 s = _mm256_div_ps(_mm256_sub_ps(m, one), _mm256_add_ps(m, one));
  __m256 s2 = _mm256_mul_ps(s, s);
  __m256 p = _mm256_fmadd_ps(s2, _mm256_set1_ps(0.222222222f), _mm256_set1_ps(0.285714286f));
  p = _mm256_fmadd_ps(s2, p, _mm256_set1_ps(0.4f));
  p = _mm256_fmadd_ps(s2, p, _mm256_set1_ps(0.666666667f));
  __m256 lnm = _mm256_fmadd_ps(_mm256_mul_ps(s, s2), p, _mm256_mul_ps(_mm256_set1_ps(2.0f), s));
  __m256 fe = _mm256_cvtepi32_ps(e);
  return _mm256_fmadd_ps(fe, _mm256_set1_ps(AIMC_LN2_HI),
                         _mm256_fmadd_ps(fe, _mm256_set1_ps(AIMC_LN2_LO), lnm));
}

/* aimc_sincos_2pi of u in [0, 1). */
static inline void sincos8(__m256 u, __m256 *s_out, __m256 *c_out) {
  __m256 t = _mm256_mul_ps(_mm256_set1_ps(4.0f), u);
  __m256 q = _mm256_round_ps(t, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m256 a = _mm256_mul_ps(_mm256_sub_ps(t, q), _mm256_set1_ps(AIMC_HALF_PI));
  __m256 a2 = _mm256_mul_ps(a, a);
  __m256 s = _mm256_fmadd_ps(a2, _mm256_set1_ps(2.75573192e-6f), _mm256_set1_ps(-1.98412698e-4f));
  s = _mm256_fmadd_ps(a2, s, _mm256_set1_ps(8.33333333e-3f));
  s = _mm256_fmadd_ps(a2, s, _mm256_set1_ps(-1.66666667e-1f));
  s = _mm256_fmadd_ps(_mm256_mul_ps(a, a2), s, a);
  __m256 c = _mm256_fmadd_ps(a2, _mm256_set1_ps(-2.75573192e-7f), _mm256_set1_ps(2.48015873e-5f));
  c = _mm256_fmadd_ps(a2, c, _mm256_set1_ps(-1.38888889e-3f));
  c = _mm256_fmadd_ps(a2, c, _mm256_set1_ps(4.16666667e-2f));
  c = _mm256_fmadd_ps(a2, c, _mm256_set1_ps(-0.5f));
  c = _mm256_fmadd_ps(a2, c, _mm256_set1_ps(1.0f));
  /* quadrant q & 3: 0 (s, c), 1 (c, -s), 2 (-s, -c), 3 (-c, s) */
  __m256i qi = _mm256_cvtps_epi32(q);
  __m256i one = _mm256_set1_epi32(1), two = _mm256_set1_epi32(2);
  __m256 swap = _mm256_castsi256_ps(_mm256_cmpeq_epi32(_mm256_and_si256(qi, one), one));
  __m256 S = _mm256_blendv_ps(s, c, swap), C = _mm256_blendv_ps(c, s, swap);
  __m256i sign = _mm256_set1_epi32((int)0x80000000u);
  __m256i neg_s = _mm256_and_si256(_mm256_cmpeq_epi32(_mm256_and_si256(qi, two), two), sign);
  __m256i neg_c = _mm256_and_si256(
      _mm256_cmpeq_epi32(_mm256_and_si256(_mm256_add_epi32(qi, one), two), two), sign);
  *s_out = _mm256_xor_ps(S, _mm256_castsi256_ps(neg_s));
  *c_out = _mm256_xor_ps(C, _mm256_castsi256_ps(neg_c));
}

/* aimc_normal2 of word vectors w0, w1. */
static inline void normal2_8(__m256i w0, __m256i w1, __m256 *z0, __m256 *z1) {
  const __m256 ulp24 = _mm256_set1_ps(5.9604644775390625e-8f);
  __m256 u0 = _mm256_mul_ps(
      _mm256_cvtepi32_ps(_mm256_add_epi32(_mm256_srli_epi32(w0, 8), _mm256_set1_epi32(1))), ulp24);
  __m256 u1 = _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_srli_epi32(w1, 8)), ulp24);
  __m256 r = _mm256_sqrt_ps(_mm256_mul_ps(_mm256_set1_ps(-2.0f), logf8(u0)));
  __m256 s, c;
  sincos8(u1, &s, &c);
  *z0 = _mm256_mul_ps(r, c);
  *z1 = _mm256_mul_ps(r, s);
}

static void normal4_blocks_avx2(uint64_t key, uint64_t subsequence, const uint64_t *blocks,
                                int64_t n, float *z) {
  uint32_t k0 = (uint32_t)key, k1 = (uint32_t)(key >> 32);
  __m256i sub_lo = _mm256_set1_epi32((int)(uint32_t)subsequence);
  __m256i sub_hi = _mm256_set1_epi32((int)(uint32_t)(subsequence >> 32));
  for (int64_t k0b = 0; k0b < n; k0b += 8) {
    int64_t m = n - k0b < 8 ? n - k0b : 8;
    uint32_t lo[8] = {0}, hi[8] = {0};
    for (int64_t k = 0; k < m; ++k) {
      lo[k] = (uint32_t)blocks[k0b + k];
      hi[k] = (uint32_t)(blocks[k0b + k] >> 32);
    }
    __m256i c[4] = {_mm256_loadu_si256((const __m256i *)lo),
                    _mm256_loadu_si256((const __m256i *)hi), sub_lo, sub_hi};
    philox8(c, k0, k1);
    __m256 zv[4];
    normal2_8(c[0], c[1], &zv[0], &zv[1]);
    normal2_8(c[2], c[3], &zv[2], &zv[3]);
    float t[4][8];
    for (int q = 0; q < 4; ++q) _mm256_storeu_ps(t[q], zv[q]);
    for (int64_t k = 0; k < m; ++k)
      for (int q = 0; q < 4; ++q) z[4 * (k0b + k) + q] = t[q][k];
  }
}

/* aimc_expf on 8 lanes (see expf16 in cpu_simd_avx512.c). */
static inline __m256 expf8(__m256 x) {
  __m256 k = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504f)),
                             _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m256 nk = _mm256_sub_ps(_mm256_setzero_ps(), k); /* -k, exact */
  __m256 r = _mm256_fmadd_ps(nk, _mm256_set1_ps(AIMC_LN2_HI), x);
  r = _mm256_fmadd_ps(nk, _mm256_set1_ps(AIMC_LN2_LO), r);
  __m256 p = _mm256_fmadd_ps(r, _mm256_set1_ps(1.98412698e-4f), _mm256_set1_ps(1.38888889e-3f));
  p = _mm256_fmadd_ps(r, p, _mm256_set1_ps(8.33333333e-3f));
  p = _mm256_fmadd_ps(r, p, _mm256_set1_ps(4.16666667e-2f));
  p = _mm256_fmadd_ps(r, p, _mm256_set1_ps(1.66666667e-1f));
  p = _mm256_fmadd_ps(r, p, _mm256_set1_ps(0.5f));
  p = _mm256_fmadd_ps(r, p, _mm256_set1_ps(1.0f));
  p = _mm256_fmadd_ps(r, p, _mm256_set1_ps(1.0f));
  __m256i ki = _mm256_cvttps_epi32(k);
  __m256i big = _mm256_cmpgt_epi32(ki, _mm256_set1_epi32(127));
  __m256i kk = _mm256_add_epi32(ki, big); /* big lanes are -1: k - 1 */
  __m256 scale = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(kk, _mm256_set1_epi32(127)), 23));
  p = _mm256_blendv_ps(p, _mm256_mul_ps(p, _mm256_set1_ps(2.0f)), _mm256_castsi256_ps(big));
  __m256 res = _mm256_mul_ps(p, scale);
  res = _mm256_blendv_ps(res, _mm256_setzero_ps(),
                         _mm256_cmp_ps(x, _mm256_set1_ps(-87.33f), _CMP_LT_OQ));
  res = _mm256_blendv_ps(res, _mm256_castsi256_ps(_mm256_set1_epi32(0x7f800000)),
                         _mm256_cmp_ps(x, _mm256_set1_ps(88.7228f), _CMP_GT_OQ));
  return _mm256_blendv_ps(res, x, _mm256_cmp_ps(x, x, _CMP_UNORD_Q));
}

/* aimc_pulse_seg_portable on 8 weights at once, PULSE_GROUPS chunks of 8
 * interleaved, each at its own sample and pulse (see cpu_simd_avx512.c). */
#define PULSE_GROUPS 4

typedef struct pulse_chunk8 {
  __m256 h, bmin, bmax, s_up, s_dn, p_up, p_dn;
  __m256 up;     /* all ones where the current sample goes up */
  __m256i lanes; /* all ones on the lanes of the chunk */
  __m256i zi;    /* each lane's next normal in ps->z */
  __m256i n;     /* pulses of each lane in the current sample */
  int64_t j0, c; /* first weight, current sample */
  int32_t q, nmax;
} pulse_chunk8_t;

static inline int chunk8_next_sample(const aimc_pulse_seg_t *ps, pulse_chunk8_t *g) {
  for (++g->c; g->c < ps->nb; ++g->c) {
    __m256i cv = _mm256_maskload_epi32(ps->cnt + g->c * ps->stride + g->j0, g->lanes);
    __m256i n = _mm256_abs_epi32(cv);
    __m128i mx = _mm_max_epi32(_mm256_castsi256_si128(n), _mm256_extracti128_si256(n, 1));
    mx = _mm_max_epi32(mx, _mm_shuffle_epi32(mx, 0x4e));
    mx = _mm_max_epi32(mx, _mm_shuffle_epi32(mx, 0xb1));
    int nmax = _mm_cvtsi128_si32(mx);
    if (nmax == 0) continue;
    g->n = n;
    g->up = _mm256_castsi256_ps(_mm256_cmpgt_epi32(cv, _mm256_setzero_si256()));
    g->nmax = nmax;
    g->q = 0;
    return 1;
  }
  return 0;
}

static inline int chunk8_start(const aimc_pulse_seg_t *ps, pulse_chunk8_t *g, int64_t j0) {
  int64_t m = ps->n - j0 < 8 ? ps->n - j0 : 8;
  __m256i lanes = reads_tail_mask(m);
  __m256i zi = _mm256_maskload_epi32(ps->zpos + j0, lanes);
  lanes = _mm256_andnot_si256(_mm256_cmpgt_epi32(_mm256_setzero_si256(), zi), lanes);
  if (_mm256_testz_si256(lanes, lanes)) return 0;
  g->lanes = lanes;
  g->j0 = j0;
  g->c = -1;
  if (!chunk8_next_sample(ps, g)) return 0;
  const __m256 zero = _mm256_setzero_ps();
  g->zi = zi;
  g->h = _mm256_maskload_ps(ps->h + j0, lanes);
  g->bmin = _mm256_maskload_ps(ps->bmin + j0, lanes);
  g->bmax = _mm256_maskload_ps(ps->bmax + j0, lanes);
  g->s_up = _mm256_maskload_ps(ps->s_up + j0, lanes);
  g->s_dn = _mm256_maskload_ps(ps->s_dn + j0, lanes);
  g->p_up = ps->p_up ? _mm256_maskload_ps(ps->p_up + j0, lanes) : zero;
  g->p_dn = ps->p_dn ? _mm256_maskload_ps(ps->p_dn + j0, lanes) : zero;
  return 1;
}

static inline void chunk8_pulse(const aimc_pulse_seg_t *ps, pulse_chunk8_t *g) {
  const __m256i one_i = _mm256_set1_epi32(1);
  const __m256 one = _mm256_set1_ps(1.0f), std = _mm256_set1_ps(ps->dw_min_std);
  const __m256 zero = _mm256_setzero_ps();
  __m256 up = g->up, h = g->h, bmin = g->bmin, bmax = g->bmax;
  __m256 s = _mm256_blendv_ps(g->s_dn, g->s_up, up);
  __m256 p = _mm256_blendv_ps(g->p_dn, g->p_up, up);
  __m256i act = _mm256_cmpgt_epi32(g->n, _mm256_set1_epi32(g->q));
  __m256 xi = ps->noisy ? _mm256_mask_i32gather_ps(zero, ps->z, g->zi, _mm256_castsi256_ps(act), 4)
                        : zero;
  __m256 onep = _mm256_add_ps(one, _mm256_mul_ps(std, xi));
  __m256 hn, r;
  if (ps->kernel >= AIMC_PULSE_KERNEL_EXP) {
    const aimc_device_params_t *dp = ps->dev;
    __m256 range = _mm256_sub_ps(bmax, bmin);
    __m256 z = _mm256_add_ps(_mm256_div_ps(_mm256_mul_ps(_mm256_set1_ps(2.0f * dp->es_a), h), range),
                             _mm256_set1_ps(dp->es_b));
    __m256 gm = _mm256_blendv_ps(_mm256_set1_ps(-dp->es_gamma_down), _mm256_set1_ps(dp->es_gamma_up),
                                 up);
    __m256 A = _mm256_blendv_ps(_mm256_set1_ps(dp->es_A_down), _mm256_set1_ps(dp->es_A_up), up);
    __m256 y = _mm256_sub_ps(one, _mm256_mul_ps(A, expf8(_mm256_mul_ps(gm, z))));
    y = _mm256_blendv_ps(zero, y, _mm256_cmp_ps(y, zero, _CMP_GT_OQ));
    __m256 ny = _mm256_xor_ps(y, _mm256_castsi256_ps(_mm256_set1_epi32((int)0x80000000u)));
    __m256 dw = _mm256_mul_ps(_mm256_blendv_ps(ny, y, up), s);
    if (ps->kernel == AIMC_PULSE_KERNEL_EXP_COMPLEX) {
      __m256 absm = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
      __m256 t = _mm256_add_ps(
          _mm256_add_ps(_mm256_and_ps(dw, absm), _mm256_set1_ps(dp->std_add)),
          _mm256_mul_ps(_mm256_set1_ps(dp->std_slope), _mm256_and_ps(h, absm)));
      hn = _mm256_add_ps(_mm256_add_ps(h, dw),
                         _mm256_mul_ps(_mm256_mul_ps(_mm256_set1_ps(dp->dw_min_std), t), xi));
    } else {
      hn = _mm256_add_ps(h, _mm256_mul_ps(dw, onep));
    }
    r = _mm256_blendv_ps(hn, bmax, _mm256_cmp_ps(hn, bmax, _CMP_GT_OQ));
    r = _mm256_blendv_ps(r, bmin, _mm256_cmp_ps(hn, bmin, _CMP_LT_OQ));
    /* a stuck device (!(range > 0)) keeps h, unclipped */
    r = _mm256_blendv_ps(h, r, _mm256_cmp_ps(range, zero, _CMP_GT_OQ));
  } else {
    __m256 step;
    if (ps->kernel == AIMC_PULSE_KERNEL_CONSTANT) {
      step = _mm256_mul_ps(s, onep);
    } else if (ps->kernel == AIMC_PULSE_KERNEL_LINEAR_MULT) {
      step = _mm256_mul_ps(_mm256_add_ps(_mm256_mul_ps(p, h), s), onep);
    } else if (ps->kernel == AIMC_PULSE_KERNEL_LINEAR) {
      step = _mm256_add_ps(_mm256_mul_ps(p, h), _mm256_mul_ps(s, onep));
    } else { /* SoftBoundsReference: a = h / bound when the bound is on its side */
      __m256 bnd = _mm256_blendv_ps(bmin, bmax, up);
      __m256 on_side = _mm256_blendv_ps(_mm256_cmp_ps(bmin, zero, _CMP_LT_OQ),
                                        _mm256_cmp_ps(bmax, zero, _CMP_GT_OQ), up);
      __m256 a = _mm256_and_ps(_mm256_div_ps(h, bnd), on_side);
      __m256 one_a = _mm256_sub_ps(one, a);
      step = ps->kernel == AIMC_PULSE_KERNEL_SBREF_MULT
                 ? _mm256_mul_ps(_mm256_mul_ps(s, one_a), onep)
                 : _mm256_mul_ps(s, _mm256_add_ps(one_a, _mm256_mul_ps(std, xi)));
    }
    hn = _mm256_blendv_ps(_mm256_sub_ps(h, step), _mm256_add_ps(h, step), up);
    /* aimc_clampf: v < lo ? lo : (v > hi ? hi : v) */
    r = _mm256_blendv_ps(hn, bmax, _mm256_cmp_ps(hn, bmax, _CMP_GT_OQ));
    r = _mm256_blendv_ps(r, bmin, _mm256_cmp_ps(hn, bmin, _CMP_LT_OQ));
  }
  g->h = _mm256_blendv_ps(h, r, _mm256_castsi256_ps(act));
  g->zi = _mm256_add_epi32(g->zi, _mm256_and_si256(act, one_i));
}

static inline int chunk8_refill(const aimc_pulse_seg_t *ps, pulse_chunk8_t *g, int64_t *next) {
  while (*next < ps->n) {
    int64_t j0 = *next;
    *next += 8;
    if (chunk8_start(ps, g, j0)) return 1;
  }
  return 0;
}

static void pulse_seg_avx2(const aimc_pulse_seg_t *ps) {
  pulse_chunk8_t g[PULSE_GROUPS];
  int live[PULSE_GROUPS];
  int64_t next = 0;
  for (int k = 0; k < PULSE_GROUPS; ++k) live[k] = chunk8_refill(ps, &g[k], &next);
  for (;;) {
    int any = 0;
#pragma GCC unroll 8
    for (int k = 0; k < PULSE_GROUPS; ++k) {
      if (!live[k]) continue;
      any = 1;
      chunk8_pulse(ps, &g[k]);
      if (++g[k].q < g[k].nmax || chunk8_next_sample(ps, &g[k])) continue;
      _mm256_maskstore_ps(ps->h + g[k].j0, g[k].lanes, g[k].h);
      live[k] = chunk8_refill(ps, &g[k], &next);
    }
    if (!any) break;
  }
}

static void io_normals_avx2(uint64_t key, uint64_t subsequence, uint64_t first, int64_t n,
                            float *z0, float *z1, uint32_t *w2) {
  uint32_t k0 = (uint32_t)key, k1 = (uint32_t)(key >> 32);
  __m256i sub_lo = _mm256_set1_epi32((int)(uint32_t)subsequence);
  __m256i sub_hi = _mm256_set1_epi32((int)(uint32_t)(subsequence >> 32));
  for (int64_t kb = 0; kb < n; kb += 8) {
    int64_t m = n - kb < 8 ? n - kb : 8;
    uint32_t lo[8], hi[8];
    for (int k = 0; k < 8; ++k) {
      uint64_t blk = first + (uint64_t)(kb + k);
      lo[k] = (uint32_t)blk;
      hi[k] = (uint32_t)(blk >> 32);
    }
    __m256i c[4] = {_mm256_loadu_si256((const __m256i *)lo),
                    _mm256_loadu_si256((const __m256i *)hi), sub_lo, sub_hi};
    philox8(c, k0, k1);
    __m256 a, b;
    normal2_8(c[0], c[1], &a, &b);
    __m256i lanes = reads_tail_mask(m);
    _mm256_maskstore_ps(z0 + kb, lanes, a);
    _mm256_maskstore_ps(z1 + kb, lanes, b);
    _mm256_maskstore_epi32((int *)(w2 + kb), lanes, c[2]);
  }
}

/* aimc_make_train on 8 lines at once (see cpu_simd_avx512.c). */
static void make_trains_avx2(uint64_t key, uint64_t subsequence, uint64_t line0, const float *p,
                             int64_t p_stride, int64_t n, int32_t bl, uint32_t *words,
                             int64_t stride) {
  uint32_t k0 = (uint32_t)key, k1 = (uint32_t)(key >> 32);
  const __m256i sub_lo = _mm256_set1_epi32((int)(uint32_t)subsequence);
  const __m256i sub_hi = _mm256_set1_epi32((int)(uint32_t)(subsequence >> 32));
  const __m256 scale = _mm256_set1_ps(5.9604644775390625e-8f);
  int32_t nblk = (bl + 3) / 4;
  for (int64_t l0 = 0; l0 < n; l0 += 8) {
    int64_t m = n - l0 < 8 ? n - l0 : 8;
    uint32_t lo[8], hi[8], out[8];
    float pv[8];
    for (int l = 0; l < 8; ++l) {
      uint64_t line = (line0 + (uint64_t)(l0 + (l < m ? l : 0))) << 14;
      lo[l] = (uint32_t)line;
      hi[l] = (uint32_t)(line >> 32);
      pv[l] = l < m ? p[(l0 + l) * p_stride] : 0.0f;
    }
    __m256i base_lo = _mm256_loadu_si256((const __m256i *)lo);
    __m256i base_hi = _mm256_loadu_si256((const __m256i *)hi);
    __m256 prob = _mm256_loadu_ps(pv);
    __m256i acc = _mm256_setzero_si256();
    for (int32_t kb = 0; kb < nblk; ++kb) {
      __m256i c[4] = {_mm256_or_si256(base_lo, _mm256_set1_epi32(kb)), base_hi, sub_lo, sub_hi};
      philox8(c, k0, k1);
      for (int q = 0; q < 4; ++q) {
        int32_t k = 4 * kb + q;
        if (k >= bl) break;
        __m256 u = _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_srli_epi32(c[q], 8)), scale);
        __m256i fire = _mm256_castps_si256(_mm256_cmp_ps(u, prob, _CMP_LT_OQ));
        acc = _mm256_or_si256(acc, _mm256_and_si256(fire, _mm256_set1_epi32((int)(1u << (k & 31)))));
        if ((k & 31) == 31 || k == bl - 1) { /* word k / 32 complete */
          _mm256_storeu_si256((__m256i *)out, acc);
          for (int l = 0; l < m; ++l) words[(l0 + l) * stride + (k >> 5)] = out[l];
          acc = _mm256_setzero_si256();
        }
      }
    }
  }
}

const aimc_simd_ops_t aimc_simd_avx2 = {"avx2",          normal4_blocks_avx2,
                                        reads_dot_rows,  reads_dot_cols,
                                        coincidences_popcnt, pulse_seg_avx2,
                                        io_normals_avx2,
                                        /* the reads of several samples, IO steps */
                                        reads_dot_rows_n, reads_dot_cols_n, reads_io_stats,
                                        reads_io_inputs, reads_io_outputs, make_trains_avx2};
