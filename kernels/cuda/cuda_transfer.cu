/* CUDA steps of the transfer family (Tiki-Taka v1, TTv2, chopped TTv2,
 * AGAD) for one sample of every tile, the twin of kernels/cpu/cpu_transfer.c:
 * rates_kernel (one warp per tile) sets the rate of the A update; after A's
 * pulses, transfer_kernel (one block per tile) counts the sample and, where
 * the tile's schedule says so, reads a line of A through the transfer IO
 * (the block read of cuda_read.cuh), updates the digital buffers, writes C
 * pulse by pulse and flips choppers. */
#include "kernels/common/state.h"
#include "kernels/common/transfer.h"
#include "kernels/cuda/cuda_read.cuh"

__global__ void rates_kernel(aimc_state_t st, const float *x, int64_t x_tile_stride, const float *d,
                             int64_t d_tile_stride, int64_t batch, float *lr) {
  uint64_t warps = blockDim.x / 32, lane = threadIdx.x & 31u;
  for (uint64_t t = blockIdx.x * warps + threadIdx.x / 32; t < (uint64_t)st.n_tiles;
       t += gridDim.x * warps) {
    const aimc_tile_params_t *tp = &st.params[t];
    int scaled = tp->algo.auto_scale && aimc_is_chopped(tp->algo.kind);
    float xm = 0.0f, dm = 0.0f;
    for (int64_t j = lane; scaled && j < st.cols; j += 32)
      xm = fmaxf(xm, fabsf(x[t * x_tile_stride + j]));
    for (int64_t i = lane; scaled && i < st.rows; i += 32)
      dm = fmaxf(dm, fabsf(d[t * d_tile_stride + i]));
    for (int o = 16; o > 0; o >>= 1) {
      xm = fmaxf(xm, __shfl_xor_sync(0xffffffffu, xm, o));
      dm = fmaxf(dm, __shfl_xor_sync(0xffffffffu, dm, o));
    }
    if (lane != 0) continue;
    aimc_algo_state_t *s = &st.algo[t];
    if (scaled) {
      float mom = tp->algo.auto_momentum;
      s->mx = aimc_auto_scale(s->mx, xm, mom, batch);
      s->md = aimc_auto_scale(s->md, dm, mom, batch);
    }
    lr[t] = aimc_fast_rate(tp, s);
  }
}

aimc_status_t aimc_cuda_transfer_rates(aimc_context_t *ctx, aimc_state_t *st, const float *x,
                                       int64_t x_tile_stride, const float *d, int64_t d_tile_stride,
                                       int64_t batch, float *lr) {
  aimc_status_t s = aimc_cuda_begin(ctx);
  if (s != AIMC_OK) return s;
  AIMC_LAUNCH_N(rates_kernel, ctx, (uint64_t)st->n_tiles * 32u)
  (*st, x, x_tile_stride, d, d_tile_stride, batch, lr);
  return aimc_cuda_launched(ctx, "rates_kernel");
}

/* What a block counts for its tile over a transfer call, in shared memory
 * (integer sums: any order of the threads' additions gives the same totals)
 * rather than in each thread's registers (AIMC_HOT_KERNEL's budget). */
typedef struct tally {
  unsigned long long up, down, flips;
} tally_t;

/* n pulses (up when n > 0) on device widx of C from transfer `reads`. */
__device__ static void pulse_slow(aimc_state_t &st, int64_t t, int64_t widx, int32_t n,
                                  uint64_t reads, tally_t *tl) {
  size_t k = (size_t)(t * (int64_t)st.rows * st.cols + widx);
  uint32_t count = aimc_pulse_write(&st.params[t], &st.arr[AIMC_ARRAY_SLOW], AIMC_ARRAY_SLOW, k,
                                    (uint64_t)widx, n, reads);
  if (count) atomicAdd(n > 0 ? &tl->up : &tl->down, (unsigned long long)count);
}

/* Tiki-Taka v1: C += lr_t v e_k^T with the transfer-update parameters
 * (x = e_k, d = -v), exact for the NONE types, else pulses whose
 * coincidences are counted from the two lines' slots. */
__device__ static void write_tiki_taka(aimc_state_t &st, int64_t t, int64_t k, const float *v,
                                       int64_t n_out, uint64_t reads, float *red, tally_t *tl) {
  const aimc_tile_params_t *tp = &st.params[t];
  aimc_update_params_t u = tp->upd[1];
  u.lr = aimc_transfer_rate(tp);
  if (!(u.lr > 0.0f)) return;
  aimc_array_t *arr = &st.arr[AIMC_ARRAY_SLOW];
  int64_t per_tile = (int64_t)st.rows * st.cols;
  if (u.pulse_type == AIMC_PULSE_NONE || u.pulse_type == AIMC_PULSE_NONE_WITH_DEVICE) {
    for (int64_t o = threadIdx.x; o < n_out; o += blockDim.x) {
      int64_t widx = aimc_line_element(&tp->algo, st.cols, o, k);
      aimc_tt_exact_write(tp, u.pulse_type, u.lr, arr, (size_t)(t * per_tile + widx),
                          (uint64_t)widx, v[o], reads);
    }
    return;
  }
  float vm = 0.0f;
  for (int64_t o = threadIdx.x; o < n_out; o += blockDim.x) vm = fmaxf(vm, fabsf(v[o]));
  aimc_blab_t bb = aimc_update_blab(&u, 1.0f, aimc_block_max(vm, red));
  if (bb.bl == 0) return;
  uint64_t call = aimc_array_counter(AIMC_ARRAY_SLOW, reads);
  uint64_t sub_x = aimc_subsequence(AIMC_STREAM_TRANSFER_WRITE, call);
  uint64_t sub_d = aimc_subsequence(AIMC_STREAM_TRANSFER_WRITE + 1, call);
  int stochastic = u.pulse_type == AIMC_PULSE_STOCHASTIC_COMPRESSED;
  float px = aimc_update_prob(&u, 1.0f, bb.b, 0.5f), cx = 0.0f;
  if (u.pulse_type == AIMC_PULSE_MEAN_COUNT)
    cx = aimc_mean_count(bb.bl, px);
  else if (!stochastic)
    cx = aimc_implicit_q(&u, 1.0f, bb.b, u.x_res_implicit, 0.5f);
  for (int64_t o = threadIdx.x; o < n_out; o += blockDim.x) {
    int32_t n;
    if (stochastic) {
      float pd = aimc_update_prob(&u, v[o], bb.a, 0.5f);
      n = aimc_coincidences_direct(tp->key, sub_x, (uint64_t)k, px, sub_d, (uint64_t)o, pd, bb.bl);
    } else {
      float cd = u.pulse_type == AIMC_PULSE_MEAN_COUNT
                     ? aimc_mean_count(bb.bl, aimc_update_prob(&u, v[o], bb.a, 0.5f))
                     : aimc_implicit_q(&u, v[o], bb.a, u.d_res_implicit, 0.5f);
      n = aimc_implicit_count(u.pulse_type, bb.bl, cx, cd);
    }
    /* d = -v and x = +1 differ in sign (weight up) exactly when v > 0 */
    pulse_slow(st, t, aimc_line_element(&tp->algo, st.cols, o, k), v[o] > 0.0f ? n : -n, reads, tl);
  }
}

typedef struct transfer_shared {
  float red[32];
  tally_t tally;
  int32_t n_reads;
} transfer_shared_t;

/* The transfer_kernel instantiation that serves tiles of algorithm `kind`:
 * one per transfer-family algorithm, so that each compiles the steps of one
 * algorithm only (all four in one kernel do not fit AIMC_HOT_KERNEL's
 * registers), and TRANSFER_OTHER for any other kind (the read and the
 * pointer only, as before). */
enum { TRANSFER_OTHER = AIMC_ALGO_COUNT };
AIMC_HD int transfer_group(int kind) {
  return kind == AIMC_ALGO_TIKI_TAKA || kind == AIMC_ALGO_TTV2 || kind == AIMC_ALGO_CHOPPED_TTV2 ||
                 kind == AIMC_ALGO_AGAD
             ? kind
             : TRANSFER_OTHER;
}

/* Whether sweep number `sweeps` (counted from 0) is the last of a chopper
 * period. */
__device__ static inline int sweep_ends_period(uint64_t sweeps, int64_t period) {
  return (int64_t)(sweeps % (uint64_t)period) == period - 1;
}

/* One transfer of line k = the tile's pointer, for a tile of algorithm
 * KIND (transfer_group). `in`, `v` and `out` are scratch of the block
 * (n_in, n_in and n_out floats). */
template <int KIND>
__device__ static void transfer_line(aimc_state_t &st, int64_t t, float count_lr, float *in,
                                     float *v, float *out, transfer_shared_t *sh, tally_t *tl) {
  const aimc_tile_params_t *tp = &st.params[t];
  const aimc_algo_params_t *p = &tp->algo;
  aimc_algo_state_t *as = &st.algo[t];
  int64_t rows = st.rows, cols = st.cols, per_tile = rows * cols;
  int32_t lines = aimc_transfer_lines(p, st.rows, st.cols);
  int64_t n_out = p->transfer_columns ? rows : cols;
  int64_t k = as->next;
  uint64_t reads = as->reads;
  int dir = p->transfer_columns ? AIMC_TRANSFER_FORWARD : AIMC_TRANSFER_BACKWARD;

  /* read line k of A with a one-hot input through the transfer IO */
  for (int64_t j = threadIdx.x; j < lines; j += blockDim.x) in[j] = j == k ? 1.0f : 0.0f;
  __syncthreads();
  uint64_t passes = 0;
  aimc_block_read<1>(tp, dir, st.arr[AIMC_ARRAY_FAST].w + t * per_tile, rows, cols, in, out,
                     AIMC_TRANSFER_READ_CALL | reads, 1, 0, 1, v, &passes);

  float *H = st.H ? st.H + t * per_tile : NULL;
  int8_t *c_line = NULL, *c_other = NULL; /* choppers of the swept and the other dimension */
  if (st.c_in) {
    c_line = p->transfer_columns ? st.c_in + t * cols : st.c_out + t * rows;
    c_other = p->transfer_columns ? st.c_out + t * rows : st.c_in + t * cols;
  }
  /* the sweep count and chopper period are read where used, after the
   * line's writes, rather than held across them (AIMC_HOT_KERNEL's budget) */
  switch (KIND) {
    case AIMC_ALGO_TIKI_TAKA: {
      if (p->with_reset_prob > 0.0f &&
          aimc_chopper_uniform(tp->key, reads, (uint64_t)k, 3) < p->with_reset_prob) {
        aimc_array_t *arr = &st.arr[AIMC_ARRAY_FAST];
        for (int64_t o = threadIdx.x; o < n_out; o += blockDim.x) {
          int64_t widx = aimc_line_element(p, cols, o, k);
          aimc_reset_element(tp, arr, AIMC_ARRAY_FAST, (size_t)(t * per_tile + widx),
                             (uint64_t)widx, 1.0f, AIMC_TRANSFER_READ_CALL | reads,
                             AIMC_TRANSFER_READ_CALL | reads);
        }
      }
      write_tiki_taka(st, t, k, out, n_out, reads, sh->red, tl);
      break;
    }
    case AIMC_ALGO_TTV2:
      for (int64_t o = threadIdx.x; o < n_out; o += blockDim.x) {
        int64_t widx = aimc_line_element(p, cols, o, k);
        int32_t n = aimc_ttv2_element(tp, out[o], &H[widx]);
        pulse_slow(st, t, widx, aimc_slow_steps(p, n), reads, tl);
      }
      break;
    case AIMC_ALGO_CHOPPED_TTV2: {
      float sc = aimc_buffer_scale(tp, count_lr, lines);
      int8_t ck = c_line[k];
      for (int64_t o = threadIdx.x; o < n_out; o += blockDim.x) {
        int64_t widx = aimc_line_element(p, cols, o, k);
        float sign = (ck < 0) != (c_other[o] < 0) ? -1.0f : 1.0f;
        int32_t n = aimc_chopped_element(tp, out[o], sign, sc, &H[widx]);
        pulse_slow(st, t, widx, aimc_slow_steps(p, n), reads, tl);
      }
      __syncthreads(); /* every thread has read c_line[k] */
      if (threadIdx.x == 0 && p->in_chop_prob > 0.0f) {
        int sw = p->in_chop_random
                     ? aimc_chopper_uniform(tp->key, reads, (uint64_t)k, 0) < p->in_chop_prob
                     : sweep_ends_period(as->sweeps, aimc_chop_period(p->in_chop_prob));
        if (sw) {
          c_line[k] = (int8_t)-c_line[k];
          atomicAdd(&tl->flips, 1ull);
        }
      }
      if (k == lines - 1 && p->out_chop_prob > 0.0f) /* each thread its own outputs */
        for (int64_t o = threadIdx.x; o < n_out; o += blockDim.x)
          if (aimc_chopper_uniform(tp->key, reads, (uint64_t)(lines + o), 1) < p->out_chop_prob) {
            c_other[o] = (int8_t)-c_other[o];
            atomicAdd(&tl->flips, 1ull);
          }
      break;
    }
    case AIMC_ALGO_AGAD: {
      float sc = aimc_buffer_scale(tp, count_lr, lines);
      uint8_t *switched = st.switched + t * aimc_line_stride(&st);
      int sw = switched[k];
      int8_t ck = c_line[k];
      /* writes start once the past mean of a full chopper period exists */
      int write = as->sweeps >= (uint64_t)aimc_chop_period(p->in_chop_prob);
      for (int64_t o = threadIdx.x; o < n_out; o += blockDim.x) {
        int64_t widx = aimc_line_element(p, cols, o, k);
        float sign = (ck < 0) != (c_other[o] < 0) ? -1.0f : 1.0f;
        int32_t n = aimc_agad_element(tp, out[o], sign, sc, sw, &H[widx],
                                      &st.M[t * per_tile + widx], &st.P[t * per_tile + widx]);
        if (write) pulse_slow(st, t, widx, aimc_slow_steps(p, n), reads, tl);
      }
      __syncthreads(); /* every thread has read switched[k] and c_line[k] */
      if (threadIdx.x == 0) {
        /* made again here rather than held across the writes */
        c_line = p->transfer_columns ? st.c_in + t * cols : st.c_out + t * rows;
        int flip_now = sweep_ends_period(as->sweeps, aimc_chop_period(p->in_chop_prob));
        if (p->in_chop_random &&
            aimc_chopper_uniform(tp->key, reads, (uint64_t)k, 0) < p->in_chop_prob)
          flip_now = 1;
        switched[k] = 0;
        if (flip_now) {
          c_line[k] = (int8_t)-c_line[k];
          switched[k] = 1;
          atomicAdd(&tl->flips, 1ull);
        }
      }
      break;
    }
    default:
      break;
  }
  __syncthreads(); /* the line is done before the pointer moves */
  if (threadIdx.x == 0) {
    as->next = (int32_t)((k + 1) % lines);
    if (k == lines - 1) as->sweeps++;
    as->reads++;
  }
  __syncthreads();
}

/* Digital multiply-adds of one line transfer. */
__device__ static inline uint64_t line_ops(const aimc_algo_params_t *p, int64_t n_out) {
  switch (p->kind) {
    case AIMC_ALGO_TTV2:
    case AIMC_ALGO_CHOPPED_TTV2:
      return (uint64_t)n_out;
    case AIMC_ALGO_AGAD:
      return 3u * (uint64_t)n_out;
    default:
      return 0;
  }
}

template <int KIND>
__global__ void AIMC_HOT_KERNEL transfer_kernel(aimc_state_t st, int64_t batch,
                                                const float *count_lr, aimc_tile_stats_t *stats,
                                                float *scratch) {
  __shared__ transfer_shared_t sh;
  int64_t width = st.rows > st.cols ? st.rows : st.cols;
  float *in = scratch + (uint64_t)blockIdx.x * 3u * (uint64_t)width, *v = in + width,
        *out = v + width;
  AIMC_BLOCK_LOOP(t, (uint64_t)st.n_tiles) {
    const aimc_tile_params_t *tp = &st.params[t];
    if (transfer_group(tp->algo.kind) != KIND) continue; /* another launch's tile */
    int32_t lines = aimc_transfer_lines(&tp->algo, st.rows, st.cols);
    if (threadIdx.x == 0) {
      aimc_algo_state_t *as = &st.algo[t];
      as->samples++;
      int64_t every = aimc_transfer_period(&tp->algo, batch, lines, aimc_fast_states(tp));
      int due = every != 0 && as->samples % (uint64_t)every == 0;
      sh.n_reads = !due ? 0 : (aimc_is_chopped(tp->algo.kind) ? 1 : tp->algo.n_reads);
      sh.tally.up = sh.tally.down = sh.tally.flips = 0;
    }
    __syncthreads();
    int32_t n = sh.n_reads;
    for (int32_t r = 0; r < n; ++r)
      transfer_line<KIND>(st, (int64_t)t, count_lr[t], in, v, out, &sh, &sh.tally);
    /* transfer_line ends on a barrier: every count is in */
    uint64_t up = sh.tally.up, down = sh.tally.down, flips = sh.tally.flips;
    if (threadIdx.x == 0 && n > 0) {
      int64_t n_out = tp->algo.transfer_columns ? st.rows : st.cols;
      aimc_count(&stats[t].pulses_up, up);
      aimc_count(&stats[t].pulses_down, down);
      aimc_count(&stats[t].array_pulses[AIMC_ARRAY_SLOW], up + down);
      aimc_count(&stats[t].chopper_flips, flips);
      aimc_count(&stats[t].transfers, (uint64_t)n);
      aimc_count(&stats[t].digital_ops, (uint64_t)n * line_ops(&tp->algo, n_out));
    }
    __syncthreads(); /* sh is read before thread 0 writes the next tile's */
  }
}

aimc_status_t aimc_cuda_transfer(aimc_context_t *ctx, aimc_state_t *st, int64_t batch,
                                 const float *count_lr, aimc_tile_stats_t *stats) {
  aimc_status_t s = aimc_cuda_begin(ctx);
  if (s != AIMC_OK) return s;
  uint64_t width = (uint64_t)(st->rows > st->cols ? st->rows : st->cols);
  uint64_t blocks = (uint64_t)aimc_cu(ctx)->sm_count * 16u;
  if (blocks > (uint64_t)st->n_tiles) blocks = (uint64_t)st->n_tiles;
  float *scratch;
  s = aimc_cuda_workspace(ctx, (size_t)(blocks * 3u * width * sizeof(float)), (void **)&scratch);
  if (s != AIMC_OK) return s;
  /* the read's lanes: rows of W x for column reads, columns of W^T d for row reads */
  unsigned threads = AIMC_THREADS;
  if (width * 8u < threads) threads = (unsigned)((width * 8u + 31u) / 32u * 32u);
  /* The instantiation of the batch's algorithm: every tile of a batch has
   * tile 0's kind (host/tiles.c). Without host parameters every one is
   * launched; each serves only its own tiles, and tiles share nothing. */
  int present[AIMC_ALGO_COUNT + 1] = {0};
  if (st->host_params && st->n_tiles > 0) {
    present[transfer_group(st->host_params[0].algo.kind)] = 1;
  } else {
    present[AIMC_ALGO_TIKI_TAKA] = present[AIMC_ALGO_TTV2] = present[AIMC_ALGO_CHOPPED_TTV2] =
        present[AIMC_ALGO_AGAD] = present[TRANSFER_OTHER] = 1;
  }
  cudaStream_t stream = aimc_stream(ctx);
#define TRANSFER_LAUNCH(K)                                                   \
  if (present[K]) {                                                          \
    AIMC_LAUNCH(transfer_kernel<K>, (unsigned)blocks, threads, 0, stream)    \
    (*st, batch, count_lr, stats, scratch);                                  \
    if ((s = aimc_cuda_launched(ctx, "transfer_kernel")) != AIMC_OK) return s; \
  }
  TRANSFER_LAUNCH(AIMC_ALGO_TIKI_TAKA)
  TRANSFER_LAUNCH(AIMC_ALGO_TTV2)
  TRANSFER_LAUNCH(AIMC_ALGO_CHOPPED_TTV2)
  TRANSFER_LAUNCH(AIMC_ALGO_AGAD)
  TRANSFER_LAUNCH(TRANSFER_OTHER)
#undef TRANSFER_LAUNCH
  return AIMC_OK;
}
