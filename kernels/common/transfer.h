/* Rules of the transfer family (Tiki-Taka v1, TTv2, chopped TTv2, AGAD),
 * shared by both backends: learning rates, the transfer schedule, the
 * buffer update of one read element, and the chopper flips. The backends
 * own the loops, the analog reads of A and the pulses written to C.
 *
 * Arrays: 0 = C (slow, the weight), 1 = A (fast). A accumulates the
 * gradient like a weight (A -= lr_A d x^T, chopped in c-TTv2/AGAD); every
 * `every` samples one column (row) k of A is read through the transfer IO
 * and moved into C. */
#ifndef AIMC_COMMON_TRANSFER_H
#define AIMC_COMMON_TRANSFER_H

#include "params.h"
#include "rng.h"
#include "state.h"
#include "update.h"

#define AIMC_ARRAY_SLOW 0
#define AIMC_ARRAY_FAST 1

/* Streams of the algorithm steps (stream kinds beside rng.h's). */
#define AIMC_STREAM_CHOPPER 50        /* chopper flips */
#define AIMC_STREAM_TRANSFER_WRITE 51 /* + 0, 1, 2: x trains, d trains, pulse noise of C writes */
#define AIMC_STREAM_TRANSFER_RESET 54 /* TTv1 column resets */
#define AIMC_STREAM_MP_ROUND 55       /* mixed-precision stochastic binning */
#define AIMC_STREAM_PANTHER_ROUND 56  /* PANTHER stochastic quantisation of lr d */
/* Transfer reads draw IO noise with this flag in the call counter, apart from
 * the user's own transfer-direction reads. */
#define AIMC_TRANSFER_READ_CALL (1ull << 40)

AIMC_HD int aimc_is_chopped(int32_t kind) {
  return kind == AIMC_ALGO_CHOPPED_TTV2 || kind == AIMC_ALGO_AGAD;
}

/* Lines swept by transfers (columns of A, or rows) and the length of a read. */
AIMC_HD int32_t aimc_transfer_lines(const aimc_algo_params_t *p, int32_t rows, int32_t cols) {
  return p->transfer_columns ? cols : rows;
}

/* Running maximum of the auto-scale: the first value is copied, zeros are
 * ignored, else an exponential average with step (1 - momentum) / batch. */
AIMC_HD float aimc_auto_scale(float m, float v, float momentum, int64_t batch) {
  if (!(m > 0.0f)) return v;
  if (!(v > 0.0f)) return m;
  float tau = (1.0f - momentum) / (float)batch;
  return (1.0f - tau) * m + tau * v;
}

/* Learning rate of the pulses into A for the current sample (aihwkit's
 * pulse-count learning rate). lr is the tile's learning rate. */
AIMC_HD float aimc_fast_rate(const aimc_tile_params_t *tp, const aimc_algo_state_t *s) {
  const aimc_algo_params_t *p = &tp->algo;
  float lr = tp->upd[0].lr;
  if (!(p->fast_lr > 0.0f)) return lr;
  if (p->auto_scale && aimc_is_chopped(p->kind)) {
    float r = p->fast_lr * (float)tp->upd[0].desired_bl * p->dw_min_fast;
    if (s->mx > 0.0f && s->md > 0.0f) r = r / (s->mx * s->md);
    return p->scale_fast_lr ? r * lr : r;
  }
  return p->scale_fast_lr ? p->fast_lr * lr : p->fast_lr;
}

/* Learning rate of the transfer: transfer_lr, times the tile rate when
 * scaled, times gamma for the buffered algorithms when A is visible. */
AIMC_HD float aimc_transfer_rate(const aimc_tile_params_t *tp) {
  const aimc_algo_params_t *p = &tp->algo;
  float r = p->transfer_lr;
  if (p->scale_transfer_lr) r = r * tp->upd[0].lr;
  if (p->kind != AIMC_ALGO_TIKI_TAKA && p->gamma > 0.0f) r = r * p->gamma;
  return r;
}

/* Saturation of the transfer buffers: a buffer this full writes max_steps
 * per read anyway, and capping it keeps an overflowing accumulation (huge
 * rates) from becoming inf and then NaN (0 x inf when forgetting or reading a zero). Far
 * above any value reached in training, so no result below it changes. */
#define AIMC_BUFFER_MAX 1e30f

/* Samples between transfers for a mini-batch of `batch` samples (0: never).
 * A negative transfer_every means |transfer_every| x states of A / lines
 * (chopped algorithms only). */
AIMC_HD int64_t aimc_transfer_period(const aimc_algo_params_t *p, int64_t batch, int32_t lines,
                                     float fast_states) {
  float te = p->transfer_every;
  if (te < 0.0f) {
    if (!aimc_is_chopped(p->kind)) return 0;
    float e = rintf(fast_states / (float)lines * -te);
    return aimc_to_i64(e, 1.0f, AIMC_I64_FLOAT_MAX, 1);
  }
  float e = p->units_in_mbatch ? ceilf(te * (float)batch) : rintf(te);
  return e < 1.0f ? 0 : aimc_to_i64(e, 1.0f, AIMC_I64_FLOAT_MAX, 0);
}

/* States of the fast device (range / granularity). */
AIMC_HD float aimc_fast_states(const aimc_tile_params_t *tp) {
  const aimc_device_desc_t *d = &tp->desc[1];
  return (d->w_max - d->w_min) / tp->algo.dw_min_fast;
}

/* Scale from a read value to buffer units for the chopped algorithms:
 * s = |lr_t| / bg (or / count_lr / bg when correcting gradient magnitudes). */
AIMC_HD float aimc_buffer_scale(const aimc_tile_params_t *tp, float count_lr, int32_t lines) {
  const aimc_algo_params_t *p = &tp->algo;
  float bg = (p->buffer_granularity > 0.0f ? p->buffer_granularity : 1.0f) * p->dw_min_fast;
  if (p->auto_granularity > 0.0f)
    bg = bg * (p->auto_granularity / ((float)lines * aimc_absf(p->transfer_every)));
  float s = aimc_absf(aimc_transfer_rate(tp));
  if (p->correct_gradient_magnitudes) {
    bg = bg * p->dw_min_slow / p->dw_min_fast;
    if (count_lr > 0.0f) s = s / count_lr;
  }
  return aimc_minf(s / bg, AIMC_BUFFER_MAX);
}

/* Threshold step of the buffer: |h| >= 1 writes n = trunc(h) (at most
 * max_steps) steps to C, then forgets (h = momentum h) or keeps the rest
 * (h -= (1 - momentum) n), optionally capped. Returns n. */
AIMC_HD int32_t aimc_buffer_threshold(const aimc_algo_params_t *p, float *h) {
  float v = *h;
  if (!(aimc_absf(v) >= 1.0f)) return 0;
  v = aimc_clampf(v, -AIMC_BUFFER_MAX, AIMC_BUFFER_MAX);
  float cap = (float)p->max_steps;
  float n = aimc_clampf(truncf(v), -cap, cap);
  float m = aimc_clampf(p->momentum, 0.0f, 1.0f);
  if (p->forget_buffer) {
    v = m * v;
  } else {
    v = v - (1.0f - m) * n;
    if (p->kind == AIMC_ALGO_AGAD && p->buffer_cap > 0.0f)
      v = aimc_clampf(v, -cap * p->buffer_cap, cap * p->buffer_cap);
  }
  *h = v;
  return aimc_to_i32(n, -cap, cap, 0);
}

/* TTv2 (buffered, no choppers): H accumulates |lr_t| v in weight units and
 * is thresholded at g = thres_scale x C's granularity. Returns n. */
AIMC_HD int32_t aimc_ttv2_element(const aimc_tile_params_t *tp, float v, float *h) {
  const aimc_algo_params_t *p = &tp->algo;
  float g = p->thres_scale * p->dw_min_slow;
  float hh = aimc_clampf(*h + aimc_absf(aimc_transfer_rate(tp)) * v, -AIMC_BUFFER_MAX,
                         AIMC_BUFFER_MAX);
  float cap = (float)p->max_steps;
  float n = aimc_clampf(truncf(hh / g), -cap, cap);
  if (n != 0.0f) {
    float m = aimc_clampf(p->momentum, 0.0f, 1.0f);
    hh = p->forget_buffer ? m * hh : hh - (1.0f - m) * n * g;
  }
  *h = hh;
  return aimc_to_i32(n, -cap, cap, 0);
}

/* Chopped TTv2: the read is de-chopped by the sign of the two choppers and
 * added to the (dimensionless) buffer. Returns n. */
AIMC_HD int32_t aimc_chopped_element(const aimc_tile_params_t *tp, float v, float sign, float s,
                                     float *h) {
  float hh = (tp->algo.no_buffer ? 0.0f : *h) + s * v * sign;
  int32_t n = aimc_buffer_threshold(&tp->algo, &hh);
  *h = hh;
  return n;
}

/* Pulses on C for a buffer crossing of n: round(|n| step), signed. */
AIMC_HD int32_t aimc_slow_steps(const aimc_algo_params_t *p, int32_t n) {
  float q = rintf(aimc_absf((float)n) * p->step); /* (no -n: n may be INT32_MIN) */
  return aimc_write_pulses(n < 0 ? -q : q);
}

/* Reads per chopper period of AGAD (and regular chopping). */
AIMC_HD int64_t aimc_chop_period(float prob) {
  if (!(prob > 0.0f)) return 2;
  float n = ceilf(1.0f / prob);
  return aimc_to_i64(n, 2.0f, AIMC_I64_FLOAT_MAX, 2);
}

/* AGAD: the buffer integrates the read relative to the mean of the previous
 * chopper period (P), which becomes the running mean M when the chopper of
 * this line switched. Returns n. */
AIMC_HD int32_t aimc_agad_element(const aimc_tile_params_t *tp, float v, float sign, float s,
                                  int switched, float *h, float *M, float *P) {
  const aimc_algo_params_t *p = &tp->algo;
  if (switched) *P = *M;
  float hh = *h + (v - *P) * sign * s;
  int32_t n = aimc_buffer_threshold(p, &hh);
  *h = hh;
  float mom = aimc_minf(p->tail_weightening / (float)aimc_chop_period(p->in_chop_prob), 1.0f);
  *M = (1.0f - mom) * *M + mom * v;
  return n;
}

/* Uniform of the chopper stream for line `line` at read `reads` (word w). */
AIMC_HD float aimc_chopper_uniform(uint64_t key, uint64_t reads, uint64_t line, int w) {
  aimc_u32x4 r = aimc_philox_block(key, aimc_subsequence(AIMC_STREAM_CHOPPER, reads), line);
  return aimc_u01(r.v[w & 3]);
}

/* Element (o, k) of a line read: o along the read, k the swept line. */
AIMC_HD int64_t aimc_line_element(const aimc_algo_params_t *p, int64_t cols, int64_t o,
                                  int64_t k) {
  return p->transfer_columns ? o * cols + k : k * cols + o;
}

/* A digital write of n device pulses (up when n > 0) to element k (widx
 * within the tile) of array a: a transfer into C or a mixed-precision row,
 * write number `reads`, with that write's own noise streams. Returns |n|. */
AIMC_HD uint32_t aimc_pulse_write(const aimc_tile_params_t *tp, aimc_array_t *arr, int32_t a,
                                  size_t k, uint64_t widx, int32_t n, uint64_t reads) {
  if (n == 0) return 0;
  aimc_wparams_t wp;
  aimc_load_wparams(arr, k, &wp);
  aimc_normal_stream_t ns;
  aimc_normal_stream_init(
      &ns, tp->key, aimc_subsequence(AIMC_STREAM_TRANSFER_WRITE + 2, aimc_array_counter(a, reads)),
      widx << 32);
  uint32_t count = (uint32_t)(n > 0 ? (int64_t)n : -(int64_t)n);
  float h = aimc_device_pulses(aimc_array_dev(tp, a), &wp, arr->h[k], n > 0, count, &ns);
  arr->h[k] = h;
  arr->w[k] = aimc_refresh_visible(tp, a, h, wp.ref, AIMC_TRANSFER_READ_CALL | reads, widx);
  return count;
}

/* Tiki-Taka v1's exact write of read value v into element k of C with the
 * transfer-update type NONE (h += lr v) or NONE_WITH_DEVICE (clipped to the
 * bounds, the visible weight redrawn with write `reads`'s noise). */
AIMC_HD void aimc_tt_exact_write(const aimc_tile_params_t *tp, int32_t pulse_type, float lr,
                                 aimc_array_t *arr, size_t k, uint64_t widx, float v,
                                 uint64_t reads) {
  aimc_wparams_t wp;
  aimc_load_wparams(arr, k, &wp);
  float h = arr->h[k] + lr * v;
  if (pulse_type == AIMC_PULSE_NONE_WITH_DEVICE) h = aimc_clampf(h, wp.bmin, wp.bmax);
  arr->h[k] = h;
  arr->w[k] = pulse_type == AIMC_PULSE_NONE
                  ? h - wp.ref
                  : aimc_refresh_visible(tp, AIMC_ARRAY_SLOW, h, wp.ref,
                                         AIMC_TRANSFER_READ_CALL | reads, widx);
}

#endif
