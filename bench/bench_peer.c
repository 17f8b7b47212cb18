/* The aimc side of the side-by-side benchmark against aihwkit
 * (bench/run_cpu_vs_aihwkit.sh, bench/peers/aihwkit_peer.py). Reads one
 * configuration per line from stdin,
 *   <op> <config> <tiles> <rows> <cols> <batch> [<reps>]
 *   op:     update | forward | backward
 *   config: softbounds | constant | exp      (analog SGD, aihwkit defaults:
 *           default device of that model, default IO and update, BL 31 with
 *           update and BL management, c2c noise on)
 *           cttv2-reramsb | agad-reramsb     (aihwkit's preset of that algorithm
 *           on ReRamSB: PresetIOParameters, the preset's update and transfer)
 * and prints "<op> ... <batch> <median seconds per call>": the median of
 * <reps> timed calls (default --reps) of every tile at once, after one
 * untimed warm-up call when reps > 1. x and d are uniform in [-1, 1], the
 * weights uniform in [-0.3, 0.3] (aihwkit's peer draws the same way). */
#define _GNU_SOURCE
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "aimc.h"

#define CHECK(call)                                                                        \
  do {                                                                                     \
    aimc_status_t s_ = (call);                                                             \
    if (s_ != AIMC_OK) {                                                                   \
      fprintf(stderr, "bench_peer: %s: %s\n", aimc_status_string(s_), aimc_last_error()); \
      exit(1);                                                                             \
    }                                                                                      \
  } while (0)

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

static uint64_t rng_state = 1;
static float uniform(void) {
  uint64_t z = (rng_state += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  z ^= z >> 31;
  return (float)((double)(z >> 11) * 0x1.0p-52 - 1.0);
}

/* The tile configuration a config name stands for; 0 when unknown. */
static int make_config(const char *name, aimc_tile_config_t *cfg) {
  aimc_tile_config_default(cfg);
  if (strcmp(name, "softbounds") == 0) {
    aimc_device_desc_default(&cfg->device, AIMC_DEVICE_SOFT_BOUNDS);
  } else if (strcmp(name, "constant") == 0) {
    aimc_device_desc_default(&cfg->device, AIMC_DEVICE_CONSTANT_STEP);
  } else if (strcmp(name, "exp") == 0) {
    aimc_device_desc_default(&cfg->device, AIMC_DEVICE_EXP_STEP);
  } else if (strcmp(name, "cttv2-reramsb") == 0) {
    CHECK(aimc_tile_config_preset(cfg, AIMC_ALGO_CHOPPED_TTV2, AIMC_PRESET_RERAM_SB));
  } else if (strcmp(name, "agad-reramsb") == 0) {
    CHECK(aimc_tile_config_preset(cfg, AIMC_ALGO_AGAD, AIMC_PRESET_RERAM_SB));
  } else {
    return 0;
  }
  return 1;
}

static double run_line(aimc_context_t *ctx, const char *op, const char *config, int64_t tiles,
                       int rows, int cols, int batch, int reps) {
  aimc_tiles_desc_t td;
  aimc_tiles_desc_default(&td);
  td.n_tiles = tiles, td.rows = rows, td.cols = cols;
  if (!make_config(config, &td.config)) {
    fprintf(stderr, "bench_peer: unknown config '%s'\n", config);
    exit(2);
  }
  aimc_tiles_t *t;
  CHECK(aimc_tiles_create(ctx, &td, &t));
  size_t nw = (size_t)tiles * rows * cols;
  size_t nx = (size_t)tiles * batch * cols, nd = (size_t)tiles * batch * rows;
  size_t ny = nx > nd ? nx : nd;
  float *x = malloc(nx * 4), *d = malloc(nd * 4), *y = malloc(ny * 4), *w = malloc(nw * 4);
  double *s = malloc((size_t)reps * sizeof *s);
  if (!x || !d || !y || !w || !s) {
    fprintf(stderr, "bench_peer: out of memory\n");
    exit(1);
  }
  for (size_t k = 0; k < nx; ++k) x[k] = uniform();
  for (size_t k = 0; k < nd; ++k) d[k] = uniform();
  for (size_t k = 0; k < nw; ++k) w[k] = 0.3f * uniform();
  CHECK(aimc_tiles_set_weights(t, w));
  for (int r = reps > 1 ? -1 : 0; r < reps; ++r) {
    double t0 = now();
    if (strcmp(op, "update") == 0) CHECK(aimc_tiles_update(t, x, d, batch));
    else if (strcmp(op, "forward") == 0) CHECK(aimc_tiles_forward(t, x, y, batch));
    else if (strcmp(op, "backward") == 0) CHECK(aimc_tiles_backward(t, d, y, batch));
    else {
      fprintf(stderr, "bench_peer: unknown op '%s'\n", op);
      exit(2);
    }
    if (r >= 0) s[r] = now() - t0;
  }
  qsort(s, (size_t)reps, sizeof *s, cmp_double);
  double m = s[reps / 2];
  free(x), free(d), free(y), free(w), free(s);
  aimc_tiles_destroy(t);
  return m;
}

int main(int argc, char **argv) {
  int threads = 1, reps = 5;
  static const struct option longs[] = {
      {"threads", 1, 0, 't'}, {"reps", 1, 0, 'r'}, {"help", 0, 0, 'h'}, {0, 0, 0, 0}};
  int c;
  while ((c = getopt_long(argc, argv, "", longs, NULL)) != -1) {
    if (c == 't') threads = atoi(optarg);
    else if (c == 'r') reps = atoi(optarg);
    else {
      printf("usage: bench_peer [--threads N] [--reps N] < configurations\n");
      return c == 'h' ? 0 : 2;
    }
  }
  if (reps < 1 || threads < 0) {
    fprintf(stderr, "bench_peer: --reps must be >= 1 and --threads >= 0\n");
    return 2;
  }
  aimc_context_desc_t cd;
  aimc_context_desc_default(&cd);
  cd.backend = AIMC_BACKEND_CPU;
  cd.n_threads = threads;
  aimc_context_t *ctx;
  CHECK(aimc_context_create(&ctx, &cd));
  char line[256], op[32], config[64];
  long long tiles;
  int rows, cols, batch;
  while (fgets(line, sizeof line, stdin)) {
    int line_reps = reps;
    int got = sscanf(line, "%31s %63s %lld %d %d %d %d", op, config, &tiles, &rows, &cols, &batch,
                     &line_reps);
    if (got < 6) continue;
    if (line_reps < 1) line_reps = 1;
    double m = run_line(ctx, op, config, tiles, rows, cols, batch, line_reps);
    printf("%s %s %lld %d %d %d %.6e\n", op, config, tiles, rows, cols, batch, m);
    fflush(stdout);
  }
  aimc_context_destroy(ctx);
  return 0;
}
