/* The fast read mode of CUDA contexts (aimc_context_set_read_mode): the
 * products of a read by cuBLAS (cublasSgemmStridedBatched over the tiles,
 * fp32, TF32 only when asked) between two kernels that run the per-element
 * IO of kernels/common/io.h exactly as the exact read (cuda_read.cuh) does:
 *
 *   fast_prepare   one block per (tile, sample): on the first pass the
 *                  noise-management reductions (the NP sums in order, as the
 *                  CPU), then the pass's prepared inputs x' into V (zeros for
 *                  a sample with nothing left to read) and ||x'||^2 in order;
 *   cuBLAS         Y = W V (forward) or W^T V (backward), every tile at once;
 *   fast_finish    one block per (tile, sample): weight noise, nonlinearity,
 *                  output noise, ADC and clip of each output with the exact
 *                  read's random numbers, then bound management's decision
 *                  (another pass with the reduction doubled) or the rescale.
 *
 * Bound management repeats the three steps for the samples that need it; the
 * host reads back how many do after each pass (one stream synchronisation
 * per pass, and only where a tile's IO has bound management). Only the
 * products' summation order differs from the exact mode (the bound is in
 * aimc.h). Reads with PCM read noise, whose sum_j |W_ij| x'_j^2 cuBLAS does
 * not give, stay exact (aimc_cuda_fast_read_eligible). */
#include <cublas_v2.h>

#include "kernels/common/io.h"
#include "kernels/cuda/cuda_common.cuh"

/* Where one sample stands between passes (device memory). */
typedef struct fast_sample {
  float abs_max, max, pos, neg, nm_s, r, scale, q_add;
  int32_t use_nm, round, active, pad;
} fast_sample_t;

typedef struct fast_args {
  aimc_state_t st;
  aimc_mvm_args_t a;
  fast_sample_t *sample; /* [n_tiles][batch] */
  float *v, *y;          /* [n_tiles][batch][n_in], [n_tiles][batch][n_out] */
  aimc_tile_stats_t *stats;
  unsigned long long *remaining; /* samples still active after a pass */
  int pass;
} fast_args_t;

static __device__ inline int fast_transposed(int dir) {
  return dir == AIMC_BACKWARD || dir == AIMC_TRANSFER_BACKWARD;
}

/* First pass of one sample: the exact read's setup (aimc_block_read). Every
 * thread of the block calls it; thread 0 writes e. Returns whether the
 * sample reads (else its outputs are zero, one pass counted). */
static __device__ void fast_setup(const aimc_io_params_t *p, int transposed, const float *x,
                                  int64_t n_in, int64_t n_out, float *out, fast_sample_t *e,
                                  float *red) {
  __shared__ float sums[2];
  int sums_needed = p->nm == AIMC_NM_ABS_MAX_NP_SUM || p->bm == AIMC_BM_ITERATIVE_WORST_CASE;
  float am = 0.0f, mx = -INFINITY;
  for (int64_t j = threadIdx.x; j < n_in; j += blockDim.x) {
    am = fmaxf(am, fabsf(x[j]));
    mx = fmaxf(mx, x[j]);
  }
  am = aimc_block_max(am, red);
  /* the signed max as cuda_read.cuh's aimc_block_max_signed: -inf identity */
  for (int o = 16; o > 0; o >>= 1) mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, o));
  __syncthreads();
  if ((threadIdx.x & 31u) == 0) red[threadIdx.x >> 5] = mx;
  __syncthreads();
  mx = (threadIdx.x & 31u) < ((blockDim.x + 31) >> 5) ? red[threadIdx.x & 31u] : -INFINITY;
  for (int o = 16; o > 0; o >>= 1) mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, o));
  if (threadIdx.x == 0) {
    float pos = 0.0f, neg = 0.0f;
    for (int64_t j = 0; sums_needed && j < n_in; ++j) { /* order-dependent: as the CPU */
      if (x[j] > 0.0f)
        pos = pos + x[j];
      else
        neg = neg + x[j];
    }
    sums[0] = pos;
    sums[1] = neg;
  }
  __syncthreads();
  fast_sample_t s;
  s.abs_max = am;
  s.max = mx;
  s.pos = sums[0];
  s.neg = sums[1];
  s.round = 0;
  s.r = 1.0f;
  s.scale = 1.0f;
  s.nm_s = 1.0f;
  s.q_add = 0.0f;
  s.pad = 0;
  s.use_nm = p->nm != AIMC_NM_NONE;
  s.active = 1;
  if (s.use_nm) {
    s.nm_s = aimc_io_nm_scale(p, p->nm, s.abs_max, s.max, s.pos, s.neg);
    if (!(s.nm_s > 0.0f)) {
      if (transposed || !(p->inp_noise > 0.0f)) { /* an all-zero read */
        for (int64_t o = threadIdx.x; o < n_out; o += blockDim.x) out[o] = 0.0f;
        s.active = 0;
      } else {
        s.use_nm = 0; /* input noise alone still reads: unscaled */
      }
    }
  }
  __syncthreads();
  if (threadIdx.x == 0) *e = s;
  __syncthreads();
}

__global__ void fast_prepare(fast_args_t f) {
  __shared__ float red[32];
  __shared__ float q_sh;
  const aimc_state_t *st = &f.st;
  int dir = f.a.dir, transposed = fast_transposed(dir);
  int64_t n_in = transposed ? st->rows : st->cols, n_out = transposed ? st->cols : st->rows;
  uint64_t items = (uint64_t)st->n_tiles * (uint64_t)f.a.batch;
  AIMC_BLOCK_LOOP(item, items) {
    int64_t t = (int64_t)(item / (uint64_t)f.a.batch), b = (int64_t)(item % (uint64_t)f.a.batch);
    const aimc_tile_params_t *tp = &st->params[t];
    const aimc_io_params_t *p = &tp->io[dir];
    const float *x = f.a.in + t * f.a.in_tile_stride + b * n_in;
    float *v = f.v + (int64_t)item * n_in;
    fast_sample_t *e = &f.sample[item];
    if (p->perfect) { /* one pass of the plain product */
      for (int64_t j = threadIdx.x; j < n_in; j += blockDim.x) v[j] = f.pass == 0 ? x[j] : 0.0f;
      if (f.pass == 0 && threadIdx.x == 0) { /* every field: initcheck reads them all */
        fast_sample_t one = {};
        one.active = 1;
        *e = one;
      }
      __syncthreads();
      continue;
    }
    if (f.pass == 0) {
      fast_setup(p, transposed, x, n_in, n_out, f.a.out + (int64_t)item * n_out, e, red);
      if (!e->active && dir == AIMC_FORWARD && threadIdx.x == 0) {
        aimc_count(&f.stats[t].forward_passes, 1); /* the zero read counts one pass */
        aimc_count(&f.stats[t].forward_samples, 1);
      }
    }
    fast_sample_t s = *e;
    if (!s.active) {
      for (int64_t j = threadIdx.x; j < n_in; j += blockDim.x) v[j] = 0.0f;
      __syncthreads();
      continue;
    }
    if (p->bm == AIMC_BM_ITERATIVE_WORST_CASE && s.round == 1 && p->nm != AIMC_NM_ABS_MAX_NP_SUM) {
      s.nm_s = aimc_io_nm_scale(p, AIMC_NM_ABS_MAX_NP_SUM, s.abs_max, s.max, s.pos, s.neg);
      s.use_nm = s.nm_s > 0.0f;
      s.r = 1.0f;
    }
    s.scale = aimc_io_input_scale(s.use_nm, s.nm_s, p->bm != AIMC_BM_NONE, s.r);
    int in_random = aimc_io_input_random(p);
    aimc_u32x4 zero_words = {{0u, 0u, 0u, 0u}};
    uint64_t base = (uint64_t)s.round * (uint64_t)f.a.batch + (uint64_t)b;
    for (int64_t j = threadIdx.x; j < n_in; j += blockDim.x) {
      aimc_u32x4 wd = in_random ? aimc_io_words(tp->key, dir, 0, f.a.call,
                                                base * (uint64_t)n_in + (uint64_t)j)
                                : zero_words;
      v[j] = aimc_io_input(p, x[j], s.scale, wd);
    }
    __syncthreads();
    if (threadIdx.x == 0) {
      float q = 0.0f; /* ||x'||^2 in order, as the exact read */
      for (int64_t j = 0; p->w_noise_type == AIMC_W_NOISE_ADDITIVE_CONSTANT && j < n_in; ++j)
        q = q + v[j] * v[j];
      q_sh = q;
    }
    __syncthreads();
    if (threadIdx.x == 0) {
      s.q_add = q_sh;
      *e = s;
    }
    __syncthreads();
  }
}

__global__ void fast_finish(fast_args_t f) {
  const aimc_state_t *st = &f.st;
  int dir = f.a.dir, transposed = fast_transposed(dir);
  int64_t n_out = transposed ? st->cols : st->rows;
  uint64_t items = (uint64_t)st->n_tiles * (uint64_t)f.a.batch;
  AIMC_BLOCK_LOOP(item, items) {
    int64_t t = (int64_t)(item / (uint64_t)f.a.batch), b = (int64_t)(item % (uint64_t)f.a.batch);
    const aimc_tile_params_t *tp = &st->params[t];
    const aimc_io_params_t *p = &tp->io[dir];
    fast_sample_t s = f.sample[item];
    __syncthreads(); /* every thread has read the state before thread 0 writes it */
    if (!s.active) continue; /* the same in every thread of the block */
    const float *y = f.y + (int64_t)item * n_out;
    float *out = f.a.out + (int64_t)item * n_out;
    if (p->perfect) {
      for (int64_t o = threadIdx.x; o < n_out; o += blockDim.x) out[o] = y[o] * p->out_scale;
      __syncthreads();
      if (threadIdx.x == 0) {
        f.sample[item].active = 0;
        if (dir == AIMC_FORWARD) {
          aimc_count(&f.stats[t].forward_passes, 1);
          aimc_count(&f.stats[t].forward_samples, 1);
        }
      }
      continue;
    }
    aimc_u32x4 zero_words = {{0u, 0u, 0u, 0u}};
    uint64_t base = (uint64_t)s.round * (uint64_t)f.a.batch + (uint64_t)b;
    int hit = 0;
    for (int64_t o = threadIdx.x; o < n_out; o += blockDim.x) {
      float nl, sigma;
      aimc_io_output_constants(p, tp->key, dir, (uint64_t)o, &nl, &sigma);
      aimc_u32x4 wd = aimc_io_output_random(p, sigma)
                          ? aimc_io_words(tp->key, dir, 1, f.a.call,
                                          base * (uint64_t)n_out + (uint64_t)o)
                          : zero_words;
      float v = aimc_io_weight_noise(p, y[o], s.q_add, wd);
      out[o] = aimc_io_output(p, v, nl, sigma, wd, &hit);
    }
    int h = __syncthreads_or(hit);
    int use_bm = p->bm != AIMC_BM_NONE;
    if (!use_bm || !h || !aimc_io_bm_continue(p, s.r)) {
      float factor = aimc_io_rescale(p, s.scale);
      if (factor != 1.0f)
        for (int64_t o = threadIdx.x; o < n_out; o += blockDim.x) out[o] = out[o] * factor;
      if (threadIdx.x == 0) {
        f.sample[item].active = 0;
        if (dir == AIMC_FORWARD) {
          aimc_count(&f.stats[t].forward_passes, (uint64_t)(s.round + 1));
          aimc_count(&f.stats[t].forward_samples, 1);
        }
      }
    } else if (threadIdx.x == 0) {
      f.sample[item].r = s.r * 2.0f;
      f.sample[item].round = s.round + 1;
      aimc_count((uint64_t *)f.remaining, 1);
    }
  }
}

/* ---- Host side -------------------------------------------------------------------- */

/* Whether every tile's IO of this direction can take the fast path. */
int aimc_cuda_fast_read_eligible(const aimc_state_t *st, const aimc_mvm_args_t *a) {
  if (!st->host_params || a->batch < 1 || st->n_tiles > 0x7fffffff) return 0;
  for (int64_t t = 0; t < st->n_tiles; ++t)
    if (st->host_params[t].io[a->dir].w_noise_type == AIMC_W_NOISE_PCM_READ) return 0;
  return 1;
}

/* The most passes bound management can make for any tile (1 without it). */
static int fast_max_passes(const aimc_state_t *st, int dir) {
  int most = 1;
  for (int64_t t = 0; t < st->n_tiles; ++t) {
    const aimc_io_params_t *p = &st->host_params[t].io[dir];
    if (p->perfect || p->bm == AIMC_BM_NONE) continue;
    /* pass k reads with r = 2^k; the worst case restarts at r = 1 on pass 1 */
    int n = p->bm == AIMC_BM_ITERATIVE_WORST_CASE ? 2 : 1;
    for (float r = 1.0f; n < 64 && aimc_io_bm_continue(p, r); r = r * 2.0f) ++n;
    if (n > most) most = n;
  }
  return most;
}

static int fast_has_bm(const aimc_state_t *st, int dir) { return fast_max_passes(st, dir) > 1; }

static aimc_status_t fast_blas_fail(aimc_context_t *ctx, const char *what, int code) {
  return aimc_error(ctx, AIMC_ERR_BACKEND, "cuBLAS %s failed (status %d)", what, code);
}

/* The context's cuBLAS handle, created on first use, on the context's stream
 * in the mode's math mode. */
static aimc_status_t fast_blas(aimc_context_t *ctx, cublasHandle_t *out) {
  aimc_cuda_ctx_t *c = aimc_cu(ctx);
  cublasStatus_t b;
  if (!c->blas) {
    cublasHandle_t h;
    if ((b = cublasCreate(&h)) != CUBLAS_STATUS_SUCCESS) return fast_blas_fail(ctx, "cublasCreate", (int)b);
    c->blas = h;
  }
  cublasHandle_t h = (cublasHandle_t)c->blas;
  if ((b = cublasSetStream(h, c->stream)) != CUBLAS_STATUS_SUCCESS)
    return fast_blas_fail(ctx, "cublasSetStream", (int)b);
  cublasMath_t mode = ctx->read_mode == AIMC_READ_FAST_TF32 ? CUBLAS_TF32_TENSOR_OP_MATH
                                                            : CUBLAS_DEFAULT_MATH;
  if ((b = cublasSetMathMode(h, mode)) != CUBLAS_STATUS_SUCCESS)
    return fast_blas_fail(ctx, "cublasSetMathMode", (int)b);
  *out = h;
  return AIMC_OK;
}

void aimc_cuda_fast_read_release(aimc_cuda_ctx_t *c) {
  if (c->blas) (void)cublasDestroy((cublasHandle_t)c->blas);
  c->blas = NULL;
}

/* Y = W V (forward) or W^T V (backward) for every tile: W row-major
 * [rows][cols] is column-major cols x rows, V [batch][n_in] is n_in x batch. */
static aimc_status_t fast_gemm(aimc_context_t *ctx, cublasHandle_t h, const aimc_state_t *st,
                               int transposed, int64_t batch, const float *v, float *y) {
  const float one = 1.0f, zero = 0.0f;
  int rows = st->rows, cols = st->cols, nb = (int)batch;
  long long sw = (long long)rows * cols, sx = (long long)batch * cols, sd = (long long)batch * rows;
  cublasStatus_t b;
  if (!transposed)
    b = cublasSgemmStridedBatched(h, CUBLAS_OP_T, CUBLAS_OP_N, rows, nb, cols, &one, st->w, cols,
                                  sw, v, cols, sx, &zero, y, rows, sd, (int)st->n_tiles);
  else
    b = cublasSgemmStridedBatched(h, CUBLAS_OP_N, CUBLAS_OP_N, cols, nb, rows, &one, st->w, cols,
                                  sw, v, rows, sd, &zero, y, cols, sx, (int)st->n_tiles);
  return b == CUBLAS_STATUS_SUCCESS ? AIMC_OK : fast_blas_fail(ctx, "cublasSgemmStridedBatched", (int)b);
}

aimc_status_t aimc_cuda_fast_read(aimc_context_t *ctx, const aimc_state_t *st,
                                  const aimc_mvm_args_t *a, aimc_tile_stats_t *stats) {
  aimc_status_t s = aimc_cuda_begin(ctx);
  if (s != AIMC_OK) return s;
  int transposed = a->dir == AIMC_BACKWARD || a->dir == AIMC_TRANSFER_BACKWARD;
  uint64_t n_in = (uint64_t)(transposed ? st->rows : st->cols);
  uint64_t n_out = (uint64_t)(transposed ? st->cols : st->rows);
  uint64_t items = (uint64_t)st->n_tiles * (uint64_t)a->batch;
  aimc_carver_t cv = {NULL, 0};
  aimc_carve(&cv, items * sizeof(fast_sample_t));
  aimc_carve(&cv, items * n_in * sizeof(float));
  aimc_carve(&cv, items * n_out * sizeof(float));
  aimc_carve(&cv, sizeof(unsigned long long));
  void *work;
  if ((s = aimc_cuda_workspace(ctx, cv.used, &work)) != AIMC_OK) return s;
  cublasHandle_t h = NULL;
  if ((s = fast_blas(ctx, &h)) != AIMC_OK) return s;
  cv = (aimc_carver_t){(char *)work, 0};
  fast_args_t f;
  f.st = *st;
  f.a = *a;
  f.sample = (fast_sample_t *)aimc_carve(&cv, items * sizeof(fast_sample_t));
  f.v = (float *)aimc_carve(&cv, items * n_in * sizeof(float));
  f.y = (float *)aimc_carve(&cv, items * n_out * sizeof(float));
  f.remaining = (unsigned long long *)aimc_carve(&cv, sizeof(unsigned long long));
  f.stats = stats;
  cudaStream_t stream = aimc_stream(ctx);
  unsigned threads = (unsigned)((n_in > n_out ? n_in : n_out) + 31) / 32 * 32;
  if (threads > AIMC_THREADS) threads = AIMC_THREADS;
  unsigned blocks = aimc_item_blocks(items);
  uint64_t cap = (uint64_t)aimc_cu(ctx)->sm_count * 16u;
  if (blocks > cap) blocks = (unsigned)cap;
  int passes = fast_max_passes(st, a->dir), check = fast_has_bm(st, a->dir);
  for (f.pass = 0; f.pass < passes; ++f.pass) {
    cudaError_t e = cudaMemsetAsync(f.remaining, 0, sizeof(unsigned long long), stream);
    if (e != cudaSuccess) return aimc_cuda_fail(ctx, e, "fast read: clearing a counter");
    AIMC_LAUNCH(fast_prepare, blocks, threads, 0, stream)(f);
    if ((s = aimc_cuda_launched(ctx, "fast_prepare")) != AIMC_OK) return s;
    if ((s = fast_gemm(ctx, h, st, transposed, a->batch, f.v, f.y)) != AIMC_OK) return s;
    AIMC_LAUNCH(fast_finish, blocks, threads, 0, stream)(f);
    if ((s = aimc_cuda_launched(ctx, "fast_finish")) != AIMC_OK) return s;
    if (!check || f.pass + 1 == passes) break;
    /* bound management: another pass only for samples that hit the bound */
    unsigned long long left = 0;
    e = cudaMemcpyAsync(&left, f.remaining, sizeof left, cudaMemcpyDeviceToHost, stream);
    if (e == cudaSuccess) e = cudaStreamSynchronize(stream);
    if (e != cudaSuccess) return aimc_cuda_fail(ctx, e, "fast read: reading the samples left");
    if (left == 0) break;
  }
  return AIMC_OK;
}
