/* Analog-read products on 256-bit vectors, shared by the AVX2 and AVX-512
 * files (each compiles it with its own instruction set). Included once per
 * file; everything is static.
 *
 * Forward: lane l of a row's accumulator is the scalar dot's partial sum
 * acc[l] (j = l mod 8), multiply and add as separate IEEE operations, the
 * lanes combined ((0+1)+(2+3))+((4+5)+(6+7)) with horizontal adds. Four rows
 * at a time hide the add latency; the order inside each row is unchanged.
 * Transposed: each output keeps its rows in order; up to four nonzero rows
 * are added per pass over y, so y is loaded and stored once per four rows.
 * Several samples (the n-sample kernels): each weight chunk is loaded once
 * for the block of samples, each sample's sums in the order above; and the
 * read's IO steps (input reductions, DAC, output epilogue) on 8 lanes. */
#ifndef AIMC_CPU_SIMD_READS_X86_H
#define AIMC_CPU_SIMD_READS_X86_H

#include <immintrin.h>
#include <math.h>
#include <stdint.h>

#include "kernels/common/params.h"
#include "kernels/common/reduce.h"

/* Rows ahead of the ones being summed whose weights are prefetched: the
 * rows of a block are short page-sized streams that the hardware
 * prefetchers hardly learn, and the weights of many tiles come from memory.
 * (A prefetch never faults, past the tile's end included.) */
#define READS_AHEAD 16
/* The transposed product steps a row in a few cycles: prefetch further. */
#define READS_AHEAD_T 32

/* Lanes below n (0..8) set: the tail of a row, zeros elsewhere. Adding the
 * zero products of the other lanes leaves every partial sum unchanged (a
 * partial sum that starts at +0 is never -0). */
static inline __m256i reads_tail_mask(int64_t n) {
  const __m256i idx = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  return _mm256_cmpgt_epi32(_mm256_set1_epi32((int)n), idx);
}

/* ((0+1)+(2+3))+((4+5)+(6+7)) of four accumulators, one total each. */
static inline __m128 reads_combine4(__m256 a, __m256 b, __m256 c, __m256 d) {
  __m256 h1 = _mm256_hadd_ps(a, b); /* a01 a23 b01 b23 | a45 a67 b45 b67 */
  __m256 h2 = _mm256_hadd_ps(c, d);
  __m256 h3 = _mm256_hadd_ps(h1, h2); /* a0123 b0123 c0123 d0123 | a4567 ... */
  return _mm_add_ps(_mm256_castps256_ps128(h3), _mm256_extractf128_ps(h3, 1));
}

static void reads_dot_rows(const float *w, int64_t rows, int64_t cols, const float *v, float *y) {
  int64_t c8 = cols & ~(int64_t)7;
  __m256i tail = reads_tail_mask(cols - c8);
  int64_t i = 0;
  for (; i + 4 <= rows; i += 4) {
    const float *r0 = w + i * cols, *r1 = r0 + cols, *r2 = r1 + cols, *r3 = r2 + cols;
    __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
    for (int64_t j = 0; j < c8; j += 8) {
      if ((j & 15) == 0)
        for (int r = 0; r < 4; ++r)
          _mm_prefetch((const char *)(r0 + (r + READS_AHEAD) * cols + j), _MM_HINT_T0);
      __m256 vv = _mm256_loadu_ps(v + j);
      a0 = _mm256_add_ps(a0, _mm256_mul_ps(_mm256_loadu_ps(r0 + j), vv));
      a1 = _mm256_add_ps(a1, _mm256_mul_ps(_mm256_loadu_ps(r1 + j), vv));
      a2 = _mm256_add_ps(a2, _mm256_mul_ps(_mm256_loadu_ps(r2 + j), vv));
      a3 = _mm256_add_ps(a3, _mm256_mul_ps(_mm256_loadu_ps(r3 + j), vv));
    }
    if (c8 < cols) {
      __m256 vv = _mm256_maskload_ps(v + c8, tail);
      a0 = _mm256_add_ps(a0, _mm256_mul_ps(_mm256_maskload_ps(r0 + c8, tail), vv));
      a1 = _mm256_add_ps(a1, _mm256_mul_ps(_mm256_maskload_ps(r1 + c8, tail), vv));
      a2 = _mm256_add_ps(a2, _mm256_mul_ps(_mm256_maskload_ps(r2 + c8, tail), vv));
      a3 = _mm256_add_ps(a3, _mm256_mul_ps(_mm256_maskload_ps(r3 + c8, tail), vv));
    }
    _mm_storeu_ps(y + i, reads_combine4(a0, a1, a2, a3));
  }
  for (; i < rows; ++i) {
    const float *r0 = w + i * cols;
    __m256 a0 = _mm256_setzero_ps();
    for (int64_t j = 0; j < c8; j += 8)
      a0 = _mm256_add_ps(a0, _mm256_mul_ps(_mm256_loadu_ps(r0 + j), _mm256_loadu_ps(v + j)));
    if (c8 < cols)
      a0 = _mm256_add_ps(a0, _mm256_mul_ps(_mm256_maskload_ps(r0 + c8, tail),
                                           _mm256_maskload_ps(v + c8, tail)));
    y[i] = _mm_cvtss_f32(reads_combine4(a0, a0, a0, a0));
  }
}

/* y[j] += sum over the n (1..4) rows r[q] times a[q], in q order. */
static void reads_add_rows(float *y, int64_t cols, const float *const *r, const float *a, int n) {
  int64_t c8 = cols & ~(int64_t)7;
  __m256 s0 = _mm256_set1_ps(a[0]), s1 = _mm256_set1_ps(n > 1 ? a[1] : 0.0f);
  __m256 s2 = _mm256_set1_ps(n > 2 ? a[2] : 0.0f), s3 = _mm256_set1_ps(n > 3 ? a[3] : 0.0f);
  for (int64_t j = 0; j < c8; j += 8) {
    __m256 yv = _mm256_loadu_ps(y + j);
    yv = _mm256_add_ps(yv, _mm256_mul_ps(_mm256_loadu_ps(r[0] + j), s0));
    if (n > 1) yv = _mm256_add_ps(yv, _mm256_mul_ps(_mm256_loadu_ps(r[1] + j), s1));
    if (n > 2) yv = _mm256_add_ps(yv, _mm256_mul_ps(_mm256_loadu_ps(r[2] + j), s2));
    if (n > 3) yv = _mm256_add_ps(yv, _mm256_mul_ps(_mm256_loadu_ps(r[3] + j), s3));
    _mm256_storeu_ps(y + j, yv);
  }
  for (int64_t j = c8; j < cols; ++j) {
    float acc = y[j];
    for (int q = 0; q < n; ++q) acc = acc + r[q][j] * a[q];
    y[j] = acc;
  }
}

static void reads_dot_cols(const float *w, int64_t rows, int64_t cols, const float *v, float *y) {
  for (int64_t j = 0; j < cols; ++j) y[j] = 0.0f;
  const float *r[4];
  float a[4];
  int n = 0;
  for (int64_t i = 0; i < rows; ++i) {
    if (v[i] == 0.0f) continue; /* as the portable loop: zero rows are skipped */
    r[n] = w + i * cols;
    a[n] = v[i];
    if (++n == 4) {
      reads_add_rows(y, cols, r, a, n);
      n = 0;
    }
  }
  if (n > 0) reads_add_rows(y, cols, r, a, n);
}

/* ---- several samples at once ------------------------------------------------ */

/* The 256-bit path (16 registers): forward 4 rows x 2 samples, each weight
 * chunk loaded once for both samples; transposed 16 outputs x 4 samples kept
 * in registers over the rows. Each (row or output, sample) sum keeps the
 * one-sample kernel's order. Unused where the AVX-512 twins are compiled. */
static inline __attribute__((always_inline)) void reads_rows_pair(
    const float *w, int64_t cols, int R, int S, const float *v0p, const float *v1p, float *y0,
    float *y1) {
  const __m256 z = _mm256_setzero_ps();
  __m256 a00 = z, a01 = z, a10 = z, a11 = z, a20 = z, a21 = z, a30 = z, a31 = z;
  int64_t c8 = cols & ~(int64_t)7;
  __m256i tm = reads_tail_mask(cols - c8);
  for (int64_t j = 0; j < c8 + 8; j += 8) {
    int tail = j == c8;
    if (tail && j == cols) break;
#define READS_LOAD8(p) (tail ? _mm256_maskload_ps(p, tm) : _mm256_loadu_ps(p))
    __m256 v0 = READS_LOAD8(v0p + j), v1 = S > 1 ? READS_LOAD8(v1p + j) : v0;
#define READS_ROW8(r)                                                                      \
  if (R > r) {                                                                             \
    if (R == 4 && (j & 15) == 0)                                                           \
      _mm_prefetch((const char *)(w + (r + READS_AHEAD) * cols + j), _MM_HINT_T0);         \
    __m256 ww = READS_LOAD8(w + r * cols + j);                                             \
    a##r##0 = _mm256_add_ps(a##r##0, _mm256_mul_ps(ww, v0));                               \
    if (S > 1) a##r##1 = _mm256_add_ps(a##r##1, _mm256_mul_ps(ww, v1));                    \
  }
    READS_ROW8(0)
    READS_ROW8(1)
    READS_ROW8(2)
    READS_ROW8(3)
#undef READS_ROW8
#undef READS_LOAD8
  }
  if (R == 4) {
    _mm_storeu_ps(y0, reads_combine4(a00, a10, a20, a30));
    if (S > 1) _mm_storeu_ps(y1, reads_combine4(a01, a11, a21, a31));
  } else {
    y0[0] = _mm_cvtss_f32(reads_combine4(a00, a00, a00, a00));
    if (S > 1) y1[0] = _mm_cvtss_f32(reads_combine4(a01, a01, a01, a01));
  }
}

__attribute__((unused)) static void reads_dot_rows_n(const float *w, int64_t rows, int64_t cols,
                                                     const float *v, int64_t vs, int64_t nb,
                                                     float *y, int64_t ys) {
  for (int64_t s = 0; s < nb; s += 2) {
    const float *v0 = v + s * vs, *v1 = v0 + vs;
    float *y0 = y + s * ys, *y1 = y0 + ys;
    int64_t i = 0;
    if (s + 1 < nb) {
      for (; i + 4 <= rows; i += 4) reads_rows_pair(w + i * cols, cols, 4, 2, v0, v1, y0 + i, y1 + i);
      for (; i < rows; ++i) reads_rows_pair(w + i * cols, cols, 1, 2, v0, v1, y0 + i, y1 + i);
    } else {
      reads_dot_rows(w, rows, cols, v0, y0);
    }
  }
}

/* Outputs j .. j+15 (masks m0, m1 for the two halves) of S (1..4) samples
 * over all rows; `skips`: a row whose input is 0 is skipped per sample. */
static inline __attribute__((always_inline)) void reads_cols_quad(
    const float *w, int64_t rows, int64_t cols, __m256i m0, __m256i m1, int S, int skips,
    const float *const *v, float *const *y) {
  const __m256 z = _mm256_setzero_ps();
  __m256 a00 = z, a01 = z, a10 = z, a11 = z, a20 = z, a21 = z, a30 = z, a31 = z;
  for (int64_t i = 0; i < rows; ++i) {
    const float *row = w + i * cols;
    _mm_prefetch((const char *)(row + READS_AHEAD_T * cols), _MM_HINT_T0);
    __m256 w0 = _mm256_maskload_ps(row, m0), w1 = _mm256_maskload_ps(row + 8, m1);
#define READS_COL8(s)                                                                      \
  if (S > s && (!skips || v[s][i] != 0.0f)) {                                              \
    __m256 av = _mm256_set1_ps(v[s][i]);                                                   \
    a##s##0 = _mm256_add_ps(a##s##0, _mm256_mul_ps(w0, av));                               \
    a##s##1 = _mm256_add_ps(a##s##1, _mm256_mul_ps(w1, av));                               \
  }
    READS_COL8(0)
    READS_COL8(1)
    READS_COL8(2)
    READS_COL8(3)
#undef READS_COL8
  }
#define READS_COL8_STORE(s)                                                                \
  if (S > s) {                                                                             \
    _mm256_maskstore_ps(y[s], m0, a##s##0);                                                \
    _mm256_maskstore_ps(y[s] + 8, m1, a##s##1);                                            \
  }
  READS_COL8_STORE(0)
  READS_COL8_STORE(1)
  READS_COL8_STORE(2)
  READS_COL8_STORE(3)
#undef READS_COL8_STORE
}

#define READS_COLS_QUAD(S, K)                                                               \
  __attribute__((unused)) static void reads_cols_quad_##S##_##K(                            \
      const float *w, int64_t rows, int64_t cols, __m256i m0, __m256i m1,                   \
      const float *const *v, float *const *y) {                                             \
    reads_cols_quad(w, rows, cols, m0, m1, S, K, v, y);                                     \
  }
READS_COLS_QUAD(1, 0)
READS_COLS_QUAD(2, 0)
READS_COLS_QUAD(3, 0)
READS_COLS_QUAD(4, 0)
READS_COLS_QUAD(1, 1)
READS_COLS_QUAD(2, 1)
READS_COLS_QUAD(3, 1)
READS_COLS_QUAD(4, 1)

typedef void (*reads_cols_quad_fn)(const float *, int64_t, int64_t, __m256i, __m256i,
                                   const float *const *, float *const *);

/* Whether any of y[s * ys + j], s < ns, j < n, is NaN. */
static inline int reads_any_nan8(const float *y, int64_t ys, int64_t ns, int64_t n) {
  for (int64_t s = 0; s < ns; ++s)
    for (int64_t j = 0; j < n; j += 8) {
      __m256 x = _mm256_maskload_ps(y + s * ys + j, reads_tail_mask(n - j < 8 ? n - j : 8));
      if (_mm256_movemask_ps(_mm256_cmp_ps(x, x, _CMP_UNORD_Q))) return 1;
    }
  return 0;
}

/* As the AVX-512 twin below: summed without the skips of zero inputs,
 * again with them only when an output is NaN and an input is 0. */
__attribute__((unused)) static void reads_dot_cols_n(const float *w, int64_t rows, int64_t cols,
                                                     const float *v, int64_t vs, int64_t nb,
                                                     float *y, int64_t ys) {
  static const reads_cols_quad_fn table[2][4] = {
      {reads_cols_quad_1_0, reads_cols_quad_2_0, reads_cols_quad_3_0, reads_cols_quad_4_0},
      {reads_cols_quad_1_1, reads_cols_quad_2_1, reads_cols_quad_3_1, reads_cols_quad_4_1}};
  for (int64_t s0 = 0; s0 < nb; s0 += 4) {
    int ns = nb - s0 < 4 ? (int)(nb - s0) : 4;
    const float *vp[4];
    float *yb = y + s0 * ys;
    for (int s = 0; s < ns; ++s) vp[s] = v + (s0 + s) * vs;
    for (int skips = 0; skips <= 1; ++skips) {
      for (int64_t j = 0; j < cols; j += 16) {
        int64_t left = cols - j;
        __m256i m0 = reads_tail_mask(left < 8 ? left : 8);
        __m256i m1 = reads_tail_mask(left <= 8 ? 0 : left < 16 ? left - 8 : 8);
        float *yp[4];
        for (int s = 0; s < ns; ++s) yp[s] = yb + s * ys + j;
        table[skips][ns - 1](w + j, rows, cols, m0, m1, vp, yp);
      }
      if (skips || !reads_any_nan8(yb, ys, ns, cols)) break;
      int zeros = 0;
      for (int s = 0; s < ns && !zeros; ++s)
        for (int64_t i = 0; i < rows && !zeros; ++i) zeros = vp[s][i] == 0.0f;
      if (!zeros) break;
    }
  }
}

/* ---- the IO steps of a read on 8 lanes ------------------------------------ */

static inline __m256 reads_abs(__m256 x) {
  return _mm256_and_ps(x, _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff)));
}

/* Lane l sums the x_j, j = l mod 8, in increasing j, each into pos or neg as
 * aimc_tree_lane_signed (x > 0 to pos, else neg; a lane not taking x adds
 * +0, which leaves its partial, never -0, unchanged); the 8 partials are
 * combined by aimc_tree_combine. The maxima: max_ps(x, acc) keeps acc for a
 * NaN x, as the portable loop. */
static void reads_io_stats(const float *x, int64_t n, float *abs_max, float *max, float *pos,
                           float *neg) {
  const __m256 zero = _mm256_setzero_ps();
  __m256 am = zero, mx = _mm256_set1_ps(-INFINITY), ps = zero, ng = zero;
  for (int64_t j = 0; j < n; j += 8) {
    __m256i m = reads_tail_mask(n - j < 8 ? n - j : 8);
    __m256 xv = _mm256_maskload_ps(x + j, m);
    __m256 in = _mm256_castsi256_ps(m);
    am = _mm256_max_ps(reads_abs(xv), am);
    mx = _mm256_blendv_ps(mx, _mm256_max_ps(xv, mx), in);
    __m256 gt = _mm256_cmp_ps(xv, zero, _CMP_GT_OQ);
    ps = _mm256_add_ps(ps, _mm256_and_ps(xv, gt));
    ng = _mm256_add_ps(ng, _mm256_andnot_ps(gt, xv));
  }
  float a[8], b[8], p[8], q[8];
  _mm256_storeu_ps(a, am);
  _mm256_storeu_ps(b, mx);
  _mm256_storeu_ps(p, ps);
  _mm256_storeu_ps(q, ng);
  float ra = a[0], rb = b[0];
  for (int l = 1; l < 8; ++l) {
    ra = a[l] > ra ? a[l] : ra;
    rb = b[l] > rb ? b[l] : rb;
  }
  *abs_max = ra;
  *max = rb;
  *pos = aimc_tree_combine(p);
  *neg = aimc_tree_combine(q);
}

/* aimc_quantize(v, step, 0, 0) for step > 0: rintf(v / step) * step. */
static inline __m256 reads_quantize(__m256 v, float step) {
  __m256 st = _mm256_set1_ps(step);
  return _mm256_mul_ps(
      _mm256_round_ps(_mm256_div_ps(v, st), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC), st);
}

/* v < lo ? lo : (v > hi ? hi : v), lanes as aimc_clampf. */
static inline __m256 reads_clamp(__m256 v, float lo, float hi) {
  __m256 lov = _mm256_set1_ps(lo), hiv = _mm256_set1_ps(hi);
  __m256 r = _mm256_blendv_ps(v, hiv, _mm256_cmp_ps(v, hiv, _CMP_GT_OQ));
  return _mm256_blendv_ps(r, lov, _mm256_cmp_ps(v, lov, _CMP_LT_OQ));
}

/* aimc_io_input without random numbers: scale, DAC, clip, asymmetry. */
static void reads_io_inputs(const aimc_io_params_t *p, const float *in, int64_t n, float scale,
                            float *v) {
  const __m256 sc = _mm256_set1_ps(scale), zero = _mm256_setzero_ps();
  const __m256 asym = _mm256_set1_ps(1.0f - p->inp_asymmetry);
  for (int64_t j = 0; j < n; j += 8) {
    __m256i m = reads_tail_mask(n - j < 8 ? n - j : 8);
    __m256 x = _mm256_mul_ps(_mm256_maskload_ps(in + j, m), sc);
    if (p->inp_step > 0.0f) x = reads_quantize(x, p->inp_step);
    x = reads_clamp(x, -p->inp_bound, p->inp_bound);
    if (p->inp_asymmetry != 0.0f)
      x = _mm256_blendv_ps(x, _mm256_mul_ps(x, asym), _mm256_cmp_ps(x, zero, _CMP_LT_OQ));
    _mm256_maskstore_ps(v + j, m, x);
  }
}

/* aimc_io_weight_noise_z then aimc_io_output_z on 8 outputs at a time, each
 * step taken when the scalar code takes it (per lane where it tests a lane's
 * value). */
static int reads_io_outputs(const aimc_io_params_t *p, const float *y, const float *q_o,
                            float q_add, const float *nl, const float *sigma, const float *z0,
                            const float *z1, const uint32_t *w2, int64_t n, float *out) {
  const __m256 zero = _mm256_setzero_ps(), one = _mm256_set1_ps(1.0f);
  const __m256 ob = _mm256_set1_ps(p->out_bound), nob = _mm256_set1_ps(-p->out_bound);
  int w_noise = p->w_noise_type != AIMC_W_NOISE_NONE && p->w_noise > 0.0f;
  int hit = 0;
  for (int64_t o = 0; o < n; o += 8) {
    __m256i m = reads_tail_mask(n - o < 8 ? n - o : 8);
    __m256 yv = _mm256_maskload_ps(y + o, m);
    if (w_noise) {
      __m256 q = q_o ? _mm256_maskload_ps(q_o + o, m) : _mm256_set1_ps(q_add);
      __m256 z = z0 ? _mm256_maskload_ps(z0 + o, m) : zero;
      yv = _mm256_add_ps(yv, _mm256_mul_ps(_mm256_mul_ps(_mm256_set1_ps(p->w_noise),
                                                         _mm256_sqrt_ps(q)), z));
    }
    if (p->has_nonlinearity) {
      __m256 s = _mm256_maskload_ps(nl + o, m);
      yv = _mm256_div_ps(yv, _mm256_add_ps(one, reads_abs(_mm256_mul_ps(s, yv))));
    }
    if (p->out_asymmetry > 0.0f)
      yv = _mm256_blendv_ps(yv, _mm256_mul_ps(yv, _mm256_set1_ps(1.0f - p->out_asymmetry)),
                            _mm256_cmp_ps(yv, zero, _CMP_LT_OQ));
    __m256 sg = _mm256_maskload_ps(sigma + o, m);
    __m256 noisy = _mm256_cmp_ps(sg, zero, _CMP_GT_OQ);
    if (_mm256_movemask_ps(noisy)) {
      __m256 z = z1 ? _mm256_maskload_ps(z1 + o, m) : zero;
      yv = _mm256_blendv_ps(yv, _mm256_add_ps(yv, _mm256_mul_ps(sg, z)), noisy);
    }
    if (p->out_step > 0.0f) {
      __m256 st = _mm256_set1_ps(p->out_step);
      __m256 q = _mm256_div_ps(yv, st);
      if (p->out_sto_round) {
        __m256i w = w2 ? _mm256_maskload_epi32((const int *)(w2 + o), m) : _mm256_setzero_si256();
        __m256 u = _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_srli_epi32(w, 8)),
                                 _mm256_set1_ps(5.9604644775390625e-8f));
        q = _mm256_add_ps(q, _mm256_sub_ps(u, _mm256_set1_ps(0.5f)));
      }
      yv = _mm256_mul_ps(_mm256_round_ps(q, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC), st);
    }
    __m256 in = _mm256_castsi256_ps(m);
    __m256 hi = _mm256_and_ps(_mm256_cmp_ps(yv, ob, _CMP_GT_OQ), in);
    __m256 lo = _mm256_andnot_ps(hi, _mm256_and_ps(_mm256_cmp_ps(yv, nob, _CMP_LT_OQ), in));
    yv = _mm256_blendv_ps(_mm256_blendv_ps(yv, ob, hi), nob, lo);
    if (_mm256_movemask_ps(hi) || (p->bm_test_negative_bound && _mm256_movemask_ps(lo))) hit = 1;
    _mm256_maskstore_ps(out + o, m, yv);
  }
  return hit;
}

/* Only the AVX-512 file asks for these (AIMC_READS_AVX512): with -march=native
 * the AVX2 file sees the AVX-512 macros too, and would carry them unused. */
#if defined(AIMC_READS_AVX512) && defined(__AVX512F__) && defined(__AVX512VL__) && \
    defined(__AVX512DQ__)
/* ---- register blocking over samples (AVX-512: 32 registers) --------------
 * Forward: a 512-bit accumulator holds one row's 8 partial sums for two
 * samples (low half the first, high half the second); each weight chunk is
 * loaded once (broadcast to both halves) for up to 8 samples and 4 rows, 16
 * accumulators. Every (row, sample) partial sum takes exactly the terms and
 * order of the one-sample kernel, so the bits are the same. */

#define READS_ALWAYS_INLINE static inline __attribute__((always_inline))

READS_ALWAYS_INLINE __m256 reads_half(__m512 x, int h) {
  return h ? _mm512_extractf32x8_ps(x, 1) : _mm512_castps512_ps256(x);
}

/* The 8 partial sums of rows r0..r3 (R = 4) or r0 (R = 1) for one half
 * (sample) of a pair, combined as the one-sample kernel, into y[0..R-1]. */
READS_ALWAYS_INLINE void reads_rows_store(int R, __m512 a0, __m512 a1, __m512 a2, __m512 a3,
                                          int h, float *y) {
  if (R == 4) {
    _mm_storeu_ps(y, reads_combine4(reads_half(a0, h), reads_half(a1, h), reads_half(a2, h),
                                    reads_half(a3, h)));
  } else {
    __m256 a = reads_half(a0, h);
    y[0] = _mm_cvtss_f32(reads_combine4(a, a, a, a));
  }
}

/* Rows i0 .. i0+R-1 (R = 4 or 1) for the P sample pairs of v[0 .. 2P-1]
 * (pointers to each sample's input; an odd count repeats its last sample,
 * whose duplicate result is not stored: ns = samples stored). The
 * accumulators are named variables so that they stay in registers. */
READS_ALWAYS_INLINE void reads_rows_block(const float *w, int64_t cols, int R, int P,
                                          const float *const *v, float *const *y, int ns) {
  const __m512 z = _mm512_setzero_ps();
  __m512 a00 = z, a01 = z, a02 = z, a03 = z, a10 = z, a11 = z, a12 = z, a13 = z;
  __m512 a20 = z, a21 = z, a22 = z, a23 = z, a30 = z, a31 = z, a32 = z, a33 = z;
  int64_t c8 = cols & ~(int64_t)7;
  /* full chunks of 8 columns, then the masked tail (masked loads only there:
   * a masked load cannot be folded into the broadcast) */
  for (int64_t j = 0; j < c8 + 8; j += 8) {
    int tail = j == c8;
    if (tail && j == cols) break;
    __mmask8 m = (__mmask8)(tail ? (1u << (cols - c8)) - 1u : 0xffu);
#define READS_LOAD(p) (tail ? _mm256_maskz_loadu_ps(m, p) : _mm256_loadu_ps(p))
#define READS_PAIR(a, b) \
  _mm512_insertf32x8(_mm512_castps256_ps512(READS_LOAD(a)), READS_LOAD(b), 1)
    __m512 v0 = READS_PAIR(v[0] + j, v[1] + j);
    __m512 v1 = P > 1 ? READS_PAIR(v[2] + j, v[3] + j) : v0;
    __m512 v2 = P > 2 ? READS_PAIR(v[4] + j, v[5] + j) : v0;
    __m512 v3 = P > 3 ? READS_PAIR(v[6] + j, v[7] + j) : v0;
#define READS_ROW(r)                                                                         \
  if (R > r) {                                                                               \
    if (R == 4 && (j & 15) == 0)                                                             \
      _mm_prefetch((const char *)(w + (r + READS_AHEAD) * cols + j), _MM_HINT_T0);           \
    __m512 ww = _mm512_broadcast_f32x8(READS_LOAD(w + r * cols + j));                        \
    a##r##0 = _mm512_add_ps(a##r##0, _mm512_mul_ps(ww, v0));                                 \
    if (P > 1) a##r##1 = _mm512_add_ps(a##r##1, _mm512_mul_ps(ww, v1));                      \
    if (P > 2) a##r##2 = _mm512_add_ps(a##r##2, _mm512_mul_ps(ww, v2));                      \
    if (P > 3) a##r##3 = _mm512_add_ps(a##r##3, _mm512_mul_ps(ww, v3));                      \
  }
    READS_ROW(0)
    READS_ROW(1)
    READS_ROW(2)
    READS_ROW(3)
#undef READS_ROW
#undef READS_PAIR
#undef READS_LOAD
  }
  reads_rows_store(R, a00, a10, a20, a30, 0, y[0]);
  if (ns > 1) reads_rows_store(R, a00, a10, a20, a30, 1, y[1]);
  if (P > 1 && ns > 2) reads_rows_store(R, a01, a11, a21, a31, 0, y[2]);
  if (P > 1 && ns > 3) reads_rows_store(R, a01, a11, a21, a31, 1, y[3]);
  if (P > 2 && ns > 4) reads_rows_store(R, a02, a12, a22, a32, 0, y[4]);
  if (P > 2 && ns > 5) reads_rows_store(R, a02, a12, a22, a32, 1, y[5]);
  if (P > 3 && ns > 6) reads_rows_store(R, a03, a13, a23, a33, 0, y[6]);
  if (P > 3 && ns > 7) reads_rows_store(R, a03, a13, a23, a33, 1, y[7]);
}

#define READS_ROWS_BLOCK(R, P)                                                                 \
  static void reads_rows_block_##R##_##P(const float *w, int64_t cols, const float *const *v, \
                                         float *const *y, int ns) {                            \
    reads_rows_block(w, cols, R, P, v, y, ns);                                                 \
  }
READS_ROWS_BLOCK(4, 1)
READS_ROWS_BLOCK(4, 2)
READS_ROWS_BLOCK(4, 3)
READS_ROWS_BLOCK(4, 4)
READS_ROWS_BLOCK(1, 1)
READS_ROWS_BLOCK(1, 2)
READS_ROWS_BLOCK(1, 3)
READS_ROWS_BLOCK(1, 4)

typedef void (*reads_rows_block_fn)(const float *, int64_t, const float *const *, float *const *,
                                    int);

static void reads_dot_rows_n512(const float *w, int64_t rows, int64_t cols, const float *v,
                                int64_t vs, int64_t nb, float *y, int64_t ys) {
  static const reads_rows_block_fn four[4] = {reads_rows_block_4_1, reads_rows_block_4_2,
                                              reads_rows_block_4_3, reads_rows_block_4_4};
  static const reads_rows_block_fn one[4] = {reads_rows_block_1_1, reads_rows_block_1_2,
                                             reads_rows_block_1_3, reads_rows_block_1_4};
  for (int64_t s0 = 0; s0 < nb; s0 += 8) {
    int ns = nb - s0 < 8 ? (int)(nb - s0) : 8, pairs = (ns + 1) / 2;
    const float *vp[8];
    float *yp[8];
    for (int s = 0; s < 8; ++s) vp[s] = v + (s0 + (s < ns ? s : ns - 1)) * vs;
    int64_t i = 0;
    for (; i + 4 <= rows; i += 4) {
      for (int s = 0; s < ns; ++s) yp[s] = y + (s0 + s) * ys + i;
      four[pairs - 1](w + i * cols, cols, vp, yp, ns);
    }
    for (; i < rows; ++i) {
      for (int s = 0; s < ns; ++s) yp[s] = y + (s0 + s) * ys + i;
      one[pairs - 1](w + i * cols, cols, vp, yp, ns);
    }
  }
}

/* Transposed: outputs j .. j+16C-1 (C = 1 or 2 registers, the last one
 * masked by m1) of S samples kept in registers over all rows, rows added in
 * order, each weight chunk loaded once for the S samples. A sample whose
 * input is exactly 0 at row i skips the row (masked add), as dot_cols;
 * `skips` = 0 when no input of the block is 0, which saves the masks. */
READS_ALWAYS_INLINE void reads_cols_block(const float *w, int64_t rows, int64_t cols, int C,
                                          __mmask16 m0, __mmask16 m1, int S, int skips,
                                          const float *const *v, float *const *y) {
  const __m512 z = _mm512_setzero_ps();
  __m512 a00 = z, a01 = z, a10 = z, a11 = z, a20 = z, a21 = z, a30 = z, a31 = z;
  __m512 a40 = z, a41 = z, a50 = z, a51 = z, a60 = z, a61 = z, a70 = z, a71 = z;
  for (int64_t i = 0; i < rows; ++i) {
    const float *row = w + i * cols;
    _mm_prefetch((const char *)(row + READS_AHEAD_T * cols), _MM_HINT_T0);
    if (C > 1) _mm_prefetch((const char *)(row + READS_AHEAD_T * cols + 16), _MM_HINT_T0);
    __m512 w0 = _mm512_maskz_loadu_ps(m0, row);
    __m512 w1 = C > 1 ? _mm512_maskz_loadu_ps(m1, row + 16) : w0;
#define READS_COL(s)                                                                           \
  if (S > s) {                                                                                 \
    float a = v[s][i];                                                                         \
    __m512 av = _mm512_set1_ps(a);                                                             \
    if (skips) {                                                                               \
      __mmask16 k = (__mmask16)(a != 0.0f ? 0xffffu : 0u);                                     \
      a##s##0 = _mm512_mask_add_ps(a##s##0, k, a##s##0, _mm512_mul_ps(w0, av));                \
      if (C > 1) a##s##1 = _mm512_mask_add_ps(a##s##1, k, a##s##1, _mm512_mul_ps(w1, av));     \
    } else {                                                                                   \
      a##s##0 = _mm512_add_ps(a##s##0, _mm512_mul_ps(w0, av));                                 \
      if (C > 1) a##s##1 = _mm512_add_ps(a##s##1, _mm512_mul_ps(w1, av));                      \
    }                                                                                          \
  }
    READS_COL(0) READS_COL(1) READS_COL(2) READS_COL(3)
    READS_COL(4) READS_COL(5) READS_COL(6) READS_COL(7)
#undef READS_COL
  }
#define READS_COL_STORE(s)                                                                     \
  if (S > s) {                                                                                 \
    _mm512_mask_storeu_ps(y[s], m0, a##s##0);                                                  \
    if (C > 1) _mm512_mask_storeu_ps(y[s] + 16, m1, a##s##1);                                  \
  }
  READS_COL_STORE(0) READS_COL_STORE(1) READS_COL_STORE(2) READS_COL_STORE(3)
  READS_COL_STORE(4) READS_COL_STORE(5) READS_COL_STORE(6) READS_COL_STORE(7)
#undef READS_COL_STORE
}

#define READS_COLS_BLOCK(C, S, K)                                                              \
  static void reads_cols_block_##C##_##S##_##K(const float *w, int64_t rows, int64_t cols,   \
                                               __mmask16 m0, __mmask16 m1,                    \
                                               const float *const *v, float *const *y) {      \
    reads_cols_block(w, rows, cols, C, m0, m1, S, K, v, y);                                   \
  }
#define READS_COLS_BLOCKS(C, K)                                                                 \
  READS_COLS_BLOCK(C, 1, K) READS_COLS_BLOCK(C, 2, K) READS_COLS_BLOCK(C, 3, K)                 \
  READS_COLS_BLOCK(C, 4, K) READS_COLS_BLOCK(C, 5, K) READS_COLS_BLOCK(C, 6, K)                 \
  READS_COLS_BLOCK(C, 7, K) READS_COLS_BLOCK(C, 8, K)
READS_COLS_BLOCKS(1, 0)
READS_COLS_BLOCKS(1, 1)
READS_COLS_BLOCKS(2, 0)
READS_COLS_BLOCKS(2, 1)

typedef void (*reads_cols_block_fn)(const float *, int64_t, int64_t, __mmask16, __mmask16,
                                    const float *const *, float *const *);
#define READS_COLS_TABLE(C, K)                                                                  \
  {reads_cols_block_##C##_1_##K, reads_cols_block_##C##_2_##K, reads_cols_block_##C##_3_##K,    \
   reads_cols_block_##C##_4_##K, reads_cols_block_##C##_5_##K, reads_cols_block_##C##_6_##K,    \
   reads_cols_block_##C##_7_##K, reads_cols_block_##C##_8_##K}

/* Whether any of y[s * ys + j], s < ns, j < n, is NaN. */
static int reads_any_nan(const float *y, int64_t ys, int ns, int64_t n) {
  for (int s = 0; s < ns; ++s)
    for (int64_t j = 0; j < n; j += 16) {
      __mmask16 m = (__mmask16)(n - j >= 16 ? 0xffffu : (1u << (n - j)) - 1u);
      __m512 x = _mm512_maskz_loadu_ps(m, y + s * ys + j);
      if (_mm512_cmp_ps_mask(x, x, _CMP_UNORD_Q)) return 1;
    }
  return 0;
}

/* Skipping a row whose input is 0 and adding its products w * 0 = +-0
 * give the same sums (y + -0 == y, and a sum started at +0 is never -0)
 * unless a weight is infinite or NaN, where w * 0 is NaN and the NaN
 * reaches the output. So each block is summed without skipping, and summed
 * again with the skips (masked adds) only when an output came out NaN and
 * an input of the block is 0: the dearer masked path runs only where it can
 * change a bit. */
static void reads_dot_cols_n512(const float *w, int64_t rows, int64_t cols, const float *v,
                                int64_t vs, int64_t nb, float *y, int64_t ys) {
  static const reads_cols_block_fn table[2][2][8] = {
      {READS_COLS_TABLE(1, 0), READS_COLS_TABLE(1, 1)},
      {READS_COLS_TABLE(2, 0), READS_COLS_TABLE(2, 1)}};
  for (int64_t s0 = 0; s0 < nb; s0 += 8) {
    int ns = nb - s0 < 8 ? (int)(nb - s0) : 8;
    const float *vp[8];
    float *yb = y + s0 * ys;
    for (int s = 0; s < ns; ++s) vp[s] = v + (s0 + s) * vs;
    for (int skips = 0; skips <= 1; ++skips) {
      for (int64_t j = 0; j < cols; j += 32) {
        int64_t left = cols - j;
        int C = left > 16 ? 2 : 1;
        __mmask16 m0 = (__mmask16)(left >= 16 ? 0xffffu : (1u << left) - 1u);
        __mmask16 m1 =
            (__mmask16)(left >= 32 ? 0xffffu : left > 16 ? (1u << (left - 16)) - 1u : 0u);
        float *yp[8];
        for (int s = 0; s < ns; ++s) yp[s] = yb + s * ys + j;
        table[C - 1][skips][ns - 1](w + j, rows, cols, m0, m1, vp, yp);
      }
      if (skips || !reads_any_nan(yb, ys, ns, cols)) break;
      int zeros = 0;
      for (int s = 0; s < ns && !zeros; ++s)
        for (int64_t i = 0; i < rows && !zeros; ++i) zeros = vp[s][i] == 0.0f;
      if (!zeros) break;
    }
  }
}
#endif

#endif
