/* Runtime-dispatched vector kernels of the CPU backend.
 *
 * Each path computes exactly what the portable code of kernels/common
 * computes, bit for bit: the same IEEE operations (fmaf where the scalar
 * code has fmaf, a separate multiply and add where it has none, IEEE sqrt
 * and divide, round-to-nearest-even for rintf) on 8 (AVX2) or 16 (AVX-512)
 * lanes, with sums kept in the scalar code's order. The path is chosen at
 * run time from the CPU's features, so an installed library needs no
 * -march=native; AIMC_CPU_SIMD=portable|avx2|avx512 forces one (the tests
 * compare every path with the portable one). */
#ifndef AIMC_CPU_SIMD_H
#define AIMC_CPU_SIMD_H

#include <stdint.h>

#include "kernels/common/params.h"

typedef enum aimc_simd_level {
  AIMC_SIMD_PORTABLE = 0,
  AIMC_SIMD_AVX2 = 1,
  AIMC_SIMD_AVX512 = 2
} aimc_simd_level_t;

/* Pulses of n consecutive weights of one row over the nb samples of a chunk
 * (aimc_device_pulse for the models listed, in sample and pulse order). */
enum aimc_pulse_kernel {
  AIMC_PULSE_KERNEL_CONSTANT = 0, /* ConstantStep */
  AIMC_PULSE_KERNEL_LINEAR = 1,   /* LinearStep / SoftBounds, additive noise */
  AIMC_PULSE_KERNEL_LINEAR_MULT = 2, /* LinearStep / SoftBounds, multiplicative noise */
  AIMC_PULSE_KERNEL_SBREF = 3,       /* SoftBoundsReference, additive noise */
  AIMC_PULSE_KERNEL_SBREF_MULT = 4,  /* SoftBoundsReference, multiplicative noise */
  AIMC_PULSE_KERNEL_EXP = 5,         /* ExpStep */
  AIMC_PULSE_KERNEL_EXP_COMPLEX = 6  /* ExpStep with dw_min_std_add or _slope */
};

typedef struct aimc_pulse_seg {
  int64_t n, nb, stride; /* weights, samples, row stride of cnt */
  const int32_t *cnt;    /* [nb][stride]: pulses of weight j in sample c, > 0 up, < 0 down */
  float *h;              /* [n] device states, updated in place */
  const float *bmin, *bmax, *s_up, *s_dn, *p_up, *p_dn; /* [n]; p_* NULL = 0 */
  const float *z;        /* buffered normals */
  const int32_t *zpos;   /* [n] index in z of weight j's next normal; < 0: weight skipped */
  float dw_min_std;
  int kernel, noisy;
  const aimc_device_params_t *dev; /* the ExpStep constants */
} aimc_pulse_seg_t;

typedef struct aimc_simd_ops {
  const char *name;
  /* z[4k .. 4k+3] = aimc_normal4(key, subsequence, blocks[k]) for k < n. */
  void (*normal4_blocks)(uint64_t key, uint64_t subsequence, const uint64_t *blocks, int64_t n,
                         float *z);
  /* The forward product of rows consecutive rows of W (row stride cols):
   * y[i] = sum_j w[i][j] v[j] with 8 interleaved partial sums (j mod 8)
   * combined ((0+1)+(2+3))+((4+5)+(6+7)), as aimc's scalar dot. */
  void (*dot_rows)(const float *w, int64_t rows, int64_t cols, const float *v, float *y);
  /* The transposed product y[j] = sum_i w[i][j] v[i], rows added in order
   * starting from y = 0, rows with v[i] == 0 skipped. */
  void (*dot_cols)(const float *w, int64_t rows, int64_t cols, const float *v, float *y);
  /* cnt[c * stride + j] = coincidences of x line j in sample c (words
   * x + j * x_line + c * x_sample) and the d line in sample c (words
   * d + c * d_sample) over nwc[c] words, for c < nb, j < n. */
  void (*coincidences)(const uint32_t *x, int64_t x_line, int64_t x_sample, const uint32_t *d,
                       int64_t d_sample, const int32_t *nwc, int64_t nb, int64_t n,
                       int64_t stride, int32_t *cnt);
  void (*pulse_seg)(const aimc_pulse_seg_t *ps);
  /* For blocks first .. first+n-1: aimc_normal2 of words 0 and 1 into z0[k],
   * z1[k] and word 2 into w2[k] (the random numbers of one read's outputs). */
  void (*io_normals)(uint64_t key, uint64_t subsequence, uint64_t first, int64_t n, float *z0,
                     float *z1, uint32_t *w2);
  /* ---- the analog reads of several samples and their IO steps ---------- */
  /* dot_rows (forward) / dot_cols (transposed) of nb samples at once:
   * sample s reads v + s * vs and writes y + s * ys. Each sample's sums keep
   * exactly dot_rows' / dot_cols' order; the vector paths load each weight
   * once for several samples (register blocking), which is what makes a
   * batch faster than nb single reads. */
  void (*dot_rows_n)(const float *w, int64_t rows, int64_t cols, const float *v, int64_t vs,
                     int64_t nb, float *y, int64_t ys);
  void (*dot_cols_n)(const float *w, int64_t rows, int64_t cols, const float *v, int64_t vs,
                     int64_t nb, float *y, int64_t ys);
  /* The input reductions of one read: abs_max = max |x_j| from 0 and max =
   * max x_j from -inf, NaN ignored (which of two equal zeros is kept is
   * unspecified: only its comparison with 0 is used); pos, neg as
   * aimc_tree_signed. */
  void (*io_stats)(const float *x, int64_t n, float *abs_max, float *max, float *pos, float *neg);
  /* v[j] = aimc_io_input(p, in[j], scale, words 0) for j < n: the inputs
   * of a read that draws no input random numbers. */
  void (*io_inputs)(const aimc_io_params_t *p, const float *in, int64_t n, float scale, float *v);
  /* out[o] = aimc_io_output_z(p, aimc_io_weight_noise_z(p, y[o], q, z0[o]),
   * nl[o], sigma[o], z1[o], w2[o]) for o < n, q = q_o[o] (q_o non-NULL) or
   * q_add; z0, z1, w2 NULL read as zeros (a read without output random
   * numbers). Returns whether any output hit (aimc_io_output_z's *hit). */
  int (*io_outputs)(const aimc_io_params_t *p, const float *y, const float *q_o, float q_add,
                    const float *nl, const float *sigma, const float *z0, const float *z1,
                    const uint32_t *w2, int64_t n, float *out);
  /* Pulse trains of n lines of one sample with bl > 0 slots: line k's train
   * is aimc_make_train(key, subsequence, line0 + k, p[k * p_stride], bl,
   * words + k * stride), its AIMC_TRAIN_WORDS(bl) words. */
  void (*make_trains)(uint64_t key, uint64_t subsequence, uint64_t line0, const float *p,
                      int64_t p_stride, int64_t n, int32_t bl, uint32_t *words, int64_t stride);
} aimc_simd_ops_t;

/* The portable pulse kernel (the reference of the vector ones). */
void aimc_pulse_seg_portable(const aimc_pulse_seg_t *ps);

/* The operations of the path in use: AIMC_CPU_SIMD when it names a path
 * this CPU has, else the widest the CPU has. */
const aimc_simd_ops_t *aimc_cpu_simd(void);

/* The operations of one path, or NULL when this CPU (or build) lacks it. */
const aimc_simd_ops_t *aimc_cpu_simd_level(aimc_simd_level_t level);

extern const aimc_simd_ops_t aimc_simd_portable;
#if defined(AIMC_SIMD_X86)
extern const aimc_simd_ops_t aimc_simd_avx2;
extern const aimc_simd_ops_t aimc_simd_avx512;
#endif

#endif
