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

__global__ void stellar_pulse_kernel(aimc_state_t st, aimc_update_args_t a, const int8_t *sel,
                                     aimc_tile_stats_t *stats) {
  __shared__ uint64_t red[32];
  int64_t rows = st.rows, cols = st.cols;
  TILE_CHUNKS(st) {
    TILE_CHUNK_INDEX(t, widx, valid);
    uint64_t up = 0, down = 0, per_array[2] = {0, 0};
    if (valid) {
      const aimc_tile_params_t *tp = &st.params[t];
      int64_t i = (int64_t)(widx / (uint64_t)cols), j = (int64_t)(widx % (uint64_t)cols);
      uint64_t k = (uint64_t)t * per_tile_ + widx, first = st.algo[t].samples;
      float h[2] = {st.arr[0].h[k], st.arr[1].h[k]};
      aimc_wparams_t wp[2];
      aimc_normal_stream_t ns[2];
      int touched[2] = {0, 0};
      for (int64_t b = 0; b < a.batch; ++b) {
        const int8_t *sx =
            sel + ((uint64_t)t * (uint64_t)a.batch + (uint64_t)b) * (uint64_t)(rows + cols);
        int u = sx[cols + i] * sx[j];
        if (u == 0) continue;
        int32_t ar;
        int is_up;
        aimc_stellar_pulse(u, first + (uint64_t)b, &ar, &is_up);
        if (!touched[ar]) {
          aimc_load_wparams(&st.arr[ar], (size_t)k, &wp[ar]);
          aimc_normal_stream_init(
              &ns[ar], tp->key,
              aimc_subsequence(AIMC_STREAM_UPDATE_PULSE, aimc_array_counter(ar, a.call)),
              widx << 32);
          touched[ar] = 1;
        }
        h[ar] = aimc_device_pulses(aimc_array_dev(tp, ar), &wp[ar], h[ar], is_up, 1, &ns[ar]);
        if (is_up)
          up++;
        else
          down++;
        per_array[ar]++;
      }
      for (int32_t ar = 0; ar < 2; ++ar) {
        if (!touched[ar]) continue;
        st.arr[ar].h[k] = h[ar];
        st.arr[ar].w[k] = aimc_refresh_visible(tp, ar, h[ar], wp[ar].ref, a.write_call, widx);
      }
    }
    up = aimc_block_sum(up, red);
    down = aimc_block_sum(down, red);
    per_array[0] = aimc_block_sum(per_array[0], red);
    per_array[1] = aimc_block_sum(per_array[1], red);
    if (threadIdx.x == 0) {
      aimc_count(&stats[t].pulses_up, up);
      aimc_count(&stats[t].pulses_down, down);
      aimc_count(&stats[t].array_pulses[0], per_array[0]);
      aimc_count(&stats[t].array_pulses[1], per_array[1]);
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
 * digits through the device (programming, with write noise). */
__device__ static void panther_crs(aimc_state_t &st, int64_t t, uint64_t widx, uint64_t event) {
  const aimc_tile_params_t *tp = &st.params[t];
  const aimc_algo_params_t *p = &tp->algo;
  uint64_t k = (uint64_t)t * (uint64_t)st.rows * (uint64_t)st.cols + widx;
  float levels[AIMC_MAX_ARRAYS];
  for (int32_t m = 0; m < p->n_slices; ++m) levels[m] = st.arr[m].w[k];
  aimc_panther_levels(p, rintf(aimc_panther_value(p, levels)), levels);
  for (int32_t m = 0; m < p->n_slices; ++m) {
    aimc_wparams_t wp;
    aimc_load_wparams(&st.arr[m], (size_t)k, &wp);
    aimc_write_element(tp, m, &wp, levels[m], AIMC_WRITE_MODE_PROGRAM,
                       AIMC_TRANSFER_READ_CALL | event, widx, &st.arr[m].h[k], &st.arr[m].w[k]);
  }
}

__global__ void panther_pulse_kernel(aimc_state_t st, aimc_update_args_t a, const uint32_t *q,
                                     const uint8_t *neg, aimc_tile_stats_t *stats) {
  __shared__ uint64_t red[32];
  int64_t rows = st.rows, cols = st.cols, n_lines = rows + cols;
  TILE_CHUNKS(st) {
    TILE_CHUNK_INDEX(t, widx, valid);
    const aimc_tile_params_t *tp = &st.params[t];
    const aimc_algo_params_t *p = &tp->algo;
    int32_t n = p->n_slices;
    uint64_t up = 0, down = 0, crs = 0, per_array[AIMC_MAX_ARRAYS] = {0};
    if (valid) {
      int64_t i = (int64_t)(widx / (uint64_t)cols), j = (int64_t)(widx % (uint64_t)cols);
      uint64_t k = (uint64_t)t * per_tile_ + widx, first = st.algo[t].samples;
      for (int64_t b = 0; b < a.batch; ++b) {
        uint64_t o = ((uint64_t)t * (uint64_t)a.batch + (uint64_t)b) * (uint64_t)n_lines;
        uint32_t xq = q[o + (uint64_t)j], dq = q[o + (uint64_t)(cols + i)];
        if (xq && dq) {
          /* W -= lr d x: the weight goes up when d and x differ in sign */
          int is_up = neg[o + (uint64_t)j] != neg[o + (uint64_t)(cols + i)];
          for (int32_t m = 0; m < n; ++m) {
            uint32_t inc = aimc_panther_increment(xq, dq, n - 1 - m, n, 2u << p->slice_bits[m]);
            if (!inc) continue;
            aimc_array_t *arr = &st.arr[m];
            aimc_wparams_t wp;
            aimc_load_wparams(arr, (size_t)k, &wp);
            aimc_normal_stream_t ns;
            aimc_normal_stream_init(
                &ns, tp->key,
                aimc_subsequence(AIMC_STREAM_UPDATE_PULSE,
                                 aimc_array_counter(m, (a.call << 20) | (uint64_t)b)),
                widx << 32);
            arr->h[k] = aimc_device_pulses(aimc_array_dev(tp, m), &wp, arr->h[k], is_up, inc, &ns);
            arr->w[k] = aimc_refresh_visible(tp, m, arr->h[k], wp.ref,
                                             (a.write_call << 20) | (uint64_t)b, widx);
            if (is_up)
              up += inc;
            else
              down += inc;
            per_array[m] += inc;
          }
        }
        uint64_t seen = first + (uint64_t)b + 1u;
        if (seen % (uint64_t)p->crs_every == 0) {
          panther_crs(st, t, widx, seen / (uint64_t)p->crs_every);
          crs++;
        }
      }
    }
    up = aimc_block_sum(up, red);
    down = aimc_block_sum(down, red);
    crs = aimc_block_sum(crs, red);
    for (int32_t m = 0; m < n; ++m) per_array[m] = aimc_block_sum(per_array[m], red);
    if (threadIdx.x == 0) {
      aimc_count(&stats[t].pulses_up, up);
      aimc_count(&stats[t].pulses_down, down);
      for (int32_t m = 0; m < n; ++m) aimc_count(&stats[t].array_pulses[m], per_array[m]);
      aimc_count(&stats[t].digital_ops, crs * (uint64_t)n);
    }
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
