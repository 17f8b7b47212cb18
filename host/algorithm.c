/* The algorithm layer: what an update, a weight write, decay and reset mean
 * for the batch's algorithm. Each algorithm composes backend primitives;
 * the per-algorithm schedules live in algo_*.c. */
#include <stdlib.h>
#include <string.h>

#include "host/algorithms.h"

/* Runs a backend call and advances the given counter on success. */
#define COUNTED(call, counter)                 \
  do {                                         \
    aimc_status_t s_ = (call);                 \
    if (s_ != AIMC_OK) return s_;              \
    (counter)++;                               \
  } while (0)

aimc_status_t aimc_algo_combine(aimc_tiles_t *t) {
  if (t->st.w == t->st.arr[0].w) return AIMC_OK;
  return t->ctx->ops->combine(t->ctx, &t->st);
}

aimc_status_t aimc_algo_step(aimc_tiles_t *t, const aimc_update_args_t *proto,
                             aimc_status_t (*step)(aimc_context_t *, aimc_state_t *,
                                                   const aimc_update_args_t *,
                                                   aimc_tile_stats_t *)) {
  aimc_update_args_t a = *proto;
  a.call = t->counters.update;
  a.write_call = t->counters.write;
  aimc_status_t s = step(t->ctx, &t->st, &a, t->stats);
  if (s == AIMC_OK) {
    t->counters.update++;
    t->counters.write++;
  }
  return s;
}

aimc_status_t aimc_algo_pulse(aimc_tiles_t *t, const aimc_update_args_t *proto) {
  return aimc_algo_step(t, proto, t->ctx->ops->update);
}

aimc_status_t aimc_algo_write(aimc_tiles_t *t, const float *w, aimc_write_mode_t mode) {
  COUNTED(t->ctx->ops->write_weights(t->ctx, &t->st, w, mode, t->counters.write),
          t->counters.write);
  return AIMC_OK;
}

/* Fills a backend array of n bytes with the byte value v. */
static aimc_status_t fill_bytes(aimc_tiles_t *t, void *dst, size_t n, int v) {
  if (!dst) return AIMC_OK;
  unsigned char *host = malloc(n);
  if (!host) return aimc_error(t->ctx, AIMC_ERR_OUT_OF_MEMORY, "out of host memory");
  memset(host, v, n);
  aimc_status_t s = t->ctx->ops->copy(t->ctx, dst, host, n, AIMC_COPY_HOST_TO_CONTEXT);
  free(host);
  return s;
}

/* Clears buffers, choppers (+1) and the per-tile algorithm state. */
aimc_status_t aimc_algo_reset_state(aimc_tiles_t *t) {
  aimc_state_t *st = &t->st;
  aimc_context_t *ctx = t->ctx;
  size_t n = (size_t)st->n_tiles, nw = n * (size_t)st->rows * (size_t)st->cols;
  aimc_status_t s = AIMC_OK;
  float *bufs[3] = {st->H, st->M, st->P};
  for (int k = 0; k < 3 && s == AIMC_OK; ++k)
    if (bufs[k]) s = ctx->ops->zero(ctx, bufs[k], nw * sizeof(float));
  if (s == AIMC_OK) s = fill_bytes(t, st->c_in, n * (size_t)st->cols, 1);
  if (s == AIMC_OK) s = fill_bytes(t, st->c_out, n * (size_t)st->rows, 1);
  if (s == AIMC_OK && st->switched)
    s = ctx->ops->zero(ctx, st->switched, n * (size_t)aimc_line_stride(st));
  if (s != AIMC_OK) return s;
  aimc_algo_state_t *host = calloc(n, sizeof *host);
  if (!host) return aimc_error(ctx, AIMC_ERR_OUT_OF_MEMORY, "out of host memory");
  for (size_t k = 0; k < n; ++k) host[k].mx = host[k].md = -1.0f; /* unset running maxima */
  s = ctx->ops->copy(ctx, st->algo, host, n * sizeof *host, AIMC_COPY_HOST_TO_CONTEXT);
  free(host);
  return s;
}

static const aimc_algorithm_ops_t *ops_of(const aimc_tiles_t *t) {
  switch (t->hparams[0].algo.kind) {
    case AIMC_ALGO_SGD: return &aimc_algo_sgd;
    case AIMC_ALGO_FLOAT_SGD: return &aimc_algo_float_sgd;
    case AIMC_ALGO_TIKI_TAKA:
    case AIMC_ALGO_TTV2:
    case AIMC_ALGO_CHOPPED_TTV2:
    case AIMC_ALGO_AGAD: return &aimc_algo_transfer;
    case AIMC_ALGO_MIXED_PRECISION: return &aimc_algo_mixed_precision;
    case AIMC_ALGO_STELLAR: return &aimc_algo_stellar;
    case AIMC_ALGO_PANTHER: return &aimc_algo_panther;
    default: return NULL;
  }
}

aimc_status_t aimc_algorithm_init(aimc_tiles_t *t) {
  const aimc_algorithm_ops_t *ops = ops_of(t);
  if (!ops)
    return aimc_error(t->ctx, AIMC_ERR_UNSUPPORTED, "algorithm %s is not implemented",
                      aimc_algorithm_name((aimc_algorithm_t)t->hparams[0].algo.kind));
  return aimc_algorithm_write(t, NULL, AIMC_WRITE_INIT);
}

aimc_status_t aimc_algorithm_update(aimc_tiles_t *t, const aimc_update_args_t *a) {
  aimc_status_t s = ops_of(t)->update(t, a);
  if (s != AIMC_OK) return s;
  return aimc_algo_combine(t);
}

/* Writing weights starts the algorithm afresh: buffers cleared, choppers +1,
 * counters 0 (aihwkit keeps them; a rewritten weight invalidates them). */
aimc_status_t aimc_algorithm_write(aimc_tiles_t *t, const float *w, aimc_write_mode_t mode) {
  aimc_status_t s = aimc_algo_reset_state(t);
  if (s == AIMC_OK) s = aimc_algo_write(t, w, mode);
  if (s != AIMC_OK) return s;
  return aimc_algo_combine(t);
}

aimc_status_t aimc_algorithm_decay(aimc_tiles_t *t) {
  aimc_status_t s = t->ctx->ops->decay(t->ctx, &t->st, t->counters.decay, t->counters.write);
  if (s != AIMC_OK) return s;
  t->counters.decay++;
  t->counters.write++;
  return aimc_algo_combine(t);
}

aimc_status_t aimc_algorithm_reset_columns(aimc_tiles_t *t, int32_t array, int32_t col_start,
                                           int32_t n_cols, float prob) {
  aimc_status_t s = t->ctx->ops->reset_columns(t->ctx, &t->st, array, col_start, n_cols, prob,
                                               t->counters.reset, t->counters.write);
  if (s != AIMC_OK) return s;
  t->counters.reset++;
  t->counters.write++;
  return aimc_algo_combine(t);
}

/* ---- Analog SGD and float SGD: one array, one update ------------------------ */

static aimc_status_t sgd_update(aimc_tiles_t *t, const aimc_update_args_t *a) {
  return aimc_algo_pulse(t, a);
}

static aimc_status_t float_sgd_update(aimc_tiles_t *t, const aimc_update_args_t *a) {
  aimc_update_args_t e = *a;
  e.exact = 1;
  return aimc_algo_pulse(t, &e);
}

const aimc_algorithm_ops_t aimc_algo_sgd = {sgd_update};
const aimc_algorithm_ops_t aimc_algo_float_sgd = {float_sgd_update};
