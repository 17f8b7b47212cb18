/* Analog-read products on 256-bit vectors, shared by the AVX2 and AVX-512
 * files (each compiles it with its own instruction set). Included once per
 * file; everything is static.
 *
 * Forward: lane l of a row's accumulator is the scalar dot's partial sum
 * acc[l] (j = l mod 8), multiply and add as separate IEEE operations, the
 * lanes combined ((0+1)+(2+3))+((4+5)+(6+7)) with horizontal adds. Four rows
 * at a time hide the add latency; the order inside each row is unchanged.
 * Transposed: each output keeps its rows in order; up to four nonzero rows
 * are added per pass over y, so y is loaded and stored once per four rows. */
#ifndef AIMC_CPU_SIMD_READS_X86_H
#define AIMC_CPU_SIMD_READS_X86_H

#include <immintrin.h>
#include <stdint.h>

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

#endif
