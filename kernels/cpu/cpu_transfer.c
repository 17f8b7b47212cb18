/* CPU steps of the transfer family (Tiki-Taka v1, TTv2, chopped TTv2,
 * AGAD) for one sample of every tile: the rate of the A update, then the
 * transfer where the tile's schedule says so. The rules are in
 * kernels/common/transfer.h; this file owns the loops. */
#include <omp.h>
#include <string.h>

#include "kernels/common/state.h"
#include "kernels/common/transfer.h"
#include "kernels/common/update.h"
#include "kernels/cpu/cpu.h"

static float abs_max(const float *v, int64_t n) {
  float m = 0.0f;
  for (int64_t k = 0; k < n; ++k) m = aimc_maxf(m, aimc_absf(v[k]));
  return m;
}

aimc_status_t aimc_cpu_transfer_rates(aimc_context_t *ctx, aimc_state_t *st, const float *x,
                                      int64_t x_tile_stride, const float *d,
                                      int64_t d_tile_stride, int64_t batch, float *lr) {
  (void)ctx;
  for (int64_t t = 0; t < st->n_tiles; ++t) {
    const aimc_tile_params_t *tp = &st->params[t];
    aimc_algo_state_t *s = &st->algo[t];
    if (tp->algo.auto_scale && aimc_is_chopped(tp->algo.kind)) {
      float mom = tp->algo.auto_momentum;
      s->mx = aimc_auto_scale(s->mx, abs_max(x + t * x_tile_stride, st->cols), mom, batch);
      s->md = aimc_auto_scale(s->md, abs_max(d + t * d_tile_stride, st->rows), mom, batch);
    }
    lr[t] = aimc_fast_rate(tp, s);
  }
  return AIMC_OK;
}

/* Scratch of one thread: the read (one-hot input, output, IO scratch) and
 * the pulse trains of a Tiki-Taka v1 write. */
typedef struct tscratch {
  float *in, *v;
  aimc_read_scratch_t io;
  uint32_t *trains;
} tscratch_t;

/* n pulses (up when n > 0) on device widx of C from transfer `reads`,
 * counted in the statistics. */
static void pulse_slow(aimc_state_t *st, int64_t t, int64_t widx, int32_t n, uint64_t reads,
                       aimc_tile_stats_t *stats) {
  size_t k = (size_t)(t * (int64_t)st->rows * st->cols + widx);
  uint32_t count = aimc_pulse_write(&st->params[t], &st->arr[AIMC_ARRAY_SLOW], AIMC_ARRAY_SLOW, k,
                                    (uint64_t)widx, n, reads);
  if (n > 0)
    stats[t].pulses_up += count;
  else
    stats[t].pulses_down += count;
  stats[t].array_pulses[AIMC_ARRAY_SLOW] += count;
}

/* Tiki-Taka v1: C += lr_t v e_k^T as an update with the transfer-update
 * parameters (x = e_k, d = -v): exact for the NONE types, else pulses. */
static void write_tiki_taka(aimc_state_t *st, int64_t t, int64_t k, const float *v,
                            int64_t n_out, uint64_t reads, tscratch_t *s,
                            aimc_tile_stats_t *stats) {
  const aimc_tile_params_t *tp = &st->params[t];
  aimc_update_params_t u = tp->upd[1];
  u.lr = aimc_transfer_rate(tp);
  if (!(u.lr > 0.0f)) return;
  aimc_array_t *arr = &st->arr[AIMC_ARRAY_SLOW];
  int64_t per_tile = (int64_t)st->rows * st->cols;
  if (u.pulse_type == AIMC_PULSE_NONE || u.pulse_type == AIMC_PULSE_NONE_WITH_DEVICE) {
    for (int64_t o = 0; o < n_out; ++o) {
      int64_t widx = aimc_line_element(&tp->algo, st->cols, o, k);
      aimc_tt_exact_write(tp, u.pulse_type, u.lr, arr, (size_t)(t * per_tile + widx),
                          (uint64_t)widx, v[o], reads);
    }
    return;
  }
  aimc_blab_t bb = aimc_update_blab(&u, 1.0f, abs_max(v, n_out));
  if (bb.bl == 0) return;
  int32_t nw = AIMC_TRAIN_WORDS(bb.bl);
  uint64_t call = aimc_array_counter(AIMC_ARRAY_SLOW, reads);
  uint32_t *xt = s->trains, *dt = s->trains + nw;
  int stochastic = u.pulse_type == AIMC_PULSE_STOCHASTIC_COMPRESSED;
  float cx = 0.0f;
  if (stochastic)
    aimc_make_train(tp->key, aimc_subsequence(AIMC_STREAM_TRANSFER_WRITE, call), (uint64_t)k,
                    aimc_update_prob(&u, 1.0f, bb.b, 0.5f), bb.bl, xt);
  else if (u.pulse_type == AIMC_PULSE_MEAN_COUNT)
    cx = aimc_mean_count(bb.bl, aimc_update_prob(&u, 1.0f, bb.b, 0.5f));
  else
    cx = aimc_implicit_q(&u, 1.0f, bb.b, u.x_res_implicit, 0.5f);
  for (int64_t o = 0; o < n_out; ++o) {
    int32_t n;
    if (stochastic) {
      aimc_make_train(tp->key, aimc_subsequence(AIMC_STREAM_TRANSFER_WRITE + 1, call),
                      (uint64_t)o, aimc_update_prob(&u, v[o], bb.a, 0.5f), bb.bl, dt);
      n = aimc_coincidences(xt, dt, nw);
    } else {
      float cd = u.pulse_type == AIMC_PULSE_MEAN_COUNT
                     ? aimc_mean_count(bb.bl, aimc_update_prob(&u, v[o], bb.a, 0.5f))
                     : aimc_implicit_q(&u, v[o], bb.a, u.d_res_implicit, 0.5f);
      n = aimc_implicit_count(u.pulse_type, bb.bl, cx, cd);
    }
    /* d = -v and x = +1 differ in sign (weight up) exactly when v > 0 */
    pulse_slow(st, t, aimc_line_element(&tp->algo, st->cols, o, k), v[o] > 0.0f ? n : -n, reads,
               stats);
  }
}

/* Flips chopper c (+-1) and counts it. */
static void flip(int8_t *c, aimc_tile_stats_t *stats, int64_t t) {
  *c = (int8_t)-*c;
  stats[t].chopper_flips += 1u;
}

/* One transfer of line k of tile t. */
static void transfer_line(aimc_state_t *st, int64_t t, float count_lr, tscratch_t *s,
                          aimc_tile_stats_t *stats) {
  const aimc_tile_params_t *tp = &st->params[t];
  const aimc_algo_params_t *p = &tp->algo;
  aimc_algo_state_t *as = &st->algo[t];
  int64_t rows = st->rows, cols = st->cols, per_tile = rows * cols;
  int32_t lines = aimc_transfer_lines(p, st->rows, st->cols);
  int64_t n_out = p->transfer_columns ? rows : cols;
  int64_t k = as->next;
  uint64_t reads = as->reads;
  int dir = p->transfer_columns ? AIMC_TRANSFER_FORWARD : AIMC_TRANSFER_BACKWARD;

  /* read line k of A with a one-hot input through the transfer IO */
  memset(s->in, 0, (size_t)lines * sizeof(float));
  s->in[k] = 1.0f;
  aimc_cpu_read_vector(tp, dir, st->arr[AIMC_ARRAY_FAST].w + t * per_tile, rows, cols, s->in,
                       s->v, AIMC_TRANSFER_READ_CALL | reads, 1, 0, &s->io);

  float *H = st->H ? st->H + t * per_tile : NULL;
  int8_t *c_line = NULL, *c_other = NULL; /* choppers of the swept and the other dimension */
  if (st->c_in) {
    c_line = p->transfer_columns ? st->c_in + t * cols : st->c_out + t * rows;
    c_other = p->transfer_columns ? st->c_out + t * rows : st->c_in + t * cols;
  }
  int64_t period = aimc_chop_period(p->in_chop_prob);
  switch (p->kind) {
    case AIMC_ALGO_TIKI_TAKA: {
      if (p->with_reset_prob > 0.0f &&
          aimc_chopper_uniform(tp->key, reads, (uint64_t)k, 3) < p->with_reset_prob) {
        aimc_array_t *arr = &st->arr[AIMC_ARRAY_FAST];
        for (int64_t o = 0; o < n_out; ++o) {
          int64_t widx = aimc_line_element(p, cols, o, k);
          aimc_reset_element(tp, arr, AIMC_ARRAY_FAST, (size_t)(t * per_tile + widx),
                             (uint64_t)widx, 1.0f, AIMC_TRANSFER_READ_CALL | reads,
                             AIMC_TRANSFER_READ_CALL | reads);
        }
      }
      write_tiki_taka(st, t, k, s->v, n_out, reads, s, stats);
      break;
    }
    case AIMC_ALGO_TTV2:
      for (int64_t o = 0; o < n_out; ++o) {
        int64_t widx = aimc_line_element(p, cols, o, k);
        int32_t n = aimc_ttv2_element(tp, s->v[o], &H[widx]);
        pulse_slow(st, t, widx, aimc_slow_steps(p, n), reads, stats);
      }
      stats[t].digital_ops += (uint64_t)n_out;
      break;
    case AIMC_ALGO_CHOPPED_TTV2: {
      float sc = aimc_buffer_scale(tp, count_lr, lines);
      for (int64_t o = 0; o < n_out; ++o) {
        int64_t widx = aimc_line_element(p, cols, o, k);
        float sign = (c_line[k] < 0) != (c_other[o] < 0) ? -1.0f : 1.0f;
        int32_t n = aimc_chopped_element(tp, s->v[o], sign, sc, &H[widx]);
        pulse_slow(st, t, widx, aimc_slow_steps(p, n), reads, stats);
      }
      stats[t].digital_ops += (uint64_t)n_out;
      if (p->in_chop_prob > 0.0f) {
        int sw = p->in_chop_random
                     ? aimc_chopper_uniform(tp->key, reads, (uint64_t)k, 0) < p->in_chop_prob
                     : (int64_t)(as->sweeps % (uint64_t)period) == period - 1;
        if (sw) flip(&c_line[k], stats, t);
      }
      if (k == lines - 1 && p->out_chop_prob > 0.0f)
        for (int64_t o = 0; o < n_out; ++o)
          if (aimc_chopper_uniform(tp->key, reads, (uint64_t)(lines + o), 1) < p->out_chop_prob)
            flip(&c_other[o], stats, t);
      break;
    }
    case AIMC_ALGO_AGAD: {
      float sc = aimc_buffer_scale(tp, count_lr, lines);
      uint8_t *switched = st->switched + t * aimc_line_stride(st);
      int sw = switched[k];
      switched[k] = 0;
      /* writes start once the past mean of a full chopper period exists */
      int write = as->sweeps >= (uint64_t)period;
      for (int64_t o = 0; o < n_out; ++o) {
        int64_t widx = aimc_line_element(p, cols, o, k);
        float sign = (c_line[k] < 0) != (c_other[o] < 0) ? -1.0f : 1.0f;
        int32_t n = aimc_agad_element(tp, s->v[o], sign, sc, sw, &H[widx], &st->M[t * per_tile + widx],
                                      &st->P[t * per_tile + widx]);
        if (write) pulse_slow(st, t, widx, aimc_slow_steps(p, n), reads, stats);
      }
      stats[t].digital_ops += 3u * (uint64_t)n_out;
      int64_t cur = (int64_t)(as->sweeps % (uint64_t)period) + 1;
      int flip_now = cur == period;
      if (p->in_chop_random && aimc_chopper_uniform(tp->key, reads, (uint64_t)k, 0) < p->in_chop_prob)
        flip_now = 1;
      if (flip_now) {
        flip(&c_line[k], stats, t);
        switched[k] = 1;
      }
      break;
    }
    default:
      break;
  }
  as->next = (int32_t)((k + 1) % lines);
  if (k == lines - 1) as->sweeps++;
  as->reads++;
  stats[t].transfers += 1u;
}

/* Tile t's step of one sample: the transfers its schedule makes now. */
static void transfer_tile(aimc_state_t *st, int64_t t, int64_t batch, const float *count_lr,
                          tscratch_t *s, aimc_tile_stats_t *stats) {
  const aimc_tile_params_t *tp = &st->params[t];
  aimc_algo_state_t *as = &st->algo[t];
  as->samples++;
  int32_t lines = aimc_transfer_lines(&tp->algo, st->rows, st->cols);
  int64_t every = aimc_transfer_period(&tp->algo, batch, lines, aimc_fast_states(tp));
  if (every == 0 || as->samples % (uint64_t)every != 0) return;
  int32_t n = aimc_is_chopped(tp->algo.kind) ? 1 : tp->algo.n_reads;
  for (int32_t r = 0; r < n; ++r) transfer_line(st, t, count_lr[t], s, stats);
}

/* The scratch of thread k in the block `all` of per_thread bytes each. */
static tscratch_t thread_scratch(char *all, size_t per_thread, int k, int64_t width,
                                 const aimc_simd_ops_t *ops) {
  float *f = (float *)(all + (size_t)k * per_thread);
  tscratch_t s = {f, f + width,
                  {f + 2 * width, f + 3 * width, f + 4 * width, f + 5 * width, f + 6 * width,
                   f + 7 * width, f + 8 * width, (uint32_t *)(f + 9 * width), ops},
                  (uint32_t *)(f + 10 * width)};
  return s;
}

aimc_status_t aimc_cpu_transfer(aimc_context_t *ctx, aimc_state_t *st, int64_t batch,
                                const float *count_lr, aimc_tile_stats_t *stats) {
  int nt = aimc_cpu_threads(ctx, st->n_tiles * st->rows * st->cols);
  int64_t width = st->rows > st->cols ? st->rows : st->cols;
  int32_t max_bl = 1;
  for (int64_t t = 0; t < st->n_tiles; ++t) {
    const aimc_update_params_t *u = &st->params[t].upd[1];
    int32_t bl = u->fixed_bl || u->ublm ? u->desired_bl : AIMC_MAX_BL;
    if (bl > max_bl) max_bl = bl;
  }
  size_t per_thread = (size_t)((2 + AIMC_READ_SCRATCH_ARRAYS) * width) * sizeof(float) +
                      (size_t)(2 * AIMC_TRAIN_WORDS(max_bl)) * sizeof(uint32_t);
  const aimc_simd_ops_t *ops = aimc_cpu_env(ctx)->simd;
  aimc_cpu_arena_t *ar = aimc_cpu_arena_take(ctx);
  char *all = NULL;
  if (ar && aimc_cpu_arena_begin(ar, (size_t)nt * per_thread))
    all = aimc_cpu_carve(ar, (size_t)nt * per_thread);
  if (!all) {
    if (ar) aimc_cpu_arena_give(ctx, ar);
    return aimc_error(ctx, AIMC_ERR_OUT_OF_MEMORY, "out of host memory for transfer scratch");
  }
  if (nt == 1) {
    tscratch_t s = thread_scratch(all, per_thread, 0, width, ops);
    for (int64_t t = 0; t < st->n_tiles; ++t) transfer_tile(st, t, batch, count_lr, &s, stats);
  } else {
#pragma omp parallel num_threads(nt)
    {
      tscratch_t s = thread_scratch(all, per_thread, omp_get_thread_num(), width, ops);
#pragma omp for schedule(dynamic, 1)
      for (int64_t t = 0; t < st->n_tiles; ++t) transfer_tile(st, t, batch, count_lr, &s, stats);
    }
  }
  aimc_cpu_arena_give(ctx, ar);
  return AIMC_OK;
}
