/* The portable path of the vector kernels and the run-time choice of path.
 * The portable functions are the reference: every SIMD twin must give
 * their bits (tests/test_simd.c). */
#include "kernels/cpu/cpu_simd.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/common/devices.h"
#include "kernels/common/io.h"
#include "kernels/common/reduce.h"
#include "kernels/common/update.h"

static void normal4_blocks_portable(uint64_t key, uint64_t subsequence, const uint64_t *blocks,
                                    int64_t n, float *z) {
  for (int64_t k = 0; k < n; ++k) aimc_normal4(key, subsequence, blocks[k], z + 4 * k);
}

/* Dot product in a fixed order (8 partial sums, combined pairwise). */
static float dot(const float *a, const float *b, int64_t n) {
  float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int64_t j = 0;
  for (; j + 8 <= n; j += 8)
    for (int l = 0; l < 8; ++l) acc[l] += a[j + l] * b[j + l];
  for (int l = 0; j < n; ++j, ++l) acc[l] += a[j] * b[j];
  return ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
}

static void dot_rows_portable(const float *w, int64_t rows, int64_t cols, const float *v,
                              float *y) {
  for (int64_t i = 0; i < rows; ++i) y[i] = dot(w + i * cols, v, cols);
}

static void dot_cols_portable(const float *w, int64_t rows, int64_t cols, const float *v,
                              float *y) {
  for (int64_t j = 0; j < cols; ++j) y[j] = 0.0f;
  for (int64_t i = 0; i < rows; ++i) {
    float a = v[i];
    if (a == 0.0f) continue; /* adds exact zeros only; saves work on one-hot reads */
    const float *row = w + i * cols;
    for (int64_t j = 0; j < cols; ++j) y[j] += row[j] * a;
  }
}

static void coincidences_portable(const uint32_t *x, int64_t x_line, int64_t x_sample,
                                  const uint32_t *d, int64_t d_sample, const int32_t *nwc,
                                  int64_t nb, int64_t n, int64_t stride, int32_t *cnt) {
  for (int64_t c = 0; c < nb; ++c)
    for (int64_t j = 0; j < n; ++j)
      cnt[c * stride + j] =
          nwc[c] == 0 ? 0 : aimc_coincidences(x + j * x_line + c * x_sample, d + c * d_sample, nwc[c]);
}

/* One pulse of the models of the vector kernels: aimc_device_pulse's
 * arithmetic, operation for operation. */
static float pulse_one(const aimc_pulse_seg_t *ps, int64_t j, float h, int up, float xi) {
  float sn = ps->dw_min_std * xi;
  float s = up ? ps->s_up[j] : ps->s_dn[j];
  float step;
  switch (ps->kernel) {
    case AIMC_PULSE_KERNEL_CONSTANT:
      step = s * (1.0f + sn);
      break;
    case AIMC_PULSE_KERNEL_LINEAR:
    case AIMC_PULSE_KERNEL_LINEAR_MULT: {
      float pp = up ? (ps->p_up ? ps->p_up[j] : 0.0f) : (ps->p_dn ? ps->p_dn[j] : 0.0f);
      step = ps->kernel == AIMC_PULSE_KERNEL_LINEAR_MULT ? (pp * h + s) * (1.0f + sn)
                                                         : pp * h + s * (1.0f + sn);
      break;
    }
    case AIMC_PULSE_KERNEL_SBREF:
    case AIMC_PULSE_KERNEL_SBREF_MULT: {
      float a = up ? (ps->bmax[j] > 0.0f ? h / ps->bmax[j] : 0.0f)
                   : (ps->bmin[j] < 0.0f ? h / ps->bmin[j] : 0.0f);
      step = ps->kernel == AIMC_PULSE_KERNEL_SBREF_MULT ? s * (1.0f - a) * (1.0f + sn)
                                                        : s * (1.0f - a + sn);
      break;
    }
    default: { /* ExpStep */
      const aimc_device_params_t *p = ps->dev;
      float range = ps->bmax[j] - ps->bmin[j];
      if (!(range > 0.0f)) return h; /* stuck device */
      float z = 2.0f * p->es_a * h / range + p->es_b;
      float y = up ? aimc_maxf(1.0f - p->es_A_up * aimc_expf(p->es_gamma_up * z), 0.0f)
                   : aimc_maxf(1.0f - p->es_A_down * aimc_expf(-p->es_gamma_down * z), 0.0f);
      float dw = up ? y * ps->s_up[j] : -y * ps->s_dn[j];
      if (ps->kernel == AIMC_PULSE_KERNEL_EXP_COMPLEX)
        h = h + dw + p->dw_min_std * (aimc_absf(dw) + p->std_add + p->std_slope * aimc_absf(h)) * xi;
      else
        h = h + dw * (1.0f + sn);
      return aimc_clampf(h, ps->bmin[j], ps->bmax[j]);
    }
  }
  h = up ? h + step : h - step;
  return aimc_clampf(h, ps->bmin[j], ps->bmax[j]);
}

void aimc_pulse_seg_portable(const aimc_pulse_seg_t *ps) {
  for (int64_t j = 0; j < ps->n; ++j) {
    if (ps->zpos[j] < 0) continue;
    float h = ps->h[j];
    int32_t zi = ps->zpos[j];
    for (int64_t c = 0; c < ps->nb; ++c) {
      int32_t n = ps->cnt[c * ps->stride + j];
      int up = n > 0;
      if (n < 0) n = -n;
      for (int32_t q = 0; q < n; ++q) h = pulse_one(ps, j, h, up, ps->noisy ? ps->z[zi++] : 0.0f);
    }
    ps->h[j] = h;
  }
}

static void io_normals_portable(uint64_t key, uint64_t subsequence, uint64_t first, int64_t n,
                                float *z0, float *z1, uint32_t *w2) {
  for (int64_t k = 0; k < n; ++k) {
    aimc_u32x4 w = aimc_philox_block(key, subsequence, first + (uint64_t)k);
    aimc_normal2(w.v[0], w.v[1], &z0[k], &z1[k]);
    w2[k] = w.v[2];
  }
}

/* ---- reads of several samples and their IO steps: the reference ---------- */

static void dot_rows_n_portable(const float *w, int64_t rows, int64_t cols, const float *v,
                                int64_t vs, int64_t nb, float *y, int64_t ys) {
  for (int64_t s = 0; s < nb; ++s) dot_rows_portable(w, rows, cols, v + s * vs, y + s * ys);
}

static void dot_cols_n_portable(const float *w, int64_t rows, int64_t cols, const float *v,
                                int64_t vs, int64_t nb, float *y, int64_t ys) {
  for (int64_t s = 0; s < nb; ++s) dot_cols_portable(w, rows, cols, v + s * vs, y + s * ys);
}

/* acc = x > acc ? x : acc: a NaN x leaves acc, as a vector max does. */
static void io_stats_portable(const float *x, int64_t n, float *abs_max, float *max, float *pos,
                              float *neg) {
  float am = 0.0f, mx = -INFINITY;
  for (int64_t j = 0; j < n; ++j) {
    float a = aimc_absf(x[j]);
    am = a > am ? a : am;
    mx = x[j] > mx ? x[j] : mx;
  }
  *abs_max = am;
  *max = mx;
  aimc_tree_signed(x, n, pos, neg);
}

static void io_inputs_portable(const aimc_io_params_t *p, const float *in, int64_t n, float scale,
                               float *v) {
  aimc_u32x4 zero_words = {{0u, 0u, 0u, 0u}};
  for (int64_t j = 0; j < n; ++j) v[j] = aimc_io_input(p, in[j], scale, zero_words);
}

static int io_outputs_portable(const aimc_io_params_t *p, const float *y, const float *q_o,
                               float q_add, const float *nl, const float *sigma, const float *z0,
                               const float *z1, const uint32_t *w2, int64_t n, float *out) {
  int hit = 0;
  for (int64_t o = 0; o < n; ++o) {
    float yo = aimc_io_weight_noise_z(p, y[o], q_o ? q_o[o] : q_add, z0 ? z0[o] : 0.0f);
    out[o] = aimc_io_output_z(p, yo, nl[o], sigma[o], z1 ? z1[o] : 0.0f, w2 ? w2[o] : 0u, &hit);
  }
  return hit;
}

static void make_trains_portable(uint64_t key, uint64_t subsequence, uint64_t line0, const float *p,
                                 int64_t p_stride, int64_t n, int32_t bl, uint32_t *words,
                                 int64_t stride) {
  for (int64_t k = 0; k < n; ++k)
    aimc_make_train(key, subsequence, line0 + (uint64_t)k, p[k * p_stride], bl, words + k * stride);
}

const aimc_simd_ops_t aimc_simd_portable = {"portable",          normal4_blocks_portable,
                                            dot_rows_portable,   dot_cols_portable,
                                            coincidences_portable, aimc_pulse_seg_portable,
                                            io_normals_portable, dot_rows_n_portable,
                                            dot_cols_n_portable, io_stats_portable,
                                            io_inputs_portable,  io_outputs_portable,
                                            make_trains_portable};

const aimc_simd_ops_t *aimc_cpu_simd_level(aimc_simd_level_t level) {
  switch (level) {
    case AIMC_SIMD_PORTABLE:
      return &aimc_simd_portable;
#if defined(AIMC_SIMD_X86)
    case AIMC_SIMD_AVX2:
      __builtin_cpu_init();
      return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
                     __builtin_cpu_supports("popcnt")
                 ? &aimc_simd_avx2
                 : NULL;
    case AIMC_SIMD_AVX512:
      __builtin_cpu_init();
      return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") &&
                     __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512bw") &&
                     __builtin_cpu_supports("fma") && __builtin_cpu_supports("popcnt")
                 ? &aimc_simd_avx512
                 : NULL;
#endif
    default:
      return NULL;
  }
}

/* Read at every call (a getenv per operation is negligible), so a test can
 * switch paths between calls. An unknown or unavailable name falls back to
 * the widest path present. */
const aimc_simd_ops_t *aimc_cpu_simd(void) {
  const char *env = getenv("AIMC_CPU_SIMD");
  if (env && *env) {
    const aimc_simd_ops_t *o = NULL;
    if (strcmp(env, "portable") == 0) o = aimc_cpu_simd_level(AIMC_SIMD_PORTABLE);
    else if (strcmp(env, "avx2") == 0) o = aimc_cpu_simd_level(AIMC_SIMD_AVX2);
    else if (strcmp(env, "avx512") == 0) o = aimc_cpu_simd_level(AIMC_SIMD_AVX512);
    if (o) return o;
  }
  const aimc_simd_ops_t *o = aimc_cpu_simd_level(AIMC_SIMD_AVX512);
  if (!o) o = aimc_cpu_simd_level(AIMC_SIMD_AVX2);
  return o ? o : &aimc_simd_portable;
}
