/* Networks of fully connected layers on tile batches.
 *
 * Layer l of every replica lives in one tile batch: replica k owns a grid of
 * tiles covering the layer's out x in matrix, split evenly, zero-padded to
 * one tile shape (padding is exact: padded inputs are 0 and padded outputs
 * are ignored). Partial outputs of a grid row are summed digitally, then
 * the digital bias and the activation follow. Replicas differ by their seed
 * index (device draws) and by swept configuration values; all see the same
 * inputs. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "host/network.h"
#include "kernels/common/network.h"
#include "kernels/common/rng.h"

/* ---- Descriptors ------------------------------------------------------------- */

aimc_status_t aimc_network_desc_mlp(aimc_network_desc_t *desc, int32_t n_sizes,
                                    const int32_t *sizes, aimc_activation_t hidden,
                                    const aimc_tile_config_t *config) {
  if (!desc) return aimc_error(NULL, AIMC_ERR_INVALID_ARGUMENT, "desc is NULL");
  if (!sizes) return aimc_error(NULL, AIMC_ERR_INVALID_ARGUMENT, "sizes is NULL");
  if (n_sizes < 2 || n_sizes > AIMC_MAX_LAYERS + 1)
    return aimc_error(NULL, AIMC_ERR_INVALID_ARGUMENT, "n_sizes = %d is out of range [2, %d]",
                      (int)n_sizes, AIMC_MAX_LAYERS + 1);
  for (int32_t k = 0; k < n_sizes; ++k)
    if (sizes[k] < 1 || sizes[k] > (1 << 24))
      return aimc_error(NULL, AIMC_ERR_INVALID_ARGUMENT, "sizes[%d] = %d is out of range [1, 2^24]",
                        (int)k, (int)sizes[k]);
  if ((int)hidden < 0 || (int)hidden > AIMC_ACT_TANH)
    return aimc_error(NULL, AIMC_ERR_INVALID_ARGUMENT,
                      "hidden = %d is not an activation (allowed: 0 NONE, 1 RELU, 2 SIGMOID, "
                      "3 TANH)",
                      (int)hidden);
  memset(desc, 0, sizeof *desc);
  desc->n_layers = n_sizes - 1;
  for (int32_t l = 0; l < desc->n_layers; ++l) {
    aimc_layer_desc_t *ld = &desc->layers[l];
    ld->in = sizes[l];
    ld->out = sizes[l + 1];
    ld->activation = l + 1 < desc->n_layers ? hidden : AIMC_ACT_NONE;
    ld->bias = 1;
    if (config)
      ld->config = *config;
    else
      aimc_tile_config_default(&ld->config);
  }
  desc->max_tile_size = 512;
  desc->seeds = 1;
  desc->seed = AIMC_SEED_FROM_CONTEXT;
  desc->learning_rate = 0.01f;
  return AIMC_OK;
}

int32_t aimc_network_replica_count(const aimc_network_desc_t *d) {
  int64_t k = d->seeds;
  for (int32_t s = 0; s < d->n_sweeps; ++s) k *= d->sweeps[s].n_values;
  return (int32_t)k;
}

/* The configuration of layer l for replica k: the layer's, with the rate
 * and the replica's sweep values applied. */
aimc_status_t aimc_network_replica_config(const aimc_network_desc_t *d, int32_t l, int32_t k,
                                          aimc_tile_config_t *cfg) {
  *cfg = d->layers[l].config;
  cfg->update.learning_rate = d->learning_rate;
  int32_t point = k / d->seeds;
  for (int32_t s = d->n_sweeps - 1; s >= 0; --s) {
    int32_t n = d->sweeps[s].n_values;
    aimc_status_t st = aimc_tile_config_set(cfg, d->sweeps[s].field, d->sweeps[s].values[point % n]);
    if (st != AIMC_OK) return st;
    point /= n;
  }
  return AIMC_OK;
}

aimc_status_t aimc_network_check(aimc_context_t *ctx, const aimc_network_desc_t *d) {
  if (d->n_layers < 1 || d->n_layers > AIMC_MAX_LAYERS)
    return aimc_error(ctx, AIMC_ERR_INVALID_ARGUMENT, "desc->n_layers = %d is out of range [1, %d]",
                      (int)d->n_layers, AIMC_MAX_LAYERS);
  for (int32_t l = 0; l < d->n_layers; ++l) {
    const aimc_layer_desc_t *ld = &d->layers[l];
    if (ld->in < 1 || ld->in > (1 << 24) || ld->out < 1 || ld->out > (1 << 24))
      return aimc_error(ctx, AIMC_ERR_INVALID_ARGUMENT,
                        "desc->layers[%d] is %d x %d: in and out must be in [1, 2^24]", (int)l,
                        (int)ld->out, (int)ld->in);
    if (l > 0 && ld->in != d->layers[l - 1].out)
      return aimc_error(ctx, AIMC_ERR_INVALID_ARGUMENT,
                        "desc->layers[%d].in = %d differs from desc->layers[%d].out = %d", (int)l,
                        (int)ld->in, (int)l - 1, (int)d->layers[l - 1].out);
    if ((int)ld->activation < 0 || (int)ld->activation > AIMC_ACT_TANH)
      return aimc_error(ctx, AIMC_ERR_INVALID_ARGUMENT,
                        "desc->layers[%d].activation = %d is out of range [0, 3]", (int)l,
                        (int)ld->activation);
    if (!(ld->config.update.learning_rate >= 0.0f && ld->config.update.learning_rate < INFINITY))
      return aimc_error(ctx, AIMC_ERR_INVALID_ARGUMENT,
                        "desc->layers[%d].config.update.learning_rate = %g is out of range "
                        "[0, inf) (the network's rate replaces it, but it must be a number)",
                        (int)l, (double)ld->config.update.learning_rate);
    if (ld->bias != 0 && ld->bias != 1)
      return aimc_error(ctx, AIMC_ERR_INVALID_ARGUMENT,
                        "desc->layers[%d].bias = %d is out of range {0, 1}", (int)l, (int)ld->bias);
  }
  if (d->layers[d->n_layers - 1].out < 2)
    return aimc_error(ctx, AIMC_ERR_INVALID_ARGUMENT,
                      "desc->layers[%d].out = %d: the last layer needs at least 2 classes",
                      (int)d->n_layers - 1, (int)d->layers[d->n_layers - 1].out);
  if (d->max_tile_size < 1 || d->max_tile_size > AIMC_MAX_DIM)
    return aimc_error(ctx, AIMC_ERR_INVALID_ARGUMENT,
                      "desc->max_tile_size = %d is out of range [1, %d]", (int)d->max_tile_size,
                      AIMC_MAX_DIM);
  if (d->seeds < 1 || d->seeds > 65536)
    return aimc_error(ctx, AIMC_ERR_INVALID_ARGUMENT, "desc->seeds = %d is out of range [1, 65536]",
                      (int)d->seeds);
  if (d->n_sweeps < 0 || d->n_sweeps > AIMC_MAX_SWEEPS)
    return aimc_error(ctx, AIMC_ERR_INVALID_ARGUMENT, "desc->n_sweeps = %d is out of range [0, %d]",
                      (int)d->n_sweeps, AIMC_MAX_SWEEPS);
  for (int32_t s = 0; s < d->n_sweeps; ++s)
    if (d->sweeps[s].n_values < 1 || d->sweeps[s].n_values > AIMC_MAX_SWEEP_VALUES ||
        memchr(d->sweeps[s].field, 0, AIMC_FIELD_LEN) == NULL)
      return aimc_error(ctx, AIMC_ERR_INVALID_ARGUMENT,
                        "desc->sweeps[%d].n_values = %d is out of range [1, %d] (or the field "
                        "name is not terminated)",
                        (int)s, (int)d->sweeps[s].n_values, AIMC_MAX_SWEEP_VALUES);
  if (!(d->learning_rate >= 0.0f && d->learning_rate < INFINITY))
    return aimc_error(ctx, AIMC_ERR_INVALID_ARGUMENT,
                      "desc->learning_rate = %g is out of range [0, inf)", (double)d->learning_rate);
  int64_t k = d->seeds;
  for (int32_t s = 0; s < d->n_sweeps; ++s) k *= d->sweeps[s].n_values;
  if (k > 65536)
    return aimc_error(ctx, AIMC_ERR_INVALID_ARGUMENT,
                      "desc: %lld replicas (seeds x sweep values) is out of range [1, 65536]",
                      (long long)k);
  /* every replica's configuration of every layer must be valid */
  char msg[AIMC_ERROR_LEN], prefix[96];
  for (int32_t l = 0; l < d->n_layers; ++l)
    for (int32_t r = 0; r < (int32_t)k; r += d->seeds) {
      aimc_tile_config_t cfg;
      if (aimc_network_replica_config(d, l, r, &cfg) != AIMC_OK) {
        snprintf(msg, sizeof msg, "%s", aimc_last_error()); /* not format from its own buffer */
        return aimc_error(ctx, AIMC_ERR_INVALID_ARGUMENT, "desc->sweeps: %s", msg);
      }
      snprintf(prefix, sizeof prefix, "desc->layers[%d].config (replica %d)", (int)l, (int)r);
      if (aimc_config_check(&cfg, prefix, msg, sizeof msg) != AIMC_OK)
        return aimc_error(ctx, AIMC_ERR_INVALID_ARGUMENT, "%s", msg);
    }
  return AIMC_OK;
}

/* ---- Creation ------------------------------------------------------------------ */

static aimc_layer_map_t layer_map(const aimc_network_desc_t *d, int32_t l, int32_t replicas) {
  const aimc_layer_desc_t *ld = &d->layers[l];
  aimc_layer_map_t m;
  m.in = ld->in;
  m.out = ld->out;
  m.grid_r = (ld->out + d->max_tile_size - 1) / d->max_tile_size;
  m.grid_c = (ld->in + d->max_tile_size - 1) / d->max_tile_size;
  m.tr = (int32_t)aimc_block_size(m.out, m.grid_r, 0);
  m.tc = (int32_t)aimc_block_size(m.in, m.grid_c, 0);
  m.replicas = replicas;
  m.activation = ld->activation;
  return m;
}

static int64_t n_tiles(const aimc_layer_map_t *m) {
  return (int64_t)m->replicas * m->grid_r * m->grid_c;
}

void aimc_network_free(aimc_network_t *n) {
  if (!n) return;
  aimc_context_t *ctx = n->ctx;
  for (int32_t l = 0; l < AIMC_MAX_LAYERS; ++l) {
    aimc_tiles_destroy(n->tiles[l]);
    if (n->bias[l]) ctx->ops->release(ctx, n->bias[l]);
    if (n->act[l]) ctx->ops->release(ctx, n->act[l]);
    if (n->stats_backup[l]) ctx->ops->release(ctx, n->stats_backup[l]);
    if (n->grad[l]) ctx->ops->release(ctx, n->grad[l]);
  }
  float *bufs[4] = {n->tin, n->tout, n->tgrad, n->loss};
  for (int k = 0; k < 4; ++k)
    if (bufs[k]) ctx->ops->release(ctx, bufs[k]);
  if (n->correct) ctx->ops->release(ctx, n->correct);
  free(n);
}

void aimc_network_destroy(aimc_network_t *net) { aimc_network_free(net); }

/* Creates layer l's tile batch: per-tile configurations and seeds. */
static aimc_status_t create_layer(aimc_network_t *n, int32_t l) {
  const aimc_layer_map_t *m = &n->map[l];
  int64_t T = n_tiles(m), per_rep = (int64_t)m->grid_r * m->grid_c;
  aimc_tile_config_t *cfgs = malloc((size_t)T * sizeof *cfgs);
  uint64_t *seeds = malloc((size_t)T * sizeof *seeds);
  if (!cfgs || !seeds) {
    free(cfgs), free(seeds);
    return aimc_error(n->ctx, AIMC_ERR_OUT_OF_MEMORY, "out of host memory for layer %d", (int)l);
  }
  for (int64_t t = 0; t < T; ++t) {
    int32_t k = (int32_t)(t / per_rep);
    aimc_network_replica_config(&n->desc, l, k, &cfgs[t]);
    /* the seed index, not the replica, picks the devices: paired sweeps */
    uint64_t replica_seed = aimc_mix_key(n->seed, (uint64_t)(k % n->desc.seeds));
    seeds[t] = aimc_mix_key(replica_seed, ((uint64_t)l << 32) | (uint64_t)(t % per_rep));
  }
  aimc_tiles_desc_t td;
  aimc_tiles_desc_default(&td);
  td.n_tiles = T, td.rows = m->tr, td.cols = m->tc;
  td.per_tile = cfgs, td.tile_seeds = seeds, td.seed = n->seed;
  aimc_status_t s = aimc_tiles_create(n->ctx, &td, &n->tiles[l]);
  free(cfgs), free(seeds);
  return s;
}

/* Weights and biases uniform in +-1/sqrt(in) (PyTorch's Linear default),
 * from the seed index: replicas with the same seed index start equal. */
static aimc_status_t init_layer(aimc_network_t *n, int32_t l) {
  const aimc_layer_map_t *m = &n->map[l];
  int64_t K = m->replicas, nw = (int64_t)m->out * m->in;
  float *w = malloc((size_t)(K * nw) * sizeof *w), *b = malloc((size_t)(K * m->out) * sizeof *b);
  if (!w || !b) {
    free(w), free(b);
    return aimc_error(n->ctx, AIMC_ERR_OUT_OF_MEMORY, "out of host memory for layer %d", (int)l);
  }
  float bound = 1.0f / sqrtf((float)m->in);
  for (int64_t k = 0; k < K; ++k) {
    uint64_t key = aimc_mix_key(aimc_mix_key(n->seed, (uint64_t)(k % n->desc.seeds)), 1000u + (uint64_t)l);
    for (int64_t q = 0; q < nw + m->out; ++q) {
      aimc_u32x4 r = aimc_philox_block(key, aimc_subsequence(60, 0), (uint64_t)q);
      float v = (2.0f * aimc_u01(r.v[0]) - 1.0f) * bound;
      if (q < nw)
        w[k * nw + q] = v;
      else
        b[k * m->out + q - nw] = n->desc.layers[l].bias ? v : 0.0f;
    }
  }
  aimc_status_t s = aimc_network_write_layer(n, l, w, b, 1);
  free(w), free(b);
  return s;
}

aimc_status_t aimc_network_build(aimc_context_t *ctx, const aimc_network_desc_t *desc,
                                 uint64_t seed, aimc_network_t **out) {
  aimc_network_t *n = calloc(1, sizeof *n);
  if (!n) return aimc_error(ctx, AIMC_ERR_OUT_OF_MEMORY, "out of host memory for the network");
  n->ctx = ctx;
  n->desc = *desc;
  n->seed = seed;
  n->replicas = aimc_network_replica_count(desc);
  aimc_status_t s = AIMC_OK;
  for (int32_t l = 0; l < desc->n_layers && s == AIMC_OK; ++l) {
    n->map[l] = layer_map(desc, l, n->replicas);
    s = create_layer(n, l);
    if (s == AIMC_OK)
      s = ctx->ops->alloc(ctx, (void **)&n->bias[l],
                          (size_t)n->replicas * (size_t)desc->layers[l].out * sizeof(float));
    if (s == AIMC_OK)
      s = ctx->ops->alloc(ctx, (void **)&n->stats_backup[l],
                          (size_t)n_tiles(&n->map[l]) * sizeof(aimc_tile_stats_t));
  }
  if (s == AIMC_OK) s = ctx->ops->alloc(ctx, (void **)&n->loss, (size_t)n->replicas * sizeof(float));
  if (s == AIMC_OK)
    s = ctx->ops->alloc(ctx, (void **)&n->correct, (size_t)n->replicas * sizeof(int64_t));
  if (s != AIMC_OK) {
    aimc_network_free(n);
    return s;
  }
  *out = n;
  return AIMC_OK;
}

aimc_status_t aimc_network_create(aimc_context_t *ctx, const aimc_network_desc_t *desc,
                                  aimc_network_t **net) {
  if (!ctx) return aimc_error(NULL, AIMC_ERR_INVALID_ARGUMENT, "ctx is NULL");
  aimc_clear_error(ctx);
  if (!desc) return aimc_error(ctx, AIMC_ERR_INVALID_ARGUMENT, "desc is NULL");
  if (!net) return aimc_error(ctx, AIMC_ERR_INVALID_ARGUMENT, "net (output pointer) is NULL");
  aimc_status_t s = aimc_network_check(ctx, desc);
  if (s != AIMC_OK) return s;
  uint64_t seed = desc->seed == AIMC_SEED_FROM_CONTEXT
                      ? aimc_mix_key(ctx->seed, 0x6e6574ull + ctx->n_batches_created)
                      : desc->seed;
  aimc_network_t *n;
  if ((s = aimc_network_build(ctx, desc, seed, &n)) != AIMC_OK) return s;
  for (int32_t l = 0; l < desc->n_layers && s == AIMC_OK; ++l) s = init_layer(n, l);
  if (s != AIMC_OK) {
    aimc_network_free(n);
    return s;
  }
  *net = n;
  return AIMC_OK;
}

/* ---- Buffers ------------------------------------------------------------------- */

/* Grows the batch-sized buffers to hold `batch` samples. */
static aimc_status_t reserve(aimc_network_t *n, int64_t batch) {
  if (batch <= n->capacity) return AIMC_OK;
  aimc_context_t *ctx = n->ctx;
  int64_t K = n->replicas, tile_floats = 0;
  for (int32_t l = 0; l < n->desc.n_layers; ++l) {
    const aimc_layer_map_t *m = &n->map[l];
    int64_t w = m->tr > m->tc ? m->tr : m->tc;
    if (n_tiles(m) * w > tile_floats) tile_floats = n_tiles(m) * w;
  }
  size_t tb = (size_t)(tile_floats * batch) * sizeof(float);
  float **tile_bufs[3] = {&n->tin, &n->tout, &n->tgrad};
  for (int k = 0; k < 3; ++k) {
    if (*tile_bufs[k]) ctx->ops->release(ctx, *tile_bufs[k]);
    *tile_bufs[k] = NULL;
  }
  for (int32_t l = 0; l < n->desc.n_layers; ++l) {
    if (n->act[l]) ctx->ops->release(ctx, n->act[l]);
    if (n->grad[l]) ctx->ops->release(ctx, n->grad[l]);
    n->act[l] = n->grad[l] = NULL;
  }
  n->capacity = 0;
  aimc_status_t s = AIMC_OK;
  for (int k = 0; k < 3 && s == AIMC_OK; ++k) s = ctx->ops->alloc(ctx, (void **)tile_bufs[k], tb);
  for (int32_t l = 0; l < n->desc.n_layers && s == AIMC_OK; ++l) {
    size_t bytes = (size_t)(K * n->map[l].out * batch) * sizeof(float);
    s = ctx->ops->alloc(ctx, (void **)&n->act[l], bytes);
    if (s == AIMC_OK) s = ctx->ops->alloc(ctx, (void **)&n->grad[l], bytes);
  }
  if (s != AIMC_OK)
    return aimc_error(ctx, s, "could not allocate the buffers for a batch of %lld samples (%s)",
                      (long long)batch, ctx->last_error);
  n->capacity = batch;
  return AIMC_OK;
}

/* ---- Forward, training, evaluation ---------------------------------------------- */

/* Layer l's input: the shared x for the first layer, else the previous
 * layer's outputs. */
static const float *layer_input(const aimc_network_t *n, int32_t l, const float *x,
                                int64_t batch, int64_t *rep_stride) {
  if (l == 0) {
    *rep_stride = 0;
    return x;
  }
  *rep_stride = batch * n->map[l].in;
  return n->act[l - 1];
}

static aimc_status_t forward(aimc_network_t *n, const float *x, int64_t batch) {
  const aimc_backend_ops_t *ops = n->ctx->ops;
  aimc_status_t s = AIMC_OK;
  for (int32_t l = 0; l < n->desc.n_layers && s == AIMC_OK; ++l) {
    const aimc_layer_map_t *m = &n->map[l];
    int64_t stride;
    const float *in = layer_input(n, l, x, batch, &stride);
    s = ops->net_gather(n->ctx, m, AIMC_SIDE_IN, in, stride, batch, n->tin);
    if (s == AIMC_OK) s = aimc_tiles_forward(n->tiles[l], n->tin, n->tout, batch);
    if (s == AIMC_OK) s = ops->net_reduce(n->ctx, m, AIMC_SIDE_OUT, n->tout, batch, n->act[l]);
    if (s == AIMC_OK)
      s = ops->net_activate(n->ctx, m, n->desc.layers[l].bias ? n->bias[l] : NULL, batch,
                            n->act[l]);
  }
  return s;
}

/* Checks the network, the batch and the two data pointers (out_name names
 * the second: "labels" or "y"). */
static aimc_status_t check_data(aimc_network_t *n, const void *x, const void *out,
                                int64_t batch, const char *out_name) {
  if (!n) return aimc_error(NULL, AIMC_ERR_INVALID_ARGUMENT, "net is NULL");
  aimc_clear_error(n->ctx);
  if (batch < 1 || batch > (1 << 24))
    return aimc_error(n->ctx, AIMC_ERR_INVALID_ARGUMENT, "batch = %lld is out of range [1, 2^24]",
                      (long long)batch);
  if (!x) return aimc_error(n->ctx, AIMC_ERR_INVALID_ARGUMENT, "x is NULL");
  if (!out) return aimc_error(n->ctx, AIMC_ERR_INVALID_ARGUMENT, "%s is NULL", out_name);
  return AIMC_OK;
}

/* The non-finite policy for samples x [batch][inputs] of a training step. */
static aimc_status_t check_inputs(aimc_network_t *n, const float *x, int64_t batch) {
  aimc_check_shape_t sh = {1, 0, batch, n->map[0].in, NULL, "sample", "index"};
  return aimc_check_finite(n->ctx, "x", x, &sh, NULL);
}

aimc_status_t aimc_network_forward(aimc_network_t *net, const float *x, float *y, int64_t batch) {
  aimc_status_t s = check_data(net, x, y, batch, "y");
  if (s != AIMC_OK) return s;
  if ((s = reserve(net, batch)) != AIMC_OK || (s = forward(net, x, batch)) != AIMC_OK) return s;
  int32_t L = net->desc.n_layers;
  size_t bytes = (size_t)(net->replicas * batch * net->map[L - 1].out) * sizeof(float);
  return net->ctx->ops->copy(net->ctx, y, net->act[L - 1], bytes, AIMC_COPY_CONTEXT_TO_CONTEXT);
}

/* Backward through layer l: its loss gradient g = grad[l] w.r.t. the
 * activated outputs becomes the gradient w.r.t. the pre-activation, and
 * (for l > 0) the previous layer's gradient grad[l - 1] is read through
 * this layer's W^T, before any layer is updated. */
static aimc_status_t backward_layer(aimc_network_t *n, int32_t l, int64_t batch) {
  const aimc_backend_ops_t *ops = n->ctx->ops;
  aimc_context_t *ctx = n->ctx;
  const aimc_layer_map_t *m = &n->map[l];
  aimc_status_t s = ops->net_activation_grad(ctx, m, n->act[l], batch, n->grad[l]);
  if (s == AIMC_OK && l > 0) {
    s = ops->net_gather(ctx, m, AIMC_SIDE_OUT, n->grad[l], batch * m->out, batch, n->tgrad);
    if (s == AIMC_OK) s = aimc_tiles_backward(n->tiles[l], n->tgrad, n->tout, batch);
    if (s == AIMC_OK) s = ops->net_reduce(ctx, m, AIMC_SIDE_IN, n->tout, batch, n->grad[l - 1]);
  }
  return s;
}

static float bias_rate(const aimc_network_t *n) {
  return n->lr_override ? n->lr : n->desc.learning_rate;
}

/* Largest |value| of a [replicas][batch][width] context array. */
static aimc_status_t max_abs_of(aimc_network_t *n, const float *v, int64_t count, float *mx) {
  int64_t bad = -1;
  aimc_status_t s = n->ctx->ops->scan_finite(n->ctx, v, 1, count, 0, &bad, mx);
  if (s == AIMC_OK && bad >= 0)
    return aimc_error(n->ctx, AIMC_ERR_NON_FINITE,
                      "the training step diverged: a gradient or activation is not finite; no "
                      "weight or bias was changed");
  return s;
}

/* The exact-update bound of every layer (tiles with exact float updates
 * and the biases), checked before any layer is updated: a refused step
 * changes no layer. */
static aimc_status_t check_layer_bounds(aimc_network_t *n, const float *x, int64_t batch) {
  int64_t K = n->replicas;
  for (int32_t l = 0; l < n->desc.n_layers; ++l) {
    const aimc_layer_map_t *m = &n->map[l];
    float in_max = 0.0f, d_max = 0.0f, b_max = 0.0f;
    const float *in = l == 0 ? x : n->act[l - 1];
    const char *what;
    int exact = aimc_tiles_exact_state(n->tiles[l], &what) != NULL ||
                aimc_tiles_tt_exact(n->tiles[l]);
    aimc_status_t s = max_abs_of(n, n->grad[l], K * batch * m->out, &d_max);
    if (s == AIMC_OK && exact) s = max_abs_of(n, in, (l == 0 ? 1 : K) * batch * m->in, &in_max);
    if (s == AIMC_OK && exact) s = aimc_tiles_exact_bound(n->tiles[l], batch, in_max, d_max);
    if (s == AIMC_OK && n->desc.layers[l].bias)
      s = max_abs_of(n, n->bias[l], K * m->out, &b_max);
    if (s != AIMC_OK) return s;
    double step = (double)bias_rate(n) * (double)batch * (double)d_max;
    if (n->desc.layers[l].bias && (double)b_max + step >= AIMC_EXACT_LIMIT)
      return aimc_error(n->ctx, AIMC_ERR_NON_FINITE,
                        "the training step diverged: layer %d's biases would leave the float "
                        "range (max|bias| %g + lr %g x batch %lld x max|d| %g reaches FLT_MAX / "
                        "2); no weight or bias was changed",
                        (int)l, (double)b_max, (double)bias_rate(n), (long long)batch,
                        (double)d_max);
  }
  return AIMC_OK;
}

/* Update of layer l from its inputs and its gradient grad[l]. The data
 * were checked by the step (finite inputs, bounds): the tiles' own checks
 * are skipped, saving their scans (host synchronisations on CUDA). */
static aimc_status_t update_layer(aimc_network_t *n, int32_t l, const float *x, int64_t batch) {
  const aimc_backend_ops_t *ops = n->ctx->ops;
  aimc_context_t *ctx = n->ctx;
  const aimc_layer_map_t *m = &n->map[l];
  int64_t stride;
  const float *in = layer_input(n, l, x, batch, &stride);
  aimc_status_t s =
      ops->net_gather(ctx, m, AIMC_SIDE_OUT, n->grad[l], batch * m->out, batch, n->tgrad);
  if (s == AIMC_OK) s = ops->net_gather(ctx, m, AIMC_SIDE_IN, in, stride, batch, n->tin);
  if (s == AIMC_OK) {
    const float *y = NULL;
    if (n->desc.layers[l].config.algorithm.kind == AIMC_ALGO_STELLAR) { /* gate on outputs */
      s = ops->net_gather(ctx, m, AIMC_SIDE_OUT, n->act[l], batch * m->out, batch, n->tout);
      y = n->tout;
    }
    if (s == AIMC_OK)
      s = aimc_tiles_update_trusted(n->tiles[l], n->tin, batch * m->tc, n->tgrad, batch * m->tr,
                                    y, batch * m->tr, batch);
  }
  if (s == AIMC_OK && n->desc.layers[l].bias)
    s = ops->net_bias_update(ctx, m, n->grad[l], batch, bias_rate(n), n->bias[l]);
  return s;
}

/* The read counters and statistics of every layer (what a forward pass
 * changes), kept so a diverged step can be undone. */
typedef struct read_marks {
  aimc_counters_t counters[AIMC_MAX_LAYERS];
} read_marks_t;

static aimc_status_t mark_reads(aimc_network_t *n, read_marks_t *m) {
  aimc_context_t *ctx = n->ctx;
  for (int32_t l = 0; l < n->desc.n_layers; ++l) {
    m->counters[l] = n->tiles[l]->counters;
    aimc_status_t s = ctx->ops->copy(ctx, n->stats_backup[l], n->tiles[l]->stats,
                                     (size_t)n_tiles(&n->map[l]) * sizeof(aimc_tile_stats_t),
                                     AIMC_COPY_CONTEXT_TO_CONTEXT);
    if (s != AIMC_OK) return s;
  }
  return AIMC_OK;
}

static void undo_reads(aimc_network_t *n, const read_marks_t *m) {
  aimc_context_t *ctx = n->ctx;
  for (int32_t l = 0; l < n->desc.n_layers; ++l) {
    n->tiles[l]->counters = m->counters[l];
    (void)ctx->ops->copy(ctx, n->tiles[l]->stats, n->stats_backup[l],
                         (size_t)n_tiles(&n->map[l]) * sizeof(aimc_tile_stats_t),
                         AIMC_COPY_CONTEXT_TO_CONTEXT);
  }
}

/* A step whose logits or loss are not finite has diverged: refused before
 * any update, with the forward pass's counters and statistics undone. */
static aimc_status_t check_diverged(aimc_network_t *n, int64_t batch, const read_marks_t *m) {
  int32_t L = n->desc.n_layers;
  aimc_check_shape_t logits = {n->replicas, batch * n->map[L - 1].out, batch, n->map[L - 1].out,
                               "replica", "sample", "class"};
  aimc_check_shape_t loss = {1, 0, 1, n->replicas, NULL, NULL, "replica"};
  int64_t bad_logit = -1, bad_loss = -1;
  float mx;
  aimc_context_t *ctx = n->ctx;
  aimc_status_t s = ctx->ops->scan_finite(ctx, n->act[L - 1], logits.rows, batch * logits.inner,
                                          logits.stride, &bad_logit, &mx);
  if (s == AIMC_OK) s = ctx->ops->scan_finite(ctx, n->loss, 1, n->replicas, 0, &bad_loss, &mx);
  if (s != AIMC_OK) return s;
  if (bad_logit < 0 && bad_loss < 0) return AIMC_OK;
  undo_reads(n, m);
  const char *what = bad_logit >= 0 ? "logits" : "loss";
  int64_t at = bad_logit >= 0 ? bad_logit : bad_loss;
  const aimc_check_shape_t *sh = bad_logit >= 0 ? &logits : &loss;
  int64_t per_row = sh->outer * sh->inner;
  return aimc_error(ctx, AIMC_ERR_NON_FINITE,
                    "the training step diverged: %s element %lld (replica %lld) is not finite; "
                    "no weight, bias or statistic was changed (lower the learning rate or check "
                    "the weights)",
                    what, (long long)at, (long long)(at / per_row));
}

aimc_status_t aimc_network_train_batch(aimc_network_t *net, const float *x, const int32_t *labels,
                                       int64_t batch, float *loss) {
  aimc_status_t s = check_data(net, x, labels, batch, "labels");
  if (s != AIMC_OK) return s;
  int32_t L = net->desc.n_layers;
  aimc_context_t *ctx = net->ctx;
  read_marks_t marks;
  if ((s = check_inputs(net, x, batch)) != AIMC_OK ||
      (s = aimc_check_labels(ctx, labels, batch, net->map[L - 1].out)) != AIMC_OK)
    return s;
  if ((s = reserve(net, batch)) != AIMC_OK || (s = mark_reads(net, &marks)) != AIMC_OK ||
      (s = forward(net, x, batch)) != AIMC_OK)
    return s;
  s = ctx->ops->net_softmax_ce(ctx, net->replicas, batch, net->map[L - 1].out, net->act[L - 1],
                               labels, net->grad[L - 1], net->loss);
  if (s == AIMC_OK) s = check_diverged(net, batch, &marks);
  /* every gradient first (each read through W before any update, as a
     sequential backward-then-update pass would), then the bounds, then
     the updates: a diverging step is refused before any layer changes */
  for (int32_t l = L - 1; l >= 0 && s == AIMC_OK; --l) s = backward_layer(net, l, batch);
  if (s == AIMC_OK && (s = check_layer_bounds(net, x, batch)) != AIMC_OK) undo_reads(net, &marks);
  for (int32_t l = L - 1; l >= 0 && s == AIMC_OK; --l) s = update_layer(net, l, x, batch);
  for (int32_t l = 0; l < L && s == AIMC_OK; ++l) s = aimc_tiles_decay(net->tiles[l]);
  if (s == AIMC_OK && loss)
    s = ctx->ops->copy(ctx, loss, net->loss, (size_t)net->replicas * sizeof(float),
                       AIMC_COPY_CONTEXT_TO_HOST);
  return s;
}

aimc_status_t aimc_network_evaluate(aimc_network_t *net, const float *x, const int32_t *labels,
                                    int64_t n, int64_t batch, int64_t *correct) {
  aimc_status_t s = check_data(net, x, labels, batch, "labels");
  if (s != AIMC_OK) return s;
  if (n < 0) return aimc_error(net->ctx, AIMC_ERR_INVALID_ARGUMENT, "n = %lld is negative",
                               (long long)n);
  if (!correct) return aimc_error(net->ctx, AIMC_ERR_INVALID_ARGUMENT, "correct is NULL");
  aimc_context_t *ctx = net->ctx;
  int32_t L = net->desc.n_layers, in = net->map[0].in, classes = net->map[L - 1].out;
  if (n > 0 && (s = aimc_check_labels(ctx, labels, n, classes)) != AIMC_OK) return s;
  if ((s = reserve(net, batch < n ? batch : (n > 0 ? n : 1))) != AIMC_OK) return s;
  if ((s = ctx->ops->zero(ctx, net->correct, (size_t)net->replicas * sizeof(int64_t))) != AIMC_OK)
    return s;
  for (int64_t b0 = 0; b0 < n && s == AIMC_OK; b0 += batch) {
    int64_t nb = n - b0 < batch ? n - b0 : batch;
    s = forward(net, x + b0 * in, nb);
    if (s == AIMC_OK)
      s = ctx->ops->net_count_correct(ctx, net->replicas, nb, classes, net->act[L - 1],
                                      labels + b0, net->correct);
  }
  if (s == AIMC_OK)
    s = ctx->ops->copy(ctx, correct, net->correct, (size_t)net->replicas * sizeof(int64_t),
                       AIMC_COPY_CONTEXT_TO_HOST);
  return s;
}

/* ---- Access ----------------------------------------------------------------------- */

aimc_status_t aimc_network_replicas(const aimc_network_t *net, int32_t *replicas) {
  if (!net) return aimc_error(NULL, AIMC_ERR_INVALID_ARGUMENT, "net is NULL");
  if (!replicas) return aimc_error(net->ctx, AIMC_ERR_INVALID_ARGUMENT, "replicas is NULL");
  *replicas = net->replicas;
  return AIMC_OK;
}

aimc_status_t aimc_network_sweep_value(const aimc_network_t *net, int32_t replica, int32_t sweep,
                                       double *value) {
  if (!net) return aimc_error(NULL, AIMC_ERR_INVALID_ARGUMENT, "net is NULL");
  if (!value) return aimc_error(net->ctx, AIMC_ERR_INVALID_ARGUMENT, "value is NULL");
  if (replica < 0 || replica >= net->replicas)
    return aimc_error(net->ctx, AIMC_ERR_INVALID_ARGUMENT, "replica = %d is out of range [0, %d)",
                      (int)replica, (int)net->replicas);
  if (sweep < 0 || sweep >= net->desc.n_sweeps)
    return aimc_error(net->ctx, AIMC_ERR_INVALID_ARGUMENT, "sweep = %d is out of range [0, %d)",
                      (int)sweep, (int)net->desc.n_sweeps);
  int32_t point = replica / net->desc.seeds;
  for (int32_t s = net->desc.n_sweeps - 1; s > sweep; --s) point /= net->desc.sweeps[s].n_values;
  *value = net->desc.sweeps[sweep].values[point % net->desc.sweeps[sweep].n_values];
  return AIMC_OK;
}

aimc_status_t aimc_network_desc_get(const aimc_network_t *net, aimc_network_desc_t *desc) {
  if (!net) return aimc_error(NULL, AIMC_ERR_INVALID_ARGUMENT, "net is NULL");
  if (!desc) return aimc_error(net->ctx, AIMC_ERR_INVALID_ARGUMENT, "desc is NULL");
  *desc = net->desc;
  return AIMC_OK;
}

static aimc_status_t check_layer(const aimc_network_t *net, int32_t layer) {
  if (!net) return aimc_error(NULL, AIMC_ERR_INVALID_ARGUMENT, "net is NULL");
  if (layer < 0 || layer >= net->desc.n_layers)
    return aimc_error(net->ctx, AIMC_ERR_INVALID_ARGUMENT, "layer = %d is out of range [0, %d)",
                      (int)layer, (int)net->desc.n_layers);
  return AIMC_OK;
}

aimc_status_t aimc_network_layer_tiles(aimc_network_t *net, int32_t layer, aimc_tiles_t **tiles) {
  aimc_status_t s = check_layer(net, layer);
  if (s != AIMC_OK) return s;
  if (!tiles) return aimc_error(net->ctx, AIMC_ERR_INVALID_ARGUMENT, "tiles is NULL");
  *tiles = net->tiles[layer];
  return AIMC_OK;
}

aimc_status_t aimc_network_set_learning_rate(aimc_network_t *net, float lr) {
  if (!net) return aimc_error(NULL, AIMC_ERR_INVALID_ARGUMENT, "net is NULL");
  aimc_clear_error(net->ctx);
  if (!(lr >= 0.0f && lr < INFINITY))
    return aimc_error(net->ctx, AIMC_ERR_INVALID_ARGUMENT, "lr = %g is out of range [0, inf)",
                      (double)lr);
  for (int32_t l = 0; l < net->desc.n_layers; ++l) {
    aimc_status_t s = aimc_tiles_set_learning_rate(net->tiles[l], lr);
    if (s != AIMC_OK) return s;
  }
  net->lr = lr;
  net->lr_override = 1;
  return AIMC_OK;
}

aimc_status_t aimc_network_pulses(const aimc_network_t *net, uint64_t *pulses, uint64_t *weights) {
  if (!net) return aimc_error(NULL, AIMC_ERR_INVALID_ARGUMENT, "net is NULL");
  if (!pulses || !weights)
    return aimc_error(net->ctx, AIMC_ERR_INVALID_ARGUMENT, "%s is NULL", pulses ? "weights" : "pulses");
  int32_t K = net->replicas;
  memset(pulses, 0, (size_t)K * sizeof *pulses);
  memset(weights, 0, (size_t)K * sizeof *weights);
  for (int32_t l = 0; l < net->desc.n_layers; ++l) {
    const aimc_layer_map_t *m = &net->map[l];
    int64_t T = n_tiles(m), per_rep = (int64_t)m->grid_r * m->grid_c;
    aimc_tile_stats_t *st = malloc((size_t)T * sizeof *st);
    if (!st) return aimc_error(net->ctx, AIMC_ERR_OUT_OF_MEMORY, "out of host memory");
    aimc_status_t s = aimc_tiles_get_stats(net->tiles[l], st);
    if (s != AIMC_OK) {
      free(st);
      return s;
    }
    int32_t arrays = 1;
    aimc_tiles_n_arrays(net->tiles[l], &arrays);
    for (int64_t t = 0; t < T; ++t) pulses[t / per_rep] += st[t].pulses_up + st[t].pulses_down;
    for (int32_t k = 0; k < K; ++k) weights[k] += (uint64_t)m->in * (uint64_t)m->out * (uint64_t)arrays;
    free(st);
  }
  return AIMC_OK;
}

aimc_status_t aimc_network_get_bias(const aimc_network_t *net, int32_t layer, float *b) {
  aimc_status_t s = check_layer(net, layer);
  if (s != AIMC_OK) return s;
  if (!b) return aimc_error(net->ctx, AIMC_ERR_INVALID_ARGUMENT, "b is NULL");
  return net->ctx->ops->copy(net->ctx, b, net->bias[layer],
                             (size_t)net->replicas * (size_t)net->map[layer].out * sizeof(float),
                             AIMC_COPY_CONTEXT_TO_CONTEXT);
}

/* Writes layer l from host or context arrays w [K][out][in], b [K][out]
 * (host: from_host = 1), programming the tiles through their devices. */
aimc_status_t aimc_network_write_layer(aimc_network_t *n, int32_t l, const float *w,
                                       const float *b, int from_host) {
  aimc_context_t *ctx = n->ctx;
  const aimc_layer_map_t *m = &n->map[l];
  size_t wl = (size_t)m->replicas * (size_t)m->out * (size_t)m->in * sizeof(float);
  size_t wt = (size_t)n_tiles(m) * (size_t)m->tr * (size_t)m->tc * sizeof(float);
  aimc_copy_kind_t kind = from_host ? AIMC_COPY_HOST_TO_CONTEXT : AIMC_COPY_CONTEXT_TO_CONTEXT;
  float *layer = NULL, *tiles = NULL;
  aimc_status_t s = ctx->ops->alloc(ctx, (void **)&layer, wl);
  if (s == AIMC_OK) s = ctx->ops->alloc(ctx, (void **)&tiles, wt);
  if (s == AIMC_OK) s = ctx->ops->copy(ctx, layer, w, wl, kind);
  if (s == AIMC_OK) s = ctx->ops->net_weights(ctx, m, 1, layer, tiles);
  if (s == AIMC_OK) s = aimc_tiles_program_weights(n->tiles[l], tiles);
  if (s == AIMC_OK && b)
    s = ctx->ops->copy(ctx, n->bias[l], b, (size_t)m->replicas * (size_t)m->out * sizeof(float),
                       kind);
  if (layer) ctx->ops->release(ctx, layer);
  if (tiles) ctx->ops->release(ctx, tiles);
  return s;
}

aimc_status_t aimc_network_program_layer(aimc_network_t *net, int32_t layer, const float *w,
                                         const float *bias) {
  aimc_status_t s = check_layer(net, layer);
  if (s != AIMC_OK) return s;
  aimc_clear_error(net->ctx);
  if (!w) return aimc_error(net->ctx, AIMC_ERR_INVALID_ARGUMENT, "w is NULL");
  const aimc_layer_map_t *m = &net->map[layer];
  aimc_check_shape_t ws = {m->replicas, (int64_t)m->out * m->in, m->out, m->in,
                           "replica", "out", "in"};
  aimc_check_shape_t bs = {m->replicas, m->out, 1, m->out, "replica", NULL, "out"};
  if ((s = aimc_check_finite(net->ctx, "w", w, &ws, NULL)) != AIMC_OK ||
      (bias && (s = aimc_check_finite(net->ctx, "bias", bias, &bs, NULL)) != AIMC_OK))
    return s;
  return aimc_network_write_layer(net, layer, w, bias, 0);
}

aimc_status_t aimc_network_get_layer(const aimc_network_t *net, int32_t layer, float *w) {
  aimc_status_t s = check_layer(net, layer);
  if (s != AIMC_OK) return s;
  if (!w) return aimc_error(net->ctx, AIMC_ERR_INVALID_ARGUMENT, "w is NULL");
  aimc_context_t *ctx = net->ctx;
  const aimc_layer_map_t *m = &net->map[layer];
  size_t wt = (size_t)n_tiles(m) * (size_t)m->tr * (size_t)m->tc * sizeof(float);
  float *tiles = NULL;
  if ((s = ctx->ops->alloc(ctx, (void **)&tiles, wt)) != AIMC_OK) return s;
  s = aimc_tiles_get_weights(net->tiles[layer], tiles);
  if (s == AIMC_OK) s = ctx->ops->net_weights(ctx, m, 0, w, tiles);
  ctx->ops->release(ctx, tiles);
  return s;
}
