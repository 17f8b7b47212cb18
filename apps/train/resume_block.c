/* aimc-train: encoding, decoding and validation of the trainer's block in a
 * checkpoint. Every field is checked against the range the command line
 * accepts and against the network the block came with, because the resumed
 * run divides by them (seeds, step_every), indexes with them (n_sets,
 * n_sweeps, n_sizes) and trains on them (subsets, algorithm). */
#include "resume_block.h"

#include <math.h>
#include <stdint.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void *resume_block_encode(const model_options_t *m, const history_t *h, size_t *len) {
  size_t ne = (size_t)h->epochs, nr = ne * (size_t)h->replicas;
  *len = sizeof(resume_block_header_t) + ne * sizeof(epoch_result_t) +
         nr * sizeof(replica_result_t);
  char *buf = calloc(1, *len);
  if (!buf) return NULL;
  resume_block_header_t hd;
  memset(&hd, 0, sizeof hd);
  memcpy(hd.magic, RESUME_BLOCK_MAGIC, 8);
  hd.model_size = sizeof(model_options_t), hd.epoch_size = sizeof(epoch_result_t);
  hd.replica_size = sizeof(replica_result_t);
  hd.replicas = h->replicas, hd.epochs = h->epochs;
  memcpy(&hd.model, m, sizeof *m);
  memcpy(buf, &hd, sizeof hd);
  memcpy(buf + sizeof hd, h->epoch, ne * sizeof(epoch_result_t));
  memcpy(buf + sizeof hd + ne * sizeof(epoch_result_t), h->rep, nr * sizeof(replica_result_t));
  return buf;
}

/* ---- Field checks: each returns 0, or 2 with err set -------------------------------- */

static int bad(char *err, size_t cap, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(err, cap, fmt, ap);
  va_end(ap);
  return 2;
}

static int check_int(const char *name, long long v, long long lo, long long hi, char *err,
                     size_t cap) {
  if (v >= lo && v <= hi) return 0;
  return bad(err, cap, "%s = %lld is outside [%lld, %lld]", name, v, lo, hi);
}

/* A field name: NUL-terminated within its array and known to the library. */
static int check_field_name(const char *what, int32_t k, const char *field, char *err, size_t cap) {
  if (!memchr(field, '\0', AIMC_FIELD_LEN))
    return bad(err, cap, "%s[%d].field is not a terminated string", what, k);
  aimc_tile_config_t probe;
  aimc_tile_config_default(&probe);
  double v;
  if (aimc_tile_config_get(&probe, field, &v) != AIMC_OK)
    return bad(err, cap, "%s[%d].field '%s' is not a tile-configuration field", what, k, field);
  return 0;
}

static int check_finite(const char *what, int32_t k, double v, char *err, size_t cap) {
  if (isfinite(v)) return 0;
  return bad(err, cap, "%s[%d] = %g is not a finite number", what, k, v);
}

static int check_layers(const model_options_t *m, char *err, size_t cap) {
  if (check_int("n_sizes", m->n_sizes, 2, AIMC_MAX_LAYERS + 1, err, cap)) return 2;
  for (int32_t i = 0; i < m->n_sizes; ++i)
    if (m->sizes[i] < 1 || m->sizes[i] > TRAIN_MAX_LAYER_SIZE)
      return bad(err, cap, "sizes[%d] = %d is outside [1, %d]", i, m->sizes[i],
                 TRAIN_MAX_LAYER_SIZE);
  return 0;
}

static int check_keys(const model_options_t *m, char *err, size_t cap) {
  if (!strcmp(options_activation_key(m->activation), "?"))
    return bad(err, cap, "activation = %d is not sigmoid, relu or tanh", (int)m->activation);
  if (!strcmp(options_algorithm_key(m->algorithm), "?"))
    return bad(err, cap, "algorithm = %d is not one of the trainer's algorithms", (int)m->algorithm);
  if (!strcmp(options_device_key(m->device), "?"))
    return bad(err, cap, "device = %d is not one of the trainer's device presets", (int)m->device);
  if (!strcmp(options_io_key(m->io), "?"))
    return bad(err, cap, "io = %d is not one of the trainer's IO presets", m->io);
  return 0;
}

static int check_sets(const model_options_t *m, char *err, size_t cap) {
  if (check_int("n_sets", m->n_sets, 0, TRAIN_MAX_SETS, err, cap)) return 2;
  for (int32_t k = 0; k < m->n_sets; ++k)
    if (check_field_name("sets", k, m->sets[k].field, err, cap) ||
        check_finite("sets.value", k, m->sets[k].value, err, cap))
      return 2;
  return 0;
}

static int check_sweeps(const model_options_t *m, char *err, size_t cap) {
  if (check_int("n_sweeps", m->n_sweeps, 0, AIMC_MAX_SWEEPS, err, cap)) return 2;
  for (int32_t s = 0; s < m->n_sweeps; ++s) {
    const aimc_sweep_t *w = &m->sweeps[s];
    if (check_field_name("sweeps", s, w->field, err, cap)) return 2;
    if (w->n_values < 1 || w->n_values > AIMC_MAX_SWEEP_VALUES)
      return bad(err, cap, "sweeps[%d].n_values = %d is outside [1, %d]", s, w->n_values,
                 AIMC_MAX_SWEEP_VALUES);
    for (int32_t v = 0; v < w->n_values; ++v)
      if (check_finite("sweeps.values", v, w->values[v], err, cap)) return 2;
  }
  return 0;
}

static int check_schedule(const model_options_t *m, char *err, size_t cap) {
  if (!(m->lr >= 0.0f && m->lr < TRAIN_MAX_LR) || !options_float_exact_enough(m->lr))
    return bad(err, cap, "lr = %g is not 0 or a normal float in (0, %g)", (double)m->lr,
               TRAIN_MAX_LR);
  if (m->schedule != SCHEDULE_CONSTANT && m->schedule != SCHEDULE_STEP &&
      m->schedule != SCHEDULE_COSINE)
    return bad(err, cap, "schedule = %d is not constant (0), step (1) or cosine (2)",
               (int)m->schedule);
  if (m->schedule != SCHEDULE_STEP) { /* the parser leaves them 0 */
    if (m->step_every != 0 || m->step_factor != 0.0f)
      return bad(err, cap, "step_every = %d, step_factor = %g without a step schedule (both "
                           "must be 0)", m->step_every, (double)m->step_factor);
    return 0;
  }
  if (check_int("step_every", m->step_every, 1, INT32_MAX, err, cap)) return 2;
  if (!(m->step_factor > 0.0f && m->step_factor <= TRAIN_MAX_STEP_FACTOR) ||
      !options_float_exact_enough(m->step_factor))
    return bad(err, cap, "step_factor = %g is not a normal float in (0, %g]",
               (double)m->step_factor, TRAIN_MAX_STEP_FACTOR);
  return 0;
}

int resume_block_check_model(const model_options_t *m, char *err, size_t cap) {
  if (check_layers(m, err, cap) || check_keys(m, err, cap) || check_sets(m, err, cap) ||
      check_sweeps(m, err, cap) || check_schedule(m, err, cap))
    return 2;
  if (check_int("seeds", m->seeds, 1, TRAIN_MAX_SEEDS, err, cap) ||
      check_int("max_tile", m->max_tile, 1, TRAIN_MAX_TILE, err, cap) ||
      check_int("batch", m->batch, 1, TRAIN_MAX_BATCH, err, cap) ||
      check_int("train_subset", m->train_subset, 0, TRAIN_MAX_SUBSET, err, cap) ||
      check_int("test_subset", m->test_subset, 0, TRAIN_MAX_SUBSET, err, cap))
    return 2;
  if (m->seed > (uint64_t)TRAIN_MAX_SEED)
    return bad(err, cap, "seed = %llu is outside [0, %lld]", (unsigned long long)m->seed,
               TRAIN_MAX_SEED);
  return 0;
}

/* ---- Agreement with the network the block came with --------------------------------- */

static int check_replicas(const model_options_t *m, int32_t replicas, char *err, size_t cap) {
  int64_t n = m->seeds; /* at most 65536 x 64 x 64: no overflow */
  for (int32_t s = 0; s < m->n_sweeps; ++s) n *= m->sweeps[s].n_values;
  if (n != replicas)
    return bad(err, cap, "seeds x sweep values = %lld but the network has %d replicas",
               (long long)n, replicas);
  return 0;
}

static int check_network(const model_options_t *m, const aimc_network_desc_t *d, char *err,
                         size_t cap) {
  if (d->n_layers != m->n_sizes - 1)
    return bad(err, cap, "n_sizes = %d but the network has %d layers", m->n_sizes, d->n_layers);
  for (int32_t l = 0; l < d->n_layers; ++l) {
    const aimc_layer_desc_t *ly = &d->layers[l];
    if (ly->in != m->sizes[l] || ly->out != m->sizes[l + 1])
      return bad(err, cap, "sizes[%d..%d] = %d, %d but layer %d of the network is %d -> %d", l,
                 l + 1, m->sizes[l], m->sizes[l + 1], l, ly->in, ly->out);
    if (l + 1 < d->n_layers && ly->activation != m->activation)
      return bad(err, cap, "activation = %d but layer %d of the network uses %d",
                 (int)m->activation, l, (int)ly->activation);
  }
  if (d->seeds != m->seeds || d->seed != m->seed || d->max_tile_size != m->max_tile ||
      d->n_sweeps != m->n_sweeps)
    return bad(err, cap, "seeds, seed, max_tile or n_sweeps (%d, %llu, %d, %d) differ from the "
                         "network's (%d, %llu, %d, %d)", m->seeds, (unsigned long long)m->seed,
               m->max_tile, m->n_sweeps, d->seeds, (unsigned long long)d->seed, d->max_tile_size,
               d->n_sweeps);
  for (int32_t s = 0; s < m->n_sweeps; ++s) {
    const aimc_sweep_t *a = &m->sweeps[s], *b = &d->sweeps[s];
    if (strcmp(a->field, b->field) || a->n_values != b->n_values ||
        memcmp(a->values, b->values, (size_t)a->n_values * sizeof a->values[0]))
      return bad(err, cap, "sweeps[%d] (%s, %d values) differs from the network's (%s, %d values)",
                 s, a->field, a->n_values, b->field, b->n_values);
  }
  return 0;
}

/* ---- History ------------------------------------------------------------------------- */

static int check_epoch(const epoch_result_t *r, int32_t e, char *err, size_t cap) {
  if (!(isfinite(r->seconds) && r->seconds >= 0.0) || !(isfinite(r->lr) && r->lr >= 0.0f) ||
      r->pad != 0)
    return bad(err, cap, "history: epoch %d has seconds = %g, lr = %g (finite and >= 0 expected)",
               e + 1, r->seconds, (double)r->lr);
  return 0;
}

static int check_replica(const replica_result_t *r, int32_t e, int32_t k, char *err, size_t cap) {
  if (!(isfinite(r->loss) && r->loss >= 0.0f) ||
      !(r->accuracy >= 0.0f && r->accuracy <= 100.0f) ||
      !(isfinite(r->pulses_per_weight) && r->pulses_per_weight >= 0.0f) || r->pad != 0.0f)
    return bad(err, cap, "history: epoch %d replica %d has loss = %g, accuracy = %g, "
                         "pulses_per_weight = %g (finite, >= 0, accuracy <= 100 expected)",
               e + 1, k, (double)r->loss, (double)r->accuracy, (double)r->pulses_per_weight);
  return 0;
}

/* Validates the history in buf (unaligned: read entry by entry). */
static int check_history(const char *buf, int32_t epochs, int32_t replicas, char *err, size_t cap) {
  const char *at = buf;
  for (int32_t e = 0; e < epochs; ++e, at += sizeof(epoch_result_t)) {
    epoch_result_t r;
    memcpy(&r, at, sizeof r);
    if (check_epoch(&r, e, err, cap)) return 2;
  }
  for (int32_t e = 0; e < epochs; ++e)
    for (int32_t k = 0; k < replicas; ++k, at += sizeof(replica_result_t)) {
      replica_result_t r;
      memcpy(&r, at, sizeof r);
      if (check_replica(&r, e, k, err, cap)) return 2;
    }
  return 0;
}

static int check_header(const resume_block_header_t *hd, size_t len, int32_t replicas, char *err,
                        size_t cap) {
  if (memcmp(hd->magic, RESUME_BLOCK_MAGIC, 8))
    return bad(err, cap, "no aimc-train block (magic is not %s)", RESUME_BLOCK_MAGIC);
  if (hd->model_size != sizeof(model_options_t) || hd->epoch_size != sizeof(epoch_result_t) ||
      hd->replica_size != sizeof(replica_result_t))
    return bad(err, cap, "written by another aimc-train build (record sizes %u, %u, %u; this "
                         "build's %zu, %zu, %zu)", hd->model_size, hd->epoch_size,
               hd->replica_size, sizeof(model_options_t), sizeof(epoch_result_t),
               sizeof(replica_result_t));
  if (hd->replicas != replicas)
    return bad(err, cap, "replicas = %d but the network has %d", hd->replicas, replicas);
  if (check_int("epochs", hd->epochs, 0, RESUME_MAX_EPOCHS, err, cap)) return 2;
  size_t ne = (size_t)hd->epochs, nr = ne * (size_t)replicas;
  size_t want = sizeof *hd + ne * sizeof(epoch_result_t) + nr * sizeof(replica_result_t);
  if (len != want)
    return bad(err, cap, "the block has %zu bytes, %zu expected for %d epochs of %d replicas", len,
               want, hd->epochs, replicas);
  return 0;
}

int resume_block_decode(const void *buf, size_t len, int32_t replicas,
                        const aimc_network_desc_t *net, int32_t cap_epochs, model_options_t *m,
                        history_t *h, char *err, size_t err_cap) {
  resume_block_header_t hd;
  if (replicas < 1) return bad(err, err_cap, "the network has %d replicas", replicas);
  if (!buf || len < sizeof hd)
    return bad(err, err_cap, "no aimc-train block (%zu bytes, at least %zu expected)", len,
               sizeof hd);
  memcpy(&hd, buf, sizeof hd);
  const char *body = (const char *)buf + sizeof hd;
  if (check_header(&hd, len, replicas, err, err_cap) ||
      resume_block_check_model(&hd.model, err, err_cap) ||
      check_replicas(&hd.model, replicas, err, err_cap) ||
      (net && check_network(&hd.model, net, err, err_cap)) ||
      check_history(body, hd.epochs, replicas, err, err_cap))
    return 2;
  history_t got;
  int32_t room = cap_epochs > hd.epochs ? cap_epochs : hd.epochs;
  if (!history_init(&got, replicas, room > 0 ? room : 1)) {
    history_free(&got);
    return bad(err, err_cap, "out of memory for the history");
  }
  size_t ne = (size_t)hd.epochs, nr = ne * (size_t)replicas;
  got.epochs = hd.epochs;
  memcpy(got.epoch, body, ne * sizeof(epoch_result_t));
  memcpy(got.rep, body + ne * sizeof(epoch_result_t), nr * sizeof(replica_result_t));
  *m = hd.model;
  *h = got;
  return 0;
}
