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
#include "kernels/common/reduce.h"
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

/* reduce.h's combination of an 8-lane group's partial sums (partial l in
 * lane l): butterflies xor 1, 2, 4 give every lane
 * ((p0 + p1) + (p2 + p3)) + ((p4 + p5) + (p6 + p7)) bit for bit, since
 * float addition is commutative. The whole warp must call it. */
__device__ static inline float aimc_group_combine(float p) {
  p = p + __shfl_xor_sync(0xffffffffu, p, 1);
  p = p + __shfl_xor_sync(0xffffffffu, p, 2);
  p = p + __shfl_xor_sync(0xffffffffu, p, 4);
  return p;
}

/* y[s] for s known only at run time, by masks over the bits: y indexed by
 * s would live in local memory, and a chain of selects is folded by the
 * compiler into exactly that indexed load. */
template <int S>
__device__ static inline float aimc_pick(const float *y, unsigned s) {
  uint32_t r = 0u;
  AIMC_UNROLL(8)
  for (int k = 0; k < S; ++k) r |= aimc_float_bits(y[k]) & (0u - (uint32_t)(s == (unsigned)k));
  return aimc_bits_float(r);
}

/* Row `row` of W times the S vectors v[s] (n_in apart) with the CPU's
 * 8-lane order; every thread of the 8-lane group takes part and gets all S
 * sums. */
template <int S>
__device__ static inline void aimc_row_dots(const float *row, const float *v, int64_t n_in,
                                            int64_t n, unsigned lane8, float *acc) {
  /* 32-bit indices: a tile has at most AIMC_MAX_DIM = 65536 columns, so
   * S * n_in < 2^31 (two registers fewer than 64-bit ones) */
  const int32_t n32 = (int32_t)n, stride = (int32_t)n_in;
  for (int s = 0; s < S; ++s) acc[s] = 0.0f;
  for (int32_t j = (int32_t)lane8; j < n32; j += 8) {
    float w = row[j];
    for (int s = 0; s < S; ++s) acc[s] = acc[s] + w * v[s * stride + j];
  }
  for (int s = 0; s < S; ++s) acc[s] = aimc_group_combine(acc[s]);
}

/* The PCM moment sum_j |w_ij| v_j^2 of row `row` for vector lane8 (of S,
 * n_in apart), in reduce.h's order: the group sums each vector's in turn. */
template <int S>
__device__ static inline float aimc_row_pcm(const float *row, const float *v, int64_t n_in,
                                            int64_t n, unsigned lane8) {
  float mine = 0.0f;
  for (int s = 0; s < S; ++s) {
    float q = aimc_group_combine(aimc_tree_lane_pcm(row, v + s * n_in, n, (int64_t)lane8));
    mine = lane8 == (unsigned)s ? q : mine;
  }
  return mine;
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
 * W^T v[s]) for s < S, q the PCM moment when pcm. Forward: lane s of the
 * row's 8-lane group finishes sample s, so the epilogue (noise, ADC) runs
 * on S lanes at once. Every thread of the block must call it (forward rows
 * use warp shuffles). */
template <int S, typename F>
__device__ static inline void aimc_block_product(const float *w, int64_t rows, int64_t cols,
                                                 int transposed, const float *v, int pcm, F fn) {
  float y[S], q[S];
  if (transposed) {
    for (int64_t j = threadIdx.x; j < cols; j += blockDim.x) {
      aimc_col_dots<S>(w, rows, cols, j, v, pcm, y, q);
      AIMC_UNROLL(1) /* one copy of the epilogue; aimc_pick keeps y and q in registers */
      for (int s = 0; s < S; ++s)
        fn(j, s, aimc_pick<S>(y, (unsigned)s), aimc_pick<S>(q, (unsigned)s));
    }
    return;
  }
  unsigned groups = blockDim.x / 8, g = threadIdx.x / 8, lane8 = threadIdx.x % 8;
  for (int64_t i0 = 0; i0 < rows; i0 += groups) { /* same trip count in every lane */
    int64_t i = i0 + g;
    int active = i < rows;
    const float *row = w + (active ? i : 0) * cols;
    int64_t n = active ? cols : 0;
    aimc_row_dots<S>(row, v, cols, n, lane8, y);
    float ys = aimc_pick<S>(y, lane8);
    /* pcm is the same in the whole block: the shuffles stay converged */
    float qs = pcm ? aimc_row_pcm<S>(row, v, cols, n, lane8) : 0.0f;
    if (active && lane8 < (unsigned)S) fn(i, (int)lane8, ys, qs);
  }
}

/* Where each sample of a group stands in the IO pipeline. Kept in shared
 * memory, written by thread 0 between barriers and read by all: in
 * registers, S of them indexed by a lane would live in local memory. */
typedef struct aimc_read_state {
  float abs_max, max, pos, neg, nm_s, r, scale, factor;
  int use_nm, round, active, done, hit;
} aimc_read_state_t;

typedef struct aimc_read_shared {
  float red[32];
  aimc_read_state_t st[AIMC_READ_GROUP];
  float q_add[AIMC_READ_GROUP];
  int any;
  int use_bm, pcm, sums, in_random; /* of the IO parameters */
} aimc_read_shared_t;

/* sum over the input of sample s for s < ns, by 8-lane groups in reduce.h's
 * order: sq = sum v^2 into sh->q_add[s] (squares) or the signed sums of the
 * input into st[s].pos/neg. Every thread must call it. */
template <int S>
__device__ static inline void aimc_group_sums(const float *x, int64_t n_in, int ns, int squares,
                                              aimc_read_shared_t *sh) {
  unsigned groups = blockDim.x / 8, g = threadIdx.x / 8, lane8 = threadIdx.x % 8;
  for (int s0 = 0; s0 < S; s0 += (int)groups) { /* same trip count in every lane */
    int s = s0 + (int)g, act = s < ns;
    float a = 0.0f, b = 0.0f;
    if (act && squares)
      a = aimc_tree_lane_squares(x + s * n_in, n_in, (int64_t)lane8);
    else if (act)
      aimc_tree_lane_signed(x + s * n_in, n_in, (int64_t)lane8, &a, &b);
    a = aimc_group_combine(a);
    b = aimc_group_combine(b);
    if (!act || lane8 != 0) continue;
    if (squares) {
      sh->q_add[s] = a;
    } else {
      sh->st[s].pos = a;
      sh->st[s].neg = b;
    }
  }
}

/* One read of a block: the inputs of samples b0 .. b0 + ns - 1 (ns <= S;
 * input s at in + s * n_in, output s at out + s * n_out) through the IO of
 * direction dir, with the random numbers of call `call` in a batch of
 * `batch`; v is room for S * n_in floats (shared or global memory). Kept in
 * shared memory and read where used: as arguments they would hold ~30 of
 * AIMC_HOT_KERNEL's 64 registers through the whole read. */
typedef struct aimc_read_job {
  const aimc_tile_params_t *tp;
  const float *w, *in;
  float *out, *v;
  uint64_t call;
  int64_t rows, cols, batch, b0;
  int32_t dir, ns;
  int32_t transposed;  /* derived: backward or transfer-backward */
  int64_t n_in, n_out; /* derived */
  int64_t tile;  /* for the caller's statistics */
  uint64_t item; /* the caller's loop counter */
  uint64_t made; /* out: the passes made (thread 0's count) */
} aimc_read_job_t;

/* Fills job's derived fields (thread 0, before the barrier that publishes
 * the job). */
__device__ static inline void aimc_read_job_derive(aimc_read_job_t *job) {
  job->transposed = job->dir == AIMC_BACKWARD || job->dir == AIMC_TRANSFER_BACKWARD;
  job->n_in = job->transposed ? job->rows : job->cols;
  job->n_out = job->transposed ? job->cols : job->rows;
}

/* The read of `job` (in shared memory, the same for the whole block); the
 * passes made end up in job.made. Mirrors aimc_cpu_read_vector step
 * for step, for each sample: the passes of bound management repeat for the
 * samples that still need them, while every pass over W serves all samples
 * of the group. */
template <int S>
__device__ static void aimc_block_read_job(aimc_read_job_t &job) {
  __shared__ aimc_read_shared_t sh;
  const aimc_io_params_t *p = &job.tp->io[job.dir];
  /* references into the shared job: read where used */
  const int32_t &transposed = job.transposed;
  const int64_t &n_in = job.n_in, &n_out = job.n_out;
  const int32_t &ns = job.ns;
  const float *const &in = job.in;
  float *const &out = job.out;
  float *const &v = job.v;

  if (p->perfect) { /* through v: zeros for the samples past ns */
    for (int s = 0; s < S; ++s)
      for (int64_t j = threadIdx.x; j < n_in; j += blockDim.x)
        v[s * n_in + j] = s < ns ? in[s * n_in + j] : 0.0f;
    __syncthreads();
    float os = p->out_scale;
    aimc_block_product<S>(job.w, job.rows, job.cols, transposed, v, 0,
                          [&](int64_t o, int s, float y, float) {
                            if (s < ns) out[s * n_out + o] = y * os;
                          });
    __syncthreads();
    if (threadIdx.x == 0) job.made = (uint64_t)ns;
    return;
  }

  if (threadIdx.x == 0) { /* flags in shared memory, read where used (register budget) */
    sh.use_bm = p->bm != AIMC_BM_NONE;
    sh.pcm = p->w_noise_type == AIMC_W_NOISE_PCM_READ;
    sh.sums = p->nm == AIMC_NM_ABS_MAX_NP_SUM || p->bm == AIMC_BM_ITERATIVE_WORST_CASE;
    sh.in_random = aimc_io_input_random(p);
  }
  /* (the barriers of the block maxima below publish them) */
  const int &use_bm = sh.use_bm, &pcm = sh.pcm, &sums = sh.sums, &in_random = sh.in_random;
  aimc_read_state_t *st = sh.st;
  for (int s = 0; s < S; ++s) {
    const float *x = in + s * n_in;
    float am = 0.0f, mx = -INFINITY;
    for (int64_t j = threadIdx.x; s < ns && j < n_in; j += blockDim.x) {
      am = fmaxf(am, fabsf(x[j]));
      mx = fmaxf(mx, x[j]);
    }
    am = aimc_block_max(am, sh.red);
    mx = aimc_block_max_signed(mx, sh.red);
    if (threadIdx.x == 0) {
      st[s].abs_max = am;
      st[s].max = mx;
      st[s].pos = st[s].neg = 0.0f;
    }
  }
  __syncthreads();
  if (sums) aimc_group_sums<S>(in, n_in, ns, 0, &sh);
  __syncthreads();
  if (threadIdx.x == 0) {
    for (int s = 0; s < S; ++s) {
      aimc_read_state_t *e = &st[s];
      e->active = s < ns;
      e->round = 0;
      e->r = 1.0f;
      e->scale = 1.0f;
      e->nm_s = 1.0f;
      e->factor = 1.0f;
      e->done = 0; /* here: the read is all zeros */
      sh.q_add[s] = 0.0f; /* read (unused) by every weight-noise type's epilogue */
      e->use_nm = p->nm != AIMC_NM_NONE;
      if (!e->active || !e->use_nm) continue;
      e->nm_s = aimc_io_nm_scale(p, p->nm, e->abs_max, e->max, e->pos, e->neg);
      if (e->nm_s > 0.0f) continue;
      if (transposed || !(p->inp_noise > 0.0f)) { /* an all-zero read */
        e->active = 0;
        e->done = 1;
      } else {
        e->use_nm = 0; /* input noise alone still reads: unscaled */
      }
    }
  }
  __syncthreads();
  for (int s = 0; s < S; ++s) {
    if (st[s].done)
      for (int64_t o = threadIdx.x; o < n_out; o += blockDim.x) out[s * n_out + o] = 0.0f;
    /* samples without a read this call still feed the products: zeros */
    if (!st[s].active)
      for (int64_t j = threadIdx.x; j < n_in; j += blockDim.x) v[s * n_in + j] = 0.0f;
  }

  aimc_u32x4 zero_words = {{0u, 0u, 0u, 0u}};
  if (threadIdx.x == 0) {
    job.made = 0;
    for (int s = 0; s < ns; ++s) job.made += !st[s].active; /* the zero reads count one pass */
  }
  for (;;) {
    __syncthreads(); /* everyone is done with the states */
    if (threadIdx.x == 0) {
      int any = 0;
      for (int s = 0; s < S; ++s) {
        aimc_read_state_t *e = &st[s];
        e->done = 0;
        e->hit = 0;
        if (!e->active) continue;
        any = 1;
        if (p->bm == AIMC_BM_ITERATIVE_WORST_CASE && e->round == 1 &&
            p->nm != AIMC_NM_ABS_MAX_NP_SUM) {
          e->nm_s = aimc_io_nm_scale(p, AIMC_NM_ABS_MAX_NP_SUM, e->abs_max, e->max, e->pos, e->neg);
          e->use_nm = e->nm_s > 0.0f;
          e->r = 1.0f;
        }
        e->scale = aimc_io_input_scale(e->use_nm, e->nm_s, use_bm, e->r);
      }
      sh.any = any;
    }
    __syncthreads();
    if (!sh.any) break;
    for (int s = 0; s < S; ++s) {
      const aimc_read_state_t *e = &st[s];
      if (!e->active) continue;
      uint64_t base = (uint64_t)e->round * (uint64_t)job.batch + (uint64_t)(job.b0 + s);
      float scale = e->scale;
      for (int64_t j = threadIdx.x; j < n_in; j += blockDim.x) {
        aimc_u32x4 wd =
            in_random ? aimc_io_words(job.tp->key, job.dir, 0, job.call,
                                      base * (uint64_t)n_in + (uint64_t)j)
                      : zero_words;
        v[s * n_in + j] = aimc_io_input(p, in[s * n_in + j], scale, wd);
      }
    }
    __syncthreads();
    if (p->w_noise_type == AIMC_W_NOISE_ADDITIVE_CONSTANT) {
      aimc_group_sums<S>(v, n_in, S, 1, &sh); /* inactive samples: zeros, unused */
      __syncthreads();
    }
    aimc_block_product<S>(
        job.w, job.rows, job.cols, transposed, v, pcm, [&](int64_t o, int s, float y, float q) {
          aimc_read_state_t *e = &st[s];
          if (!e->active) return;
          float nl, sigma;
          aimc_io_output_constants(p, job.tp->key, job.dir, (uint64_t)o, &nl, &sigma);
          uint64_t base = (uint64_t)e->round * (uint64_t)job.batch + (uint64_t)(job.b0 + s);
          aimc_u32x4 wd =
              aimc_io_output_random(p, sigma)
                  ? aimc_io_words(job.tp->key, job.dir, 1, job.call,
                                  base * (uint64_t)n_out + (uint64_t)o)
                  : zero_words;
          y = aimc_io_weight_noise(p, y, pcm ? q : sh.q_add[s], wd);
          int hit = 0;
          out[s * n_out + o] = aimc_io_output(p, y, nl, sigma, wd, &hit);
          if (hit) e->hit = 1; /* any thread may set it: all write 1 */
        });
    __syncthreads();
    if (threadIdx.x == 0)
      for (int s = 0; s < S; ++s) {
        aimc_read_state_t *e = &st[s];
        if (!e->active) continue;
        if (!use_bm || !e->hit || !aimc_io_bm_continue(p, e->r)) {
          e->active = 0;
          e->done = 1;
          job.made += (uint64_t)(e->round + 1);
          e->factor = aimc_io_rescale(p, e->scale);
        } else {
          e->r = e->r * 2.0f;
          e->round++;
        }
      }
    __syncthreads();
    for (int s = 0; s < S; ++s) {
      float factor = st[s].factor;
      if (!st[s].done || factor == 1.0f) continue;
      for (int64_t o = threadIdx.x; o < n_out; o += blockDim.x)
        out[s * n_out + o] = out[s * n_out + o] * factor;
    }
  }
  __syncthreads(); /* sh is free for the next read */
}

/* The read of samples b0 .. b0 + ns - 1 as aimc_block_read_job, from
 * arguments the same in every thread. */
template <int S>
__device__ static void aimc_block_read(const aimc_tile_params_t *tp, int dir, const float *w,
                                       int64_t rows, int64_t cols, const float *in, float *out,
                                       uint64_t call, int64_t batch, int64_t b0, int ns, float *v,
                                       uint64_t *passes) {
  __shared__ aimc_read_job_t job;
  __syncthreads(); /* the previous read is done with job */
  if (threadIdx.x == 0) {
    job.tp = tp;
    job.w = w;
    job.in = in;
    job.out = out;
    job.v = v;
    job.call = call;
    job.rows = rows;
    job.cols = cols;
    job.batch = batch;
    job.b0 = b0;
    job.dir = dir;
    job.ns = ns;
    aimc_read_job_derive(&job);
  }
  __syncthreads();
  aimc_block_read_job<S>(job);
  if (threadIdx.x == 0) *passes += job.made;
}

#endif
