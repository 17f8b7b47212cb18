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

/* The largest number of samples one block reads at once (its W loads serve
 * them all). */
#define AIMC_READ_GROUP 8

/* Row `row` of W times the S vectors v[s] (n_in apart) with the CPU's
 * 8-lane order; every thread of the 8-lane group takes part, lane 0 gets
 * the sums. */
template <int S>
__device__ static inline void aimc_row_dots(const float *row, const float *v, int64_t n_in,
                                            int64_t n, unsigned lane8, float *acc) {
  for (int s = 0; s < S; ++s) acc[s] = 0.0f;
  for (int64_t j = lane8; j < n; j += 8) {
    float w = row[j];
    for (int s = 0; s < S; ++s) acc[s] = acc[s] + w * v[s * n_in + j];
  }
  for (int s = 0; s < S; ++s) {
    acc[s] = acc[s] + __shfl_down_sync(0xffffffffu, acc[s], 1);
    acc[s] = acc[s] + __shfl_down_sync(0xffffffffu, acc[s], 2);
    acc[s] = acc[s] + __shfl_down_sync(0xffffffffu, acc[s], 4);
  }
}

/* sum_j |w_ij| v_j^2 in the CPU's order (PCM read noise). */
__device__ static inline float aimc_row_pcm(const float *row, const float *v, int64_t n) {
  float q = 0.0f;
  for (int64_t j = 0; j < n; ++j) q = q + fabsf(row[j]) * v[j] * v[j];
  return q;
}

/* Column j of W^T v[s] (and its PCM moments when pcm), rows in order. */
template <int S>
__device__ static inline void aimc_col_dots(const float *w, int64_t rows, int64_t cols, int64_t j,
                                            const float *v, int pcm, float *y, float *q) {
  for (int s = 0; s < S; ++s) y[s] = q[s] = 0.0f;
  for (int64_t i = 0; i < rows; ++i) {
    float wij = w[i * cols + j];
    for (int s = 0; s < S; ++s) {
      float a = v[s * rows + i];
      if (pcm) q[s] = q[s] + fabsf(wij) * a * a;
      if (a == 0.0f) continue; /* as the CPU: adds exact zeros only */
      y[s] = y[s] + wij * a;
    }
  }
}

/* Applies fn(o, s, y, q) to every output o of the products W v[s] (or
 * W^T v[s]) for s < S, q the PCM moment when pcm. Every thread of the block
 * must call it (forward rows use warp shuffles). */
template <int S, typename F>
__device__ static inline void aimc_block_product(const float *w, int64_t rows, int64_t cols,
                                                 int transposed, const float *v, int pcm, F fn) {
  float y[S], q[S];
  if (transposed) {
    for (int64_t j = threadIdx.x; j < cols; j += blockDim.x) {
      aimc_col_dots<S>(w, rows, cols, j, v, pcm, y, q);
      for (int s = 0; s < S; ++s) fn(j, s, y[s], q[s]);
    }
    return;
  }
  unsigned groups = blockDim.x / 8, g = threadIdx.x / 8, lane8 = threadIdx.x % 8;
  for (int64_t i0 = 0; i0 < rows; i0 += groups) { /* same trip count in every lane */
    int64_t i = i0 + g;
    int active = i < rows;
    const float *row = w + (active ? i : 0) * cols;
    aimc_row_dots<S>(row, v, cols, active ? cols : 0, lane8, y);
    if (active && lane8 == 0)
      for (int s = 0; s < S; ++s)
        fn(i, s, y[s], pcm ? aimc_row_pcm(row, v + s * cols, cols) : 0.0f);
  }
}

typedef struct aimc_read_shared {
  float red[32];
  float pos[AIMC_READ_GROUP], neg[AIMC_READ_GROUP], q_add[AIMC_READ_GROUP];
} aimc_read_shared_t;

/* Where each sample of a group stands in the IO pipeline (the same in every
 * thread of the block). */
typedef struct aimc_read_state {
  float abs_max, max, pos, neg, nm_s, r, scale;
  int use_nm, round, active;
} aimc_read_state_t;

/* Reads of the inputs of samples b0 .. b0 + ns - 1 (ns <= S; input s at
 * in + s * n_in, output s at out + s * n_out) through the IO of direction
 * dir, with the random numbers of call `call` in a batch of `batch`; v is
 * scratch of S * n_in floats. Adds the passes made to *passes (thread 0).
 * Mirrors aimc_cpu_read_vector step for step, for each sample: the passes
 * of bound management repeat for the samples that still need them, while
 * every pass over W serves all samples of the group. */
template <int S>
__device__ static void aimc_block_read(const aimc_tile_params_t *tp, int dir, const float *w,
                                       int64_t rows, int64_t cols, const float *in, float *out,
                                       uint64_t call, int64_t batch, int64_t b0, int ns, float *v,
                                       uint64_t *passes) {
  __shared__ aimc_read_shared_t sh;
  const aimc_io_params_t *p = &tp->io[dir];
  int transposed = dir == AIMC_BACKWARD || dir == AIMC_TRANSFER_BACKWARD;
  int64_t n_in = transposed ? rows : cols, n_out = transposed ? cols : rows;

  if (p->perfect) { /* through v: zeros for the samples past ns */
    for (int s = 0; s < S; ++s)
      for (int64_t j = threadIdx.x; j < n_in; j += blockDim.x)
        v[s * n_in + j] = s < ns ? in[s * n_in + j] : 0.0f;
    __syncthreads();
    float os = p->out_scale;
    aimc_block_product<S>(w, rows, cols, transposed, v, 0, [&](int64_t o, int s, float y, float) {
      if (s < ns) out[s * n_out + o] = y * os;
    });
    __syncthreads();
    if (threadIdx.x == 0) *passes += (uint64_t)ns;
    return;
  }

  int use_bm = p->bm != AIMC_BM_NONE, pcm = p->w_noise_type == AIMC_W_NOISE_PCM_READ;
  int sums = p->nm == AIMC_NM_ABS_MAX_NP_SUM || p->bm == AIMC_BM_ITERATIVE_WORST_CASE;
  aimc_read_state_t st[S];
  for (int s = 0; s < S; ++s) {
    aimc_read_state_t *e = &st[s];
    e->active = s < ns;
    e->round = 0;
    e->r = 1.0f;
    e->scale = 1.0f;
    e->nm_s = 1.0f;
    e->use_nm = p->nm != AIMC_NM_NONE;
    const float *x = in + s * n_in;
    float am = 0.0f, mx = -INFINITY;
    for (int64_t j = threadIdx.x; e->active && j < n_in; j += blockDim.x) {
      am = fmaxf(am, fabsf(x[j]));
      mx = fmaxf(mx, x[j]);
    }
    e->abs_max = aimc_block_max(am, sh.red);
    e->max = aimc_block_max_signed(mx, sh.red);
    if (e->active && sums && threadIdx.x == 0) { /* order-dependent: in order, as the CPU */
      float pos = 0.0f, neg = 0.0f;
      for (int64_t j = 0; j < n_in; ++j) {
        if (x[j] > 0.0f)
          pos = pos + x[j];
        else
          neg = neg + x[j];
      }
      sh.pos[s] = pos;
      sh.neg[s] = neg;
    }
  }
  __syncthreads();
  for (int s = 0; s < S; ++s) {
    aimc_read_state_t *e = &st[s];
    e->pos = sums && e->active ? sh.pos[s] : 0.0f;
    e->neg = sums && e->active ? sh.neg[s] : 0.0f;
    if (!e->active || !e->use_nm) continue;
    e->nm_s = aimc_io_nm_scale(p, p->nm, e->abs_max, e->max, e->pos, e->neg);
    if (e->nm_s > 0.0f) continue;
    if (transposed || !(p->inp_noise > 0.0f)) { /* an all-zero read */
      for (int64_t o = threadIdx.x; o < n_out; o += blockDim.x) out[s * n_out + o] = 0.0f;
      e->active = 0;
    } else {
      e->use_nm = 0; /* input noise alone still reads: unscaled */
    }
  }
  /* samples without a read this call still feed the products: zeros */
  for (int s = 0; s < S; ++s)
    if (!st[s].active)
      for (int64_t j = threadIdx.x; j < n_in; j += blockDim.x) v[s * n_in + j] = 0.0f;

  int in_random = aimc_io_input_random(p);
  aimc_u32x4 zero_words = {{0u, 0u, 0u, 0u}};
  uint64_t made = 0;
  for (int s = 0; s < ns; ++s) made += !st[s].active; /* the zero reads count one pass */
  for (;;) {
    int any = 0;
    for (int s = 0; s < S; ++s) {
      aimc_read_state_t *e = &st[s];
      if (!e->active) continue;
      any = 1;
      if (p->bm == AIMC_BM_ITERATIVE_WORST_CASE && e->round == 1 &&
          p->nm != AIMC_NM_ABS_MAX_NP_SUM) {
        e->nm_s = aimc_io_nm_scale(p, AIMC_NM_ABS_MAX_NP_SUM, e->abs_max, e->max, e->pos, e->neg);
        e->use_nm = e->nm_s > 0.0f;
        e->r = 1.0f;
      }
      e->scale = aimc_io_input_scale(e->use_nm, e->nm_s, use_bm, e->r);
      uint64_t base = (uint64_t)e->round * (uint64_t)batch + (uint64_t)(b0 + s);
      for (int64_t j = threadIdx.x; j < n_in; j += blockDim.x) {
        aimc_u32x4 wd =
            in_random ? aimc_io_words(tp->key, dir, 0, call, base * (uint64_t)n_in + (uint64_t)j)
                      : zero_words;
        v[s * n_in + j] = aimc_io_input(p, in[s * n_in + j], e->scale, wd);
      }
    }
    if (!any) break;
    __syncthreads();
    if (p->w_noise_type == AIMC_W_NOISE_ADDITIVE_CONSTANT && threadIdx.x == 0)
      for (int s = 0; s < S; ++s) {
        float q = 0.0f;
        for (int64_t j = 0; st[s].active && j < n_in; ++j)
          q = q + v[s * n_in + j] * v[s * n_in + j];
        sh.q_add[s] = q;
      }
    __syncthreads();
    int hit[S];
    for (int s = 0; s < S; ++s) hit[s] = 0;
    aimc_block_product<S>(
        w, rows, cols, transposed, v, pcm, [&](int64_t o, int s, float y, float q) {
          const aimc_read_state_t *e = &st[s];
          if (!e->active) return;
          float nl, sigma;
          aimc_io_output_constants(p, tp->key, dir, (uint64_t)o, &nl, &sigma);
          uint64_t base = (uint64_t)e->round * (uint64_t)batch + (uint64_t)(b0 + s);
          aimc_u32x4 wd =
              aimc_io_output_random(p, sigma)
                  ? aimc_io_words(tp->key, dir, 1, call, base * (uint64_t)n_out + (uint64_t)o)
                  : zero_words;
          y = aimc_io_weight_noise(p, y, pcm ? q : sh.q_add[s], wd);
          out[s * n_out + o] = aimc_io_output(p, y, nl, sigma, wd, &hit[s]);
        });
    for (int s = 0; s < S; ++s) {
      aimc_read_state_t *e = &st[s];
      int h = __syncthreads_or(hit[s]);
      if (!e->active) continue;
      if (!use_bm || !h || !aimc_io_bm_continue(p, e->r)) {
        e->active = 0;
        made += (uint64_t)(e->round + 1);
        float factor = aimc_io_rescale(p, e->scale);
        if (factor != 1.0f)
          for (int64_t o = threadIdx.x; o < n_out; o += blockDim.x)
            out[s * n_out + o] = out[s * n_out + o] * factor;
      } else {
        e->r = e->r * 2.0f;
        e->round++;
      }
    }
  }
  __syncthreads();
  if (threadIdx.x == 0) *passes += made;
}

#endif
