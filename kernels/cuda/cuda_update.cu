/* CUDA pulsed update of one array of every tile, the twin of
 * kernels/cpu/cpu_update.c:
 *   1. blab_kernel: BL/A/B of every (tile, sample), one warp each, and the
 *      call and sample counts;
 *   2. pulse_kernel: one block per (tile, 32 rows, up to 256 columns), one
 *      thread per column. A chunk of samples at a time, the block draws the
 *      bit-packed trains of its columns and rows into shared memory, then
 *      every thread walks its weights down the rows: it counts each
 *      sample's coincidences by popcount of AND, then applies all of the
 *      chunk's pulses in one loop (walk_chunk: the lanes of a warp draw
 *      their noise together) through the device rule in registers. Trains
 *      too long for shared memory are counted without storing them
 *      (direct_kernel);
 *   3. exact_kernel: the NONE and NONE_WITH_DEVICE updates, one thread per
 *      weight.
 * Each weight's noise stream and pulse trains come from their logical
 * positions, so the result is the CPU's, bit for bit. */
#include "kernels/common/state.h"
#include "kernels/common/update.h"
#include "kernels/cuda/cuda_common.cuh"

#define PULSED_BIT 0x80000000u
#define TRAIN_SMEM_BYTES (48 * 1024)
#define BLOCK_ROWS 32

/* The update parameters of tile t for this call (kernels/cpu/cpu_update.c). */
__device__ static aimc_update_params_t params_for(const aimc_state_t &st,
                                                  const aimc_update_args_t &a, int64_t t) {
  aimc_update_params_t u = st.params[t].upd[a.upd];
  if (a.lr) u.lr = a.lr[t];
  if (a.exact) u.pulse_type = AIMC_PULSE_NONE;
  return u;
}

__host__ __device__ static inline int is_exact(int32_t pulse_type) {
  return pulse_type == AIMC_PULSE_NONE || pulse_type == AIMC_PULSE_NONE_WITH_DEVICE;
}

/* Line value with the chopper sign applied (x by c_in, d by c_out). */
__device__ static inline float line_value(const aimc_state_t &st, const aimc_update_args_t &a,
                                          int64_t t, int is_x, int64_t idx, float v) {
  if (!a.chopped) return v;
  int8_t c = is_x ? st.c_in[t * st.cols + idx] : st.c_out[t * st.rows + idx];
  return c < 0 ? -v : v;
}

__device__ static inline float x_at(const aimc_state_t &st, const aimc_update_args_t &a, int64_t t,
                                    int64_t b, int64_t j) {
  return line_value(st, a, t, 1, j, a.x[t * a.x_tile_stride + b * st.cols + j]);
}
__device__ static inline float d_at(const aimc_state_t &st, const aimc_update_args_t &a, int64_t t,
                                    int64_t b, int64_t i) {
  return line_value(st, a, t, 0, i, a.d[t * a.d_tile_stride + b * st.rows + i]);
}

/* ---- 1. BL, A, B and the call statistics ---------------------------------- */

__global__ void blab_kernel(aimc_state_t st, aimc_update_args_t a, aimc_blab_t *blab,
                            aimc_tile_stats_t *stats) {
  uint64_t warps = blockDim.x / 32, lane = threadIdx.x & 31u;
  uint64_t n_items = (uint64_t)st.n_tiles * (uint64_t)a.batch;
  for (uint64_t item = blockIdx.x * warps + threadIdx.x / 32; item < n_items;
       item += gridDim.x * warps) {
    int64_t t = (int64_t)(item / (uint64_t)a.batch), b = (int64_t)(item % (uint64_t)a.batch);
    const float *x = a.x + t * a.x_tile_stride + b * st.cols;
    const float *d = a.d + t * a.d_tile_stride + b * st.rows;
    float xm = 0.0f, dm = 0.0f; /* maxima are exact in any order */
    for (int64_t j = lane; j < st.cols; j += 32) xm = fmaxf(xm, fabsf(x[j]));
    for (int64_t i = lane; i < st.rows; i += 32) dm = fmaxf(dm, fabsf(d[i]));
    for (int o = 16; o > 0; o >>= 1) {
      xm = fmaxf(xm, __shfl_xor_sync(0xffffffffu, xm, o));
      dm = fmaxf(dm, __shfl_xor_sync(0xffffffffu, dm, o));
    }
    if (lane != 0) continue;
    aimc_update_params_t u = params_for(st, a, t);
    aimc_blab_t r = aimc_update_blab(&u, xm, dm);
    blab[item] = r;
    if (b == 0 && !a.not_a_call) aimc_count(&stats[t].update_calls, 1u);
    if (!(u.lr > 0.0f)) continue;
    if (is_exact(u.pulse_type)) {
      if (b == 0) aimc_count(&stats[t].update_samples, (uint64_t)a.batch);
    } else if (r.bl > 0) {
      aimc_count(&stats[t].update_samples, 1u);
    }
  }
}

/* ---- 2. Pulses ------------------------------------------------------------- */

/* A weight during a chunk: its state, and its parameters and noise stream
 * fetched at its first pulse of the chunk (pulse_kernel keeps the stream
 * in shared memory instead of `ns`). */
typedef struct weight_walk {
  float h;
  uint32_t pulsed, next; /* pulsed in this call; noise-stream position */
  int loaded;
  aimc_wparams_t wp;
} weight_walk_t;

/* What each thread of a pulse block keeps in shared memory rather than in
 * registers (AIMC_HOT_KERNEL's budget): its weight's noise stream, touched
 * once per pulse, and its pulse counts, added to once per row (pulse_kernel)
 * or sample (direct_kernel). */
typedef struct lane_state {
  aimc_normal_stream_t ns;
  uint64_t up, down;
} lane_state_t;

/* Pulses of the coincidences of one sample on a weight (direct_kernel). The
 * device record is loaded again for every sample with pulses rather than
 * kept in registers across the samples' train draws (the planes do not
 * change during the update, so the values are the CPU's). */
__device__ static inline void walk_pulses(weight_walk_t *w, lane_state_t *ls,
                                          const aimc_tile_params_t *tp,
                                          const aimc_device_params_t *dev, const aimc_array_t *arr,
                                          uint64_t k, uint64_t widx, uint64_t sub, int noisy,
                                          int32_t n, int up) {
  if (!w->pulsed) {
    aimc_normal_stream_init(&ls->ns, tp->key, sub, widx << 32);
    if (noisy) aimc_normal_stream_seek(&ls->ns, w->next);
    w->pulsed = PULSED_BIT;
  }
  aimc_wparams_t wp;
  aimc_load_wparams(arr, (size_t)k, &wp);
  w->h = aimc_device_pulses(dev, &wp, w->h, up, (uint32_t)n, &ls->ns);
  if (noisy) w->next = ls->ns.next;
  if (up)
    ls->up += (uint64_t)n;
  else
    ls->down += (uint64_t)n;
}

/* The visible weight after the call's last pulse. */
__device__ static inline void finish_weight(const weight_walk_t *w, const aimc_tile_params_t *tp,
                                            aimc_array_t *arr, int32_t array, uint64_t k,
                                            uint64_t widx, uint64_t write_call) {
  arr->h[k] = w->h;
  if (!w->pulsed) return;
  /* read again rather than kept from the first pulse: one register fewer
   * across the pulse loop (and the pulses may have come in an earlier chunk) */
  const float *ref_plane = arr->plane[AIMC_PLANE_REFERENCE];
  float ref = ref_plane ? ref_plane[k] : 0.0f;
  arr->w[k] = aimc_refresh_visible(tp, array, w->h, ref, write_call, widx);
}

typedef struct train_layout {
  int32_t nw;    /* words per train slot */
  int32_t chunk; /* samples per shared-memory fill */
  int32_t rows;  /* rows per block */
} train_layout_t;

/* What every thread of a pulse block needs about its item (tile, rows):
 * kept in shared memory, read when used, so that it costs no registers
 * across the item (the register budget of AIMC_HOT_KERNEL). */
typedef struct pulse_item {
  aimc_update_params_t u;
  aimc_update_streams_t rs;
  uint64_t key; /* the tile's */
  int64_t t, i0;
  int32_t nr; /* rows of this item */
  int32_t stochastic, noisy, active;
  int64_t b0;      /* the chunk: first sample, */
  int32_t nb;      /* samples */
  int32_t last;    /* and whether it ends the batch */
  uint64_t cells;  /* items per tile, */
  int64_t cblocks; /* of which column blocks */
} pulse_item_t;

/* The chunk's trains, levels and signs in shared memory (carved from the
 * dynamic shared memory in this order, sizes in 32-bit words):
 *   xw [B][C][nw], dw [B][R][nw], xl [B][C], dl [B][R], bl [B], then bytes
 *   xn [B][C], dn [B][R]. */
typedef struct chunk_lines {
  uint32_t *xw, *dw;
  float *xl, *dl;
  int32_t *bl;
  uint8_t *xn, *dn;
  int32_t C, R, nw;
} chunk_lines_t;

__device__ static inline chunk_lines_t chunk_carve(uint32_t *smem, train_layout_t lay, int32_t C) {
  int32_t R = lay.rows, B = lay.chunk, nw = lay.nw;
  chunk_lines_t cl;
  cl.xw = smem;
  cl.dw = cl.xw + B * C * nw;
  cl.xl = (float *)(cl.dw + B * R * nw);
  cl.dl = cl.xl + B * C;
  cl.bl = (int32_t *)(cl.dl + B * R);
  cl.xn = (uint8_t *)(cl.bl + B);
  cl.dn = cl.xn + B * C;
  cl.C = C;
  cl.R = R;
  cl.nw = nw;
  return cl;
}

/* Pulses of sample c of the chunk on the weight (row r, this thread's
 * column). */
__device__ static inline int32_t chunk_pulses(const chunk_lines_t &cl, int32_t pulse_type,
                                              int32_t c, int32_t r) {
  int32_t bl = cl.bl[c];
  if (bl == 0) return 0;
  int32_t xs = c * cl.C + (int32_t)threadIdx.x, ds = c * cl.R + r;
  int32_t n = pulse_type == AIMC_PULSE_STOCHASTIC_COMPRESSED
                  ? aimc_coincidences(cl.xw + xs * cl.nw, cl.dw + ds * cl.nw, AIMC_TRAIN_WORDS(bl))
                  : aimc_implicit_count(pulse_type, bl, cl.xl[xs], cl.dl[ds]);
  return n > 0 ? n : 0;
}

/* W -= lr d x^T: the weight goes up when d and x differ in sign. */
__device__ static inline int chunk_up(const chunk_lines_t &cl, int32_t c, int32_t r) {
  return cl.xn[c * cl.C + (int32_t)threadIdx.x] != cl.dn[c * cl.R + r];
}

/* Draws the chunk's lines into shared memory: this thread's column for
 * every sample, and the item's rows shared out over the threads. */
__device__ static void chunk_fill(const aimc_state_t &st, const aimc_update_args_t &a,
                                  const aimc_blab_t *blab, const pulse_item_t &it,
                                  const chunk_lines_t &cl, int64_t b0, int32_t nb, int32_t j) {
  const aimc_blab_t *bt = blab + it.t * a.batch + b0;
  for (int32_t c = (int32_t)threadIdx.x; c < nb; c += cl.C) cl.bl[c] = bt[c].bl;
  for (int32_t c = 0; c < nb && j < st.cols; ++c) { /* this thread's column */
    aimc_blab_t bb = bt[c];
    float v = x_at(st, a, it.t, b0 + c, j);
    uint64_t sample_line = (uint64_t)((b0 + c) * st.cols + j);
    int32_t slot = c * cl.C + (int32_t)threadIdx.x;
    float level = aimc_line_level(&it.u, it.key, it.rs.round, sample_line, 1, v, bb.b, bb.bl);
    cl.xl[slot] = level;
    cl.xn[slot] = v < 0.0f;
    if (it.stochastic)
      aimc_make_train(it.key, it.rs.x, sample_line, level, bb.bl, cl.xw + slot * cl.nw);
  }
  for (int32_t q = (int32_t)threadIdx.x; q < nb * it.nr; q += cl.C) { /* the rows */
    int32_t c = q / it.nr, r = q % it.nr;
    int64_t i = it.i0 + r;
    aimc_blab_t bb = bt[c];
    float v = d_at(st, a, it.t, b0 + c, i);
    uint64_t sample_line = (uint64_t)((b0 + c) * st.rows + i);
    int32_t slot = c * cl.R + r;
    float level = aimc_line_level(&it.u, it.key, it.rs.round, sample_line, 0, v, bb.a, bb.bl);
    cl.dl[slot] = level;
    cl.dn[slot] = v < 0.0f;
    if (it.stochastic)
      aimc_make_train(it.key, it.rs.d, sample_line, level, bb.bl, cl.dw + slot * cl.nw);
  }
}

/* All `total` pulses of the chunk on one weight in one loop, moving to the
 * next sample with pulses when the current one runs out. Every weight's
 * noise stream starts at normal 0 of the call, so the lanes of a warp sit at
 * the same stream position on the same iteration (in the first chunk): the
 * Philox blocks and Box-Muller pairs are drawn by all lanes at once, and
 * the warp iterates max(total) times instead of the sum over samples of the
 * busiest lane's count. The pulses come in the CPU's order, so the bits do
 * not change. */
__device__ static inline void walk_chunk(weight_walk_t *w, const chunk_lines_t &cl,
                                         const pulse_item_t &it, const aimc_device_params_t *dev,
                                         const aimc_array_t *arr, aimc_normal_stream_t *ns,
                                         uint64_t k, uint64_t widx, int32_t r, int32_t total) {
  int noisy = it.noisy;
  aimc_load_wparams(arr, (size_t)k, &w->wp);
  aimc_normal_stream_init(ns, it.key, it.rs.pulse, widx << 32);
  if (noisy) aimc_normal_stream_seek(ns, w->next);
  w->loaded = 1;
  w->pulsed = PULSED_BIT;
  float h = w->h;
  int32_t c = -1, left = 0, pulse_type = it.u.pulse_type;
  int up = 0;
  for (int32_t q = 0; q < total; ++q) {
    while (left == 0) { /* the next sample with pulses (one exists: q < total) */
      ++c;
      left = chunk_pulses(cl, pulse_type, c, r);
      up = chunk_up(cl, c, r);
    }
    h = aimc_device_pulse(dev, &w->wp, h, up, noisy ? aimc_normal_stream_next(ns) : 0.0f);
    --left;
  }
  w->h = h;
  if (noisy) w->next = ns->next;
}

/* Walks this thread's column down the item's rows for one chunk. */
__device__ static inline void walk_rows(const aimc_state_t &st, const aimc_update_args_t &a,
                                        const pulse_item_t &it, const chunk_lines_t &cl,
                                        aimc_array_t *arr, lane_state_t *ls, uint32_t *carry,
                                        int32_t j) {
  const aimc_tile_params_t *tp = &st.params[it.t];
  for (int32_t r = 0; r < it.nr; ++r) {
    uint64_t widx = (uint64_t)((it.i0 + r) * st.cols + j);
    uint64_t k = (uint64_t)it.t * (uint64_t)(st.rows * st.cols) + widx;
    weight_walk_t w;
    uint32_t carried = it.b0 == 0 ? 0u : carry[k];
    w.pulsed = carried & PULSED_BIT;
    w.next = carried & ~PULSED_BIT;
    w.loaded = 0;
    w.h = arr->h[k];
    int32_t total = 0, up = 0; /* at most AIMC_MAX_BL per sample, < 2^31 in all */
    for (int32_t c = 0; c < it.nb; ++c) {
      int32_t n = chunk_pulses(cl, it.u.pulse_type, c, r);
      total += n;
      if (chunk_up(cl, c, r)) up += n;
    }
    ls->up += (uint64_t)up;
    ls->down += (uint64_t)(total - up);
    if (total > 0)
      walk_chunk(&w, cl, it, aimc_array_dev(tp, a.array), arr, &ls->ns, k, widx, r, total);
    if (!it.last) {
      arr->h[k] = w.h;
      carry[k] = w.pulsed | w.next;
    } else {
      finish_weight(&w, tp, arr, a.array, k, widx, a.write_call);
    }
  }
}

__global__ void AIMC_HOT_KERNEL pulse_kernel(aimc_state_t st, aimc_update_args_t a,
                                             const aimc_blab_t *blab, train_layout_t lay,
                                             uint32_t *carry, aimc_tile_stats_t *stats) {
  AIMC_DYNAMIC_SHARED(uint32_t, smem);
  __shared__ uint64_t red[32];
  __shared__ pulse_item_t it;
  __shared__ lane_state_t lanes[AIMC_THREADS];
  lane_state_t *ls = &lanes[threadIdx.x];
  const int32_t C = (int32_t)blockDim.x, R = lay.rows;
  const chunk_lines_t cl = chunk_carve(smem, lay, C);
  aimc_array_t *arr = &st.arr[a.array];
  if (threadIdx.x == 0) {
    it.cblocks = (st.cols + C - 1) / C;
    it.cells = (uint64_t)((st.rows + R - 1) / R * it.cblocks);
  }
  __syncthreads();

  AIMC_BLOCK_LOOP(item, (uint64_t)st.n_tiles * it.cells) {
    /* columns are at most AIMC_MAX_DIM (host/tiles.c), so 32 bits */
    int32_t j = (int32_t)((int64_t)(item % it.cells) % it.cblocks * C) + (int32_t)threadIdx.x;
    __syncthreads(); /* the previous item is done with `it` */
    if (threadIdx.x == 0) {
      int64_t cell = (int64_t)(item % it.cells);
      it.t = (int64_t)(item / it.cells);
      it.i0 = cell / it.cblocks * R;
      it.nr = (int32_t)(st.rows - it.i0 < R ? st.rows - it.i0 : R);
      it.u = params_for(st, a, it.t);
      it.rs = aimc_update_streams(a.array, a.call);
      it.key = st.params[it.t].key;
      it.stochastic = it.u.pulse_type == AIMC_PULSE_STOCHASTIC_COMPRESSED;
      it.noisy = aimc_device_needs_noise(aimc_array_dev(&st.params[it.t], a.array));
      it.active = it.u.lr > 0.0f && !is_exact(it.u.pulse_type);
      it.b0 = 0;
    }
    ls->up = 0;
    ls->down = 0;
    for (;;) {
      __syncthreads(); /* the previous chunk is read; `it` is written */
      if (!it.active || it.b0 >= a.batch) break;
      if (threadIdx.x == 0) {
        it.nb = (int32_t)(a.batch - it.b0 < lay.chunk ? a.batch - it.b0 : lay.chunk);
        it.last = it.b0 + it.nb >= a.batch;
      }
      __syncthreads();
      chunk_fill(st, a, blab, it, cl, it.b0, it.nb, j);
      __syncthreads();
      if (j < st.cols) walk_rows(st, a, it, cl, arr, ls, carry, j);
      __syncthreads(); /* everyone has read it.b0 */
      if (threadIdx.x == 0) it.b0 += it.nb;
    }
    uint64_t up_total = aimc_block_sum(ls->up, red);
    uint64_t down_total = aimc_block_sum(ls->down, red);
    if (threadIdx.x == 0) {
      aimc_count(&stats[it.t].pulses_up, up_total);
      aimc_count(&stats[it.t].pulses_down, down_total);
      aimc_count(&stats[it.t].array_pulses[a.array], up_total + down_total);
    }
  }
}

/* Trains too long for shared memory: each weight draws the slots of its two
 * lines itself (aimc_coincidences_direct), one thread per weight. A rare
 * path (trains of over a thousand slots), so statistics go straight to the
 * counters. */
__global__ void AIMC_HOT_KERNEL direct_kernel(aimc_state_t st, aimc_update_args_t a,
                                              const aimc_blab_t *blab, aimc_tile_stats_t *stats) {
  __shared__ lane_state_t lanes[AIMC_THREADS];
  lane_state_t *ls = &lanes[threadIdx.x];
  int64_t rows = st.rows, cols = st.cols, per_tile = rows * cols;
  uint64_t n = (uint64_t)st.n_tiles * (uint64_t)per_tile;
  aimc_array_t *arr = &st.arr[a.array];
  aimc_update_streams_t rs = aimc_update_streams(a.array, a.call);
  AIMC_GRID_LOOP(k, n) {
    int64_t t = (int64_t)(k / (uint64_t)per_tile);
    aimc_update_params_t u = params_for(st, a, t);
    if (!(u.lr > 0.0f) || is_exact(u.pulse_type)) continue;
    const aimc_tile_params_t *tp = &st.params[t];
    const aimc_device_params_t *dev = aimc_array_dev(tp, a.array);
    uint64_t widx = k - (uint64_t)t * per_tile;
    /* lines are at most AIMC_MAX_DIM (host/tiles.c), so 32 bits */
    int32_t i = (int32_t)(widx / (uint64_t)cols), j = (int32_t)(widx % (uint64_t)cols);
    int stochastic = u.pulse_type == AIMC_PULSE_STOCHASTIC_COMPRESSED;
    int noisy = aimc_device_needs_noise(dev);
    weight_walk_t w;
    w.pulsed = 0;
    w.next = 0;
    w.h = arr->h[k];
    ls->up = 0;
    ls->down = 0;
    for (int64_t b = 0; b < a.batch; ++b) {
      aimc_blab_t bb = blab[t * a.batch + b];
      if (bb.bl == 0) continue;
      float xv = x_at(st, a, t, b, j), dv = d_at(st, a, t, b, i);
      uint64_t lx = (uint64_t)(b * cols + j), ld = (uint64_t)(b * rows + i);
      float px = aimc_line_level(&u, tp->key, rs.round, lx, 1, xv, bb.b, bb.bl);
      float pd = aimc_line_level(&u, tp->key, rs.round, ld, 0, dv, bb.a, bb.bl);
      int32_t c = stochastic
                      ? aimc_coincidences_direct(tp->key, rs.x, lx, px, rs.d, ld, pd, bb.bl)
                      : aimc_implicit_count(u.pulse_type, bb.bl, px, pd);
      if (c <= 0) continue;
      walk_pulses(&w, ls, tp, dev, arr, k, widx, rs.pulse, noisy, c, (xv < 0.0f) != (dv < 0.0f));
    }
    finish_weight(&w, tp, arr, a.array, k, widx, a.write_call);
    aimc_count(&stats[t].pulses_up, ls->up);
    aimc_count(&stats[t].pulses_down, ls->down);
    aimc_count(&stats[t].array_pulses[a.array], ls->up + ls->down);
  }
}

/* ---- 3. Exact updates ------------------------------------------------------ */

__global__ void exact_kernel(aimc_state_t st, aimc_update_args_t a) {
  int64_t rows = st.rows, cols = st.cols, per_tile = rows * cols;
  uint64_t n = (uint64_t)st.n_tiles * (uint64_t)per_tile;
  aimc_array_t *arr = &st.arr[a.array];
  AIMC_GRID_LOOP(k, n) {
    int64_t t = (int64_t)(k / (uint64_t)per_tile);
    aimc_update_params_t u = params_for(st, a, t);
    if (!(u.lr > 0.0f) || !is_exact(u.pulse_type)) continue;
    uint64_t widx = k - (uint64_t)t * per_tile;
    int64_t i = (int64_t)(widx / (uint64_t)cols), j = (int64_t)(widx % (uint64_t)cols);
    aimc_wparams_t wp;
    aimc_load_wparams(arr, (size_t)k, &wp);
    if (u.pulse_type == AIMC_PULSE_NONE) { /* W -= lr sum_b d x^T, summed in sample order */
      float acc = 0.0f;
      for (int64_t b = 0; b < a.batch; ++b) acc = acc + d_at(st, a, t, b, i) * x_at(st, a, t, b, j);
      float w = arr->w[k] - u.lr * acc;
      arr->h[k] = w + wp.ref;
      arr->w[k] = w;
      continue;
    }
    float h = arr->h[k]; /* NONE_WITH_DEVICE: clipped after every sample */
    int touched = 0;
    for (int64_t b = 0; b < a.batch; ++b) {
      float di = u.lr * d_at(st, a, t, b, i);
      if (di == 0.0f) continue;
      float xj = x_at(st, a, t, b, j);
      if (xj == 0.0f) continue;
      h = aimc_clampf(h - di * xj, wp.bmin, wp.bmax);
      touched = 1;
    }
    if (!touched) continue;
    arr->h[k] = h;
    arr->w[k] = aimc_refresh_visible(&st.params[t], a.array, h, wp.ref, a.write_call, widx);
  }
}

/* ---- Planning on the host -------------------------------------------------- */

typedef struct plan {
  int any_exact, any_pulsed;
  int32_t max_bl; /* longest train any tile may draw */
} plan_t;

static plan_t make_plan(const aimc_state_t *st, const aimc_update_args_t *a) {
  plan_t p = {0, 0, 1};
  for (int64_t t = 0; t < st->n_tiles; ++t) {
    aimc_update_params_t u = st->host_params[t].upd[a->upd];
    if (a->exact) u.pulse_type = AIMC_PULSE_NONE;
    if (!a->lr && !(u.lr > 0.0f)) continue;
    if (is_exact(u.pulse_type)) {
      p.any_exact = 1;
      continue;
    }
    p.any_pulsed = 1;
    int32_t bl = u.desired_bl;
    if (!u.fixed_bl && !u.ublm) { /* the rate decides; a per-call rate is not known here */
      if (a->lr)
        bl = AIMC_MAX_BL;
      else if (u.granularity * (float)u.desired_bl < u.lr)
        bl = (int32_t)aimc_minf(ceilf(u.lr / u.granularity), (float)AIMC_MAX_BL);
    }
    if (bl > p.max_bl) p.max_bl = bl;
  }
  return p;
}

aimc_status_t aimc_cuda_update(aimc_context_t *ctx, aimc_state_t *st, const aimc_update_args_t *a,
                               aimc_tile_stats_t *stats) {
  aimc_status_t s = aimc_cuda_begin(ctx);
  if (s != AIMC_OK) return s;
  cudaStream_t stream = aimc_stream(ctx);
  plan_t plan = make_plan(st, a);
  uint64_t n_weights = (uint64_t)st->n_tiles * (uint64_t)st->rows * (uint64_t)st->cols;

  /* the layout of a shared-memory fill: as many samples as fit */
  train_layout_t lay;
  unsigned C = (unsigned)((st->cols + 31) / 32 * 32);
  if (C > AIMC_THREADS) C = AIMC_THREADS;
  lay.rows = st->rows < BLOCK_ROWS ? st->rows : BLOCK_ROWS;
  lay.nw = AIMC_TRAIN_WORDS(plan.max_bl);
  size_t per_sample = (size_t)(C + (unsigned)lay.rows) * ((size_t)lay.nw * 4u + 5u) + 4u;
  /* beside the static shared memory: lanes[], red[] and `it` (< 1 KiB) */
  const size_t static_smem = sizeof(lane_state_t) * AIMC_THREADS + 1024u;
  int64_t fit = (int64_t)((TRAIN_SMEM_BYTES - static_smem) / per_sample);
  lay.chunk = (int32_t)(fit < a->batch ? fit : a->batch);
  int direct = lay.chunk < 1;
  int chunked = !direct && lay.chunk < a->batch;

  aimc_carver_t cv = {NULL, 0};
  aimc_carve(&cv, (size_t)st->n_tiles * (size_t)a->batch * sizeof(aimc_blab_t));
  if (chunked) aimc_carve(&cv, (size_t)n_weights * sizeof(uint32_t));
  void *work;
  if ((s = aimc_cuda_workspace(ctx, cv.used, &work)) != AIMC_OK) return s;
  cv.base = (char *)work;
  cv.used = 0;
  aimc_blab_t *blab =
      (aimc_blab_t *)aimc_carve(&cv, (size_t)st->n_tiles * (size_t)a->batch * sizeof(aimc_blab_t));
  uint32_t *carry =
      chunked ? (uint32_t *)aimc_carve(&cv, (size_t)n_weights * sizeof(uint32_t)) : NULL;

  uint64_t items = (uint64_t)st->n_tiles * (uint64_t)a->batch;
  AIMC_LAUNCH_N(blab_kernel, ctx, items * 32u)(*st, *a, blab, stats);
  if ((s = aimc_cuda_launched(ctx, "blab_kernel")) != AIMC_OK) return s;
  if (plan.any_pulsed && direct) {
    AIMC_LAUNCH_N(direct_kernel, ctx, n_weights)(*st, *a, blab, stats);
    if ((s = aimc_cuda_launched(ctx, "direct_kernel")) != AIMC_OK) return s;
  } else if (plan.any_pulsed) {
    uint64_t rblocks = (uint64_t)(st->rows + lay.rows - 1) / (uint64_t)lay.rows;
    uint64_t cblocks = (uint64_t)(st->cols + C - 1) / C;
    uint64_t blocks = (uint64_t)st->n_tiles * rblocks * cblocks;
    uint64_t cap = (uint64_t)aimc_cu(ctx)->sm_count * 8u;
    size_t smem = (size_t)lay.chunk * per_sample;
    AIMC_LAUNCH(pulse_kernel, (unsigned)(blocks < cap ? blocks : cap), C, smem, stream)
    (*st, *a, blab, lay, carry, stats);
    if ((s = aimc_cuda_launched(ctx, "pulse_kernel")) != AIMC_OK) return s;
  }
  if (plan.any_exact) {
    AIMC_LAUNCH_N(exact_kernel, ctx, n_weights)(*st, *a);
    if ((s = aimc_cuda_launched(ctx, "exact_kernel")) != AIMC_OK) return s;
  }
  return AIMC_OK;
}
