/* One analog read by one thread block: the IO pipeline of
 * kernels/common/io.h around a product summed in exactly the CPU's order
 * (kernels/cpu/cpu_mvm.c), so reads are bit-identical to the CPU backend's:
 *   W x:   output i by 8 lanes, lane l summing elements j = l mod 8 in
 *          order, combined ((0+1)+(2+3))+((4+5)+(6+7)) as the CPU's dot();
 *   W^T d: output j by one thread, summing rows in order.
 * Used by the MVM kernel (one block per tile and sample) and by the
 * transfer kernel (one block per tile, reading one line of A). */
#ifndef AIMC_CUDA_READ_CUH
#define AIMC_CUDA_READ_CUH

#include "kernels/common/io.h"
#include "kernels/cuda/cuda_common.cuh"

/* Threads per block of a read: a multiple of 32 that keeps lanes busy. */
static inline unsigned aimc_read_threads(int transposed, int64_t rows, int64_t cols) {
  int64_t want = transposed ? cols : 8 * rows;
  want = (want + 31) / 32 * 32;
  return want > AIMC_THREADS ? AIMC_THREADS : (unsigned)want;
}

/* Block-wide max with -inf as the identity (any sign). */
__device__ static inline float aimc_block_max_signed(float v, float *red) {
  for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
  unsigned warp = threadIdx.x >> 5, lane = threadIdx.x & 31u, n_warps = (blockDim.x + 31) >> 5;
  __syncthreads();
  if (lane == 0) red[warp] = v;
  __syncthreads();
  v = lane < n_warps ? red[lane] : -INFINITY;
  for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
  return v;
}

/* Row i of W times v with the CPU's 8-lane order; every thread of the
 * 8-lane group takes part, lane 0 gets the sum. */
__device__ static inline float aimc_row_dot(const float *row, const float *v, int64_t n,
                                            unsigned lane8) {
  float acc = 0.0f;
  for (int64_t j = lane8; j < n; j += 8) acc = acc + row[j] * v[j];
  acc = acc + __shfl_down_sync(0xffffffffu, acc, 1);
  acc = acc + __shfl_down_sync(0xffffffffu, acc, 2);
  acc = acc + __shfl_down_sync(0xffffffffu, acc, 4);
  return acc;
}

/* sum_j |w_ij| v_j^2 in the CPU's order (PCM read noise). */
__device__ static inline float aimc_row_pcm(const float *row, const float *v, int64_t n) {
  float q = 0.0f;
  for (int64_t j = 0; j < n; ++j) q = q + fabsf(row[j]) * v[j] * v[j];
  return q;
}

/* Column j of W^T v (and its PCM moment when q is non-NULL), rows in order. */
__device__ static inline float aimc_col_dot(const float *w, int64_t rows, int64_t cols, int64_t j,
                                            const float *v, float *q) {
  float y = 0.0f, m = 0.0f;
  for (int64_t i = 0; i < rows; ++i) {
    float a = v[i];
    float wij = w[i * cols + j];
    if (q) m = m + fabsf(wij) * a * a;
    if (a == 0.0f) continue; /* as the CPU: adds exact zeros only */
    y = y + wij * a;
  }
  if (q) *q = m;
  return y;
}

typedef struct aimc_read_shared {
  float red[32];
  float pos, neg, q_add;
} aimc_read_shared_t;

/* Applies fn(o, y) to every output o of the product W v (or W^T v), with
 * the output's PCM moment q when pcm. Every thread of the block must call
 * it (forward rows use warp shuffles). */
template <typename F>
__device__ static inline void aimc_block_product(const float *w, int64_t rows, int64_t cols,
                                                 int transposed, const float *v, int pcm, F fn) {
  if (transposed) {
    for (int64_t j = threadIdx.x; j < cols; j += blockDim.x) {
      float q = 0.0f;
      float y = aimc_col_dot(w, rows, cols, j, v, pcm ? &q : NULL);
      fn(j, y, q);
    }
    return;
  }
  unsigned groups = blockDim.x / 8, g = threadIdx.x / 8, lane8 = threadIdx.x % 8;
  for (int64_t i0 = 0; i0 < rows; i0 += groups) { /* same trip count in every lane */
    int64_t i = i0 + g;
    int active = i < rows;
    const float *row = w + (active ? i : 0) * cols;
    float y = aimc_row_dot(row, v, active ? cols : 0, lane8);
    if (active && lane8 == 0) fn(i, y, pcm ? aimc_row_pcm(row, v, cols) : 0.0f);
  }
}

/* One read of input `in` (n_in values) into out (n_out values) through the
 * IO of direction dir, with the random numbers of call `call`, sample b of
 * `batch`; v is scratch of n_in floats. Returns the passes made (all
 * threads). Mirrors aimc_cpu_read_vector step for step. */
__device__ static int aimc_block_read(const aimc_tile_params_t *tp, int dir, const float *w,
                                      int64_t rows, int64_t cols, const float *in, float *out,
                                      uint64_t call, int64_t batch, int64_t b, float *v) {
  __shared__ aimc_read_shared_t sh;
  const aimc_io_params_t *p = &tp->io[dir];
  int transposed = dir == AIMC_BACKWARD || dir == AIMC_TRANSFER_BACKWARD;
  int64_t n_in = transposed ? rows : cols, n_out = transposed ? cols : rows;

  if (p->perfect) {
    float s = p->out_scale;
    aimc_block_product(w, rows, cols, transposed, in, 0,
                       [&](int64_t o, float y, float) { out[o] = y * s; });
    __syncthreads();
    return 1;
  }

  int use_nm = p->nm != AIMC_NM_NONE, use_bm = p->bm != AIMC_BM_NONE;
  float am = 0.0f, mx = -INFINITY;
  for (int64_t j = threadIdx.x; j < n_in; j += blockDim.x) {
    am = fmaxf(am, fabsf(in[j]));
    mx = fmaxf(mx, in[j]);
  }
  float abs_max = aimc_block_max(am, sh.red);
  float max = aimc_block_max_signed(mx, sh.red);
  int sums = p->nm == AIMC_NM_ABS_MAX_NP_SUM || p->bm == AIMC_BM_ITERATIVE_WORST_CASE;
  if (sums && threadIdx.x == 0) { /* order-dependent: summed in order, as the CPU */
    float pos = 0.0f, neg = 0.0f;
    for (int64_t j = 0; j < n_in; ++j) {
      float x = in[j];
      if (x > 0.0f)
        pos = pos + x;
      else
        neg = neg + x;
    }
    sh.pos = pos;
    sh.neg = neg;
  }
  __syncthreads();
  float pos = sums ? sh.pos : 0.0f, neg = sums ? sh.neg : 0.0f, nm_s = 1.0f;
  if (use_nm) {
    nm_s = aimc_io_nm_scale(p, p->nm, abs_max, max, pos, neg);
    if (!(nm_s > 0.0f)) {
      if (transposed || !(p->inp_noise > 0.0f)) {
        for (int64_t o = threadIdx.x; o < n_out; o += blockDim.x) out[o] = 0.0f;
        __syncthreads();
        return 1;
      }
      use_nm = 0; /* input noise alone still reads: unscaled */
    }
  }

  int in_random = aimc_io_input_random(p);
  int pcm = p->w_noise_type == AIMC_W_NOISE_PCM_READ;
  aimc_u32x4 zero_words = {{0u, 0u, 0u, 0u}};
  float r = 1.0f, scale = 1.0f;
  int round = 0;
  for (;;) {
    if (p->bm == AIMC_BM_ITERATIVE_WORST_CASE && round == 1 && p->nm != AIMC_NM_ABS_MAX_NP_SUM) {
      nm_s = aimc_io_nm_scale(p, AIMC_NM_ABS_MAX_NP_SUM, abs_max, max, pos, neg);
      use_nm = nm_s > 0.0f;
      r = 1.0f;
    }
    scale = aimc_io_input_scale(use_nm, nm_s, use_bm, r);
    uint64_t base = (uint64_t)round * (uint64_t)batch + (uint64_t)b;
    for (int64_t j = threadIdx.x; j < n_in; j += blockDim.x) {
      aimc_u32x4 wd =
          in_random ? aimc_io_words(tp->key, dir, 0, call, base * (uint64_t)n_in + (uint64_t)j)
                    : zero_words;
      v[j] = aimc_io_input(p, in[j], scale, wd);
    }
    __syncthreads();
    if (p->w_noise_type == AIMC_W_NOISE_ADDITIVE_CONSTANT && threadIdx.x == 0) {
      float q = 0.0f;
      for (int64_t j = 0; j < n_in; ++j) q = q + v[j] * v[j];
      sh.q_add = q;
    }
    __syncthreads();
    float q_add = sh.q_add;
    int hit = 0;
    aimc_block_product(w, rows, cols, transposed, v, pcm, [&](int64_t o, float y, float q) {
      float nl, sigma;
      aimc_io_output_constants(p, tp->key, dir, (uint64_t)o, &nl, &sigma);
      aimc_u32x4 wd =
          aimc_io_output_random(p, sigma)
              ? aimc_io_words(tp->key, dir, 1, call, base * (uint64_t)n_out + (uint64_t)o)
              : zero_words;
      y = aimc_io_weight_noise(p, y, pcm ? q : q_add, wd);
      out[o] = aimc_io_output(p, y, nl, sigma, wd, &hit);
    });
    hit = __syncthreads_or(hit);
    if (!use_bm || !hit || !aimc_io_bm_continue(p, r)) break;
    r = r * 2.0f;
    round++;
  }
  float factor = aimc_io_rescale(p, scale);
  if (factor != 1.0f)
    for (int64_t o = threadIdx.x; o < n_out; o += blockDim.x) out[o] = out[o] * factor;
  __syncthreads();
  return round + 1;
}

#endif
