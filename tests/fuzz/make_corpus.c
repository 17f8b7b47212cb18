/* Writes the seed corpus of the checkpoint fuzzer: small checkpoints of
 * networks of every algorithm family after a few training steps (choppers
 * flipped, transfer pointers moved, buffers filled), one with replicas, a
 * sweep and layers split over tiles. Deterministic: the same bytes on every
 * run of the same build. Each carries an aimc-train block (apps/train/
 * resume_block.c) describing it, as aimc-train writes one, so that the fuzzer
 * reaches the trainer's validation too.
 *
 * Usage: make_corpus OUT_DIR   (created if missing) */
#define _POSIX_C_SOURCE 200809L /* mkdir */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "aimc.h"
#include "resume_block.h"

typedef struct seed_net {
  const char *name;
  aimc_algorithm_t kind;
  int preset; /* 1: aimc_tile_config_preset(kind, device), 0: default + algorithm */
  aimc_device_preset_t device;
  int32_t seeds, sweep, max_tile, three_layers;
} seed_net_t;

static const seed_net_t nets[] = {
    {"sgd-reram-sb-replicas-sweep-split", AIMC_ALGO_SGD, 1, AIMC_PRESET_RERAM_SB, 2, 1, 3, 0},
    {"sgd-idealized-three-layers", AIMC_ALGO_SGD, 1, AIMC_PRESET_IDEALIZED, 1, 0, 512, 1},
    {"chopped-ttv2-reram-sb", AIMC_ALGO_CHOPPED_TTV2, 1, AIMC_PRESET_RERAM_SB, 1, 0, 512, 0},
    {"agad-reram-sb", AIMC_ALGO_AGAD, 1, AIMC_PRESET_RERAM_SB, 1, 0, 512, 0},
    {"mixed-precision-ecram", AIMC_ALGO_MIXED_PRECISION, 1, AIMC_PRESET_ECRAM, 1, 0, 512, 0},
    {"ttv2-capacitor", AIMC_ALGO_TTV2, 1, AIMC_PRESET_CAPACITOR, 1, 0, 512, 0},
    {"tiki-taka-reram-es", AIMC_ALGO_TIKI_TAKA, 1, AIMC_PRESET_RERAM_ES, 1, 0, 512, 0},
    {"stellar", AIMC_ALGO_STELLAR, 0, AIMC_PRESET_IDEALIZED, 1, 0, 512, 0},
    {"panther", AIMC_ALGO_PANTHER, 0, AIMC_PRESET_IDEALIZED, 1, 0, 512, 0},
};

#define CHECK(call)                                                                 \
  do {                                                                              \
    aimc_status_t s_ = (call);                                                      \
    if (s_ != AIMC_OK) {                                                            \
      fprintf(stderr, "%s: %s: %s\n", #call, aimc_status_string(s_), aimc_last_error()); \
      return 1;                                                                     \
    }                                                                               \
  } while (0)

/* The block aimc-train would save with this network after two epochs. */
static void *trainer_block(const seed_net_t *sn, const aimc_network_desc_t *d,
                           const aimc_network_t *n, size_t *len) {
  model_options_t m;
  memset(&m, 0, sizeof m);
  m.n_sizes = d->n_layers + 1;
  for (int32_t l = 0; l < d->n_layers; ++l) m.sizes[l] = d->layers[l].in;
  m.sizes[d->n_layers] = d->layers[d->n_layers - 1].out;
  m.activation = AIMC_ACT_SIGMOID, m.algorithm = sn->kind, m.device = sn->device, m.io = -1;
  m.seeds = d->seeds, m.seed = d->seed, m.max_tile = d->max_tile_size, m.batch = 6;
  m.lr = d->learning_rate;
  m.n_sweeps = d->n_sweeps;
  for (int32_t s = 0; s < d->n_sweeps; ++s) m.sweeps[s] = d->sweeps[s];
  if (sn->kind == AIMC_ALGO_SGD) { /* the step schedule: a division by step_every */
    m.schedule = SCHEDULE_STEP, m.step_every = 2, m.step_factor = 0.5f;
    m.n_sets = 1;
    snprintf(m.sets[0].field, AIMC_FIELD_LEN, "forward.out_noise");
    m.sets[0].value = 0.01;
  }
  history_t h;
  int32_t K;
  aimc_network_replicas(n, &K);
  if (!history_init(&h, K, 2)) {
    history_free(&h);
    return NULL;
  }
  h.epochs = 2;
  for (int32_t e = 0; e < 2; ++e) {
    h.epoch[e].seconds = 0.5 + e, h.epoch[e].lr = m.lr;
    for (int32_t k = 0; k < K; ++k) {
      replica_result_t *r = &h.rep[e * K + k];
      r->loss = 1.5f - 0.25f * (float)e, r->accuracy = 50.0f + (float)k;
      r->pulses_per_weight = 3.0f * (float)(e + 1);
    }
  }
  void *block = resume_block_encode(&m, &h, len);
  history_free(&h);
  return block;
}

static int write_seed(aimc_context_t *ctx, const seed_net_t *sn, const char *dir) {
  aimc_tile_config_t cfg;
  if (sn->preset) {
    CHECK(aimc_tile_config_preset(&cfg, sn->kind, sn->device));
  } else {
    aimc_tile_config_default(&cfg);
    CHECK(aimc_tile_config_algorithm(&cfg, sn->kind));
  }
  const int32_t sizes[4] = {4, 3, 3, 2};
  const int32_t two[3] = {4, 3, 2};
  aimc_network_desc_t d;
  CHECK(aimc_network_desc_mlp(&d, sn->three_layers ? 4 : 3, sn->three_layers ? sizes : two,
                              AIMC_ACT_SIGMOID, &cfg));
  d.seed = 1234;
  d.seeds = sn->seeds;
  d.max_tile_size = sn->max_tile;
  d.learning_rate = 0.1f;
  if (sn->sweep) {
    d.n_sweeps = 1;
    snprintf(d.sweeps[0].field, AIMC_FIELD_LEN, "device.dw_min");
    d.sweeps[0].n_values = 2;
    d.sweeps[0].values[0] = 0.001, d.sweeps[0].values[1] = 0.004;
  }
  aimc_network_t *n;
  CHECK(aimc_network_create(ctx, &d, &n));
  float x[6 * 4];
  int32_t y[6];
  for (int step = 0; step < 12; ++step) { /* deterministic inputs, two classes */
    for (int k = 0; k < 6; ++k) {
      y[k] = (step + k) % 2;
      for (int j = 0; j < 4; ++j)
        x[k * 4 + j] = (float)(((step * 7 + k * 3 + j * 5) % 11) - 5) / 5.0f;
    }
    aimc_status_t s = aimc_network_train_batch(n, x, y, 6, NULL);
    if (s != AIMC_OK) {
      fprintf(stderr, "%s: training: %s\n", sn->name, aimc_last_error());
      aimc_network_destroy(n);
      return 1;
    }
  }
  if (sn->kind == AIMC_ALGO_SGD) aimc_network_set_learning_rate(n, 0.05f); /* a schedule */
  char path[512];
  snprintf(path, sizeof path, "%s/seed-%s.ckpt", dir, sn->name);
  size_t len = 0;
  void *user = trainer_block(sn, &d, n, &len);
  aimc_status_t s = user ? aimc_network_save(n, path, user, len) : AIMC_ERR_OUT_OF_MEMORY;
  free(user);
  aimc_network_destroy(n);
  if (s != AIMC_OK) {
    fprintf(stderr, "%s: %s\n", path, aimc_last_error());
    return 1;
  }
  printf("%s\n", path);
  return 0;
}

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: %s OUT_DIR\n", argv[0]);
    return 2;
  }
  if (mkdir(argv[1], 0755) != 0 && errno != EEXIST) {
    perror(argv[1]);
    return 1;
  }
  aimc_context_desc_t cd;
  aimc_context_desc_default(&cd);
  cd.backend = AIMC_BACKEND_CPU;
  cd.n_threads = 1;
  aimc_context_t *ctx;
  CHECK(aimc_context_create(&ctx, &cd));
  int bad = 0;
  for (size_t k = 0; k < sizeof nets / sizeof nets[0]; ++k)
    bad |= write_seed(ctx, &nets[k], argv[1]);
  aimc_context_destroy(ctx);
  return bad;
}
