/* CUDA loops of the algorithms that are not pulsed outer products, the twin
 * of kernels/cpu/cpu_algorithms.c: mixed precision (digital accumulator),
 * STELLAR (sign updates of device pairs) and PANTHER (bit-sliced
 * accumulation with carry resolution). Per weight kernels run one block per
 * (tile, chunk of weights), so a block's statistics belong to one tile. */
#include "kernels/common/mixed_precision.h"
#include "kernels/common/panther.h"
#include "kernels/common/state.h"
#include "kernels/common/stellar.h"
#include "kernels/common/transfer.h"
#include "kernels/cuda/cuda_common.cuh"

/* Blocks of the per-weight kernels: one (tile, chunk) item each. */
static unsigned chunk_blocks(const aimc_context_t *ctx, const aimc_state_t *st) {
  uint64_t per_tile = (uint64_t)st->rows * (uint64_t)st->cols;
  uint64_t items = (uint64_t)st->n_tiles * ((per_tile + AIMC_THREADS - 1) / AIMC_THREADS);
  uint64_t cap = (uint64_t)aimc_cu(ctx)->sm_count * 32u;
  return (unsigned)(items < cap ? items : cap);
}

/* The item loop of a per-weight kernel: tile t, weight widx (< per_tile
 * when `valid`); every thread runs every round, so blocks may reduce. */
#define TILE_CHUNKS(st)                                           \
  uint64_t per_tile_ = (uint64_t)(st).rows * (uint64_t)(st).cols; \
  uint64_t chunks_ = (per_tile_ + blockDim.x - 1) / blockDim.x;   \
  for (uint64_t item_ = blockIdx.x; item_ < (uint64_t)(st).n_tiles * chunks_; item_ += gridDim.x)

#define TILE_CHUNK_INDEX(t, widx, valid)                        \
  int64_t t = (int64_t)(item_ / chunks_);                       \
  uint64_t widx = (item_ % chunks_) * blockDim.x + threadIdx.x; \
  int valid = widx < per_tile_

/* ---- Mixed precision ----------------------------------------------------------- */

/* x and d of every (tile, sample), binned: q[t][b][cols + rows]. */
__global__ void mp_bin_kernel(aimc_state_t st, aimc_update_args_t a, float *q) {
  __shared__ float red[32];
  int64_t rows = st.rows, cols = st.cols, n = rows + cols;
  AIMC_BLOCK_LOOP(item, (uint64_t)st.n_tiles * (uint64_t)a.batch) {
    int64_t t = (int64_t)(item / (uint64_t)a.batch), b = (int64_t)(item % (uint64_t)a.batch);
    const aimc_tile_params_t *tp = &st.params[t];
    const float *x = a.x + t * a.x_tile_stride + b * cols;
    const float *d = a.d + t * a.d_tile_stride + b * rows;
    float xm = 0.0f, dm = 0.0f;
    for (int64_t j = threadIdx.x; j < cols; j += blockDim.x) xm = fmaxf(xm, fabsf(x[j]));
    for (int64_t i = threadIdx.x; i < rows; i += blockDim.x) dm = fmaxf(dm, fabsf(d[i]));
    xm = aimc_block_max(xm, red);
    dm = aimc_block_max(dm, red);
    uint64_t sub = aimc_subsequence(AIMC_STREAM_MP_ROUND, a.call);
    float *out = q + (uint64_t)item * (uint64_t)n;
    for (int64_t l = threadIdx.x; l < n; l += blockDim.x) {
      int is_x = l < cols;
      int32_t n_bins = is_x ? tp->algo.n_x_bins : tp->algo.n_d_bins;
      float u = 0.5f; /* round to nearest when not binning stochastically */
      if (n_bins > 0)
        u = aimc_u01(aimc_philox_block(tp->key, sub, (uint64_t)(b * n + l)).v[is_x ? 0 : 1]);
      out[l] = aimc_mp_bin(is_x ? x[l] : d[l - cols], is_x ? xm : dm, n_bins, u);
    }
  }
}

/* chi += lr qd qx^T, samples in order. */
__global__ void mp_chi_kernel(aimc_state_t st, aimc_update_args_t a, const float *q) {
  int64_t rows = st.rows, cols = st.cols, n = rows + cols, per_tile = rows * cols;
  AIMC_GRID_LOOP(k, (uint64_t)st.n_tiles * (uint64_t)per_tile) {
    int64_t t = (int64_t)(k / (uint64_t)per_tile), widx = (int64_t)(k % (uint64_t)per_tile);
    int64_t i = widx / cols, j = widx % cols;
    float lr = st.params[t].upd[0].lr, chi = st.H[k];
    for (int64_t b = 0; b < a.batch; ++b) {
      const float *qb = q + (t * a.batch + b) * n;
      float di = lr * qb[cols + i];
      if (di == 0.0f) continue;
      chi = chi + di * qb[j];
    }
    st.H[k] = chi;
  }
}

/* Whole steps of chi into W for the rows this call transfers. */
__global__ void mp_transfer_kernel(aimc_state_t st, aimc_tile_stats_t *stats) {
  __shared__ uint64_t red[32];
  aimc_array_t *arr = &st.arr[0];
  TILE_CHUNKS(st) {
    TILE_CHUNK_INDEX(t, widx, valid);
    const aimc_tile_params_t *tp = &st.params[t];
    const aimc_algo_params_t *p = &tp->algo;
    aimc_algo_state_t as = st.algo[t];
    int due = (as.batches + 1u) % (uint64_t)aimc_mp_period(p) == 0;
    uint64_t up = 0, down = 0;
    int64_t i = (int64_t)(widx / (uint64_t)st.cols), rows = st.rows;
    int64_t r = ((i - as.next) % rows + rows) % rows; /* this row's place after the pointer */
    if (valid && due && r < aimc_mp_rows(p, st.rows)) {
      uint64_t k = (uint64_t)t * per_tile_ + widx, reads = as.reads + (uint64_t)r;
      int32_t n = aimc_mp_transfer_element(p, &st.H[k]);
      uint32_t count = aimc_pulse_write(tp, arr, 0, (size_t)k, widx, n, reads);
      if (n > 0)
        up = count;
      else
        down = count;
    }
    up = aimc_block_sum(up, red);
    down = aimc_block_sum(down, red);
    if (threadIdx.x == 0) {
      aimc_count(&stats[t].pulses_up, up);
      aimc_count(&stats[t].pulses_down, down);
      aimc_count(&stats[t].array_pulses[0], up + down);
    }
  }
}

/* Counters of the call, per tile. */
__global__ void mp_book_kernel(aimc_state_t st, int64_t batch, aimc_tile_stats_t *stats) {
  int64_t per_tile = (int64_t)st.rows * st.cols;
  AIMC_GRID_LOOP(t, (uint64_t)st.n_tiles) {
    const aimc_algo_params_t *p = &st.params[t].algo;
    aimc_algo_state_t *as = &st.algo[t];
    aimc_tile_stats_t *s = &stats[t];
    s->digital_ops += (uint64_t)batch * (uint64_t)per_tile;
    s->update_calls += 1u;
    s->update_samples += (uint64_t)batch;
    as->batches++;
    if (as->batches % (uint64_t)aimc_mp_period(p) != 0) continue;
    int32_t n_rows = aimc_mp_rows(p, st.rows);
    s->transfers += (uint64_t)n_rows;
    s->digital_ops += (uint64_t)n_rows * (uint64_t)st.cols;
    as->reads += (uint64_t)n_rows;
    as->next = (int32_t)((as->next + n_rows) % st.rows);
  }
}

aimc_status_t aimc_cuda_mixed_precision(aimc_context_t *ctx, aimc_state_t *st,
                                        const aimc_update_args_t *a, aimc_tile_stats_t *stats) {
  aimc_status_t s = aimc_cuda_begin(ctx);
  if (s != AIMC_OK) return s;
  cudaStream_t stream = aimc_stream(ctx);
  uint64_t items = (uint64_t)st->n_tiles * (uint64_t)a->batch;
  uint64_t n_weights = (uint64_t)st->n_tiles * (uint64_t)st->rows * (uint64_t)st->cols;
  float *q;
  s = aimc_cuda_workspace(ctx, (size_t)(items * (uint64_t)(st->rows + st->cols) * sizeof(float)),
                          (void **)&q);
  if (s != AIMC_OK) return s;
  AIMC_LAUNCH(mp_bin_kernel, aimc_item_blocks(items), AIMC_THREADS, 0, stream)(*st, *a, q);
  if ((s = aimc_cuda_launched(ctx, "mp_bin_kernel")) != AIMC_OK) return s;
  AIMC_LAUNCH_N(mp_chi_kernel, ctx, n_weights)(*st, *a, q);
  if ((s = aimc_cuda_launched(ctx, "mp_chi_kernel")) != AIMC_OK) return s;
  AIMC_LAUNCH(mp_transfer_kernel, chunk_blocks(ctx, st), AIMC_THREADS, 0, stream)(*st, stats);
  if ((s = aimc_cuda_launched(ctx, "mp_transfer_kernel")) != AIMC_OK) return s;
  AIMC_LAUNCH_N(mp_book_kernel, ctx, (uint64_t)st->n_tiles)(*st, a->batch, stats);
  return aimc_cuda_launched(ctx, "mp_book_kernel");
}

/* ---- STELLAR --------------------------------------------------------------------- */

/* Selected inputs and error signs of every sample: sel[t][b][cols + rows]. */
__global__ void stellar_select_kernel(aimc_state_t st, aimc_update_args_t a, int8_t *sel,
                                      aimc_tile_stats_t *stats) {
  __shared__ float red[32];
  int64_t rows = st.rows, cols = st.cols;
  AIMC_BLOCK_LOOP(t, (uint64_t)st.n_tiles) {
    const aimc_algo_params_t *p = &st.params[t].algo;
    uint64_t samples = 0;
    for (int64_t b = 0; b < a.batch; ++b) {
      const float *x = a.x + t * a.x_tile_stride + b * cols;
      const float *d = a.d + t * a.d_tile_stride + b * rows;
      const float *y = a.y ? a.y + t * a.y_tile_stride + b * rows : NULL;
      int8_t *sx = sel + ((uint64_t)t * (uint64_t)a.batch + (uint64_t)b) * (uint64_t)(rows + cols);
      int8_t *se = sx + cols;
      float xm = -INFINITY;
      for (int64_t j = threadIdx.x; j < cols; j += blockDim.x) xm = fmaxf(xm, x[j]);
      xm = aimc_block_max(xm, red); /* any order gives max(x) */
      int any_x = 0, any_e = 0;
      for (int64_t j = threadIdx.x; j < cols; j += blockDim.x)
        any_x |= sx[j] = (int8_t)aimc_stellar_input(p, x[j], xm);
      for (int64_t i = threadIdx.x; i < rows; i += blockDim.x)
        any_e |=
            (se[i] = (int8_t)(aimc_stellar_output(p, y, i) ? aimc_stellar_error(p, d[i]) : 0)) != 0;
      any_x = __syncthreads_or(any_x);
      any_e = __syncthreads_or(any_e);
      samples += any_x && any_e;
    }
    if (threadIdx.x == 0) {
      stats[t].update_calls += 1u;
      stats[t].update_samples += samples;
    }
  }
}

/* The pulses of one weight on array ar (0 = G+, 1 = G-) over the batch
 * (returned; the ones up are added to *up). The two arrays share nothing
 * (own state, own noise stream keyed by the array), so walking array 0's
 * pulses and then array 1's gives the bits of the CPU's single walk in
 * sample order, with one weight record in registers instead of two indexed
 * by the pulse's array (a stack frame). */
__device__ static uint64_t stellar_array_walk(const aimc_state_t &st,
                                              const aimc_update_args_t &a, const int8_t *sel,
                                              int64_t t, uint64_t widx, uint64_t k, int32_t ar,
                                              aimc_normal_stream_t *ns, uint64_t *up) {
  const aimc_tile_params_t *tp = &st.params[t];
  int64_t rows = st.rows, cols = st.cols;
  int64_t i = (int64_t)(widx / (uint64_t)cols), j = (int64_t)(widx % (uint64_t)cols);
  uint64_t first = st.algo[t].samples;
  float h = st.arr[ar].h[k];
  aimc_wparams_t wp;
  uint64_t pulses = 0;
  for (int64_t b = 0; b < a.batch; ++b) {
    const int8_t *sx =
        sel + ((uint64_t)t * (uint64_t)a.batch + (uint64_t)b) * (uint64_t)(rows + cols);
    int u = sx[cols + i] * sx[j];
    if (u == 0) continue;
    int32_t to;
    int is_up;
    aimc_stellar_pulse(u, first + (uint64_t)b, &to, &is_up);
    if (to != ar) continue;
    if (!pulses) {
      aimc_load_wparams(&st.arr[ar], (size_t)k, &wp);
      aimc_normal_stream_init(
          ns, tp->key,
          aimc_subsequence(AIMC_STREAM_UPDATE_PULSE, aimc_array_counter(ar, a.call)), widx << 32);
    }
    h = aimc_device_pulses(aimc_array_dev(tp, ar), &wp, h, is_up, 1, ns);
    *up += (uint64_t)is_up;
    pulses++;
  }
  if (!pulses) return 0;
  st.arr[ar].h[k] = h;
  st.arr[ar].w[k] = aimc_refresh_visible(tp, ar, h, wp.ref, a.write_call, widx);
  return pulses;
}

__global__ void AIMC_HOT_KERNEL stellar_pulse_kernel(aimc_state_t st, aimc_update_args_t a,
                                                     const int8_t *sel, aimc_tile_stats_t *stats) {
  __shared__ uint64_t red[32];
  /* each thread's noise stream, kept in shared memory as pulse_kernel's
   * (AIMC_HOT_KERNEL's register budget) */
  __shared__ aimc_normal_stream_t streams[AIMC_THREADS];
  TILE_CHUNKS(st) {
    TILE_CHUNK_INDEX(t, widx, valid);
    uint64_t up = 0, down = 0, pulses0 = 0, pulses1 = 0;
    if (valid) {
      uint64_t k = (uint64_t)t * per_tile_ + widx;
      AIMC_UNROLL(1) /* one copy of the device's pulse code, not two */
      for (int32_t ar = 0; ar < 2; ++ar) {
        uint64_t pulses =
            stellar_array_walk(st, a, sel, t, widx, k, ar, &streams[threadIdx.x], &up);
        if (ar)
          pulses1 = pulses;
        else
          pulses0 = pulses;
      }
      down = pulses0 + pulses1 - up;
    }
    up = aimc_block_sum(up, red);
    down = aimc_block_sum(down, red);
    pulses0 = aimc_block_sum(pulses0, red);
    pulses1 = aimc_block_sum(pulses1, red);
    if (threadIdx.x == 0) {
      aimc_count(&stats[t].pulses_up, up);
      aimc_count(&stats[t].pulses_down, down);
      aimc_count(&stats[t].array_pulses[0], pulses0);
      aimc_count(&stats[t].array_pulses[1], pulses1);
    }
  }
}

__global__ void samples_kernel(aimc_state_t st, int64_t batch) {
  AIMC_GRID_LOOP(t, (uint64_t)st.n_tiles) st.algo[t].samples += (uint64_t)batch;
}

aimc_status_t aimc_cuda_stellar(aimc_context_t *ctx, aimc_state_t *st, const aimc_update_args_t *a,
                                aimc_tile_stats_t *stats) {
  aimc_status_t s = aimc_cuda_begin(ctx);
  if (s != AIMC_OK) return s;
  cudaStream_t stream = aimc_stream(ctx);
  int8_t *sel;
  uint64_t bytes = (uint64_t)st->n_tiles * (uint64_t)a->batch * (uint64_t)(st->rows + st->cols);
  if ((s = aimc_cuda_workspace(ctx, (size_t)bytes, (void **)&sel)) != AIMC_OK) return s;
  AIMC_LAUNCH(stellar_select_kernel, aimc_item_blocks((uint64_t)st->n_tiles), AIMC_THREADS, 0,
              stream)
  (*st, *a, sel, stats);
  if ((s = aimc_cuda_launched(ctx, "stellar_select_kernel")) != AIMC_OK) return s;
  AIMC_LAUNCH(stellar_pulse_kernel, chunk_blocks(ctx, st), AIMC_THREADS, 0, stream)
  (*st, *a, sel, stats);
  if ((s = aimc_cuda_launched(ctx, "stellar_pulse_kernel")) != AIMC_OK) return s;
  AIMC_LAUNCH_N(samples_kernel, ctx, (uint64_t)st->n_tiles)(*st, a->batch);
  return aimc_cuda_launched(ctx, "samples_kernel");
}

/* ---- PANTHER ----------------------------------------------------------------------- */

/* |x| and |lr d| of every (tile, sample) in fixed point, with their signs:
 * q[t][b][cols + rows]. */
__global__ void panther_quant_kernel(aimc_state_t st, aimc_update_args_t a, uint32_t *q,
                                     uint8_t *neg) {
  int64_t rows = st.rows, cols = st.cols, n = rows + cols;
  uint64_t sub = aimc_subsequence(AIMC_STREAM_PANTHER_ROUND, a.call);
  AIMC_GRID_LOOP(e, (uint64_t)st.n_tiles * (uint64_t)a.batch * (uint64_t)n) {
    uint64_t item = e / (uint64_t)n;
    int64_t l = (int64_t)(e % (uint64_t)n);
    int64_t t = (int64_t)(item / (uint64_t)a.batch), b = (int64_t)(item % (uint64_t)a.batch);
    const aimc_tile_params_t *tp = &st.params[t];
    if (l < cols) {
      float x = a.x[t * a.x_tile_stride + b * cols + l];
      q[e] = aimc_panther_input(&tp->algo, x);
      neg[e] = x < 0.0f;
    } else {
      int64_t i = l - cols;
      float d = a.d[t * a.d_tile_stride + b * rows + i];
      float u = aimc_u01(aimc_philox_block(tp->key, sub, (uint64_t)(b * rows + i)).v[0]);
      q[e] = aimc_panther_delta(&tp->algo, tp->upd[0].lr, d, u);
      neg[e] = d < 0.0f;
    }
  }
}

/* Carry resolution of one weight: read the slices, rewrite canonical
 * digits through the device (programming, with write noise). The value sums
 * the slices as aimc_panther_value and the digits come out of the balanced
 * base-4 expansion of aimc_panther_levels (kernels/common/combine.h), one
 * slice at a time, least significant first: each slice's write depends only
 * on its own digit, state and noise stream (keyed by the slice), so the bits
 * are the CPU's, without a run-time-indexed array of levels (a stack frame). */
__device__ static void panther_crs(aimc_state_t &st, int64_t t, uint64_t widx, uint64_t event) {
  const aimc_tile_params_t *tp = &st.params[t];
  const aimc_algo_params_t *p = &tp->algo;
  int32_t n = p->n_slices;
  uint64_t k = (uint64_t)t * (uint64_t)st.rows * (uint64_t)st.cols + widx;
  float v = 0.0f;
  for (int32_t m = 0; m < n; ++m)
    v += aimc_slice_place(m, n) * (st.arr[m].w[k] - aimc_slice_offset(p->slice_bits[m]));
  float top = (float)(((1ll << (2 * n)) - 1) / 3);
  int64_t q = aimc_to_i64(rintf(rintf(v)), -2.0f * top, top, 0);
  for (int32_t pos = 0; pos < n; ++pos) {
    int64_t r = ((q % 4) + 4) % 4;
    if (r >= 2) r -= 4;
    q = (q - r) / 4;
    int32_t m = n - 1 - pos;
    aimc_wparams_t wp;
    aimc_load_wparams(&st.arr[m], (size_t)k, &wp);
    aimc_write_element(tp, m, &wp, aimc_slice_offset(p->slice_bits[m]) + (float)r,
                       AIMC_WRITE_MODE_PROGRAM, AIMC_TRANSFER_READ_CALL | event, widx,
                       &st.arr[m].h[k], &st.arr[m].w[k]);
  }
}

/* The block's PANTHER counts, in shared memory (integer sums: any order of
 * the threads' additions gives the same totals) rather than in registers or
 * a run-time-indexed array (AIMC_HOT_KERNEL's budget). */
enum {
  PANTHER_UP,
  PANTHER_DOWN,
  PANTHER_CRS,
  PANTHER_SLICE0,
  PANTHER_COUNTS = PANTHER_SLICE0 + AIMC_MAX_ARRAYS
};

/* The pulses of every slice of one weight over the batch, and its carry
 * resolutions, in the CPU's order; counted into the block's `counts`. */
__device__ static void panther_walk(aimc_state_t &st, const aimc_update_args_t &a,
                                    const uint32_t *q, const uint8_t *neg, int64_t t,
                                    uint64_t widx, aimc_normal_stream_t *ns,
                                    unsigned long long *counts) {
  const aimc_tile_params_t *tp = &st.params[t];
  const aimc_algo_params_t *p = &tp->algo;
  int32_t n = p->n_slices;
  int64_t rows = st.rows, cols = st.cols;
  /* lines are at most AIMC_MAX_DIM (host/tiles.c), so 32 bits */
  uint32_t xl = (uint32_t)(widx % (uint64_t)cols);
  uint32_t dl = (uint32_t)(cols + (int64_t)(widx / (uint64_t)cols));
  uint64_t k = (uint64_t)t * (uint64_t)(rows * cols) + widx;
  for (int64_t b = 0; b < a.batch; ++b) {
    /* the sample's offset in q from the parameters, not a held line count
     * (AIMC_HOT_KERNEL's register budget: ptxas spills with it) */
    uint64_t o = ((uint64_t)t * (uint64_t)a.batch + (uint64_t)b) * (uint64_t)(st.rows + st.cols);
    uint32_t xq = q[o + xl], dq = q[o + dl];
    if (xq && dq) {
      /* W -= lr d x: the weight goes up when d and x differ in sign */
      int is_up = neg[o + xl] != neg[o + dl];
      for (int32_t m = 0; m < n; ++m) {
        uint32_t inc = aimc_panther_increment(xq, dq, n - 1 - m, n, 2u << p->slice_bits[m]);
        if (!inc) continue;
        aimc_array_t *arr = &st.arr[m];
        aimc_wparams_t wp;
        aimc_load_wparams(arr, (size_t)k, &wp);
        aimc_normal_stream_init(
            ns, tp->key,
            aimc_subsequence(AIMC_STREAM_UPDATE_PULSE,
                             aimc_array_counter(m, (a.call << 20) | (uint64_t)b)),
            widx << 32);
        float h = aimc_device_pulses(aimc_array_dev(tp, m), &wp, arr->h[k], is_up, inc, ns);
        arr->h[k] = h;
        arr->w[k] =
            aimc_refresh_visible(tp, m, h, wp.ref, (a.write_call << 20) | (uint64_t)b, widx);
        atomicAdd(&counts[is_up ? PANTHER_UP : PANTHER_DOWN], (unsigned long long)inc);
        atomicAdd(&counts[PANTHER_SLICE0 + m], (unsigned long long)inc);
      }
    }
    /* samples seen before this call: reread (this kernel does not change it)
     * rather than held, for the same budget */
    uint64_t seen = st.algo[t].samples + (uint64_t)b + 1u;
    if (seen % (uint64_t)p->crs_every == 0) {
      panther_crs(st, t, widx, seen / (uint64_t)p->crs_every);
      atomicAdd(&counts[PANTHER_CRS], 1ull);
    }
  }
}

__global__ void AIMC_HOT_KERNEL panther_pulse_kernel(aimc_state_t st, aimc_update_args_t a,
                                                     const uint32_t *q, const uint8_t *neg,
                                                     aimc_tile_stats_t *stats) {
  __shared__ unsigned long long counts[PANTHER_COUNTS];
  /* each thread's noise stream, kept in shared memory as pulse_kernel's
   * (AIMC_HOT_KERNEL's register budget) */
  __shared__ aimc_normal_stream_t streams[AIMC_THREADS];
  TILE_CHUNKS(st) {
    TILE_CHUNK_INDEX(t, widx, valid);
    for (int32_t c = (int32_t)threadIdx.x; c < PANTHER_COUNTS; c += (int32_t)blockDim.x)
      counts[c] = 0;
    __syncthreads(); /* the counts are zero */
    if (valid) panther_walk(st, a, q, neg, t, widx, &streams[threadIdx.x], counts);
    __syncthreads(); /* every pulse is counted */
    if (threadIdx.x == 0) {
      int32_t n = st.params[t].algo.n_slices;
      aimc_count(&stats[t].pulses_up, counts[PANTHER_UP]);
      aimc_count(&stats[t].pulses_down, counts[PANTHER_DOWN]);
      for (int32_t m = 0; m < n; ++m)
        aimc_count(&stats[t].array_pulses[m], counts[PANTHER_SLICE0 + m]);
      aimc_count(&stats[t].digital_ops, counts[PANTHER_CRS] * (uint64_t)n);
    }
    __syncthreads(); /* thread 0 has read the counts before the next chunk zeroes them */
  }
}

__global__ void panther_book_kernel(aimc_state_t st, int64_t batch, aimc_tile_stats_t *stats) {
  AIMC_GRID_LOOP(t, (uint64_t)st.n_tiles) {
    uint64_t every = (uint64_t)st.params[t].algo.crs_every;
    uint64_t before = st.algo[t].samples / every;
    st.algo[t].samples += (uint64_t)batch;
    stats[t].transfers += st.algo[t].samples / every - before;
    stats[t].update_calls += 1u;
    stats[t].update_samples += (uint64_t)batch;
  }
}

aimc_status_t aimc_cuda_panther(aimc_context_t *ctx, aimc_state_t *st, const aimc_update_args_t *a,
                                aimc_tile_stats_t *stats) {
  aimc_status_t s = aimc_cuda_begin(ctx);
  if (s != AIMC_OK) return s;
  cudaStream_t stream = aimc_stream(ctx);
  uint64_t n_q = (uint64_t)st->n_tiles * (uint64_t)a->batch * (uint64_t)(st->rows + st->cols);
  aimc_carver_t cv = {NULL, 0};
  aimc_carve(&cv, (size_t)n_q * sizeof(uint32_t));
  aimc_carve(&cv, (size_t)n_q);
  void *work;
  if ((s = aimc_cuda_workspace(ctx, cv.used, &work)) != AIMC_OK) return s;
  cv.base = (char *)work;
  cv.used = 0;
  uint32_t *q = (uint32_t *)aimc_carve(&cv, (size_t)n_q * sizeof(uint32_t));
  uint8_t *neg = (uint8_t *)aimc_carve(&cv, (size_t)n_q);
  AIMC_LAUNCH_N(panther_quant_kernel, ctx, n_q)(*st, *a, q, neg);
  if ((s = aimc_cuda_launched(ctx, "panther_quant_kernel")) != AIMC_OK) return s;
  AIMC_LAUNCH(panther_pulse_kernel, chunk_blocks(ctx, st), AIMC_THREADS, 0, stream)
  (*st, *a, q, neg, stats);
  if ((s = aimc_cuda_launched(ctx, "panther_pulse_kernel")) != AIMC_OK) return s;
  AIMC_LAUNCH_N(panther_book_kernel, ctx, (uint64_t)st->n_tiles)(*st, a->batch, stats);
  return aimc_cuda_launched(ctx, "panther_book_kernel");
}
