/* Tile batches: creation from descriptors, argument validation, and the
 * dispatch of every operation to the context's backend. Every entry point
 * validates all arguments before anything is changed. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "host/internal.h"
#include "kernels/common/io.h"
#include "kernels/common/rng.h"
#include "kernels/common/transfer.h"

void aimc_tiles_desc_default(aimc_tiles_desc_t *desc) {
  if (!desc) return;
  memset(desc, 0, sizeof *desc);
  desc->n_tiles = 1;
  desc->rows = 1;
  desc->cols = 1;
  aimc_tile_config_default(&desc->config);
  desc->per_tile = NULL;
  desc->seed = AIMC_SEED_FROM_CONTEXT;
  desc->tile_seeds = NULL;
}

static const aimc_tile_config_t *config_of(const aimc_tiles_desc_t *desc, int64_t t) {
  return desc->per_tile ? &desc->per_tile[t] : &desc->config;
}

/* Which optional planes, and whether a separate device-state array, array a
 * of the batch needs. */
static void needed_planes(const aimc_tile_params_t *p, int64_t n, int32_t a, int want[],
                          int *separate_h) {
  for (int k = 0; k < AIMC_PLANE_COUNT; ++k) want[k] = k <= AIMC_PLANE_STEP_DOWN;
  *separate_h = 0;
  for (int64_t t = 0; t < n; ++t) {
    const aimc_device_desc_t *d = &p[t].desc[p[t].array_device[a]];
    if (d->model == AIMC_DEVICE_LINEAR_STEP || d->model == AIMC_DEVICE_SOFT_BOUNDS ||
        d->model == AIMC_DEVICE_POW_STEP)
      want[AIMC_PLANE_SLOPE_UP] = want[AIMC_PLANE_SLOPE_DOWN] = 1;
    if (d->model == AIMC_DEVICE_SOFT_BOUNDS_REFERENCE) {
      want[AIMC_PLANE_REFERENCE] = 1;
      *separate_h = 1;
    }
    if (d->lifetime > 0.0f) want[AIMC_PLANE_DECAY] = 1;
    if (d->diffusion > 0.0f) want[AIMC_PLANE_DIFFUSION] = 1;
    if (d->reset != 0.0f || d->reset_dtod > 0.0f) want[AIMC_PLANE_RESET_BIAS] = 1;
    if (d->write_noise_std > 0.0f) *separate_h = 1;
  }
}

/* Whether reads need their own array combining the tile's arrays. */
static int needs_combined(const aimc_tile_params_t *p, int64_t n) {
  for (int64_t t = 0; t < n; ++t) {
    int32_t k = p[t].algo.kind;
    if (k == AIMC_ALGO_STELLAR || k == AIMC_ALGO_PANTHER) return 1;
    if (aimc_is_transfer_family(k) && p[t].algo.gamma != 0.0f) return 1;
  }
  return 0;
}

static void release(aimc_tiles_t *t, void *p) {
  if (p) t->ctx->ops->release(t->ctx, p);
}

static void free_state(aimc_tiles_t *t) {
  aimc_state_t *st = &t->st;
  for (int a = 0; a < AIMC_MAX_ARRAYS; ++a) {
    aimc_array_t *arr = &st->arr[a];
    if (arr->h != arr->w) release(t, arr->h);
    release(t, arr->w);
    for (int k = 0; k < AIMC_PLANE_COUNT; ++k) release(t, arr->plane[k]);
  }
  if (st->w != st->arr[0].w) release(t, st->w);
  release(t, st->H), release(t, st->M), release(t, st->P);
  release(t, st->c_in), release(t, st->c_out), release(t, st->switched);
  release(t, st->algo), release(t, (void *)st->params);
  release(t, t->stats), release(t, t->lr);
  free(t->configs);
  free(t->hparams);
  free(t);
}

void aimc_tiles_destroy(aimc_tiles_t *tiles) {
  if (tiles) free_state(tiles);
}

static aimc_status_t alloc_backend(aimc_tiles_t *t, void **p, size_t bytes, const char *what) {
  aimc_context_t *ctx = t->ctx;
  aimc_status_t s = ctx->ops->alloc(ctx, p, bytes);
  if (s != AIMC_OK)
    return aimc_error(ctx, s, "could not allocate %zu bytes for %s of the tile batch (%s)", bytes,
                      what, ctx->last_error);
  return AIMC_OK;
}

static aimc_status_t check_desc(aimc_context_t *ctx, const aimc_tiles_desc_t *desc) {
  if (desc->n_tiles < 1 || desc->n_tiles > ((int64_t)1 << 40))
    return aimc_error(ctx, AIMC_ERR_INVALID_ARGUMENT,
                      "desc->n_tiles = %lld is out of range [1, 2^40]", (long long)desc->n_tiles);
  if (desc->rows < 1 || desc->rows > AIMC_MAX_DIM)
    return aimc_error(ctx, AIMC_ERR_INVALID_ARGUMENT, "desc->rows = %d is out of range [1, %d]",
                      (int)desc->rows, AIMC_MAX_DIM);
  if (desc->cols < 1 || desc->cols > AIMC_MAX_DIM)
    return aimc_error(ctx, AIMC_ERR_INVALID_ARGUMENT, "desc->cols = %d is out of range [1, %d]",
                      (int)desc->cols, AIMC_MAX_DIM);
  if (!aimc_checked_count(desc->n_tiles, desc->rows, desc->cols))
    return aimc_error(ctx, AIMC_ERR_INVALID_ARGUMENT,
                      "desc->n_tiles * rows * cols = %lld * %d * %d overflows the address space",
                      (long long)desc->n_tiles, (int)desc->rows, (int)desc->cols);
  char msg[AIMC_ERROR_LEN], prefix[64];
  const aimc_algorithm_desc_t *first = &config_of(desc, 0)->algorithm;
  for (int64_t t = 0; t < (desc->per_tile ? desc->n_tiles : 1); ++t) {
    if (desc->per_tile)
      snprintf(prefix, sizeof prefix, "desc->per_tile[%lld]", (long long)t);
    else
      snprintf(prefix, sizeof prefix, "desc->config");
    const aimc_tile_config_t *c = config_of(desc, t);
    aimc_status_t s = aimc_config_check(c, prefix, msg, sizeof msg);
    if (s != AIMC_OK) return aimc_error(ctx, s, "%s", msg);
    /* one algorithm, one set of arrays for the whole batch */
    if (c->algorithm.kind != first->kind ||
        aimc_algorithm_arrays(&c->algorithm) != aimc_algorithm_arrays(first))
      return aimc_error(ctx, AIMC_ERR_INVALID_ARGUMENT,
                        "%s.algorithm.kind = %d (%d arrays) differs from tile 0's %d (%d arrays): "
                        "all tiles of a batch run the same algorithm on the same number of arrays",
                        prefix, (int)c->algorithm.kind, aimc_algorithm_arrays(&c->algorithm),
                        (int)first->kind, aimc_algorithm_arrays(first));
  }
  return AIMC_OK;
}

static const char *plane_names[AIMC_PLANE_COUNT] = {
    "min bounds", "max bounds", "up steps", "down steps", "up slopes",
    "down slopes", "references", "decay scales", "diffusion rates", "reset biases"};

/* Allocates array a: visible weights, device states where separate, planes. */
static aimc_status_t alloc_array(aimc_tiles_t *t, int32_t a, size_t wbytes) {
  int want[AIMC_PLANE_COUNT], separate_h;
  needed_planes(t->hparams, t->st.n_tiles, a, want, &separate_h);
  aimc_array_t *arr = &t->st.arr[a];
  aimc_status_t s = alloc_backend(t, (void **)&arr->w, wbytes, "the weights");
  if (s != AIMC_OK) return s;
  arr->h = arr->w;
  if (separate_h && (s = alloc_backend(t, (void **)&arr->h, wbytes, "the device states")))
    return s;
  for (int k = 0; k < AIMC_PLANE_COUNT; ++k)
    if (want[k] && (s = alloc_backend(t, (void **)&arr->plane[k], wbytes, plane_names[k])))
      return s;
  return AIMC_OK;
}

/* Digital state the algorithm keeps. */
static aimc_status_t alloc_algorithm(aimc_tiles_t *t, size_t wbytes) {
  aimc_state_t *st = &t->st;
  int32_t kind = t->hparams[0].algo.kind;
  size_t n = (size_t)st->n_tiles;
  aimc_status_t s = AIMC_OK;
  int buffered = kind == AIMC_ALGO_TTV2 || kind == AIMC_ALGO_CHOPPED_TTV2 ||
                 kind == AIMC_ALGO_AGAD || kind == AIMC_ALGO_MIXED_PRECISION;
  int chopped = kind == AIMC_ALGO_CHOPPED_TTV2 || kind == AIMC_ALGO_AGAD;
  if (buffered && (s = alloc_backend(t, (void **)&st->H, wbytes, "the transfer buffers")))
    return s;
  if (kind == AIMC_ALGO_AGAD &&
      ((s = alloc_backend(t, (void **)&st->M, wbytes, "the running means")) ||
       (s = alloc_backend(t, (void **)&st->P, wbytes, "the past means")) ||
       (s = alloc_backend(t, (void **)&st->switched, n * (size_t)aimc_line_stride(st),
                          "the switch flags"))))
    return s;
  if (chopped && ((s = alloc_backend(t, (void **)&st->c_in, n * (size_t)st->cols,
                                     "the input choppers")) ||
                  (s = alloc_backend(t, (void **)&st->c_out, n * (size_t)st->rows,
                                     "the output choppers"))))
    return s;
  if ((s = alloc_backend(t, (void **)&st->algo, n * sizeof *st->algo, "the algorithm state")) ||
      (s = alloc_backend(t, (void **)&t->lr, n * sizeof(float), "the step rates")))
    return s;
  st->w = st->arr[0].w;
  if (needs_combined(t->hparams, st->n_tiles) &&
      (s = alloc_backend(t, (void **)&st->w, wbytes, "the combined weights")))
    return s;
  return AIMC_OK;
}

/* Every field in range may still combine into a device that is not a
 * finite float (dw_min 1e38 with a spread of 10, bounds of 3e38 with
 * theirs): the drawn state is checked once, so no accepted configuration
 * starts with non-finite device state. */
static aimc_status_t check_drawn_devices(aimc_tiles_t *t) {
  aimc_blob_t blobs[AIMC_MAX_BLOBS];
  int nb = aimc_tiles_state_blobs(t, blobs);
  int64_t per_tile = (int64_t)t->st.rows * t->st.cols;
  for (int b = 0; b < nb; ++b) {
    if (blobs[b].kind != AIMC_BLOB_DEVICE) continue;
    int64_t bad = -1;
    float mx;
    aimc_status_t s = t->ctx->ops->scan_finite(t->ctx, blobs[b].ptr, 1,
                                               t->st.n_tiles * per_tile, 0, &bad, &mx);
    if (s != AIMC_OK) return s;
    if (bad >= 0)
      return aimc_error(t->ctx, AIMC_ERR_INVALID_ARGUMENT,
                        "desc: the device parameters drawn for tile %lld (weight %lld) are not "
                        "finite: the configuration's scales and spreads (dw_min, w_max, w_min "
                        "and their *_dtod, reset, lifetime, diffusion) multiply beyond the "
                        "float range; lower them",
                        (long long)(bad / per_tile), (long long)(bad % per_tile));
  }
  return AIMC_OK;
}

aimc_status_t aimc_tiles_create(aimc_context_t *ctx, const aimc_tiles_desc_t *desc,
                                aimc_tiles_t **out) {
  if (!ctx) return aimc_error(NULL, AIMC_ERR_INVALID_ARGUMENT, "ctx is NULL");
  aimc_clear_error(ctx);
  if (!desc) return aimc_error(ctx, AIMC_ERR_INVALID_ARGUMENT, "desc is NULL");
  if (!out) return aimc_error(ctx, AIMC_ERR_INVALID_ARGUMENT, "tiles (output pointer) is NULL");
  aimc_status_t s = check_desc(ctx, desc);
  if (s != AIMC_OK) return s;

  int64_t n = desc->n_tiles;
  size_t nw = aimc_checked_count(n, desc->rows, desc->cols);
  aimc_tiles_t *t = calloc(1, sizeof *t);
  if (t) {
    t->configs = malloc((size_t)n * sizeof *t->configs);
    t->hparams = malloc((size_t)n * sizeof *t->hparams);
  }
  if (!t || !t->configs || !t->hparams) {
    if (t) {
      free(t->configs);
      free(t->hparams);
      free(t);
    }
    return aimc_error(ctx, AIMC_ERR_OUT_OF_MEMORY,
                      "out of host memory for the configuration of %lld tiles", (long long)n);
  }
  t->ctx = ctx;
  t->st.n_tiles = n;
  t->st.rows = desc->rows;
  t->st.cols = desc->cols;
  t->seed = desc->seed == AIMC_SEED_FROM_CONTEXT
                ? aimc_mix_key(ctx->seed, ctx->n_batches_created)
                : desc->seed;
  for (int64_t i = 0; i < n; ++i) {
    t->configs[i] = *config_of(desc, i);
    uint64_t key = desc->tile_seeds ? desc->tile_seeds[i] : aimc_mix_key(t->seed, (uint64_t)i);
    aimc_resolve_params(&t->configs[i], key, &t->hparams[i]);
  }
  t->st.n_arrays = t->hparams[0].algo.n_arrays;
  t->st.host_params = t->hparams;

  size_t wbytes = nw * sizeof(float), pbytes = (size_t)n * sizeof(aimc_tile_params_t);
  for (int32_t a = 0; a < t->st.n_arrays; ++a)
    if ((s = alloc_array(t, a, wbytes)) != AIMC_OK) goto fail;
  if ((s = alloc_algorithm(t, wbytes)) != AIMC_OK) goto fail;
  if ((s = alloc_backend(t, (void **)&t->st.params, pbytes, "the per-tile parameters")) ||
      (s = alloc_backend(t, (void **)&t->stats, (size_t)n * sizeof(aimc_tile_stats_t),
                         "the statistics")))
    goto fail;
  if ((s = ctx->ops->copy(ctx, (void *)t->st.params, t->hparams, pbytes,
                          AIMC_COPY_HOST_TO_CONTEXT)) != AIMC_OK ||
      (s = ctx->ops->zero(ctx, t->stats, (size_t)n * sizeof(aimc_tile_stats_t))) != AIMC_OK ||
      (s = ctx->ops->sample_devices(ctx, &t->st)) != AIMC_OK ||
      (s = aimc_algorithm_init(t)) != AIMC_OK || (s = check_drawn_devices(t)) != AIMC_OK)
    goto fail;
  ctx->n_batches_created++;
  *out = t;
  return AIMC_OK;
fail:
  free_state(t);
  return s;
}

aimc_status_t aimc_tiles_shape(const aimc_tiles_t *tiles, int64_t *n_tiles, int32_t *rows,
                               int32_t *cols) {
  if (!tiles) return aimc_error(NULL, AIMC_ERR_INVALID_ARGUMENT, "tiles is NULL");
  if (n_tiles) *n_tiles = tiles->st.n_tiles;
  if (rows) *rows = tiles->st.rows;
  if (cols) *cols = tiles->st.cols;
  return AIMC_OK;
}

aimc_status_t aimc_tiles_get_config(const aimc_tiles_t *tiles, int64_t tile,
                                    aimc_tile_config_t *cfg) {
  if (!tiles) return aimc_error(NULL, AIMC_ERR_INVALID_ARGUMENT, "tiles is NULL");
  if (!cfg) return aimc_error(tiles->ctx, AIMC_ERR_INVALID_ARGUMENT, "cfg is NULL");
  if (tile < 0 || tile >= tiles->st.n_tiles)
    return aimc_error(tiles->ctx, AIMC_ERR_INVALID_ARGUMENT, "tile = %lld is out of range [0, %lld)",
                      (long long)tile, (long long)tiles->st.n_tiles);
  *cfg = tiles->configs[tile];
  return AIMC_OK;
}

/* ---- Analog reads -------------------------------------------------------- */

static aimc_status_t check_stride(aimc_context_t *ctx, const char *name, int64_t stride,
                                  int64_t batch, int64_t n) {
  if (stride == 0 || stride >= batch * n) return AIMC_OK;
  return aimc_error(ctx, AIMC_ERR_INVALID_ARGUMENT,
                    "%s = %lld is out of range: 0 (shared input) or >= batch * %lld = %lld", name,
                    (long long)stride, (long long)n, (long long)(batch * n));
}

static aimc_status_t check_batch(aimc_context_t *ctx, int64_t batch, int64_t n_tiles,
                                 int64_t width) {
  if (batch < 0 || batch > ((int64_t)1 << 40))
    return aimc_error(ctx, AIMC_ERR_INVALID_ARGUMENT, "batch = %lld is out of range [0, 2^40]",
                      (long long)batch);
  if (batch > 0 && !aimc_checked_count(n_tiles, batch, width))
    return aimc_error(ctx, AIMC_ERR_INVALID_ARGUMENT,
                      "batch = %lld makes the data of %lld tiles overflow the address space",
                      (long long)batch, (long long)n_tiles);
  return AIMC_OK;
}

/* batch * n for the separate-data wrappers, without overflow: a batch out
 * of range gets stride 0 (the call refuses the batch itself). */
static int64_t data_stride(int64_t batch, int64_t n) {
  return batch >= 0 && batch <= ((int64_t)1 << 40) ? batch * n : 0;
}

/* The read of aimc_tiles_mvm_ex, naming its arrays as the caller does. */
static aimc_status_t tiles_mvm(aimc_tiles_t *tiles, aimc_direction_t dir, const float *in,
                               int64_t in_tile_stride, float *out, int64_t batch,
                               const char *in_name, const char *out_name) {
  if (!tiles) return aimc_error(NULL, AIMC_ERR_INVALID_ARGUMENT, "tiles is NULL");
  aimc_context_t *ctx = tiles->ctx;
  aimc_clear_error(ctx);
  if ((int)dir < 0 || (int)dir > 3)
    return aimc_error(ctx, AIMC_ERR_INVALID_ARGUMENT,
                      "dir = %d is not a direction (allowed: 0 FORWARD, 1 BACKWARD, 2 "
                      "TRANSFER_FORWARD, 3 TRANSFER_BACKWARD)",
                      (int)dir);
  int transposed = dir == AIMC_BACKWARD || dir == AIMC_TRANSFER_BACKWARD;
  int64_t n_in = transposed ? tiles->st.rows : tiles->st.cols;
  int64_t n_out = transposed ? tiles->st.cols : tiles->st.rows;
  aimc_status_t s = check_batch(ctx, batch, tiles->st.n_tiles, n_in > n_out ? n_in : n_out);
  if (s != AIMC_OK) return s;
  if (batch == 0) return AIMC_OK;
  if (!in) return aimc_error(ctx, AIMC_ERR_INVALID_ARGUMENT, "%s (the input array) is NULL", in_name);
  if (!out)
    return aimc_error(ctx, AIMC_ERR_INVALID_ARGUMENT, "%s (the output array) is NULL", out_name);
  if ((s = check_stride(ctx, "in_tile_stride", in_tile_stride, batch, n_in)) != AIMC_OK) return s;
  aimc_mvm_args_t a = {dir, in, in_tile_stride, out, batch, tiles->counters.mvm[dir]};
  s = ctx->ops->mvm(ctx, &tiles->st, &a, tiles->stats);
  if (s == AIMC_OK) tiles->counters.mvm[dir]++;
  return s;
}

aimc_status_t aimc_tiles_mvm_ex(aimc_tiles_t *tiles, aimc_direction_t dir, const float *in,
                                int64_t in_tile_stride, float *out, int64_t batch) {
  return tiles_mvm(tiles, dir, in, in_tile_stride, out, batch, "in", "out");
}

aimc_status_t aimc_tiles_forward(aimc_tiles_t *tiles, const float *x, float *y, int64_t batch) {
  int64_t stride = tiles ? data_stride(batch, tiles->st.cols) : 0;
  return tiles_mvm(tiles, AIMC_FORWARD, x, stride, y, batch, "x", "y");
}

aimc_status_t aimc_tiles_backward(aimc_tiles_t *tiles, const float *d, float *x_grad,
                                  int64_t batch) {
  int64_t stride = tiles ? data_stride(batch, tiles->st.rows) : 0;
  return tiles_mvm(tiles, AIMC_BACKWARD, d, stride, x_grad, batch, "d", "x_grad");
}

/* ---- Update ---------------------------------------------------------------- */

/* The non-finite policy for update data [tiles or shared][batch][n]. */
static aimc_status_t check_update_data(aimc_tiles_t *tiles, const char *name, const float *v,
                                       int64_t stride, int64_t batch, int64_t n, float *max_abs) {
  aimc_check_shape_t sh = {stride ? tiles->st.n_tiles : 1, stride, batch, n,
                           stride ? "tile" : NULL, "sample", "index"};
  char label[48];
  snprintf(label, sizeof label, "%s%s", name, stride ? "" : " (shared by all tiles)");
  return aimc_check_finite(tiles->ctx, label, v, &sh, max_abs);
}

/* Exact float updates (pulse type NONE, FLOAT_SGD) and the mixed-precision
 * accumulator add at most lr batch max|x| max|d| to any element: refused
 * with AIMC_ERR_NON_FINITE when that and the largest |element| reach the
 * limit, so the state never becomes infinite. */
const float *aimc_tiles_exact_state(const aimc_tiles_t *tiles, const char **what) {
  const aimc_tile_params_t *p = tiles->hparams;
  int32_t kind = p[0].algo.kind;
  int exact = kind == AIMC_ALGO_FLOAT_SGD, transfer = aimc_is_transfer_family(kind);
  for (int64_t t = 0; t < tiles->st.n_tiles; ++t)
    if ((kind == AIMC_ALGO_SGD || transfer) && p[t].upd[0].pulse_type == AIMC_PULSE_NONE)
      exact = 1;
  *what = transfer ? "the weights of A" : "the weights";
  if (kind == AIMC_ALGO_MIXED_PRECISION) {
    *what = "the accumulator chi";
    return tiles->st.H;
  }
  return exact ? tiles->st.arr[transfer ? 1 : 0].w : NULL;
}

/* The largest change of an element of a tile's exact state in one update
 * of `batch` samples (x_max, d_max the largest |x|, |d| of the batch): the
 * tile rate, or A's rate in the transfer family, times batch x_max d_max.
 * With auto_scale (chopped algorithms) A's rate is base / (mx md), the
 * running maxima updated with each sample's max|x|, max|d| before its step
 * (kernels/common/transfer.h): mx >= tau |x| with tau = (1 - momentum) /
 * batch, and mx >= (1 - tau)^batch mx0 from the maxima mx0 before the
 * update, so |x| / mx <= min(1 / tau, x_max / ((1 - tau)^batch mx0)) (and 1
 * for the first sample of unset maxima); likewise d. Doubled for the float
 * rounding of the running maxima. Returns -1 when no bound is known
 * (momentum 1 with unset maxima). */
static double exact_step(const aimc_tile_params_t *tp, const aimc_algo_state_t *s0,
                         int64_t batch, float x_max, float d_max) {
  double b = (double)batch;
  if (!aimc_is_transfer_family(tp->algo.kind))
    return (double)tp->upd[0].lr * b * (double)x_max * (double)d_max;
  aimc_algo_state_t unset;
  memset(&unset, 0, sizeof unset);
  double base = aimc_fast_rate(tp, &unset); /* no division by unset maxima */
  if (!(tp->algo.auto_scale && aimc_is_chopped(tp->algo.kind)))
    return base * b * (double)x_max * (double)d_max;
  double tau = (double)((1.0f - tp->algo.auto_momentum) / (float)batch);
  double decay = tau < 1.0 ? pow(1.0 - tau, b) : 0.0;
  double r[2], v[2] = {x_max, d_max}, m0[2] = {s0->mx, s0->md};
  for (int k = 0; k < 2; ++k) {
    r[k] = tau > 0.0 ? (tau < 1.0 ? 1.0 / tau : 1.0) : HUGE_VAL;
    if (m0[k] > 0.0 && decay > 0.0 && v[k] / (m0[k] * decay) < r[k])
      r[k] = v[k] / (m0[k] * decay);
    if (r[k] == HUGE_VAL) return -1.0;
  }
  return 2.0 * base * b * r[0] * r[1];
}

static aimc_status_t exact_bound(aimc_tiles_t *tiles, int64_t batch, float x_max, float d_max);

/* Tiki-Taka's transfers write C exactly (h += transfer rate x v) when the
 * transfer update's pulse type is NONE. */
int aimc_tiles_tt_exact(const aimc_tiles_t *tiles) {
  const aimc_tile_params_t *p = tiles->hparams;
  if (p[0].algo.kind != AIMC_ALGO_TIKI_TAKA) return 0;
  for (int64_t t = 0; t < tiles->st.n_tiles; ++t)
    if (p[t].upd[1].pulse_type == AIMC_PULSE_NONE) return 1;
  return 0;
}

/* The direction of Tiki-Taka's transfer reads of A. */
static int tt_read_dir(const aimc_tile_params_t *tp) {
  return tp->algo.transfer_columns ? AIMC_TRANSFER_FORWARD : AIMC_TRANSFER_BACKWARD;
}

/* Normals are cut at sqrt(2 ln 2^24) = 5.77 by their 24-bit uniforms
 * (kernels/common/rng.h): a bound on |z| for noise bounds. */
#define NORMAL_MAX 6.0

/* Largest |analog output| of a read without an output bound (out_bound
 * infinite) of weights |w| <= a_max over n_in inputs: each input clipped to
 * inp_bound plus its input noise, the product, weight noise (additive or
 * PCM), output noise, and one ADC step of rounding; nonlinearity and
 * asymmetry only shrink it. */
static double analog_output_bound(const aimc_io_params_t *p, double a_max, int64_t n_in) {
  double in_max = (double)p->inp_bound + NORMAL_MAX * (double)p->inp_noise;
  double n = (double)n_in;
  double y = n * a_max * in_max;
  if (p->w_noise_type == AIMC_W_NOISE_ADDITIVE_CONSTANT)
    y += NORMAL_MAX * (double)p->w_noise * sqrt(n) * in_max;
  else if (p->w_noise_type == AIMC_W_NOISE_PCM_READ)
    y += NORMAL_MAX * (double)p->w_noise * sqrt(n * a_max) * in_max;
  double sigma = (double)p->out_noise;
  if (p->out_noise_std > 0.0f) sigma *= 1.0 + NORMAL_MAX * (double)p->out_noise_std;
  return y + NORMAL_MAX * sigma + (double)p->out_step;
}

/* Largest |v| a Tiki-Taka transfer read of A can give (the input is one-hot,
 * 1 at the read line): with a finite out_bound, out_bound times the largest
 * digital rescale out_scale / input scale over the bound-management rounds
 * (kernels/cpu/cpu_mvm.c's loop, replayed); with perfect reads out_scale x
 * a_max (-1 when a_max is unknown). -1: no bound known. */
static double tt_read_bound(const aimc_tile_params_t *tp, double a_max, int64_t rows,
                            int64_t cols) {
  int dir = tt_read_dir(tp);
  const aimc_io_params_t *p = &tp->io[dir];
  if (p->perfect) return a_max < 0.0 ? -1.0 : fabs((double)p->out_scale) * a_max;
  int transposed = dir == AIMC_TRANSFER_BACKWARD;
  double y_max = (double)p->out_bound; /* the analog output before the rescale */
  if (!(p->out_bound < AIMC_INF)) {
    if (a_max < 0.0) return -1.0;
    y_max = analog_output_bound(p, a_max, transposed ? rows : cols);
  }
  int use_nm = p->nm != AIMC_NM_NONE, use_bm = p->bm != AIMC_BM_NONE;
  float nm_s = 1.0f;
  if (use_nm) {
    nm_s = aimc_io_nm_scale(p, p->nm, 1.0f, 1.0f, 1.0f, 0.0f);
    if (!(nm_s > 0.0f)) {
      if (transposed || !(p->inp_noise > 0.0f)) return 0.0;
      use_nm = 0;
    }
  }
  double f = 0.0;
  float r = 1.0f;
  for (int round = 0; round < 256; ++round) {
    if (p->bm == AIMC_BM_ITERATIVE_WORST_CASE && round == 1 && p->nm != AIMC_NM_ABS_MAX_NP_SUM) {
      nm_s = aimc_io_nm_scale(p, AIMC_NM_ABS_MAX_NP_SUM, 1.0f, 1.0f, 1.0f, 0.0f);
      use_nm = nm_s > 0.0f;
      r = 1.0f;
    }
    double g = fabs((double)aimc_io_rescale(p, aimc_io_input_scale(use_nm, nm_s, use_bm, r)));
    if (!(g <= f)) f = g; /* NaN or inf: no bound */
    if (!use_bm || !aimc_io_bm_continue(p, r)) return y_max * f;
    r = r * 2.0f;
  }
  return -1.0;
}

/* Largest |visible weight| of a pulsed or reset A: its device state h stays
 * within the bounds of its planes (pulses and resets clip), and the weight
 * is h - reference plus write noise of at most NORMAL_MAX sigma. */
static aimc_status_t device_weight_bound(aimc_tiles_t *tiles, const aimc_check_shape_t *sh,
                                         double *out) {
  const aimc_array_t *arr = &tiles->st.arr[AIMC_ARRAY_FAST];
  static const int planes[3] = {AIMC_PLANE_MIN_BOUND, AIMC_PLANE_MAX_BOUND, AIMC_PLANE_REFERENCE};
  double b = 0.0, ref = 0.0;
  for (int k = 0; k < 3; ++k) {
    if (!arr->plane[planes[k]]) continue;
    float m = 0.0f;
    aimc_status_t s = aimc_check_finite(tiles->ctx, "a device parameter of A",
                                        arr->plane[planes[k]], sh, &m);
    if (s != AIMC_OK) return s;
    if (k < 2 && m > b) b = m;
    if (k == 2) ref = m;
  }
  double noise = 0.0;
  for (int64_t t = 0; t < tiles->st.n_tiles; ++t) {
    const aimc_tile_params_t *tp = &tiles->hparams[t];
    double wn = (double)aimc_array_dev(tp, AIMC_ARRAY_FAST)->write_noise;
    if (wn > noise) noise = wn;
  }
  *out = b + ref + NORMAL_MAX * noise;
  return AIMC_OK;
}

/* Tiki-Taka's exact writes into C: every element of C's device state h
 * changes by at most |transfer rate| x max|v| per transfer read, and a batch
 * makes at most batch x n_reads_per_transfer reads (a transfer period is at
 * least one sample). max|v| from tt_read_bound; where it needs max|A| (perfect
 * reads, or no output bound), an exact A is bounded during the batch by
 * max|A| before plus A's exact step, a pulsed or reset A by its device
 * bounds (device_weight_bound), and A of both kinds by the larger. */
static aimc_status_t tt_write_bound(aimc_tiles_t *tiles, int64_t batch, float x_max, float d_max,
                                    double a_step) {
  const aimc_tile_params_t *hp = tiles->hparams;
  int64_t nt = tiles->st.n_tiles;
  aimc_check_shape_t sh = {1, 0, nt * tiles->st.rows, tiles->st.cols, NULL, NULL, "element"};
  double a_max = -1.0;
  int need_a = 0, exact_a = 0, device_a = 0;
  for (int64_t t = 0; t < nt; ++t) {
    const aimc_io_params_t *io = &hp[t].io[tt_read_dir(&hp[t])];
    need_a |= io->perfect || !(io->out_bound < AIMC_INF);
    exact_a |= hp[t].upd[0].pulse_type == AIMC_PULSE_NONE;
    /* pulsed or reset: A's state stays within its device bounds */
    device_a |= hp[t].upd[0].pulse_type != AIMC_PULSE_NONE || hp[t].algo.with_reset_prob > 0.0f;
  }
  if (need_a && exact_a && a_step >= 0.0) {
    float m = 0.0f;
    aimc_status_t s = aimc_check_finite(tiles->ctx, "the weights of A",
                                        tiles->st.arr[AIMC_ARRAY_FAST].w, &sh, &m);
    if (s != AIMC_OK) return s;
    a_max = (double)m + a_step;
  }
  if (need_a && device_a && (a_max >= 0.0 || !exact_a)) {
    double db = 0.0;
    aimc_status_t s = device_weight_bound(tiles, &sh, &db);
    if (s != AIMC_OK) return s;
    if (db > a_max) a_max = db;
  }
  (void)x_max, (void)d_max;
  double step = 0.0;
  for (int64_t t = 0; t < nt; ++t) {
    if (hp[t].upd[1].pulse_type != AIMC_PULSE_NONE) continue;
    double v = tt_read_bound(&hp[t], a_max, tiles->st.rows, tiles->st.cols);
    if (v < 0.0) return AIMC_OK; /* no bound known: documented in docs/physics.md */
    double st = fabs((double)aimc_transfer_rate(&hp[t])) * v * (double)batch *
                (double)hp[t].algo.n_reads;
    if (!(st <= step)) step = st != st ? HUGE_VAL : st;
  }
  float c_max = 0.0f;
  aimc_status_t s = aimc_check_finite(tiles->ctx, "the device states of C",
                                      tiles->st.arr[AIMC_ARRAY_SLOW].h, &sh, &c_max);
  if (s != AIMC_OK) return s;
  if ((double)c_max + step < AIMC_EXACT_LIMIT) return AIMC_OK;
  return aimc_error(tiles->ctx, AIMC_ERR_NON_FINITE,
                    "the update would make the device states of C non-finite (diverged): "
                    "max|state| %g + Tiki-Taka's exact transfer writes of at most %g (batch "
                    "%lld) reach FLT_MAX / 2; nothing was changed",
                    (double)c_max, step, (long long)batch);
}

aimc_status_t aimc_tiles_exact_bound(aimc_tiles_t *tiles, int64_t batch, float x_max,
                                     float d_max) {
  aimc_status_t s = exact_bound(tiles, batch, x_max, d_max);
  if (s != AIMC_OK || !aimc_tiles_tt_exact(tiles)) return s;
  double a_step = 0.0;
  if (tiles->hparams[0].upd[0].pulse_type == AIMC_PULSE_NONE)
    for (int64_t t = 0; t < tiles->st.n_tiles; ++t) {
      aimc_algo_state_t unset;
      memset(&unset, 0, sizeof unset);
      double st = exact_step(&tiles->hparams[t], &unset, batch, x_max, d_max);
      if (st < 0.0 || !(st <= a_step)) a_step = st != st ? HUGE_VAL : st;
      if (a_step < 0.0) break;
    }
  return tt_write_bound(tiles, batch, x_max, d_max, a_step);
}

static aimc_status_t exact_bound(aimc_tiles_t *tiles, int64_t batch, float x_max, float d_max) {
  const char *what;
  const float *state = aimc_tiles_exact_state(tiles, &what);
  if (!state) return AIMC_OK;
  const aimc_tile_params_t *hp = tiles->hparams;
  int64_t nt = tiles->st.n_tiles;
  aimc_algo_state_t *s0 = NULL;
  if (hp[0].algo.auto_scale && aimc_is_chopped(hp[0].algo.kind)) {
    /* the running maxima live in context memory: one small copy */
    s0 = malloc((size_t)nt * sizeof *s0);
    if (!s0) return aimc_error(tiles->ctx, AIMC_ERR_OUT_OF_MEMORY, "out of memory");
    aimc_status_t s = tiles->ctx->ops->copy(tiles->ctx, s0, tiles->st.algo,
                                            (size_t)nt * sizeof *s0, AIMC_COPY_CONTEXT_TO_HOST);
    if (s != AIMC_OK) {
      free(s0);
      return s;
    }
  }
  double step = 0.0;
  for (int64_t t = 0; t < nt && step >= 0.0; ++t) {
    aimc_algo_state_t unset;
    memset(&unset, 0, sizeof unset);
    double st = exact_step(&hp[t], s0 ? &s0[t] : &unset, batch, x_max, d_max);
    if (st < 0.0 || st > step || st != st) step = st != st ? HUGE_VAL : st;
  }
  free(s0);
  if (step < 0.0) return AIMC_OK; /* no bound known: documented in docs/physics.md */
  aimc_check_shape_t sh = {1, 0, nt * tiles->st.rows, tiles->st.cols, NULL, NULL, "element"};
  float w_max = 0.0f;
  aimc_status_t s = aimc_check_finite(tiles->ctx, what, state, &sh, &w_max);
  if (s != AIMC_OK) return s;
  if ((double)w_max + step < AIMC_EXACT_LIMIT) return AIMC_OK;
  return aimc_error(tiles->ctx, AIMC_ERR_NON_FINITE,
                    "the update would make %s non-finite (diverged): max|state| %g + a step of "
                    "at most %g (batch %lld, max|x| %g, max|d| %g) reaches FLT_MAX / 2; nothing "
                    "was changed",
                    what, (double)w_max, step, (long long)batch, (double)x_max, (double)d_max);
}

aimc_status_t aimc_tiles_update_gated(aimc_tiles_t *tiles, const float *x, int64_t x_tile_stride,
                                      const float *d, int64_t d_tile_stride, const float *y,
                                      int64_t y_tile_stride, int64_t batch) {
  if (!tiles) return aimc_error(NULL, AIMC_ERR_INVALID_ARGUMENT, "tiles is NULL");
  aimc_context_t *ctx = tiles->ctx;
  aimc_clear_error(ctx);
  int64_t width = tiles->st.rows > tiles->st.cols ? tiles->st.rows : tiles->st.cols;
  aimc_status_t s = check_batch(ctx, batch, tiles->st.n_tiles, width);
  if (s != AIMC_OK) return s;
  if (batch == 0) return AIMC_OK;
  if (!x) return aimc_error(ctx, AIMC_ERR_INVALID_ARGUMENT, "x is NULL");
  if (!d) return aimc_error(ctx, AIMC_ERR_INVALID_ARGUMENT, "d is NULL");
  if ((s = check_stride(ctx, "x_tile_stride", x_tile_stride, batch, tiles->st.cols)) != AIMC_OK ||
      (s = check_stride(ctx, "d_tile_stride", d_tile_stride, batch, tiles->st.rows)) != AIMC_OK ||
      (y && (s = check_stride(ctx, "y_tile_stride", y_tile_stride, batch, tiles->st.rows)) !=
                AIMC_OK))
    return s;
  float x_max = 0.0f, d_max = 0.0f;
  if ((s = check_update_data(tiles, "x", x, x_tile_stride, batch, tiles->st.cols, &x_max)) ||
      (s = check_update_data(tiles, "d", d, d_tile_stride, batch, tiles->st.rows, &d_max)) ||
      (y && (s = check_update_data(tiles, "y", y, y_tile_stride, batch, tiles->st.rows, NULL))) ||
      (s = aimc_tiles_exact_bound(tiles, batch, x_max, d_max)))
    return s;
  return aimc_tiles_update_trusted(tiles, x, x_tile_stride, d, d_tile_stride, y, y_tile_stride,
                                   batch);
}

aimc_status_t aimc_tiles_update_trusted(aimc_tiles_t *tiles, const float *x,
                                        int64_t x_tile_stride, const float *d,
                                        int64_t d_tile_stride, const float *y,
                                        int64_t y_tile_stride, int64_t batch) {
  aimc_update_args_t a;
  memset(&a, 0, sizeof a);
  a.x = x, a.d = d, a.x_tile_stride = x_tile_stride, a.d_tile_stride = d_tile_stride;
  a.y = y, a.y_tile_stride = y_tile_stride, a.batch = batch;
  return aimc_algorithm_update(tiles, &a);
}

aimc_status_t aimc_tiles_update_ex(aimc_tiles_t *tiles, const float *x, int64_t x_tile_stride,
                                   const float *d, int64_t d_tile_stride, int64_t batch) {
  return aimc_tiles_update_gated(tiles, x, x_tile_stride, d, d_tile_stride, NULL, 0, batch);
}

aimc_status_t aimc_tiles_update(aimc_tiles_t *tiles, const float *x, const float *d,
                                int64_t batch) {
  if (!tiles) return aimc_error(NULL, AIMC_ERR_INVALID_ARGUMENT, "tiles is NULL");
  return aimc_tiles_update_ex(tiles, x, data_stride(batch, tiles->st.cols), d,
                              data_stride(batch, tiles->st.rows), batch);
}

/* New learning rates for the tiles (host array, or one value for all). */
static aimc_status_t set_rates(aimc_tiles_t *tiles, const float *lr, float lr_all) {
  aimc_context_t *ctx = tiles->ctx;
  aimc_clear_error(ctx);
  int64_t n = tiles->st.n_tiles;
  char msg[AIMC_ERROR_LEN], prefix[64];
  for (int64_t t = 0; t < n; ++t) {
    float v = lr ? lr[t] : lr_all;
    if (!(v >= 0.0f && v <= 3.4028234e38f)) {
      if (lr)
        return aimc_error(ctx, AIMC_ERR_INVALID_ARGUMENT, "lr[%lld] = %g is out of range [0, inf)",
                          (long long)t, (double)v);
      return aimc_error(ctx, AIMC_ERR_INVALID_ARGUMENT, "lr = %g is out of range [0, inf)",
                        (double)v);
    }
    aimc_tile_config_t c = tiles->configs[t];
    c.update.learning_rate = v;
    snprintf(prefix, sizeof prefix, "tile %lld", (long long)t);
    if (aimc_config_check(&c, prefix, msg, sizeof msg) != AIMC_OK)
      return aimc_error(ctx, AIMC_ERR_INVALID_ARGUMENT, "%s", msg);
  }
  for (int64_t t = 0; t < n; ++t) {
    float v = lr ? lr[t] : lr_all;
    tiles->configs[t].update.learning_rate = v;
    tiles->hparams[t].upd[0].lr = v;
  }
  return ctx->ops->copy(ctx, (void *)tiles->st.params, tiles->hparams,
                        (size_t)n * sizeof(aimc_tile_params_t), AIMC_COPY_HOST_TO_CONTEXT);
}

aimc_status_t aimc_tiles_set_learning_rate(aimc_tiles_t *tiles, float lr) {
  if (!tiles) return aimc_error(NULL, AIMC_ERR_INVALID_ARGUMENT, "tiles is NULL");
  return set_rates(tiles, NULL, lr);
}

aimc_status_t aimc_tiles_set_learning_rates(aimc_tiles_t *tiles, const float *lr) {
  if (!tiles) return aimc_error(NULL, AIMC_ERR_INVALID_ARGUMENT, "tiles is NULL");
  if (!lr) return aimc_error(tiles->ctx, AIMC_ERR_INVALID_ARGUMENT, "lr is NULL");
  return set_rates(tiles, lr, 0.0f);
}

/* ---- Weights and device state ------------------------------------------- */

static size_t weight_bytes(const aimc_tiles_t *t) {
  return aimc_checked_count(t->st.n_tiles, t->st.rows, t->st.cols) * sizeof(float);
}

aimc_status_t aimc_tiles_get_weights(const aimc_tiles_t *tiles, float *w) {
  if (!tiles) return aimc_error(NULL, AIMC_ERR_INVALID_ARGUMENT, "tiles is NULL");
  if (!w) return aimc_error(tiles->ctx, AIMC_ERR_INVALID_ARGUMENT, "w is NULL");
  return tiles->ctx->ops->copy(tiles->ctx, w, tiles->st.w, weight_bytes(tiles),
                               AIMC_COPY_CONTEXT_TO_CONTEXT);
}

static aimc_status_t write_weights(aimc_tiles_t *tiles, const float *w, aimc_write_mode_t mode) {
  if (!tiles) return aimc_error(NULL, AIMC_ERR_INVALID_ARGUMENT, "tiles is NULL");
  aimc_clear_error(tiles->ctx);
  if (!w) return aimc_error(tiles->ctx, AIMC_ERR_INVALID_ARGUMENT, "w is NULL");
  aimc_check_shape_t sh = {tiles->st.n_tiles, (int64_t)tiles->st.rows * tiles->st.cols,
                           tiles->st.rows, tiles->st.cols, "tile", "row", "col"};
  aimc_status_t s = aimc_check_finite(tiles->ctx, "w", w, &sh, NULL);
  if (s != AIMC_OK) return s;
  return aimc_algorithm_write(tiles, w, mode);
}

aimc_status_t aimc_tiles_set_weights(aimc_tiles_t *tiles, const float *w) {
  return write_weights(tiles, w, AIMC_WRITE_EXACT);
}

aimc_status_t aimc_tiles_program_weights(aimc_tiles_t *tiles, const float *w) {
  return write_weights(tiles, w, AIMC_WRITE_PROGRAM);
}

aimc_status_t aimc_tiles_decay(aimc_tiles_t *tiles) {
  if (!tiles) return aimc_error(NULL, AIMC_ERR_INVALID_ARGUMENT, "tiles is NULL");
  aimc_clear_error(tiles->ctx);
  return aimc_algorithm_decay(tiles);
}

static aimc_status_t check_array(const aimc_tiles_t *tiles, int32_t array) {
  if (array >= 0 && array < tiles->st.n_arrays) return AIMC_OK;
  return aimc_error(tiles->ctx, AIMC_ERR_INVALID_ARGUMENT,
                    "array = %d is out of range [0, %d) (the arrays of %s)", (int)array,
                    (int)tiles->st.n_arrays,
                    aimc_algorithm_name((aimc_algorithm_t)tiles->hparams[0].algo.kind));
}

aimc_status_t aimc_tiles_reset_columns_ex(aimc_tiles_t *tiles, int32_t array, int32_t col_start,
                                          int32_t n_cols, float prob) {
  if (!tiles) return aimc_error(NULL, AIMC_ERR_INVALID_ARGUMENT, "tiles is NULL");
  aimc_context_t *ctx = tiles->ctx;
  aimc_clear_error(ctx);
  aimc_status_t s = check_array(tiles, array);
  if (s != AIMC_OK) return s;
  if (col_start < 0 || col_start >= tiles->st.cols)
    return aimc_error(ctx, AIMC_ERR_INVALID_ARGUMENT, "col_start = %d is out of range [0, %d)",
                      (int)col_start, (int)tiles->st.cols);
  if (n_cols > tiles->st.cols)
    return aimc_error(ctx, AIMC_ERR_INVALID_ARGUMENT,
                      "n_cols = %d is out of range [0, %d] (or negative for all columns)",
                      (int)n_cols, (int)tiles->st.cols);
  if (!(prob >= 0.0f && prob <= 1.0f))
    return aimc_error(ctx, AIMC_ERR_INVALID_ARGUMENT, "prob = %g is out of range [0, 1]",
                      (double)prob);
  if (n_cols < 0) {
    col_start = 0;
    n_cols = tiles->st.cols;
  }
  return aimc_algorithm_reset_columns(tiles, array, col_start, n_cols, prob);
}

aimc_status_t aimc_tiles_reset_columns(aimc_tiles_t *tiles, int32_t col_start, int32_t n_cols,
                                       float prob) {
  return aimc_tiles_reset_columns_ex(tiles, 0, col_start, n_cols, prob);
}

aimc_status_t aimc_tiles_n_arrays(const aimc_tiles_t *tiles, int32_t *n_arrays) {
  if (!tiles) return aimc_error(NULL, AIMC_ERR_INVALID_ARGUMENT, "tiles is NULL");
  if (!n_arrays) return aimc_error(tiles->ctx, AIMC_ERR_INVALID_ARGUMENT, "n_arrays is NULL");
  *n_arrays = tiles->st.n_arrays;
  return AIMC_OK;
}

/* ---- Introspection -------------------------------------------------------- */

/* The plane holding `which` for array a of tile t, or the value every
 * weight of the tile has when no plane holds it. */
static const float *param_plane(const aimc_tiles_t *tiles, int32_t a, aimc_device_param_t which,
                                int64_t t, float *constant) {
  const aimc_tile_params_t *tp = &tiles->hparams[t];
  const aimc_device_desc_t *d = &tp->desc[tp->array_device[a]];
  int model = d->model;
  int linear = model == AIMC_DEVICE_LINEAR_STEP || model == AIMC_DEVICE_SOFT_BOUNDS;
  int pow = model == AIMC_DEVICE_POW_STEP;
  const aimc_array_t *arr = &tiles->st.arr[a];
  *constant = 0.0f;
  switch (which) {
    case AIMC_PARAM_HIDDEN_WEIGHT: return arr->h;
    case AIMC_PARAM_VISIBLE_WEIGHT: return arr->w;
    case AIMC_PARAM_MIN_BOUND: return arr->plane[AIMC_PLANE_MIN_BOUND];
    case AIMC_PARAM_MAX_BOUND: return arr->plane[AIMC_PLANE_MAX_BOUND];
    case AIMC_PARAM_STEP_UP: return arr->plane[AIMC_PLANE_STEP_UP];
    case AIMC_PARAM_STEP_DOWN: return arr->plane[AIMC_PLANE_STEP_DOWN];
    case AIMC_PARAM_SLOPE_UP: return linear ? arr->plane[AIMC_PLANE_SLOPE_UP] : NULL;
    case AIMC_PARAM_SLOPE_DOWN: return linear ? arr->plane[AIMC_PLANE_SLOPE_DOWN] : NULL;
    case AIMC_PARAM_GAMMA_UP: return pow ? arr->plane[AIMC_PLANE_SLOPE_UP] : NULL;
    case AIMC_PARAM_GAMMA_DOWN: return pow ? arr->plane[AIMC_PLANE_SLOPE_DOWN] : NULL;
    case AIMC_PARAM_REFERENCE:
      return model == AIMC_DEVICE_SOFT_BOUNDS_REFERENCE ? arr->plane[AIMC_PLANE_REFERENCE] : NULL;
    case AIMC_PARAM_DECAY_SCALE:
      *constant = 1.0f;
      return d->lifetime > 0.0f ? arr->plane[AIMC_PLANE_DECAY] : NULL;
    case AIMC_PARAM_DIFFUSION:
      return d->diffusion > 0.0f ? arr->plane[AIMC_PLANE_DIFFUSION] : NULL;
    case AIMC_PARAM_RESET_BIAS: return arr->plane[AIMC_PLANE_RESET_BIAS];
    default: return NULL;
  }
}

/* Copies per-tile slices of [n_tiles][per_tile] arrays into out (context
 * memory): from src when a tile has it, else a constant. */
static aimc_status_t copy_tiles(const aimc_tiles_t *tiles, float *out, size_t per_tile,
                                const float *(*source)(const aimc_tiles_t *, int64_t, float *,
                                                       const void *),
                                const void *arg) {
  aimc_context_t *ctx = tiles->ctx;
  float *fill = NULL;
  for (int64_t t = 0; t < tiles->st.n_tiles; ++t) {
    float constant;
    const float *src = source(tiles, t, &constant, arg);
    float *dst = out + (size_t)t * per_tile;
    aimc_status_t s;
    if (src) {
      s = ctx->ops->copy(ctx, dst, src + (size_t)t * per_tile, per_tile * sizeof(float),
                         AIMC_COPY_CONTEXT_TO_CONTEXT);
    } else {
      if (!fill && !(fill = malloc(per_tile * sizeof(float))))
        return aimc_error(ctx, AIMC_ERR_OUT_OF_MEMORY, "out of host memory");
      for (size_t k = 0; k < per_tile; ++k) fill[k] = constant;
      s = ctx->ops->copy(ctx, dst, fill, per_tile * sizeof(float), AIMC_COPY_HOST_TO_CONTEXT);
    }
    if (s != AIMC_OK) {
      free(fill);
      return s;
    }
  }
  free(fill);
  return AIMC_OK;
}

typedef struct param_query {
  int32_t array;
  aimc_device_param_t which;
} param_query_t;

static const float *param_source(const aimc_tiles_t *tiles, int64_t t, float *constant,
                                 const void *arg) {
  const param_query_t *q = arg;
  return param_plane(tiles, q->array, q->which, t, constant);
}

aimc_status_t aimc_tiles_get_device_param_ex(const aimc_tiles_t *tiles, int32_t array,
                                             aimc_device_param_t which, float *out) {
  if (!tiles) return aimc_error(NULL, AIMC_ERR_INVALID_ARGUMENT, "tiles is NULL");
  aimc_context_t *ctx = tiles->ctx;
  aimc_status_t s = check_array(tiles, array);
  if (s != AIMC_OK) return s;
  if (!out) return aimc_error(ctx, AIMC_ERR_INVALID_ARGUMENT, "out is NULL");
  if ((int)which < 0 || which >= AIMC_PARAM_COUNT)
    return aimc_error(ctx, AIMC_ERR_INVALID_ARGUMENT,
                      "which = %d is not a device parameter (allowed: 0..%d)", (int)which,
                      AIMC_PARAM_COUNT - 1);
  param_query_t q = {array, which};
  return copy_tiles(tiles, out, (size_t)tiles->st.rows * (size_t)tiles->st.cols, param_source,
                    &q);
}

aimc_status_t aimc_tiles_get_device_param(const aimc_tiles_t *tiles, aimc_device_param_t which,
                                          float *out) {
  return aimc_tiles_get_device_param_ex(tiles, 0, which, out);
}

static const float *buffer_source(const aimc_tiles_t *tiles, int64_t t, float *constant,
                                  const void *arg) {
  (void)t;
  *constant = 0.0f;
  switch (*(const aimc_buffer_t *)arg) {
    case AIMC_BUFFER_TRANSFER: return tiles->st.H;
    case AIMC_BUFFER_RUNNING_MEAN: return tiles->st.M;
    default: return tiles->st.P;
  }
}

aimc_status_t aimc_tiles_get_buffer(const aimc_tiles_t *tiles, aimc_buffer_t which, float *out) {
  if (!tiles) return aimc_error(NULL, AIMC_ERR_INVALID_ARGUMENT, "tiles is NULL");
  if (!out) return aimc_error(tiles->ctx, AIMC_ERR_INVALID_ARGUMENT, "out is NULL");
  if ((int)which < 0 || which >= AIMC_BUFFER_COUNT)
    return aimc_error(tiles->ctx, AIMC_ERR_INVALID_ARGUMENT,
                      "which = %d is not a buffer (allowed: 0..%d)", (int)which,
                      AIMC_BUFFER_COUNT - 1);
  return copy_tiles(tiles, out, (size_t)tiles->st.rows * (size_t)tiles->st.cols, buffer_source,
                    &which);
}

aimc_status_t aimc_tiles_get_choppers(const aimc_tiles_t *tiles, int8_t *c_in, int8_t *c_out) {
  if (!tiles) return aimc_error(NULL, AIMC_ERR_INVALID_ARGUMENT, "tiles is NULL");
  aimc_context_t *ctx = tiles->ctx;
  size_t n = (size_t)tiles->st.n_tiles;
  if (!tiles->st.c_in) { /* algorithms without choppers: all +1 */
    if (c_in) memset(c_in, 1, n * (size_t)tiles->st.cols);
    if (c_out) memset(c_out, 1, n * (size_t)tiles->st.rows);
    return AIMC_OK;
  }
  aimc_status_t s = AIMC_OK;
  if (c_in)
    s = ctx->ops->copy(ctx, c_in, tiles->st.c_in, n * (size_t)tiles->st.cols,
                       AIMC_COPY_CONTEXT_TO_HOST);
  if (s == AIMC_OK && c_out)
    s = ctx->ops->copy(ctx, c_out, tiles->st.c_out, n * (size_t)tiles->st.rows,
                       AIMC_COPY_CONTEXT_TO_HOST);
  return s;
}

aimc_status_t aimc_tiles_get_stats(const aimc_tiles_t *tiles, aimc_tile_stats_t *stats) {
  if (!tiles) return aimc_error(NULL, AIMC_ERR_INVALID_ARGUMENT, "tiles is NULL");
  if (!stats) return aimc_error(tiles->ctx, AIMC_ERR_INVALID_ARGUMENT, "stats is NULL");
  return tiles->ctx->ops->copy(tiles->ctx, stats, tiles->stats,
                               (size_t)tiles->st.n_tiles * sizeof(aimc_tile_stats_t),
                               AIMC_COPY_CONTEXT_TO_HOST);
}

aimc_status_t aimc_tiles_reset_stats(aimc_tiles_t *tiles) {
  if (!tiles) return aimc_error(NULL, AIMC_ERR_INVALID_ARGUMENT, "tiles is NULL");
  return tiles->ctx->ops->zero(tiles->ctx, tiles->stats,
                               (size_t)tiles->st.n_tiles * sizeof(aimc_tile_stats_t));
}

int aimc_tiles_state_blobs(const aimc_tiles_t *t, aimc_blob_t *out) {
  const aimc_state_t *st = &t->st;
  size_t n = (size_t)st->n_tiles, nw = n * (size_t)st->rows * (size_t)st->cols;
  int k = 0;
  for (int32_t a = 0; a < st->n_arrays; ++a) {
    const aimc_array_t *arr = &st->arr[a];
    out[k++] = (aimc_blob_t){arr->w, nw * sizeof(float), AIMC_BLOB_DEVICE};
    if (arr->h != arr->w) out[k++] = (aimc_blob_t){arr->h, nw * sizeof(float), AIMC_BLOB_DEVICE};
    for (int p = 0; p < AIMC_PLANE_COUNT; ++p)
      if (arr->plane[p])
        out[k++] = (aimc_blob_t){arr->plane[p], nw * sizeof(float), AIMC_BLOB_DEVICE};
  }
  if (st->w != st->arr[0].w) out[k++] = (aimc_blob_t){st->w, nw * sizeof(float), AIMC_BLOB_DEVICE};
  float *bufs[3] = {st->H, st->M, st->P};
  for (int b = 0; b < 3; ++b)
    if (bufs[b]) out[k++] = (aimc_blob_t){bufs[b], nw * sizeof(float), AIMC_BLOB_DIGITAL};
  if (st->c_in) out[k++] = (aimc_blob_t){st->c_in, n * (size_t)st->cols, AIMC_BLOB_SIGNS};
  if (st->c_out) out[k++] = (aimc_blob_t){st->c_out, n * (size_t)st->rows, AIMC_BLOB_SIGNS};
  if (st->switched)
    out[k++] = (aimc_blob_t){st->switched, n * (size_t)aimc_line_stride(st), AIMC_BLOB_FLAGS};
  out[k++] = (aimc_blob_t){st->algo, n * sizeof *st->algo, AIMC_BLOB_ALGO};
  out[k++] = (aimc_blob_t){t->stats, n * sizeof *t->stats, AIMC_BLOB_STATS};
  return k;
}

/* Lines the column (row) pointer of tile k runs over. */
static int32_t pointer_lines(const aimc_tiles_t *t, int64_t k) {
  const aimc_algo_params_t *p = &t->hparams[k].algo;
  if (p->kind == AIMC_ALGO_MIXED_PRECISION) return t->st.rows;
  if (aimc_is_transfer_family(p->kind)) return aimc_transfer_lines(p, t->st.rows, t->st.cols);
  return t->st.rows > t->st.cols ? t->st.rows : t->st.cols;
}

int aimc_tiles_blob_valid(const aimc_tiles_t *t, const aimc_blob_t *b, const void *host,
                          const char **why) {
  switch (b->kind) {
    case AIMC_BLOB_DEVICE:
    case AIMC_BLOB_DIGITAL: {
      const float *f = host;
      for (size_t q = 0; q < b->bytes / sizeof(float); ++q)
        if (!(aimc_absf(f[q]) < INFINITY)) { /* the non-finite policy: no NaN, no inf */
          *why = b->kind == AIMC_BLOB_DEVICE ? "a device value is not finite"
                                             : "a digital buffer value is not finite";
          return 0;
        }
      return 1;
    }
    case AIMC_BLOB_SIGNS:
    case AIMC_BLOB_FLAGS: {
      const uint8_t *c = host;
      for (size_t q = 0; q < b->bytes; ++q) {
        int v = b->kind == AIMC_BLOB_SIGNS ? (int)(int8_t)c[q] : (int)c[q];
        if (b->kind == AIMC_BLOB_SIGNS ? v != 1 && v != -1 : v != 0 && v != 1) {
          *why = b->kind == AIMC_BLOB_SIGNS ? "a chopper is not +1 or -1" : "a flag is not 0 or 1";
          return 0;
        }
      }
      return 1;
    }
    case AIMC_BLOB_ALGO: {
      const aimc_algo_state_t *s = host;
      for (int64_t k = 0; k < t->st.n_tiles; ++k)
        if (s[k].next < 0 || s[k].next >= pointer_lines(t, k) || s[k].mx != s[k].mx ||
            s[k].md != s[k].md) {
          *why = "an algorithm state has its line pointer out of range or a NaN scale";
          return 0;
        }
      return 1;
    }
    case AIMC_BLOB_STATS:
      return 1;
  }
  *why = "unknown state buffer";
  return 0;
}
